//===- Tensor.cpp - Host tensors of the reference executor ------------------===//

#include "compiler/reference/Tensor.h"

#include "loom/support/Float16.h"
#include "loom/support/Quantization.h"

#include <cmath>
#include <cstring>

namespace loom::reference {

const char *elementTypeName(ElementType type) {
  switch (type) {
  case ElementType::F16: return "f16";
  case ElementType::BF16: return "bf16";
  case ElementType::F32: return "f32";
  case ElementType::F64: return "f64";
  case ElementType::I1: return "i1";
  case ElementType::I8: return "i8";
  case ElementType::I16: return "i16";
  case ElementType::I32: return "i32";
  case ElementType::I64: return "i64";
  case ElementType::F8E4M3: return "f8E4M3FN";
  }
  return "?";
}

bool isFloat(ElementType type) {
  return type == ElementType::F16 || type == ElementType::BF16 || type == ElementType::F32 ||
         type == ElementType::F64 || type == ElementType::F8E4M3;
}

double roundTo(ElementType type, double value) {
  switch (type) {
  case ElementType::F16: return roundToHalf(static_cast<float>(value));
  case ElementType::BF16: return roundToBfloat16(static_cast<float>(value));
  case ElementType::F32: return static_cast<float>(value);
  case ElementType::F8E4M3: return fp8e4m3ToFloat(floatToFp8e4m3(static_cast<float>(value)));
  default: return value;
  }
}

int64_t wrapTo(ElementType type, int64_t value) {
  switch (type) {
  case ElementType::I1: return value != 0;
  case ElementType::I8: return static_cast<int8_t>(value);
  case ElementType::I16: return static_cast<int16_t>(value);
  case ElementType::I32: return static_cast<int32_t>(value);
  default: return value;
  }
}

Tensor Tensor::zeros(ElementType type, std::vector<int64_t> shape) {
  Tensor t;
  t.type = type;
  t.shape = std::move(shape);
  if (t.isFloat())
    t.floats.assign(t.numElements(), 0.0);
  else
    t.ints.assign(t.numElements(), 0);
  return t;
}

int64_t Tensor::numElements() const {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  return count;
}

std::string Tensor::describe() const {
  std::string text = "tensor<";
  for (int64_t d : shape)
    text += std::to_string(d) + "x";
  return text + elementTypeName(type) + ">";
}

namespace {

template <typename T> T load(const std::string &bytes, int64_t i) {
  T value;
  std::memcpy(&value, bytes.data() + i * sizeof(T), sizeof(T));
  return value;
}

template <typename T> void store(std::string &bytes, int64_t i, T value) {
  std::memcpy(bytes.data() + i * sizeof(T), &value, sizeof(T));
}

} // namespace

bool fromValues(bool sourceFloat, const std::vector<double> &floats,
                const std::vector<int64_t> &ints, std::vector<int64_t> shape,
                ElementType type, Tensor &out, std::string &error) {
  out = Tensor::zeros(type, std::move(shape));
  int64_t count = out.numElements();
  size_t found = sourceFloat ? floats.size() : ints.size();
  if (static_cast<int64_t>(found) != count) {
    error = "holds " + std::to_string(found) + " values for " + std::to_string(count) +
            " elements";
    return false;
  }
  if (sourceFloat && !out.isFloat()) {
    error = std::string("cannot read float data as ") + elementTypeName(type);
    return false;
  }
  for (int64_t i = 0; i < count; ++i) {
    if (out.isFloat())
      out.floats[i] = roundTo(type, sourceFloat ? floats[i] : static_cast<double>(ints[i]));
    else
      out.ints[i] = wrapTo(type, ints[i]);
  }
  return true;
}

bool fromBytes(DType dtype, const std::string &bytes, std::vector<int64_t> shape,
               ElementType type, Tensor &out, std::string &error) {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  if (static_cast<int64_t>(bytes.size()) != count * dtypeSize(dtype)) {
    error = std::to_string(bytes.size()) + " bytes do not hold " + std::to_string(count) +
            " elements of " + dtypeName(dtype);
    return false;
  }
  bool sourceFloat = dtypeIsFloat(dtype);
  std::vector<double> floats(sourceFloat ? count : 0);
  std::vector<int64_t> ints(sourceFloat ? 0 : count);
  for (int64_t i = 0; i < count; ++i) {
    switch (dtype) {
    case DType::F64: floats[i] = load<double>(bytes, i); break;
    case DType::F32: floats[i] = load<float>(bytes, i); break;
    case DType::F16: floats[i] = halfToFloat(load<uint16_t>(bytes, i)); break;
    case DType::BF16: floats[i] = bfloat16ToFloat(load<uint16_t>(bytes, i)); break;
    case DType::F8E4M3: floats[i] = fp8e4m3ToFloat(load<uint8_t>(bytes, i)); break;
    case DType::I64: ints[i] = load<int64_t>(bytes, i); break;
    case DType::I32: ints[i] = load<int32_t>(bytes, i); break;
    case DType::I16: ints[i] = load<int16_t>(bytes, i); break;
    case DType::I8: ints[i] = load<int8_t>(bytes, i); break;
    case DType::U32: ints[i] = load<uint32_t>(bytes, i); break;
    case DType::U16: ints[i] = load<uint16_t>(bytes, i); break;
    case DType::U8: ints[i] = load<uint8_t>(bytes, i); break;
    case DType::Bool: ints[i] = load<uint8_t>(bytes, i) != 0; break;
    default:
      error = std::string("cannot read ") + dtypeName(dtype) + " data";
      return false;
    }
  }
  return fromValues(sourceFloat, floats, ints, std::move(shape), type, out, error);
}

DType safetensorsType(ElementType type) {
  switch (type) {
  case ElementType::F16: return DType::F16;
  case ElementType::BF16: return DType::BF16;
  case ElementType::F32: return DType::F32;
  case ElementType::F64: return DType::F64;
  case ElementType::I1: return DType::Bool;
  case ElementType::I8: return DType::I8;
  case ElementType::I16: return DType::I16;
  case ElementType::I32: return DType::I32;
  case ElementType::I64: return DType::I64;
  case ElementType::F8E4M3: return DType::F8E4M3;
  }
  return DType::F32;
}

std::string toBytes(const Tensor &tensor) {
  DType dtype = safetensorsType(tensor.type);
  int64_t count = tensor.numElements();
  std::string bytes(count * dtypeSize(dtype), '\0');
  for (int64_t i = 0; i < count; ++i) {
    switch (tensor.type) {
    case ElementType::F16:
      store(bytes, i, floatToHalf(static_cast<float>(tensor.floats[i])));
      break;
    case ElementType::BF16:
      store(bytes, i, floatToBfloat16(static_cast<float>(tensor.floats[i])));
      break;
    case ElementType::F32: store(bytes, i, static_cast<float>(tensor.floats[i])); break;
    case ElementType::F64: store(bytes, i, tensor.floats[i]); break;
    case ElementType::I1:
    case ElementType::I8: store(bytes, i, static_cast<int8_t>(tensor.ints[i])); break;
    case ElementType::I16: store(bytes, i, static_cast<int16_t>(tensor.ints[i])); break;
    case ElementType::I32: store(bytes, i, static_cast<int32_t>(tensor.ints[i])); break;
    case ElementType::I64: store(bytes, i, tensor.ints[i]); break;
    case ElementType::F8E4M3:
      store(bytes, i, floatToFp8e4m3(static_cast<float>(tensor.floats[i])));
      break;
    }
  }
  return bytes;
}

bool readNamedTensors(const std::string &path,
                      const std::map<std::string, ElementType> &wanted,
                      std::map<std::string, Tensor> &out, std::string &error) {
  SafetensorsHeader header;
  if (!readSafetensorsHeader(path, header, error))
    return false;
  for (const TensorInfo &info : header.tensors) {
    auto it = wanted.find(info.name);
    if (it == wanted.end())
      continue;
    std::string bytes, why;
    if (!readTensorBytes(header, info, bytes, error))
      return false;
    if (!fromBytes(info.dtype, bytes, info.shape, it->second, out[info.name],
                              why)) {
      error = path + ": tensor '" + info.name + "': " + why;
      return false;
    }
  }
  return true;
}

TensorDifference compareTensors(const Tensor &actual, const Tensor &expected) {
  TensorDifference d;
  if (actual.shape != expected.shape) {
    d.shapeDiffers = true;
    return d;
  }
  double scale = 0;
  for (int64_t i = 0; i < expected.numElements(); ++i) {
    double a = actual.asDouble(i), e = expected.asDouble(i);
    scale = std::max(scale, std::fabs(e));
    double diff = std::isnan(a) != std::isnan(e) ? INFINITY
                  : std::isnan(a)                ? 0.0
                                                 : std::fabs(a - e);
    d.maxAbsolute = std::max(d.maxAbsolute, diff);
  }
  d.relative = scale > 0 ? d.maxAbsolute / scale : d.maxAbsolute;
  return d;
}

} // namespace loom::reference
