//===- QuantizationFormats.cpp - Unpacking GPTQ, AWQ and compressed-tensors ----===//
//
// Each reader checks a checkpoint's tensors against what the encoding and [N, K] imply
// and fills Loom's unpacked QuantizedWeight. The layouts are those of
// /work/shared/quantized/README.md. Int32 words are bit patterns: fields are taken with
// logical shifts of the unsigned value.
//
//===----------------------------------------------------------------------===//

#include "loom/support/Checkpoint.h"
#include "loom/support/Quantization.h"

#include <cmath>
#include <initializer_list>

namespace loom {

TensorReader::~TensorReader() = default;

const TensorInfo *CheckpointReader::find(std::string_view name) const {
  return checkpoint_.find(name);
}

bool CheckpointReader::read(const TensorInfo &tensor, std::string &bytes,
                            std::string &error) const {
  return readTensorBytes(checkpoint_.shardOf(tensor), tensor, bytes, error);
}

namespace {

/// "<layer>." from "<layer>.weight".
std::string layerPrefix(const std::string &name) {
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size() + 1);
  return name + ".";
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string tensorError(const std::string &tensor, const std::string &rule) {
  return "tensor '" + tensor + "': " + rule;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Word `index` of little-endian int32 data, as its bit pattern.
uint32_t wordAt(const std::string &bytes, int64_t index) {
  const unsigned char *at =
      reinterpret_cast<const unsigned char *>(bytes.data()) + 4 * index;
  return static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8 |
         static_cast<uint32_t>(at[2]) << 16 | static_cast<uint32_t>(at[3]) << 24;
}

/// Field j of `bits` bits, field 0 in the least significant bits.
uint8_t fieldOf(uint32_t word, int bits, int j) {
  return static_cast<uint8_t>((word >> (bits * j)) & ((1u << bits) - 1u));
}

/// What every tensor of one weight is checked against.
struct WeightContext {
  const TensorReader &reader;
  std::string prefix;
  const QuantEncoding &encoding;
  int64_t n, k, groups;
  int bits;
  /// "for N=.., K=.., 4-bit codes and group size 32", closing shape messages.
  std::string why;
};

/// Reads the tensor `prefix + local` after checking its presence, dtype and shape.
bool load(const WeightContext &weight, const std::string &local,
          std::initializer_list<DType> dtypes, const std::vector<int64_t> &shape,
          std::string &bytes, std::string &error, DType *dtype = nullptr) {
  const std::string name = weight.prefix + local;
  const TensorInfo *tensor = weight.reader.find(name);
  if (!tensor) {
    error =
        tensorError(name, std::string("missing from the checkpoint (") +
                              quantSourceName(weight.encoding.source) + " stores it)");
    return false;
  }
  bool dtypeOk = false;
  std::string expected;
  for (DType allowed : dtypes) {
    dtypeOk = dtypeOk || tensor->dtype == allowed;
    expected += (expected.empty() ? "" : " or ") + std::string(dtypeName(allowed));
  }
  if (!dtypeOk) {
    error = tensorError(name, std::string("has dtype ") + dtypeName(tensor->dtype) +
                                  ", expected " + expected);
    return false;
  }
  if (tensor->shape != shape) {
    error = tensorError(name, "has shape " + shapeText(tensor->shape) + ", expected " +
                                  shapeText(shape) + " " + weight.why);
    return false;
  }
  if (dtype)
    *dtype = tensor->dtype;
  return weight.reader.read(*tensor, bytes, error);
}

/// Reads the scales tensor `local` ([rows, cols] as stored) into out.scales [N, groups];
/// `transposed` when it is stored [groups, N].
bool loadScales(const WeightContext &weight, const std::string &local, bool transposed,
                QuantizedWeight &out, std::string &error) {
  const std::string name = weight.prefix + local;
  const int64_t rows = transposed ? weight.groups : weight.n;
  const int64_t cols = transposed ? weight.n : weight.groups;
  const TensorInfo *tensor = weight.reader.find(name);
  if (tensor && tensor->dtype != weight.encoding.scaleType &&
      (tensor->dtype == DType::F16 || tensor->dtype == DType::BF16 ||
       tensor->dtype == DType::F32)) {
    error =
        tensorError(name, std::string("has dtype ") + dtypeName(tensor->dtype) +
                              ", but the encoding's scale type is " +
                              dtypeName(weight.encoding.scaleType) +
                              " (take it from the checkpoint: scaleTypeFromCheckpoint)");
    return false;
  }
  std::string bytes;
  if (!load(weight, local, {weight.encoding.scaleType}, {rows, cols}, bytes, error))
    return false;
  out.scales.resize(weight.n * weight.groups);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float scale = static_cast<float>(
          loadElement(weight.encoding.scaleType, bytes.data(), r * cols + c));
      if (!std::isfinite(scale) || scale == 0.0f) {
        error = tensorError(
            name, "element [" + std::to_string(r) + ", " + std::to_string(c) + "] is " +
                      std::to_string(scale) + "; scales must be finite and non-zero");
        return false;
      }
      int64_t row = transposed ? c : r, group = transposed ? r : c;
      out.scales[row * weight.groups + group] = scale;
    }
  }
  return true;
}

/// Stores the zero of (row, group); with offset None it must be the midpoint 2^(b-1),
/// which is what the symmetric encoding subtracts.
bool storeZero(const WeightContext &weight, const std::string &local, int64_t row,
               int64_t group, int zero, QuantizedWeight &out, std::string &error) {
  if (weight.encoding.offset == QuantOffset::Zero) {
    out.zeros[row * weight.groups + group] = static_cast<uint8_t>(zero);
    return true;
  }
  const int half = 1 << (weight.bits - 1);
  if (zero == half)
    return true;
  error = tensorError(weight.prefix + local,
                      "the zero of output " + std::to_string(row) + ", group " +
                          std::to_string(group) + " is " + std::to_string(zero) +
                          ", but a symmetric encoding (offset none) needs " +
                          std::to_string(half) + " everywhere");
  return false;
}

bool readGptq(const WeightContext &weight, QuantizedWeight &out, std::string &error) {
  const int bits = weight.bits, perWord = 32 / bits;
  const int64_t n = weight.n, k = weight.k, groups = weight.groups;
  const bool v1 = weight.encoding.source == QuantSource::Gptq;
  if (k % perWord != 0 || n % perWord != 0) {
    error = tensorError(weight.prefix + (k % perWord ? "qweight" : "qzeros"),
                        "N=" + std::to_string(n) + " and K=" + std::to_string(k) +
                            " must be multiples of " + std::to_string(perWord) +
                            ", the " + std::to_string(bits) + "-bit codes of one int32");
    return false;
  }
  std::string bytes;
  // qweight [K/P, N], packed along K.
  if (!load(weight, "qweight", {DType::I32}, {k / perWord, n}, bytes, error))
    return false;
  for (int64_t r = 0; r < k / perWord; ++r)
    for (int64_t col = 0; col < n; ++col) {
      uint32_t word = wordAt(bytes, r * n + col);
      for (int j = 0; j < perWord; ++j)
        out.codes[col * k + r * perWord + j] = fieldOf(word, bits, j);
    }

  // qzeros [groups, N/P], packed along N; v1 stores zero - 1.
  if (!load(weight, "qzeros", {DType::I32}, {groups, n / perWord}, bytes, error))
    return false;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t c = 0; c < n / perWord; ++c) {
      uint32_t word = wordAt(bytes, g * (n / perWord) + c);
      for (int j = 0; j < perWord; ++j) {
        int zero = fieldOf(word, bits, j) + (v1 ? 1 : 0);
        int64_t row = c * perWord + j;
        if (zero > (1 << bits) - 1) {
          error = tensorError(
              weight.prefix + "qzeros",
              "the zero of output " + std::to_string(row) + ", group " +
                  std::to_string(g) + " is stored as " + std::to_string(zero - 1) +
                  ", i.e. zero " + std::to_string(zero) +
                  " (GPTQ v1 stores zero - 1): a zero of 0 that underflowed");
          return false;
        }
        if (!storeZero(weight, "qzeros", row, g, zero, out, error))
          return false;
      }
    }

