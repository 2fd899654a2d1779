//===- OnnxTensor.cpp - Reading ONNX files and tensors ---------------------===//

#include "compiler/import/onnx/OnnxTensor.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Float16.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <algorithm>
#include <climits>
#include <map>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace loom::onnximport {

using reference::ElementType;
using reference::Tensor;

bool loadModel(const std::string &path, onnx::ModelProto &model, std::string &error) {
  uint64_t size = 0;
  int fd = openInputFile(path, size, error);
  if (fd < 0)
    return false;
  google::protobuf::io::FileInputStream raw(fd);
  raw.SetCloseOnDelete(true);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    error = path + ": not a valid ONNX model (protobuf parse failed)";
    return false;
  }
  return true;
}

std::string onnxTypeName(int32_t type) {
  if (onnx::TensorProto_DataType_IsValid(type))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(type));
  return "type " + std::to_string(type);
}

namespace {

/// The ONNX data types Loom reads: their little-endian layout (as a safetensors dtype)
/// and, for those it computes with, the element type.
struct TypeEntry {
  int32_t onnxType;
  DType layout;
  bool computable;
  ElementType element;
};
constexpr TypeEntry kTypes[] = {
    {onnx::TensorProto_DataType_FLOAT, DType::F32, true, ElementType::F32},
    {onnx::TensorProto_DataType_FLOAT16, DType::F16, true, ElementType::F16},
    {onnx::TensorProto_DataType_BFLOAT16, DType::BF16, true, ElementType::BF16},
    {onnx::TensorProto_DataType_DOUBLE, DType::F64, true, ElementType::F64},
    {onnx::TensorProto_DataType_INT8, DType::I8, true, ElementType::I8},
    {onnx::TensorProto_DataType_INT16, DType::I16, true, ElementType::I16},
    {onnx::TensorProto_DataType_INT32, DType::I32, true, ElementType::I32},
    {onnx::TensorProto_DataType_INT64, DType::I64, true, ElementType::I64},
    {onnx::TensorProto_DataType_BOOL, DType::Bool, true, ElementType::I1},
    {onnx::TensorProto_DataType_UINT8, DType::U8, false, ElementType::I64},
    {onnx::TensorProto_DataType_UINT16, DType::U16, false, ElementType::I64},
    {onnx::TensorProto_DataType_UINT32, DType::U32, false, ElementType::I64},
};

const TypeEntry *typeEntry(int32_t onnxType) {
  for (const TypeEntry &entry : kTypes)
    if (entry.onnxType == onnxType)
      return &entry;
  return nullptr;
}

/// The safetensors dtype with the same little-endian layout as an ONNX data type.
bool rawLayout(int32_t onnxType, DType &out) {
  const TypeEntry *entry = typeEntry(onnxType);
  if (entry)
    out = entry->layout;
  return entry != nullptr;
}

} // namespace

bool elementTypeOf(int32_t onnxType, ElementType &out) {
  const TypeEntry *entry = typeEntry(onnxType);
  if (entry && entry->computable)
    out = entry->element;
  return entry && entry->computable;
}

namespace {

int64_t numElements(const onnx::TensorProto &tensor) {
  int64_t count = 1;
  for (int64_t d : tensor.dims())
    count *= d;
  return count;
}

bool readRawBytes(const onnx::TensorProto &tensor, const std::string &folder,
                  std::string &bytes, std::string &error) {
  if (tensor.data_location() != onnx::TensorProto_DataLocation_EXTERNAL) {
    bytes = tensor.raw_data();
    return true;
  }
  std::string path;
  uint64_t offset, length;
  if (!externalLocation(folder, tensor, path, offset, length, error))
    return false;
  uint64_t size = 0;
  int fd = openInputFile(path, size, error);
  if (fd < 0)
    return false;
  if (offset > size || length > size - offset) {
    ::close(fd);
    error = "tensor '" + tensor.name() + "': its external data (" + std::to_string(length) +
            " bytes at offset " + std::to_string(offset) + ") lies beyond the end of " +
            path + " (" + std::to_string(size) + " bytes)";
    return false;
  }
  bytes.resize(length);
  bool ok = fd >= 0 &&
            ::pread(fd, bytes.data(), length, offset) == static_cast<ssize_t>(length);
  if (fd >= 0)
    ::close(fd);
  if (!ok)
    error = "cannot read the external data of tensor '" + tensor.name() + "'";
  return ok;
}

} // namespace

