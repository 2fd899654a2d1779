//===- OnnxTensor.h - Reading ONNX files and tensors ---------------*- C++ -*-===//
//
// Loading a ModelProto and decoding TensorProto data (typed fields, raw bytes, or
// external data files inside the model's folder) into reference tensors. Shared by the
// importer (small initializers become constants), the ONNX weight source of the
// reference executor, and the conformance runner (inputs and expected outputs).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_IMPORT_ONNX_ONNXTENSOR_H
#define LOOM_COMPILER_IMPORT_ONNX_ONNXTENSOR_H

#include "compiler/reference/Reference.h"

#include <onnx/onnx_pb.h>

#include <string>

namespace loom::onnximport {

/// Parses an ONNX model file (no size limit below 2 GiB).
bool loadModel(const std::string &path, onnx::ModelProto &model, std::string &error);

/// "FLOAT", "UINT8", ... for messages.
std::string onnxTypeName(int32_t type);

/// The element type Loom holds an ONNX data type in; false for types it does not
/// support (strings, unsigned integers, float8, 4-bit, complex).
bool elementTypeOf(int32_t onnxType, reference::ElementType &out);

/// Where an external tensor's bytes are: its file (inside `folder`) and byte range,
/// checked against the file's size and the tensor's shape.
bool externalLocation(const std::string &folder, const onnx::TensorProto &tensor,
                      std::string &path, uint64_t &offset, uint64_t &length,
                      std::string &error);

/// Decodes the tensor's elements into `out`, converted to `type` (exactly where `type`
/// holds them). External data is looked up inside `folder`.
bool decodeTensor(const onnx::TensorProto &tensor, const std::string &folder,
                  reference::ElementType type, reference::Tensor &out, std::string &error);

/// The initializers of an ONNX file (and their external data) as a weight source.
std::unique_ptr<reference::WeightSource> openOnnxWeights(const std::string &path,
                                                         std::string &error);

} // namespace loom::onnximport

#endif // LOOM_COMPILER_IMPORT_ONNX_ONNXTENSOR_H