  if (!loadScales(weight, "scales", /*transposed=*/true, out, error))
    return false;

  // g_idx [K]: k / G without act-order; with it, any order giving every group G rows.
  const std::string gIdx = weight.prefix + "g_idx";
  if (!load(weight, "g_idx", {DType::I32}, {k}, bytes, error))
    return false;
  std::vector<int64_t> rowsPerGroup(groups, 0);
  if (weight.encoding.permuted)
    out.groupOf.resize(k);
  for (int64_t i = 0; i < k; ++i) {
    int32_t g = static_cast<int32_t>(wordAt(bytes, i));
    if (g < 0 || g >= groups) {
      error = tensorError(gIdx, "entry [" + std::to_string(i) + "] is " +
                                    std::to_string(g) + ", outside 0.." +
                                    std::to_string(groups - 1) + " " + weight.why);
      return false;
    }
    if (!weight.encoding.permuted) {
      int64_t expected = weight.encoding.groupSize ? i / weight.encoding.groupSize : 0;
      if (g != expected) {
        error = tensorError(
            gIdx, "entry [" + std::to_string(i) + "] is " + std::to_string(g) +
                      ", expected k / group size = " + std::to_string(expected) +
                      " since the encoding is not act-order (desc_act)");
        return false;
      }
      continue;
    }
    out.groupOf[i] = g;
    ++rowsPerGroup[g];
  }
  if (weight.encoding.permuted) {
    for (int64_t g = 0; g < groups; ++g) {
      if (rowsPerGroup[g] != weight.encoding.groupSize) {
        error = tensorError(gIdx, "group " + std::to_string(g) + " has " +
                                      std::to_string(rowsPerGroup[g]) +
                                      " inputs, expected the group size " +
                                      std::to_string(weight.encoding.groupSize));
        return false;
      }
    }
  }
  return true;
}

