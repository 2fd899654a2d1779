//===- Quantization.cpp - Quantized weights: encodings, RTN, dequant, repack ---===//

#include "loom/support/Quantization.h"

#include "loom/support/Float16.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace loom {

bool QuantEncoding::operator==(const QuantEncoding &other) const {
  return element == other.element && groupSize == other.groupSize &&
         scaleType == other.scaleType && offset == other.offset &&
         permuted == other.permuted && source == other.source;
}

int quantBits(QuantElement element) { return element == QuantElement::Int4 ? 4 : 8; }

int64_t quantGroups(const QuantEncoding &encoding, int64_t k) {
  return encoding.groupSize == 0 ? 1 : k / encoding.groupSize;
}

namespace {

const char *const kElementNames[] = {"int4", "int8", "fp8e4m3"};
const char *const kOffsetNames[] = {"none", "zero", "min"};
const char *const kSourceNames[] = {"rtn", "gptq",      "gptq_v2",
                                    "awq", "ct_packed", "ct_float"};

template <typename Enum, size_t N>
bool parseName(std::string_view name, const char *const (&names)[N], Enum &out) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) {
      out = static_cast<Enum>(i);
      return true;
    }
  }
  return false;
}

} // namespace

const char *quantElementName(QuantElement element) {
  return kElementNames[static_cast<int>(element)];
}
const char *quantOffsetName(QuantOffset offset) {
  return kOffsetNames[static_cast<int>(offset)];
}
const char *quantSourceName(QuantSource source) {
  return kSourceNames[static_cast<int>(source)];
}
bool parseQuantElement(std::string_view name, QuantElement &out) {
  return parseName(name, kElementNames, out);
}
bool parseQuantOffset(std::string_view name, QuantOffset &out) {
  return parseName(name, kOffsetNames, out);
}
bool parseQuantSource(std::string_view name, QuantSource &out) {
  return parseName(name, kSourceNames, out);
}

std::string checkQuantEncoding(const QuantEncoding &encoding, int64_t k) {
  const int64_t group = encoding.groupSize;
  const std::string element = quantElementName(encoding.element);
  const std::string source =
      std::string("source '") + quantSourceName(encoding.source) + "'";
  const bool fp8 = encoding.element == QuantElement::Fp8E4M3;
  const bool min = encoding.offset == QuantOffset::Min;
  if (group != 0 && group != 16 && group != 32 && group != 64 && group != 128 &&
      group != 256)
    return "group size " + std::to_string(group) +
           " is not 16, 32, 64, 128, 256 or 0 (one group per output channel)";
  if (encoding.scaleType != DType::F16 && encoding.scaleType != DType::BF16 &&
      encoding.scaleType != DType::F32)
    return std::string("scale type ") + dtypeName(encoding.scaleType) +
           " is not F16, BF16 or F32";
  if (fp8 && group != 0)
    return "fp8e4m3 takes one scale per output channel (group size 0), not groups of " +
           std::to_string(group);
  if (fp8 && encoding.offset != QuantOffset::None)
    return std::string("fp8e4m3 takes no offset, not '") +
           quantOffsetName(encoding.offset) + "'";
  if (encoding.permuted && group == 0)
    return "a permutation (act-order) needs groups, but the group size is 0";
  switch (encoding.source) {
  case QuantSource::Rtn:
    if (encoding.permuted)
      return source + " never permutes inputs";
    if (min)
      return source + " makes offset none or zero, not min";
    break;
  case QuantSource::Gptq:
  case QuantSource::GptqV2:
    if (fp8 || min)
      return source +
             " stores int4 or int8 codes with zero points (offset zero, or none " +
             "when every zero is the midpoint), not " + element + " with offset " +
             quantOffsetName(encoding.offset);
    break;
  case QuantSource::Awq:
    if (encoding.element != QuantElement::Int4 || min || encoding.permuted)
      return source + " stores int4 codes with zero points in natural order, not " +
             element + (encoding.permuted ? " permuted" : "") + " with offset " +
             quantOffsetName(encoding.offset);
    break;
  case QuantSource::CtPacked:
    if (fp8 || min || encoding.permuted)
      return source +
             " stores int4 or int8 codes, with or without zero points, in natural " +
             "order, not " + element + (encoding.permuted ? " permuted" : "") +
             " with offset " + quantOffsetName(encoding.offset);
    break;
  case QuantSource::CtFloat:
    if (!fp8)
      return source + " stores fp8e4m3 codes, not " + element;
    break;
  }
  if (k > 0 && group != 0 && k % group != 0)
    return "group size " + std::to_string(group) +
           " does not divide K=" + std::to_string(k);
  return "";
}