bool externalLocation(const std::string &folder, const onnx::TensorProto &tensor,
                      std::string &path, uint64_t &offset, uint64_t &length,
                      std::string &error) {
  std::string location;
  offset = 0;
  length = UINT64_MAX;
  for (const onnx::StringStringEntryProto &entry : tensor.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset")
      offset = std::strtoull(entry.value().c_str(), nullptr, 10);
    else if (entry.key() == "length")
      length = std::strtoull(entry.value().c_str(), nullptr, 10);
  }
  if (!resolveInside(folder, location, "external data of tensor '" + tensor.name() + "'",
                     path, error))
    return false;
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    error = "cannot stat " + path;
    return false;
  }
  DType layout;
  uint64_t size = static_cast<uint64_t>(info.st_size);
  uint64_t width = rawLayout(tensor.data_type(), layout) ? dtypeSize(layout) : 1;
  uint64_t needed = numElements(tensor) * width;
  if (length == UINT64_MAX)
    length = needed;
  if (length != needed || offset > size || length > size - offset) {
    error = "external data of tensor '" + tensor.name() + "' (" + std::to_string(length) +
            " bytes at offset " + std::to_string(offset) + ") does not fit " + path + " (" +
            std::to_string(size) + " bytes) or its shape";
    return false;
  }
  return true;
}

bool decodeTensor(const onnx::TensorProto &tensor, const std::string &folder,
                  ElementType type, Tensor &out, std::string &error) {
  std::vector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  for (int64_t d : shape)
    if (d < 0) {
      error = "tensor '" + tensor.name() + "' has a negative dimension";
      return false;
    }
  int32_t onnxType = tensor.data_type();
  DType layout;
  if (!rawLayout(onnxType, layout)) {
    error = "tensor '" + tensor.name() + "' has element type " + onnxTypeName(onnxType) +
            ", which Loom does not read";
    return false;
  }
  auto fail = [&](const std::string &why) {
    error = "tensor '" + tensor.name() + "': " + why;
    return false;
  };
  if (tensor.has_raw_data() ||
      tensor.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    std::string bytes;
    if (!readRawBytes(tensor, folder, bytes, error))
      return false;
    std::string why;
    return fromBytes(layout, bytes, shape, type, out, why) || fail(why);
  }

  // Typed fields: floats in float_data/double_data, halves as bits in int32_data,
  // 64-bit integers in int64_data, the other integers in int32_data.
  std::vector<double> floats;
  std::vector<int64_t> ints;
  switch (onnxType) {
  case onnx::TensorProto_DataType_FLOAT:
    floats.assign(tensor.float_data().begin(), tensor.float_data().end());
    break;
  case onnx::TensorProto_DataType_DOUBLE:
    floats.assign(tensor.double_data().begin(), tensor.double_data().end());
    break;
  case onnx::TensorProto_DataType_FLOAT16:
  case onnx::TensorProto_DataType_BFLOAT16:
    for (int32_t bits : tensor.int32_data())
      floats.push_back(onnxType == onnx::TensorProto_DataType_FLOAT16
                           ? halfToFloat(static_cast<uint16_t>(bits))
                           : bfloat16ToFloat(static_cast<uint16_t>(bits)));
    break;
  case onnx::TensorProto_DataType_INT64:
    ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
    break;
  case onnx::TensorProto_DataType_UINT32:
    ints.assign(tensor.uint64_data().begin(), tensor.uint64_data().end());
    break;
  default:
    ints.assign(tensor.int32_data().begin(), tensor.int32_data().end());
    break;
  }
  std::string why;
  return fromValues(dtypeIsFloat(layout), floats, ints, shape, type, out, why) || fail(why);
}

namespace {

class OnnxWeights : public reference::WeightSource {
public:
  bool open(const std::string &path, std::string &error) {
    if (!loadModel(path, model_, error))
      return false;
    size_t slash = path.find_last_of('/');
    folder_ = slash == std::string::npos ? "." : path.substr(0, slash);
    for (const onnx::TensorProto &tensor : model_.graph().initializer())
      byName_[tensor.name()] = &tensor;
    // Large Constant node values become weights too, named as the importer names them
    // (the tensor's own name, else the node's output).
    for (const onnx::NodeProto &node : model_.graph().node())
      if (node.op_type() == "Constant" && node.domain().empty())
        for (const onnx::AttributeProto &attribute : node.attribute())
          if (attribute.name() == "value" && attribute.has_t())
            byName_.emplace(attribute.t().name().empty() ? node.output(0) : attribute.t().name(),
                            &attribute.t());
    return true;
  }

  bool load(const std::string &name, ElementType type, const reference::Shape &shape,
            Tensor &out, std::string &error) override {
    auto it = byName_.find(name);
    if (it == byName_.end()) {
      error = "weight '" + name + "' is not an initializer of the ONNX model";
      return false;
    }
    const onnx::TensorProto &tensor = *it->second;
    if (!std::equal(shape.begin(), shape.end(), tensor.dims().begin(), tensor.dims().end())) {
      error = "initializer '" + name + "' does not have the shape the IR expects";
      return false;
    }
    return decodeTensor(tensor, folder_, type, out, error);
  }

private:
  onnx::ModelProto model_;
  std::string folder_;
  std::map<std::string, const onnx::TensorProto *> byName_;
};

} // namespace

std::unique_ptr<reference::WeightSource> openOnnxWeights(const std::string &path,
                                                         std::string &error) {
  auto source = std::make_unique<OnnxWeights>();
  if (!source->open(path, error))
    return nullptr;
  return source;
}

} // namespace loom::onnximport