/// AutoAWQ's GEMM order: column 8c + j of a word is nibble kAwqReverseOrder[j].
constexpr int kAwqReverseOrder[8] = {0, 4, 1, 5, 2, 6, 3, 7};

bool readAwq(const WeightContext &weight, QuantizedWeight &out, std::string &error) {
  const int64_t n = weight.n, k = weight.k, groups = weight.groups;
  if (n % 8 != 0) {
    error =
        tensorError(weight.prefix + "qweight", "N=" + std::to_string(n) +
                                                   " must be a multiple of 8, the int4 "
                                                   "codes of one int32");
    return false;
  }
  std::string bytes;
  // qweight [K, N/8] and qzeros [groups, N/8], both packed along N in AWQ order.
  if (!load(weight, "qweight", {DType::I32}, {k, n / 8}, bytes, error))
    return false;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t c = 0; c < n / 8; ++c) {
      uint32_t word = wordAt(bytes, i * (n / 8) + c);
      for (int j = 0; j < 8; ++j)
        out.codes[(8 * c + j) * k + i] = fieldOf(word, 4, kAwqReverseOrder[j]);
    }
  if (!load(weight, "qzeros", {DType::I32}, {groups, n / 8}, bytes, error))
    return false;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t c = 0; c < n / 8; ++c) {
      uint32_t word = wordAt(bytes, g * (n / 8) + c);
      for (int j = 0; j < 8; ++j)
        if (!storeZero(weight, "qzeros", 8 * c + j, g,
                       fieldOf(word, 4, kAwqReverseOrder[j]), out, error))
          return false;
    }
  return loadScales(weight, "scales", /*transposed=*/true, out, error);
}