int64_t QuantizedWeight::group(int64_t k) const {
  if (encoding.permuted)
    return groupOf[k];
  return encoding.groupSize == 0 ? 0 : k / encoding.groupSize;
}

//===----------------------------------------------------------------------===//
// FP8 e4m3fn
//===----------------------------------------------------------------------===//

float fp8e4m3ToFloat(uint8_t bits) {
  const bool negative = bits & 0x80;
  if ((bits & 0x7f) == 0x7f)
    return negative ? -std::numeric_limits<float>::quiet_NaN()
                    : std::numeric_limits<float>::quiet_NaN();
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  // Bias 7: a normal value is (8 + m) / 8 * 2^(e - 7); subnormals are m / 8 * 2^-6.
  float magnitude = exponent == 0
                        ? std::ldexp(static_cast<float>(mantissa), -9)
                        : std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  return negative ? -magnitude : magnitude;
}

uint8_t floatToFp8e4m3(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u)
    return sign | 0x7f;
  const float absolute = std::fabs(value);
  if (absolute < 0x1p-6f) {
    // Subnormal range: multiples of 2^-9. Scaling by 2^9 is exact and nearbyint rounds
    // ties to even; 8 comes out as 0x08, which is 2^-6, the smallest normal.
    return sign | static_cast<uint8_t>(std::nearbyint(absolute * 512.0f));
  }
  // Normal: keep 3 of float's 23 mantissa bits, ties to even; a carry into the exponent
  // is the right answer. Rebias 127 -> 7 and saturate at 0x7e (448), which also takes
  // infinity.
  uint32_t rounded = magnitude + 0x7ffffu + ((magnitude >> 20) & 1u);
  uint32_t code = (rounded >> 20) - (120u << 3);
  return sign | static_cast<uint8_t>(std::min<uint32_t>(code, 0x7e));
}

void roundRowToFp8(float *row, int64_t k) {
  float maxAbs = 0.0f;
  for (int64_t i = 0; i < k; ++i)
    maxAbs = std::max(maxAbs, std::fabs(row[i]));
  if (maxAbs == 0.0f)
    return;
  const float scale = maxAbs / 448.0f;
  for (int64_t i = 0; i < k; ++i)
    row[i] = fp8e4m3ToFloat(floatToFp8e4m3(row[i] / scale)) * scale;
}

//===----------------------------------------------------------------------===//
// Round-to-nearest quantizer
//===----------------------------------------------------------------------===//

namespace {

float roundToScaleType(float value, DType type) {
  if (type == DType::F16)
    return roundToHalf(value);
  if (type == DType::BF16)
    return roundToBfloat16(value);
  return value;
}

/// The smallest value of `type` not below `value` (> 0): a scale that never clips the
/// group's largest weight, so every weight lands within half a step.
float roundUpToScaleType(float value, DType type) {
  float rounded = roundToScaleType(value, type);
  if (rounded >= value)
    return rounded;
  if (type == DType::F16)
    return halfToFloat(static_cast<uint16_t>(floatToHalf(rounded) + 1));
  if (type == DType::BF16)
    return bfloat16ToFloat(static_cast<uint16_t>(floatToBfloat16(rounded) + 1));
  return std::nextafter(rounded, std::numeric_limits<float>::infinity());
}

uint8_t clampCode(float value, int low, int high) {
  return static_cast<uint8_t>(std::min<float>(std::max<float>(value, low), high));
}

} // namespace

