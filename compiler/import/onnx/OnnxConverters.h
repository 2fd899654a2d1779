//===- OnnxConverters.h - The converter of each ONNX operator ------*- C++ -*-===//

#ifndef LOOM_COMPILER_IMPORT_ONNX_ONNXCONVERTERS_H
#define LOOM_COMPILER_IMPORT_ONNX_ONNXCONVERTERS_H

#include "compiler/import/onnx/OnnxImporter.h"

#include <set>

namespace loom::onnximport {

// Transformer operators of opset 23 (OnnxAttentionOps.cpp).
bool convertAttention(Importer &, const onnx::NodeProto &);
bool convertRotaryEmbedding(Importer &, const onnx::NodeProto &);

// Shape-aware operators (OnnxShapeOps.cpp).
bool convertCast(Importer &, const onnx::NodeProto &);
bool convertConcat(Importer &, const onnx::NodeProto &);
bool convertConstant(Importer &, const onnx::NodeProto &);
bool convertConstantOfShape(Importer &, const onnx::NodeProto &);
bool convertExpand(Importer &, const onnx::NodeProto &);
bool convertFlatten(Importer &, const onnx::NodeProto &);
bool convertGather(Importer &, const onnx::NodeProto &);
bool convertIdentity(Importer &, const onnx::NodeProto &);
bool convertPad(Importer &, const onnx::NodeProto &);
bool convertRange(Importer &, const onnx::NodeProto &);
bool convertReshape(Importer &, const onnx::NodeProto &);
bool convertShape(Importer &, const onnx::NodeProto &);
bool convertSize(Importer &, const onnx::NodeProto &);
bool convertSlice(Importer &, const onnx::NodeProto &);
bool convertSplit(Importer &, const onnx::NodeProto &);
bool convertSqueeze(Importer &, const onnx::NodeProto &);
bool convertUnsqueeze(Importer &, const onnx::NodeProto &);

} // namespace loom::onnximport

#endif // LOOM_COMPILER_IMPORT_ONNX_ONNXCONVERTERS_H