bool readCtPacked(const WeightContext &weight, QuantizedWeight &out, std::string &error) {
  const int bits = weight.bits, perWord = 32 / bits;
  const int64_t n = weight.n, k = weight.k, groups = weight.groups;
  std::string bytes;
  DType shapeType;
  if (!load(weight, "weight_shape", {DType::I64, DType::I32}, {2}, bytes, error,
            &shapeType))
    return false;
  int64_t storedN = static_cast<int64_t>(loadElement(shapeType, bytes.data(), 0));
  int64_t storedK = static_cast<int64_t>(loadElement(shapeType, bytes.data(), 1));
  if (storedN != n || storedK != k) {
    error = tensorError(weight.prefix + "weight_shape",
                        "holds " + shapeText({storedN, storedK}) + ", expected " +
                            shapeText({n, k}));
    return false;
  }
  // weight_packed [N, ceil(K/P)], packed along K (compressed-tensors pads the last word).
  const int64_t words = ceilDiv(k, perWord);
  if (!load(weight, "weight_packed", {DType::I32}, {n, words}, bytes, error))
    return false;
  for (int64_t row = 0; row < n; ++row)
    for (int64_t i = 0; i < k; ++i)
      out.codes[row * k + i] = fieldOf(wordAt(bytes, row * words + i / perWord), bits,
                                       static_cast<int>(i % perWord));
  if (!loadScales(weight, "weight_scale", /*transposed=*/false, out, error))
    return false;
  if (weight.encoding.offset != QuantOffset::Zero)
    return true;
  // weight_zero_point [ceil(N/P), groups], packed along N: word [r, g] holds output
  // P*r + j in field j, stored like the codes (zero + 2^(b-1) of the signed zero).
  if (!load(weight, "weight_zero_point", {DType::I32}, {ceilDiv(n, perWord), groups},
            bytes, error))
    return false;
  for (int64_t row = 0; row < n; ++row)
    for (int64_t g = 0; g < groups; ++g)
      out.zeros[row * groups + g] = fieldOf(wordAt(bytes, (row / perWord) * groups + g),
                                            bits, static_cast<int>(row % perWord));
  return true;
}

bool readCtFloat(const WeightContext &weight, QuantizedWeight &out, std::string &error) {
  std::string bytes;
  if (!load(weight, "weight", {DType::F8E4M3}, {weight.n, weight.k}, bytes, error))
    return false;
  for (int64_t i = 0; i < weight.n * weight.k; ++i) {
    uint8_t code = static_cast<uint8_t>(bytes[i]);
    if ((code & 0x7f) == 0x7f) {
      error = tensorError(weight.prefix + "weight",
                          "element [" + std::to_string(i / weight.k) + ", " +
                              std::to_string(i % weight.k) + "] is NaN");
      return false;
    }
    out.codes[i] = code;
  }
  return loadScales(weight, "weight_scale", /*transposed=*/false, out, error);
}

} // namespace

std::vector<std::string> quantTensorNames(const std::string &name,
                                          const QuantEncoding &encoding) {
  const std::string prefix = layerPrefix(name);
  switch (encoding.source) {
  case QuantSource::Rtn:
    return {name};
  case QuantSource::Gptq:
  case QuantSource::GptqV2:
    return {prefix + "qweight", prefix + "qzeros", prefix + "scales", prefix + "g_idx"};
  case QuantSource::Awq:
    return {prefix + "qweight", prefix + "qzeros", prefix + "scales"};
  case QuantSource::CtPacked:
    if (encoding.offset == QuantOffset::Zero)
      return {prefix + "weight_packed", prefix + "weight_scale", prefix + "weight_shape",
              prefix + "weight_zero_point"};
    return {prefix + "weight_packed", prefix + "weight_scale", prefix + "weight_shape"};
  case QuantSource::CtFloat:
    return {prefix + "weight", prefix + "weight_scale"};
  }
  return {};
}

const TensorInfo *SafetensorsFileReader::find(std::string_view name) const {
  return file_.find(name);
}

bool SafetensorsFileReader::read(const TensorInfo &tensor, std::string &bytes,
                                 std::string &error) const {
  return readTensorBytes(file_, tensor, bytes, error);
}