bool quantizeRoundToNearest(const float *weight, int64_t n, int64_t k,
                            const QuantEncoding &encoding, QuantizedWeight &out,
                            std::string &error) {
  out = QuantizedWeight();
  std::string rule = checkQuantEncoding(encoding, k);
  if (rule.empty() && (encoding.permuted || encoding.offset == QuantOffset::Min))
    rule = "the round-to-nearest quantizer makes natural-order codes with offset none or "
           "zero";
  if (!rule.empty()) {
    error = "cannot quantize: " + rule;
    return false;
  }
  for (int64_t i = 0; i < n * k; ++i) {
    if (!std::isfinite(weight[i])) {
      error = "cannot quantize: weight [" + std::to_string(i / k) + ", " +
              std::to_string(i % k) + "] is not finite";
      return false;
    }
  }
  const bool fp8 = encoding.element == QuantElement::Fp8E4M3;
  const bool zero = encoding.offset == QuantOffset::Zero;
  const int bits = quantBits(encoding.element);
  const int half = 1 << (bits - 1), top = (1 << bits) - 1;
  const int64_t groups = quantGroups(encoding, k);
  const int64_t size = encoding.groupSize == 0 ? k : encoding.groupSize;
  out.rows = n;
  out.cols = k;
  out.encoding = encoding;
  out.codes.resize(n * k);
  out.scales.resize(n * groups);
  if (zero)
    out.zeros.resize(n * groups);

  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const float *w = weight + row * k + g * size;
      uint8_t *codes = out.codes.data() + row * k + g * size;
      float low = 0.0f, high = 0.0f; // the range always includes 0
      for (int64_t i = 0; i < size; ++i) {
        low = std::min(low, w[i]);
        high = std::max(high, w[i]);
      }
      const float maxAbs = std::max(-low, high);
      // Range / steps: symmetric integers use 2^(b-1) - 1 steps each side (code 0, i.e.
      // -2^(b-1), stays unused), Zero the 2^b - 1 steps of [low, high], FP8 448.
      float exact = fp8    ? maxAbs / 448.0f
                    : zero ? (high - low) / static_cast<float>(top)
                           : maxAbs / static_cast<float>(half - 1);
      float scale;
      if (maxAbs == 0.0f)
        scale = 1.0f; // any scale: every code decodes to an exact 0
      else if (fp8)   // compressed-tensors' rule: nearest, saturating the code instead
        scale =
            roundToScaleType(std::max(exact, std::numeric_limits<float>::denorm_min()),
                             encoding.scaleType);
      else
        scale =
            roundUpToScaleType(std::max(exact, std::numeric_limits<float>::denorm_min()),
                               encoding.scaleType);
      if (scale == 0.0f) // a tiny f16/bf16 scale rounded to 0 by nearest
        scale = roundUpToScaleType(std::numeric_limits<float>::denorm_min(),
                                   encoding.scaleType);
      if (!std::isfinite(scale)) {
        error = "cannot quantize: row " + std::to_string(row) + ", group " +
                std::to_string(g) + ": scale " + std::to_string(exact) + " overflows " +
                dtypeName(encoding.scaleType);
        return false;
      }
      out.scales[row * groups + g] = scale;
      if (fp8) {
        for (int64_t i = 0; i < size; ++i)
          codes[i] = floatToFp8e4m3(w[i] / scale);
      } else if (zero) {
        const uint8_t z = clampCode(std::nearbyint(-low / scale), 0, top);
        out.zeros[row * groups + g] = z;
        for (int64_t i = 0; i < size; ++i)
          codes[i] = clampCode(std::nearbyint(w[i] / scale) + z, 0, top);
      } else {
        for (int64_t i = 0; i < size; ++i)
          codes[i] = static_cast<uint8_t>(
              clampCode(std::nearbyint(w[i] / scale) + half, 0, top));
      }
    }
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Dequantization and the kernels' layout
//===----------------------------------------------------------------------===//

std::vector<float> dequantize(const QuantizedWeight &weight) {
  const int64_t n = weight.rows, k = weight.cols;
  const int64_t groups = quantGroups(weight.encoding, k);
  const int half = 1 << (quantBits(weight.encoding.element) - 1);
  const bool fp8 = weight.encoding.element == QuantElement::Fp8E4M3;
  std::vector<int64_t> groupOf(k);
  for (int64_t i = 0; i < k; ++i)
    groupOf[i] = weight.group(i);
  std::vector<float> out(n * k);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t i = 0; i < k; ++i) {
      const int64_t at = row * groups + groupOf[i];
      const uint8_t code = weight.codes[row * k + i];
      const float scale = weight.scales[at];
      float value = 0.0f;
      switch (weight.encoding.offset) {
      case QuantOffset::None:
        value = fp8 ? fp8e4m3ToFloat(code) * scale
                    : scale * static_cast<float>(static_cast<int>(code) - half);
        break;
      case QuantOffset::Zero:
        value = scale * static_cast<float>(static_cast<int>(code) - weight.zeros[at]);
        break;
      case QuantOffset::Min:
        value = scale * static_cast<float>(code) - weight.mins[at];
        break;
      }
      out[row * k + i] = value;
    }
  }
  return out;
}

KernelWeightLayout repackForKernels(const QuantizedWeight &weight) {
  const int64_t n = weight.rows, k = weight.cols;
  const int64_t groups = quantGroups(weight.encoding, k);
  const DType scaleType = weight.encoding.scaleType;
  KernelWeightLayout layout;

  // perm[k'] = the input read at k'. A stable sort by group keeps each group's inputs in
  // their natural order and makes the groups contiguous along k'.
  std::vector<int64_t> perm(k);
  std::iota(perm.begin(), perm.end(), 0);
  if (weight.encoding.permuted) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
      return weight.groupOf[a] < weight.groupOf[b];
    });
    layout.perm.resize(4 * k);
    for (int64_t i = 0; i < k; ++i)
      storeElement(DType::I32, layout.perm.data(), i, static_cast<double>(perm[i]));
  }

  if (weight.encoding.element == QuantElement::Int4) {
    const int64_t rowBytes = (k + 1) / 2; // an odd K leaves the last high nibble 0
    layout.codes.assign(n * rowBytes, '\0');
    for (int64_t row = 0; row < n; ++row) {
      const uint8_t *codes = weight.codes.data() + row * k;
      for (int64_t i = 0; i < k; ++i) {
        uint8_t nibble = codes[perm[i]] & 0xf;
        layout.codes[row * rowBytes + i / 2] |=
            static_cast<char>(nibble << (4 * (i % 2)));
      }
    }
  } else {
    layout.codes.resize(n * k);
    for (int64_t row = 0; row < n; ++row)
      for (int64_t i = 0; i < k; ++i)
        layout.codes[row * k + i] = static_cast<char>(weight.codes[row * k + perm[i]]);
  }

  layout.scales.resize(n * groups * dtypeSize(scaleType));
  for (int64_t i = 0; i < n * groups; ++i)
    storeElement(scaleType, layout.scales.data(), i, weight.scales[i]);
  if (weight.encoding.offset == QuantOffset::Zero)
    layout.zeros.assign(weight.zeros.begin(), weight.zeros.end());
  if (weight.encoding.offset == QuantOffset::Min) {
    layout.mins.resize(n * groups * dtypeSize(scaleType));
    for (int64_t i = 0; i < n * groups; ++i)
      storeElement(scaleType, layout.mins.data(), i, weight.mins[i]);
  }
  return layout;
}

uint64_t quantizedWeightBytes(const QuantEncoding &encoding, int64_t n, int64_t k) {
  const uint64_t rows = static_cast<uint64_t>(n), cols = static_cast<uint64_t>(k);
  const uint64_t groups = static_cast<uint64_t>(quantGroups(encoding, k));
  const uint64_t scaleBytes = static_cast<uint64_t>(dtypeSize(encoding.scaleType));
  uint64_t bytes =
      encoding.element == QuantElement::Int4 ? rows * ((cols + 1) / 2) : rows * cols;
  bytes += rows * groups * scaleBytes;
  if (encoding.offset == QuantOffset::Zero)
    bytes += rows * groups;
  if (encoding.offset == QuantOffset::Min)
    bytes += rows * groups * scaleBytes;
  if (encoding.permuted)
    bytes += 4 * cols;
  return bytes;
}

} // namespace loom