bool loadQuantizedWeight(const TensorReader &reader, const std::string &name,
                         const QuantEncoding &encoding, int64_t n, int64_t k,
                         QuantizedWeight &out, std::string &error) {
  if (encoding.source != QuantSource::Rtn)
    return readQuantizedWeight(reader, name, encoding, n, k, out, error);
  const TensorInfo *info = reader.find(name);
  if (!info) {
    error = "weight '" + name + "' is not in the checkpoint";
    return false;
  }
  if (info->shape != std::vector<int64_t>{n, k} || !dtypeIsFloat(info->dtype) ||
      dtypeSize(info->dtype) < 2) {
    error = "weight '" + name + "' is to be quantized at load as a float [" +
            std::to_string(n) + ", " + std::to_string(k) + "] matrix of F32, F16 or BF16; the "
            "checkpoint holds " + dtypeName(info->dtype) + " of another shape or type";
    return false;
  }
  std::string bytes;
  if (!reader.read(*info, bytes, error))
    return false;
  std::vector<float> weight(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n * k; ++i)
    weight[i] = static_cast<float>(loadElement(info->dtype, bytes.data(), i));
  if (!quantizeRoundToNearest(weight.data(), n, k, encoding, out, error)) {
    error = "weight '" + name + "': " + error;
    return false;
  }
  return true;
}

bool scaleTypeFromCheckpoint(const TensorReader &reader, const std::string &name,
                             QuantEncoding &encoding, std::string &error) {
  if (encoding.source == QuantSource::Rtn)
    return true;
  const bool ct =
      encoding.source == QuantSource::CtPacked || encoding.source == QuantSource::CtFloat;
  const std::string scales = layerPrefix(name) + (ct ? "weight_scale" : "scales");
  const TensorInfo *tensor = reader.find(scales);
  if (!tensor) {
    error = tensorError(scales, "missing from the checkpoint");
    return false;
  }
  if (tensor->dtype != DType::F16 && tensor->dtype != DType::BF16 &&
      tensor->dtype != DType::F32) {
    error = tensorError(scales, std::string("has dtype ") + dtypeName(tensor->dtype) +
                                    ", expected F16, BF16 or F32");
    return false;
  }
  encoding.scaleType = tensor->dtype;
  return true;
}

bool readQuantizedWeight(const TensorReader &reader, const std::string &name,
                         const QuantEncoding &encoding, int64_t n, int64_t k,
                         QuantizedWeight &out, std::string &error) {
  out = QuantizedWeight();
  if (n <= 0 || k <= 0) {
    error = "weight '" + name + "': shape [" + std::to_string(n) + ", " +
            std::to_string(k) + "] is empty";
    return false;
  }
  std::string rule = checkQuantEncoding(encoding, k);
  if (rule.empty() && encoding.source == QuantSource::Rtn)
    rule =
        "source 'rtn' stores the float weight: quantize it with quantizeRoundToNearest";
  if (!rule.empty()) {
    error = "weight '" + name + "': " + rule;
    return false;
  }
  const int bits = quantBits(encoding.element);
  const int64_t groups = quantGroups(encoding, k);
  std::string why =
      "for N=" + std::to_string(n) + ", K=" + std::to_string(k) + ", " +
      quantElementName(encoding.element) + " codes and " +
      (encoding.groupSize ? "group size " + std::to_string(encoding.groupSize)
                          : std::string("one group per output channel"));
  WeightContext weight{reader, layerPrefix(name), encoding, n, k, groups, bits, why};
  out.rows = n;
  out.cols = k;
  out.encoding = encoding;
  out.codes.resize(n * k);
  if (encoding.offset == QuantOffset::Zero)
    out.zeros.resize(n * groups);
  bool ok = false;
  switch (encoding.source) {
  case QuantSource::Gptq:
  case QuantSource::GptqV2:
    ok = readGptq(weight, out, error);
    break;
  case QuantSource::Awq:
    ok = readAwq(weight, out, error);
    break;
  case QuantSource::CtPacked:
    ok = readCtPacked(weight, out, error);
    break;
  case QuantSource::CtFloat:
    ok = readCtFloat(weight, out, error);
    break;
  case QuantSource::Rtn:
    break;
  }
  if (!ok)
    out = QuantizedWeight();
  return ok;
}

} // namespace loom
