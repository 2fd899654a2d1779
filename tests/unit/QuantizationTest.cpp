//===- QuantizationTest.cpp - Quantized weights: unpacking, RTN, FP8, repack ---===//
//
// Every format is unpacked from small synthetic checkpoints packed here independently
// (and with broken tensors for each rule), and from layer 0 of the six reference
// checkpoints in LOOM_SHARED_DIR/quantized, whose values are recomputed from raw bytes by
// the README's formulas.
//
//===----------------------------------------------------------------------===//

#include "loom/support/Quantization.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Float16.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace {

using loom::DType;
using loom::QuantElement;
using loom::QuantEncoding;
using loom::QuantizedWeight;
using loom::QuantOffset;
using loom::QuantSource;
using loom::TensorBytes;

const std::string kLayer = "model.layers.0.mlp.up_proj.";
const std::string kWeight = kLayer + "weight";

//===----------------------------------------------------------------------===//
// Helpers: packing words and writing checkpoints
//===----------------------------------------------------------------------===//

std::string wordBytes(const std::vector<uint32_t> &words) {
  std::string bytes(4 * words.size(), '\0');
  for (size_t i = 0; i < words.size(); ++i)
    for (int b = 0; b < 4; ++b)
      bytes[4 * i + b] = static_cast<char>((words[i] >> (8 * b)) & 0xff);
  return bytes;
}

std::string elementBytes(DType dtype, const std::vector<double> &values) {
  std::string bytes(values.size() * loom::dtypeSize(dtype), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    loom::storeElement(dtype, bytes.data(), static_cast<int64_t>(i), values[i]);
  return bytes;
}

uint32_t wordOf(const std::string &bytes, int64_t index) {
  uint32_t word = 0;
  for (int b = 0; b < 4; ++b)
    word |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[4 * index + b]))
            << (8 * b);
  return word;
}

TensorBytes &tensorNamed(std::vector<TensorBytes> &tensors, const std::string &local) {
  for (TensorBytes &t : tensors)
    if (t.name == kLayer + local)
      return t;
  ADD_FAILURE() << "no tensor " << local;
  return tensors.front();
}

/// A weight's content, drawn at random: codes [N, K], zeros and scales [N, groups].
struct Truth {
  int64_t n = 0, k = 0, groups = 0;
  std::vector<uint8_t> codes, zeros;
  std::vector<float> scales;
  std::vector<int32_t> gIdx; // [K]
};

Truth randomTruth(int64_t n, int64_t k, int64_t groupSize, int bits, DType scaleType,
                  int zeroLow, int zeroHigh, uint32_t seed) {
  std::mt19937 random(seed);
  Truth truth;
  truth.n = n;
  truth.k = k;
  truth.groups = groupSize ? k / groupSize : 1;
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1), zero(zeroLow, zeroHigh);
  std::uniform_real_distribution<float> scale(1e-3f, 0.1f);
  for (int64_t i = 0; i < n * k; ++i)
    truth.codes.push_back(static_cast<uint8_t>(code(random)));
  for (int64_t i = 0; i < n * truth.groups; ++i) {
    truth.zeros.push_back(static_cast<uint8_t>(zero(random)));
    float s = scale(random);
    truth.scales.push_back(scaleType == DType::F16    ? loom::roundToHalf(s)
                           : scaleType == DType::BF16 ? loom::roundToBfloat16(s)
                                                      : s);
  }
  for (int64_t i = 0; i < k; ++i)
    truth.gIdx.push_back(static_cast<int32_t>(groupSize ? i / groupSize : 0));
  return truth;
}

/// GPTQ: qweight [K/P, N] packed along K, qzeros [groups, N/P] along N (v1: zero - 1).
std::vector<TensorBytes> gptqTensors(const Truth &t, int bits, bool v1) {
  const int64_t per = 32 / bits;
  std::vector<uint32_t> qweight(t.k / per * t.n, 0), qzeros(t.groups * t.n / per, 0);
  for (int64_t col = 0; col < t.n; ++col)
    for (int64_t k = 0; k < t.k; ++k)
      qweight[k / per * t.n + col] |= uint32_t(t.codes[col * t.k + k])
                                      << (bits * (k % per));
  std::vector<double> scales(t.groups * t.n);
  for (int64_t col = 0; col < t.n; ++col)
    for (int64_t g = 0; g < t.groups; ++g) {
      qzeros[g * (t.n / per) + col / per] |=
          uint32_t(t.zeros[col * t.groups + g] - (v1 ? 1 : 0)) << (bits * (col % per));
      scales[g * t.n + col] = t.scales[col * t.groups + g];
    }
  std::vector<double> gIdx(t.gIdx.begin(), t.gIdx.end());
  return {
      {kLayer + "qweight", DType::I32, {t.k / per, t.n}, wordBytes(qweight)},
      {kLayer + "qzeros", DType::I32, {t.groups, t.n / per}, wordBytes(qzeros)},
      {kLayer + "scales", DType::F16, {t.groups, t.n}, elementBytes(DType::F16, scales)},
      {kLayer + "g_idx", DType::I32, {t.k}, elementBytes(DType::I32, gIdx)}};
}

/// AWQ's pack order: nibble i of a word holds column 8c + kAwqOrder[i].
constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

std::vector<TensorBytes> awqTensors(const Truth &t) {
  std::vector<uint32_t> qweight(t.k * t.n / 8, 0), qzeros(t.groups * t.n / 8, 0);
  std::vector<double> scales(t.groups * t.n);
  for (int64_t c = 0; c < t.n / 8; ++c)
    for (int i = 0; i < 8; ++i) {
      int64_t col = 8 * c + kAwqOrder[i];
      for (int64_t k = 0; k < t.k; ++k)
        qweight[k * (t.n / 8) + c] |= uint32_t(t.codes[col * t.k + k]) << (4 * i);
      for (int64_t g = 0; g < t.groups; ++g)
        qzeros[g * (t.n / 8) + c] |= uint32_t(t.zeros[col * t.groups + g]) << (4 * i);
    }
  for (int64_t col = 0; col < t.n; ++col)
    for (int64_t g = 0; g < t.groups; ++g)
      scales[g * t.n + col] = t.scales[col * t.groups + g];
  return {
      {kLayer + "qweight", DType::I32, {t.k, t.n / 8}, wordBytes(qweight)},
      {kLayer + "qzeros", DType::I32, {t.groups, t.n / 8}, wordBytes(qzeros)},
      {kLayer + "scales", DType::F16, {t.groups, t.n}, elementBytes(DType::F16, scales)}};
}

/// compressed-tensors pack-quantized: weight_packed [N, K/P] along K; zero points
/// [N/P, groups] along N.
std::vector<TensorBytes> ctPackedTensors(const Truth &t, int bits, DType scaleType,
                                         bool withZeros) {
  const int64_t per = 32 / bits;
  std::vector<uint32_t> packed(t.n * t.k / per, 0), zeros(t.n / per * t.groups, 0);
  for (int64_t row = 0; row < t.n; ++row)
    for (int64_t k = 0; k < t.k; ++k)
      packed[row * (t.k / per) + k / per] |= uint32_t(t.codes[row * t.k + k])
                                             << (bits * (k % per));
  for (int64_t row = 0; row < t.n; ++row)
    for (int64_t g = 0; g < t.groups; ++g)
      zeros[row / per * t.groups + g] |= uint32_t(t.zeros[row * t.groups + g])
                                         << (bits * (row % per));
  std::vector<double> scales(t.scales.begin(), t.scales.end());
  std::vector<TensorBytes> tensors = {
      {kLayer + "weight_packed", DType::I32, {t.n, t.k / per}, wordBytes(packed)},
      {kLayer + "weight_scale",
       scaleType,
       {t.n, t.groups},
       elementBytes(scaleType, scales)},
      {kLayer + "weight_shape",
       DType::I64,
       {2},
       elementBytes(DType::I64, {double(t.n), double(t.k)})}};
  if (withZeros)
    tensors.push_back({kLayer + "weight_zero_point",
                       DType::I32,
                       {t.n / per, t.groups},
                       wordBytes(zeros)});
  return tensors;
}

QuantEncoding encodingOf(QuantSource source, QuantElement element, int64_t groupSize,
                         QuantOffset offset, DType scaleType = DType::F16,
                         bool permuted = false) {
  QuantEncoding encoding;
  encoding.source = source;
  encoding.element = element;
  encoding.groupSize = groupSize;
  encoding.offset = offset;
  encoding.scaleType = scaleType;
  encoding.permuted = permuted;
  return encoding;
}

/// Writes `tensors` as a one-file checkpoint and reads the weight; returns the error or
/// "".
class QuantRead : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/loom-quant-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string read(const std::vector<TensorBytes> &tensors, const QuantEncoding &encoding,
                   int64_t n, int64_t k, QuantizedWeight *out = nullptr) {
    std::string error;
    std::filesystem::remove(dir_ + "/model.safetensors");
    if (!loom::writeSafetensors(dir_ + "/model.safetensors", tensors, error))
      return "write: " + error;
    loom::Checkpoint checkpoint;
    if (!checkpoint.open(dir_, error))
      return "open: " + error;
    loom::CheckpointReader reader(checkpoint);
    QuantizedWeight weight;
    bool ok = loom::readQuantizedWeight(reader, kWeight, encoding, n, k, weight, error);
    if (out)
      *out = weight;
    return ok ? "" : error;
  }

  std::string dir_;
};

#define EXPECT_ERROR(expression, text)                                                   \
  do {                                                                                   \
    std::string error_ = (expression);                                                   \
    EXPECT_NE(error_.find(text), std::string::npos) << "error: '" << error_ << "'";      \
  } while (0)

void expectMatches(const QuantizedWeight &weight, const Truth &truth, bool zeros) {
  EXPECT_EQ(weight.rows, truth.n);
  EXPECT_EQ(weight.cols, truth.k);
  EXPECT_EQ(weight.codes, truth.codes);
  EXPECT_EQ(weight.scales, truth.scales);
  if (zeros)
    EXPECT_EQ(weight.zeros, truth.zeros);
  else
    EXPECT_TRUE(weight.zeros.empty());
}

//===----------------------------------------------------------------------===//
// Encodings
//===----------------------------------------------------------------------===//

TEST(QuantEncoding, NamesRoundTrip) {
  for (QuantElement e : {QuantElement::Int4, QuantElement::Int8, QuantElement::Fp8E4M3}) {
    QuantElement back;
    ASSERT_TRUE(loom::parseQuantElement(loom::quantElementName(e), back));
    EXPECT_EQ(back, e);
  }
  for (QuantOffset o : {QuantOffset::None, QuantOffset::Zero, QuantOffset::Min}) {
    QuantOffset back;
    ASSERT_TRUE(loom::parseQuantOffset(loom::quantOffsetName(o), back));
    EXPECT_EQ(back, o);
  }
  for (QuantSource s : {QuantSource::Rtn, QuantSource::Gptq, QuantSource::GptqV2,
                        QuantSource::Awq, QuantSource::CtPacked, QuantSource::CtFloat}) {
    QuantSource back;
    ASSERT_TRUE(loom::parseQuantSource(loom::quantSourceName(s), back));
    EXPECT_EQ(back, s);
  }
  QuantSource source;
  EXPECT_FALSE(loom::parseQuantSource("marlin", source));
  EXPECT_STREQ(loom::quantSourceName(QuantSource::GptqV2), "gptq_v2");
  EXPECT_EQ(loom::quantBits(QuantElement::Int4), 4);
  EXPECT_EQ(loom::quantBits(QuantElement::Fp8E4M3), 8);
}

TEST(QuantEncoding, ChecksItsRules) {
  auto check = [](const QuantEncoding &e, int64_t k = 0) {
    return loom::checkQuantEncoding(e, k);
  };
  QuantEncoding good = encodingOf(QuantSource::Gptq, QuantElement::Int4, 128,
                                  QuantOffset::Zero, DType::F16, true);
  EXPECT_EQ(check(good, 4096), "");
  EXPECT_EQ(loom::quantGroups(good, 4096), 32);
  EXPECT_ERROR(check(good, 4000), "does not divide K=4000");
  QuantEncoding e = good;
  e.groupSize = 48;
  EXPECT_ERROR(check(e), "group size 48");
  e = good;
  e.groupSize = 0;
  EXPECT_ERROR(check(e), "permutation");
  EXPECT_EQ(loom::quantGroups(e, 4096), 1);
  e = encodingOf(QuantSource::CtFloat, QuantElement::Fp8E4M3, 32, QuantOffset::None);
  EXPECT_ERROR(check(e), "one scale per output channel");
  e.groupSize = 0;
  e.offset = QuantOffset::Zero;
  EXPECT_ERROR(check(e), "no offset");
  e = encodingOf(QuantSource::Awq, QuantElement::Int8, 32, QuantOffset::Zero);
  EXPECT_ERROR(check(e), "source 'awq'");
  e = encodingOf(QuantSource::Rtn, QuantElement::Int4, 32, QuantOffset::Min);
  EXPECT_ERROR(check(e), "source 'rtn'");
  e = encodingOf(QuantSource::CtPacked, QuantElement::Int4, 32, QuantOffset::None,
                 DType::F64);
  EXPECT_ERROR(check(e), "scale type F64");
  e = encodingOf(QuantSource::CtFloat, QuantElement::Int4, 32, QuantOffset::None);
  EXPECT_ERROR(check(e), "stores fp8e4m3");
  EXPECT_TRUE(good == good);
  EXPECT_TRUE(good != e);
}

//===----------------------------------------------------------------------===//
// FP8 e4m3fn
//===----------------------------------------------------------------------===//

/// The e4m3fn value of `bits` from its definition, written apart from the library's.
double e4m3Value(uint8_t bits) {
  int sign = bits & 0x80 ? -1 : 1, exponent = (bits >> 3) & 0xf, mantissa = bits & 7;
  if (exponent == 0)
    return sign * (mantissa / 8.0) * std::pow(2.0, -6);
  return sign * (1.0 + mantissa / 8.0) * std::pow(2.0, exponent - 7);
}

TEST(QuantFp8, EveryPatternRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    uint8_t bits = static_cast<uint8_t>(b);
    float value = loom::fp8e4m3ToFloat(bits);
    if ((bits & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(value)) << b;
      EXPECT_EQ(loom::floatToFp8e4m3(value) & 0x7f, 0x7f) << b;
      continue;
    }
    EXPECT_EQ(value, e4m3Value(bits)) << b;
    EXPECT_EQ(loom::floatToFp8e4m3(value), bits) << b;
  }
  EXPECT_EQ(loom::fp8e4m3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(loom::fp8e4m3ToFloat(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(loom::fp8e4m3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(loom::fp8e4m3ToFloat(0x38), 1.0f);
  EXPECT_EQ(loom::fp8e4m3ToFloat(0xba), -1.25f);
}

TEST(QuantFp8, RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(loom::floatToFp8e4m3(1.0625f), 0x38); // tie between 1 and 1.125
  EXPECT_EQ(loom::floatToFp8e4m3(1.1875f), 0x3a); // tie between 1.125 and 1.25
  EXPECT_EQ(loom::floatToFp8e4m3(std::ldexp(1.0f, -10)),
            0x00); // half the least subnormal
  EXPECT_EQ(loom::floatToFp8e4m3(std::ldexp(3.0f, -10)), 0x02);
  EXPECT_EQ(loom::floatToFp8e4m3(std::ldexp(15.0f, -10)),
            0x08); // rounds up into the normals
  EXPECT_EQ(loom::floatToFp8e4m3(460.0f), 0x7e);
  EXPECT_EQ(loom::floatToFp8e4m3(1e9f), 0x7e);
  EXPECT_EQ(loom::floatToFp8e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(loom::floatToFp8e4m3(-0.0f), 0x80);
  // Against a brute-force nearest (ties to the even code) over many values.
  std::mt19937 random(7);
  std::uniform_real_distribution<float> exponent(-12.0f, 9.5f);
  for (int i = 0; i < 20000; ++i) {
    float value = std::exp2(exponent(random)) * (i % 2 ? -1.0f : 1.0f);
    int best = -1;
    double bestDistance = INFINITY;
    for (int c = 0; c < 0x7f; ++c) {
      double distance = std::fabs(std::fabs(double(value)) - e4m3Value(uint8_t(c)));
      if (distance < bestDistance || (distance == bestDistance && c % 2 == 0)) {
        best = c;
        bestDistance = distance;
      }
    }
    uint8_t expected = static_cast<uint8_t>(best | (value < 0 ? 0x80 : 0));
    ASSERT_EQ(loom::floatToFp8e4m3(value), expected) << value;
  }
}

TEST(QuantFp8, RoundsAnActivationRow) {
  float row[] = {4.0f, -2.0f, 1.0f, 0.3f, 0.0f, 0.05f};
  const float s = 4.0f / 448.0f;
  loom::roundRowToFp8(row, 6);
  // x / s = 448, -224, 112 exactly representable; 33.6 -> 32; 5.6 -> 5.5.
  EXPECT_EQ(row[0], 448.0f * s);
  EXPECT_EQ(row[1], -224.0f * s);
  EXPECT_EQ(row[2], 112.0f * s);
  EXPECT_EQ(row[3], 32.0f * s);
  EXPECT_EQ(row[4], 0.0f);
  EXPECT_EQ(row[5], 5.5f * s);
  float zeros[] = {0.0f, -0.0f, 0.0f};
  loom::roundRowToFp8(zeros, 3);
  for (float z : zeros)
    EXPECT_EQ(z, 0.0f);
}

//===----------------------------------------------------------------------===//
// GPTQ
//===----------------------------------------------------------------------===//

TEST_F(QuantRead, GptqV1Int4) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::F16, 1, 15, 1);
  QuantizedWeight weight;
  QuantEncoding e =
      encodingOf(QuantSource::Gptq, QuantElement::Int4, 32, QuantOffset::Zero);
  ASSERT_EQ(read(gptqTensors(truth, 4, true), e, 16, 64, &weight), "");
  expectMatches(weight, truth, true);
  EXPECT_TRUE(weight.groupOf.empty());
  EXPECT_EQ(weight.group(33), 1);
  // The formula, once by hand.
  std::vector<float> w = loom::dequantize(weight);
  int64_t n = 5, k = 40, g = 1;
  EXPECT_EQ(w[n * 64 + k], truth.scales[n * 2 + g] * float(int(truth.codes[n * 64 + k]) -
                                                           int(truth.zeros[n * 2 + g])));
}

TEST_F(QuantRead, GptqReadmeWord) {
  // qweight[0, 0] = 0x49878357 holds q[k = 0..7, n = 0] = 7, 5, 3, 8, 7, 8, 9, 4.
  Truth truth = randomTruth(8, 32, 32, 4, DType::F16, 8, 8, 2);
  std::vector<TensorBytes> tensors = gptqTensors(truth, 4, true);
  std::string &qweight = tensorNamed(tensors, "qweight").bytes;
  qweight.replace(0, 4, wordBytes({0x49878357u}));
  QuantizedWeight weight;
  QuantEncoding e =
      encodingOf(QuantSource::Gptq, QuantElement::Int4, 32, QuantOffset::None);
  ASSERT_EQ(read(tensors, e, 8, 32, &weight), "");
  std::vector<uint8_t> column(weight.codes.begin(), weight.codes.begin() + 8);
  EXPECT_EQ(column, (std::vector<uint8_t>{7, 5, 3, 8, 7, 8, 9, 4}));
  // Symmetric (offset none): the stored 0x77777777 is zero 8, which None subtracts.
  EXPECT_EQ(loom::dequantize(weight)[0], -truth.scales[0]);
}

TEST_F(QuantRead, GptqV2Int8ActOrder) {
  Truth truth = randomTruth(8, 64, 16, 8, DType::F16, 0, 255, 3);
  std::mt19937 random(4);
  std::vector<int32_t> order(64);
  for (int i = 0; i < 64; ++i)
    order[i] = i / 16;
  std::shuffle(order.begin(), order.end(), random);
  truth.gIdx = order;
  QuantizedWeight weight;
  QuantEncoding e = encodingOf(QuantSource::GptqV2, QuantElement::Int8, 16,
                               QuantOffset::Zero, DType::F16, true);
  ASSERT_EQ(read(gptqTensors(truth, 8, false), e, 8, 64, &weight), "");
  expectMatches(weight, truth, true);
  EXPECT_EQ(weight.groupOf, truth.gIdx);
  std::vector<float> w = loom::dequantize(weight);
  for (int64_t k : {0, 17, 63}) {
    int64_t g = truth.gIdx[k];
    EXPECT_EQ(w[3 * 64 + k],
              truth.scales[3 * 4 + g] *
                  float(int(truth.codes[3 * 64 + k]) - int(truth.zeros[3 * 4 + g])));
  }
}

TEST_F(QuantRead, GptqRefusesBrokenTensors) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::F16, 1, 15, 5);
  QuantEncoding e =
      encodingOf(QuantSource::Gptq, QuantElement::Int4, 32, QuantOffset::Zero);
  auto with = [&](const std::string &local, auto change) {
    std::vector<TensorBytes> tensors = gptqTensors(truth, 4, true);
    change(tensorNamed(tensors, local));
    return read(tensors, e, 16, 64);
  };
  EXPECT_ERROR(with("scales",
                    [](TensorBytes &t) {
                      t.shape = {1, 16};
                      t.bytes.resize(32);
                    }),
               "tensor '" + kLayer +
                   "scales': has shape [1, 16], expected [2, 16] for N=16, "
                   "K=64, int4 codes and group size 32");
  EXPECT_ERROR(with("qweight", [](TensorBytes &t) { t.dtype = DType::F32; }),
               "'" + kLayer + "qweight': has dtype F32, expected I32");
  EXPECT_ERROR(
      with("g_idx", [](TensorBytes &t) { t.bytes.replace(5 * 4, 4, wordBytes({7})); }),
      "'" + kLayer + "g_idx': entry [5] is 7, outside 0..1");
  EXPECT_ERROR(
      with("g_idx", [](TensorBytes &t) { t.bytes.replace(5 * 4, 4, wordBytes({1})); }),
      "entry [5] is 1, expected k / group size = 0");
  EXPECT_ERROR(with("scales",
                    [](TensorBytes &t) {
                      loom::storeElement(DType::F16, t.bytes.data(), 3, NAN);
                    }),
               "'" + kLayer +
                   "scales': element [0, 3] is nan; scales must be finite and non-zero");
  EXPECT_ERROR(
      with("scales",
           [](TensorBytes &t) { loom::storeElement(DType::F16, t.bytes.data(), 17, 0); }),
      "element [1, 1] is 0.000000; scales must be finite and non-zero");
  EXPECT_ERROR(with("scales",
                    [](TensorBytes &t) {
                      loom::storeElement(DType::F16, t.bytes.data(), 2, 1e6);
                    }),
               "element [0, 2] is inf");
  // A v1 field of 15 is a zero of 0 that underflowed.
  EXPECT_ERROR(
      with("qzeros", [](TensorBytes &t) { t.bytes.replace(0, 4, wordBytes({0xf})); }),
      "(GPTQ v1 stores zero - 1)");
  {
    std::vector<TensorBytes> tensors = gptqTensors(truth, 4, true);
    tensors.pop_back();
    EXPECT_ERROR(read(tensors, e, 16, 64), "'" + kLayer + "g_idx': missing");
  }
  // Symmetric (offset none) needs every zero to be 8.
  EXPECT_ERROR(
      read(gptqTensors(truth, 4, true),
           encodingOf(QuantSource::Gptq, QuantElement::Int4, 32, QuantOffset::None), 16,
           64),
      "needs 8 everywhere");
  // The stored scale dtype must be the encoding's.
  EXPECT_ERROR(read(gptqTensors(truth, 4, true),
                    encodingOf(QuantSource::Gptq, QuantElement::Int4, 32,
                               QuantOffset::Zero, DType::BF16),
                    16, 64),
               "has dtype F16, but the encoding's scale type is BF16");
  // The group size must divide K.
  EXPECT_ERROR(read(gptqTensors(truth, 4, true), e, 16, 48), "does not divide K=48");
}

TEST_F(QuantRead, GptqActOrderNeedsEvenGroups) {
  Truth truth = randomTruth(8, 64, 32, 4, DType::F16, 1, 15, 6);
  QuantEncoding e = encodingOf(QuantSource::Gptq, QuantElement::Int4, 32,
                               QuantOffset::Zero, DType::F16, true);
  for (int i = 0; i < 64; ++i)
    truth.gIdx[i] = i % 2;
  QuantizedWeight weight;
  ASSERT_EQ(read(gptqTensors(truth, 4, true), e, 8, 64, &weight), "");
  EXPECT_EQ(weight.group(3), 1);
  truth.gIdx[1] = 0; // group 0 now has 33 inputs, group 1 has 31
  EXPECT_ERROR(read(gptqTensors(truth, 4, true), e, 8, 64),
               "'" + kLayer +
                   "g_idx': group 0 has 33 inputs, expected the group size 32");
}

//===----------------------------------------------------------------------===//
// AWQ
//===----------------------------------------------------------------------===//

TEST_F(QuantRead, AwqGemm) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::F16, 0, 15, 8);
  QuantizedWeight weight;
  QuantEncoding e =
      encodingOf(QuantSource::Awq, QuantElement::Int4, 32, QuantOffset::Zero);
  ASSERT_EQ(read(awqTensors(truth), e, 16, 64, &weight), "");
  expectMatches(weight, truth, true);
}

TEST_F(QuantRead, AwqReadmeWordIsNotSequential) {
  // qweight[0, 0] = 0x702FB297: nibbles 7, 9, 2, 11, 15, 2, 0, 7 in AWQ order give
  // q[k = 0, n = 0..7] = 7, 15, 9, 2, 2, 0, 11, 7.
  Truth truth = randomTruth(8, 32, 32, 4, DType::F16, 0, 15, 9);
  std::vector<TensorBytes> tensors = awqTensors(truth);
  tensorNamed(tensors, "qweight").bytes.replace(0, 4, wordBytes({0x702FB297u}));
  tensorNamed(tensors, "qzeros").bytes.replace(0, 4, wordBytes({0x977A7788u}));
  QuantizedWeight weight;
  QuantEncoding e =
      encodingOf(QuantSource::Awq, QuantElement::Int4, 32, QuantOffset::Zero);
  ASSERT_EQ(read(tensors, e, 8, 32, &weight), "");
  std::vector<uint8_t> row, zeros;
  for (int n = 0; n < 8; ++n) {
    row.push_back(weight.codes[n * 32]);
    zeros.push_back(weight.zeros[n]);
  }
  EXPECT_EQ(row, (std::vector<uint8_t>{7, 15, 9, 2, 2, 0, 11, 7}));
  EXPECT_EQ(zeros, (std::vector<uint8_t>{8, 10, 8, 7, 7, 7, 7, 9}));
  std::vector<uint8_t> sequential;
  for (int j = 0; j < 8; ++j)
    sequential.push_back((0x702FB297u >> (4 * j)) & 0xf);
  EXPECT_EQ(sequential, (std::vector<uint8_t>{7, 9, 2, 11, 15, 2, 0, 7}));
  EXPECT_NE(row, sequential);
}

TEST_F(QuantRead, AwqRefusesBrokenTensors) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::F16, 0, 15, 10);
  QuantEncoding e =
      encodingOf(QuantSource::Awq, QuantElement::Int4, 32, QuantOffset::Zero);
  std::vector<TensorBytes> tensors = awqTensors(truth);
  TensorBytes &zeros = tensorNamed(tensors, "qzeros");
  zeros.shape = {1, 2};
  zeros.bytes.resize(8);
  EXPECT_ERROR(read(tensors, e, 16, 64),
               "'" + kLayer + "qzeros': has shape [1, 2], expected [2, 2]");
  EXPECT_ERROR(read(awqTensors(truth), e, 12, 64), "must be a multiple of 8");
}

//===----------------------------------------------------------------------===//
// compressed-tensors
//===----------------------------------------------------------------------===//

TEST_F(QuantRead, CtPackedSymmetricInt4) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::BF16, 8, 8, 11);
  QuantizedWeight weight;
  QuantEncoding e = encodingOf(QuantSource::CtPacked, QuantElement::Int4, 32,
                               QuantOffset::None, DType::BF16);
  std::vector<TensorBytes> tensors = ctPackedTensors(truth, 4, DType::BF16, false);
  // README: weight_packed[0, 0] = 0x49878357 holds q[0, k = 0..7] = -1, -3, -5, 0, -1, 0,
  // 1, -4.
  tensorNamed(tensors, "weight_packed").bytes.replace(0, 4, wordBytes({0x49878357u}));
  for (int k = 0; k < 8; ++k)
    truth.codes[k] = (0x49878357u >> (4 * k)) & 0xf;
  ASSERT_EQ(read(tensors, e, 16, 64, &weight), "");
  expectMatches(weight, truth, false);
  std::vector<float> w = loom::dequantize(weight);
  const int q[8] = {-1, -3, -5, 0, -1, 0, 1, -4};
  for (int k = 0; k < 8; ++k)
    EXPECT_EQ(w[k], float(q[k]) * truth.scales[0]);
}

TEST_F(QuantRead, CtPackedInt8PerChannelAndAsymmetric) {
  Truth truth = randomTruth(8, 64, 0, 8, DType::F16, 128, 128, 12);
  QuantizedWeight weight;
  QuantEncoding e = encodingOf(QuantSource::CtPacked, QuantElement::Int8, 0,
                               QuantOffset::None, DType::F16);
  ASSERT_EQ(read(ctPackedTensors(truth, 8, DType::F16, false), e, 8, 64, &weight), "");
  expectMatches(weight, truth, false);

  Truth asym = randomTruth(16, 64, 16, 4, DType::F32, 0, 15, 13);
  e = encodingOf(QuantSource::CtPacked, QuantElement::Int4, 16, QuantOffset::Zero,
                 DType::F32);
  ASSERT_EQ(read(ctPackedTensors(asym, 4, DType::F32, true), e, 16, 64, &weight), "");
  expectMatches(weight, asym, true);
  std::vector<TensorBytes> tensors = ctPackedTensors(asym, 4, DType::F32, true);
  tensors.pop_back();
  EXPECT_ERROR(read(tensors, e, 16, 64), "weight_zero_point': missing");
}

TEST_F(QuantRead, CtPackedRefusesBrokenTensors) {
  Truth truth = randomTruth(16, 64, 32, 4, DType::BF16, 8, 8, 14);
  QuantEncoding e = encodingOf(QuantSource::CtPacked, QuantElement::Int4, 32,
                               QuantOffset::None, DType::BF16);
  std::vector<TensorBytes> tensors = ctPackedTensors(truth, 4, DType::BF16, false);
  tensorNamed(tensors, "weight_shape").bytes = elementBytes(DType::I64, {16, 72});
  EXPECT_ERROR(read(tensors, e, 16, 64),
               "weight_shape': holds [16, 72], expected [16, 64]");
  tensors = ctPackedTensors(truth, 4, DType::BF16, false);
  TensorBytes &scale = tensorNamed(tensors, "weight_scale");
  scale.shape = {16, 1};
  scale.bytes.resize(32);
  EXPECT_ERROR(read(tensors, e, 16, 64),
               "weight_scale': has shape [16, 1], expected [16, 2]");
  tensors = ctPackedTensors(truth, 4, DType::BF16, false);
  loom::storeElement(DType::BF16, tensorNamed(tensors, "weight_scale").bytes.data(), 5,
                     0.0);
  EXPECT_ERROR(read(tensors, e, 16, 64), "element [2, 1] is 0.000000");
}

TEST_F(QuantRead, CtFloat) {
  const int64_t n = 4, k = 32;
  std::mt19937 random(15);
  std::vector<uint8_t> codes(n * k);
  for (uint8_t &c : codes) {
    c = static_cast<uint8_t>(random());
    if ((c & 0x7f) == 0x7f)
      c = 0x7e;
  }
  std::vector<double> scales = {0.5, 0.25, 1.0 / 448, 3.0};
  std::vector<TensorBytes> tensors = {
      {kLayer + "weight", DType::F8E4M3, {n, k}, std::string(codes.begin(), codes.end())},
      {kLayer + "weight_scale", DType::F32, {n, 1}, elementBytes(DType::F32, scales)}};
  QuantEncoding e = encodingOf(QuantSource::CtFloat, QuantElement::Fp8E4M3, 0,
                               QuantOffset::None, DType::F32);
  QuantizedWeight weight;
  ASSERT_EQ(read(tensors, e, n, k, &weight), "");
  EXPECT_EQ(weight.codes, codes);
  std::vector<float> w = loom::dequantize(weight);
  for (int64_t i = 0; i < n * k; ++i)
    ASSERT_EQ(w[i], float(e4m3Value(codes[i])) * float(scales[i / k])) << i;
  EXPECT_ERROR(read(tensors,
                    encodingOf(QuantSource::CtFloat, QuantElement::Fp8E4M3, 0,
                               QuantOffset::None, DType::BF16),
                    n, k),
               "scaleTypeFromCheckpoint");
  tensors[0].bytes[7] = static_cast<char>(0xff);
  EXPECT_ERROR(read(tensors, e, n, k), "weight': element [0, 7] is NaN");
}

//===----------------------------------------------------------------------===//
// Round to nearest
//===----------------------------------------------------------------------===//

std::vector<float> randomWeights(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(n * k);
  for (float &x : w)
    x = normal(random);
  for (int64_t i = 0; i < k; ++i) // one row of zeros, one all positive
    w[i] = 0.0f;
  for (int64_t i = 0; i < k; ++i)
    w[k + i] = std::fabs(w[k + i]) + 0.01f;
  return w;
}

TEST(QuantRtn, IntegerRoundTripsWithinHalfAStep) {
  const int64_t n = 6, k = 256;
  std::vector<float> w = randomWeights(n, k, 16);
  struct Case {
    QuantElement element;
    int64_t groupSize;
    QuantOffset offset;
    DType scaleType;
  } cases[] = {{QuantElement::Int8, 0, QuantOffset::None, DType::F16},
               {QuantElement::Int4, 32, QuantOffset::None, DType::BF16},
               {QuantElement::Int4, 32, QuantOffset::Zero, DType::F16},
               {QuantElement::Int4, 128, QuantOffset::Zero, DType::BF16},
               {QuantElement::Int8, 64, QuantOffset::Zero, DType::F32}};
  for (const Case &c : cases) {
    QuantEncoding e =
        encodingOf(QuantSource::Rtn, c.element, c.groupSize, c.offset, c.scaleType);
    QuantizedWeight q;
    std::string error;
    ASSERT_TRUE(loom::quantizeRoundToNearest(w.data(), n, k, e, q, error)) << error;
    std::vector<float> back = loom::dequantize(q);
    const int64_t groups = loom::quantGroups(e, k);
    for (int64_t row = 0; row < n; ++row)
      for (int64_t i = 0; i < k; ++i) {
        float s = q.scales[row * groups + q.group(i)];
        ASSERT_EQ(s, c.scaleType == DType::F16    ? loom::roundToHalf(s)
                     : c.scaleType == DType::BF16 ? loom::roundToBfloat16(s)
                                                  : s);
        ASSERT_LE(std::fabs(back[row * k + i] - w[row * k + i]), s / 2 * (1 + 1e-5f))
            << loom::quantElementName(c.element) << " g" << c.groupSize << " row " << row
            << " k " << i;
      }
    for (int64_t i = 0; i < k; ++i) // the zero row decodes to exact zeros
      EXPECT_EQ(back[i], 0.0f);
    if (c.offset == QuantOffset::None) { // symmetric: the largest weight gets 2^(b-1) - 1
      int top = (1 << (loom::quantBits(c.element) - 1)) - 1;
      EXPECT_EQ(*std::max_element(q.codes.begin(), q.codes.end()), top + (top + 1));
    }
  }
}

TEST(QuantRtn, Fp8RoundTripsAndRefusesNonFinite) {
  const int64_t n = 4, k = 64;
  std::vector<float> w = randomWeights(n, k, 17);
  QuantEncoding e = encodingOf(QuantSource::Rtn, QuantElement::Fp8E4M3, 0,
                               QuantOffset::None, DType::F32);
  QuantizedWeight q;
  std::string error;
  ASSERT_TRUE(loom::quantizeRoundToNearest(w.data(), n, k, e, q, error)) << error;
  std::vector<float> back = loom::dequantize(q);
  for (int64_t i = 0; i < n * k; ++i) {
    float s = q.scales[i / k];
    ASSERT_LE(std::fabs(back[i] - w[i]), std::fabs(w[i]) / 16 + s * std::ldexp(1.0f, -10))
        << i;
  }
  EXPECT_EQ(q.scales[0], 1.0f); // the zero row
  w[70] = NAN;
  EXPECT_FALSE(loom::quantizeRoundToNearest(w.data(), n, k, e, q, error));
  EXPECT_NE(error.find("weight [1, 6] is not finite"), std::string::npos) << error;
  e = encodingOf(QuantSource::Rtn, QuantElement::Int4, 32, QuantOffset::Min);
  EXPECT_FALSE(loom::quantizeRoundToNearest(w.data(), n, k, e, q, error));
}

//===----------------------------------------------------------------------===//
// Kernel layout
//===----------------------------------------------------------------------===//

TEST(QuantRepack, Int4ActOrderLayout) {
  const int64_t n = 2, k = 32;
  QuantizedWeight w;
  w.rows = n;
  w.cols = k;
  w.encoding = encodingOf(QuantSource::Gptq, QuantElement::Int4, 16, QuantOffset::Zero,
                          DType::F16, true);
  for (int64_t i = 0; i < n * k; ++i)
    w.codes.push_back(static_cast<uint8_t>(i % 16));
  w.scales = {0.5f, 0.25f, 2.0f, 1.0f};
  w.zeros = {8, 7, 1, 15};
  for (int64_t i = 0; i < k; ++i)
    w.groupOf.push_back(static_cast<int32_t>(i % 2)); // odd inputs in group 1
  loom::KernelWeightLayout layout = loom::repackForKernels(w);
  ASSERT_EQ(layout.perm.size(), 4u * k);
  std::vector<int32_t> perm;
  for (int64_t i = 0; i < k; ++i)
    perm.push_back(static_cast<int32_t>(wordOf(layout.perm, i)));
  for (int64_t i = 0; i < 16; ++i) { // stable: evens in order, then odds
    EXPECT_EQ(perm[i], 2 * i);
    EXPECT_EQ(perm[16 + i], 2 * i + 1);
  }
  ASSERT_EQ(layout.codes.size(), size_t(n * k / 2));
  for (int64_t row = 0; row < n; ++row)
    for (int64_t j = 0; j < k / 2; ++j) {
      uint8_t byte = static_cast<uint8_t>(layout.codes[row * k / 2 + j]);
      EXPECT_EQ(byte & 0xf, w.codes[row * k + perm[2 * j]]);
      EXPECT_EQ(byte >> 4, w.codes[row * k + perm[2 * j + 1]]);
    }
  ASSERT_EQ(layout.scales.size(), 8u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(loom::loadElement(DType::F16, layout.scales.data(), i), w.scales[i]);
  EXPECT_EQ(layout.zeros, std::string("\x08\x07\x01\x0f", 4));
  EXPECT_TRUE(layout.mins.empty());
  EXPECT_EQ(loom::quantizedWeightBytes(w.encoding, n, k),
            layout.codes.size() + layout.scales.size() + layout.zeros.size() +
                layout.perm.size());
  // Dequantization reads groups through groupOf: input 3 is in group 1.
  std::vector<float> d = loom::dequantize(w);
  EXPECT_EQ(d[3], 0.25f * float(3 - 7));
  EXPECT_EQ(d[k + 4], 2.0f * float(4 - 1));
}

TEST(QuantRepack, Int8AndMinLayouts) {
  QuantizedWeight w;
  w.rows = 2;
  w.cols = 16;
  w.encoding =
      encodingOf(QuantSource::Rtn, QuantElement::Int8, 0, QuantOffset::None, DType::BF16);
  for (int i = 0; i < 32; ++i)
    w.codes.push_back(static_cast<uint8_t>(100 + i));
  w.scales = {0.5f, 0.125f};
  loom::KernelWeightLayout layout = loom::repackForKernels(w);
  EXPECT_EQ(layout.codes, std::string(w.codes.begin(), w.codes.end()));
  EXPECT_TRUE(layout.perm.empty() && layout.zeros.empty() && layout.mins.empty());
  EXPECT_EQ(loom::loadElement(DType::BF16, layout.scales.data(), 1), 0.125);
  EXPECT_EQ(loom::quantizedWeightBytes(w.encoding, 2, 16), 32u + 4u);
  EXPECT_EQ(loom::dequantize(w)[17], 0.125f * float(117 - 128));

  // Min (GGUF's q*d - m): W = s * c - m.
  w.encoding =
      encodingOf(QuantSource::Rtn, QuantElement::Int4, 16, QuantOffset::Min, DType::F16);
  for (uint8_t &c : w.codes)
    c &= 0xf;
  w.mins = {0.75f, -1.5f};
  layout = loom::repackForKernels(w);
  EXPECT_EQ(loom::loadElement(DType::F16, layout.mins.data(), 1), -1.5);
  EXPECT_EQ(loom::dequantize(w)[17], 0.125f * float(117 % 16) + 1.5f);
  EXPECT_EQ(loom::quantizedWeightBytes(w.encoding, 2, 16), 16u + 4u + 4u);
}

//===----------------------------------------------------------------------===//
// quantization_config
//===----------------------------------------------------------------------===//

std::string parseConfig(const std::string &text, loom::CheckpointQuantization &out) {
  loom::json::Value value;
  std::string error;
  if (!loom::json::parse(text, value, error))
    return "json: " + error;
  return loom::parseQuantizationConfig(value, out, error) ? "" : error;
}

TEST(QuantConfig, ReadsEachMethod) {
  loom::CheckpointQuantization q;
  ASSERT_EQ(parseConfig(R"({"bits": 8, "group_size": -1, "desc_act": true, "sym": false,
      "lm_head": true, "quant_method": "gptq", "checkpoint_format": "gptq_v2",
      "damp_percent": 0.01, "true_sequential": true, "meta": {"x": 1}})",
                        q),
            "");
  EXPECT_EQ(q.encoding,
            encodingOf(QuantSource::GptqV2, QuantElement::Int8, 0, QuantOffset::Zero));
  EXPECT_TRUE(q.quantizesLmHead);
  EXPECT_TRUE(q.quantizes("lm_head"));
  EXPECT_FALSE(q.quantizes("model.embed_tokens"));

  // AutoGPTQ's quantize_config.json has no quant_method.
  ASSERT_EQ(
      parseConfig(R"({"bits": 4, "group_size": 128, "desc_act": true, "sym": true})", q),
      "");
  EXPECT_EQ(q.encoding, encodingOf(QuantSource::Gptq, QuantElement::Int4, 128,
                                   QuantOffset::None, DType::F16, true));

  ASSERT_EQ(parseConfig(R"({"zero_point": true, "q_group_size": 64, "w_bit": 4,
      "version": "GEMM", "modules_to_not_convert": ["mlp.down"]})",
                        q),
            "");
  EXPECT_EQ(q.encoding,
            encodingOf(QuantSource::Awq, QuantElement::Int4, 64, QuantOffset::Zero));
  EXPECT_FALSE(q.quantizes("model.layers.3.mlp.down_proj")); // AutoAWQ: substring
  EXPECT_TRUE(q.quantizes("model.layers.3.mlp.up_proj"));
  EXPECT_FALSE(q.quantizes("lm_head"));

  ASSERT_EQ(
      parseConfig(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "quantization_status": "compressed", "ignore": ["lm_head", "re:.*mlp\\.down_proj$"],
      "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": null,
        "weights": {"num_bits": 8, "type": "int", "symmetric": false, "strategy": "channel",
                    "group_size": null, "actorder": "static", "observer": "minmax"}}},
      "kv_cache_scheme": null, "sparsity_config": {}})",
                  q),
      "");
  EXPECT_EQ(q.encoding, encodingOf(QuantSource::CtPacked, QuantElement::Int8, 0,
                                   QuantOffset::Zero, DType::BF16));
  EXPECT_FALSE(q.quantizes("model.layers.0.mlp.down_proj"));
  EXPECT_TRUE(q.quantizes("model.layers.0.mlp.gate_proj"));
  EXPECT_FALSE(q.quantizes("lm_head"));
  EXPECT_FALSE(q.quantizesLmHead);
}

TEST(QuantConfig, RefusesEveryUnsupportedKeyAtOnce) {
  loom::CheckpointQuantization q;
  std::string error = parseConfig(
      R"({"quant_method": "awq", "bits": 3, "group_size": 128, "version": "gemv"})", q);
  EXPECT_NE(error.find("bits: 3"), std::string::npos) << error;
  EXPECT_NE(error.find("version: \"gemv\""), std::string::npos) << error;

  error = parseConfig(R"({"quant_method": "gptq", "bits": 4, "group_size": 128,
      "checkpoint_format": "marlin", "pack_dtype": "int16",
      "dynamic": {"-:.*lm_head": {}}})",
                      q);
  for (const char *key :
       {"checkpoint_format: \"marlin\"", "pack_dtype: \"int16\"", "dynamic: {"})
    EXPECT_NE(error.find(key), std::string::npos) << key << " in " << error;
  EXPECT_NE(parseConfig(R"({"quant_method": "gptq", "bits": 2, "group_size": 128})", q)
                .find("bits: 2"),
            std::string::npos);

  error =
      parseConfig(R"({"quant_method": "compressed-tensors", "format": "float-quantized",
      "config_groups": {"group_0": {"targets": ["Linear"],
        "weights": {"num_bits": 8, "type": "float", "strategy": "block",
                    "block_structure": [128, 128]},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "tensor",
                              "dynamic": false}}},
      "kv_cache_scheme": {"num_bits": 8, "type": "float"}})",
                  q);
  for (const char *key :
       {"weights.strategy: \"block\"", "weights.block_structure", "input_activations: {",
        "kv_cache_scheme: {", "not yet supported"})
    EXPECT_NE(error.find(key), std::string::npos) << key << " in " << error;

  error =
      parseConfig(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {
        "group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int",
                    "strategy": "group", "group_size": 128}},
        "group_1": {"targets": ["re:.*down_proj"], "weights": {"num_bits": 8, "type": "int",
                    "strategy": "channel"}}}})",
                  q);
  EXPECT_NE(error.find("config_groups.group_1: {"), std::string::npos) << error;
  EXPECT_NE(error.find("config_groups.group_1.targets"), std::string::npos) << error;

  error =
      parseConfig(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4,
        "type": "int", "strategy": "group", "group_size": 128, "actorder": "group"}}}})",
                  q);
  EXPECT_NE(error.find("actorder: \"group\""), std::string::npos) << error;
  EXPECT_NE(parseConfig(R"({"quant_method": "bitsandbytes"})", q).find("quant_method"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// The six reference checkpoints
//===----------------------------------------------------------------------===//

const std::string kShared = LOOM_SHARED_DIR;
const std::string kQProj = "model.layers.0.self_attn.q_proj.";

/// A reference folder, opened with its parsed quantization_config.
struct Folder {
  loom::Checkpoint checkpoint;
  loom::CheckpointQuantization quantization;
  QuantizedWeight weight;
  std::vector<float> dequantized;

  std::string raw(const std::string &name) const {
    const loom::TensorInfo *tensor = checkpoint.find(name);
    EXPECT_NE(tensor, nullptr) << name;
    std::string bytes, error;
    if (tensor) {
      EXPECT_TRUE(
          loom::readTensorBytes(checkpoint.shardOf(*tensor), *tensor, bytes, error))
          << error;
    }
    return bytes;
  }
};

/// Opens `folder`, parses its config and reads layer 0's q_proj [256, 256].
bool openFolder(const std::string &folder, Folder &out) {
  const std::string path = kShared + "/quantized/" + folder;
  std::string text, error;
  loom::json::Value config;
  EXPECT_TRUE(loom::readTextFile(path + "/config.json", text, error)) << error;
  EXPECT_TRUE(loom::json::parse(text, config, error)) << error;
  const loom::json::Value *quantization = config.get("quantization_config");
  EXPECT_NE(quantization, nullptr);
  if (!quantization)
    return false;
  EXPECT_TRUE(loom::parseQuantizationConfig(*quantization, out.quantization, error))
      << error;
  EXPECT_TRUE(out.checkpoint.open(path, error)) << error;
  loom::CheckpointReader reader(out.checkpoint);
  EXPECT_TRUE(loom::scaleTypeFromCheckpoint(reader, kQProj + "weight",
                                            out.quantization.encoding, error))
      << error;
  EXPECT_TRUE(loom::readQuantizedWeight(
      reader, kQProj + "weight", out.quantization.encoding, 256, 256, out.weight, error))
      << error;
  out.dequantized = loom::dequantize(out.weight);
  return !::testing::Test::HasFailure();
}

/// Layer 0 q_proj of the unquantized source, as float.
std::vector<float> sourceQProj() {
  loom::Checkpoint source;
  std::string error, bytes;
  std::vector<float> w;
  if (!source.open(kShared + "/models/tiny-llama", error))
    return w;
  const loom::TensorInfo *tensor = source.find(kQProj + "weight");
  if (!tensor || !loom::readTensorBytes(source.shardOf(*tensor), *tensor, bytes, error))
    return w;
  for (int64_t i = 0; i < tensor->numElements(); ++i)
    w.push_back(static_cast<float>(loom::loadElement(tensor->dtype, bytes.data(), i)));
  return w;
}

/// Every dequantized weight lies within `steps` quantization steps of the source's.
void expectNearSource(const Folder &folder, float steps) {
  std::vector<float> source = sourceQProj();
  ASSERT_EQ(source.size(), folder.dequantized.size());
  const int64_t groups = loom::quantGroups(folder.weight.encoding, 256);
  for (int64_t n = 0; n < 256; ++n)
    for (int64_t k = 0; k < 256; ++k) {
      float s = folder.weight.scales[n * groups + folder.weight.group(k)];
      ASSERT_LE(std::fabs(folder.dequantized[n * 256 + k] - source[n * 256 + k]),
                steps * s)
          << "n " << n << " k " << k;
    }
}

const std::pair<int64_t, int64_t> kProbes[] = {
    {0, 0}, {3, 17}, {100, 200}, {37, 130}, {255, 255}};

#define SKIP_WITHOUT(folder)                                                             \
  do {                                                                                   \
    if (!std::filesystem::exists(kShared + "/quantized/" folder))                        \
      GTEST_SKIP() << "no " << kShared << "/quantized/" folder;                          \
  } while (0)

TEST(QuantCheckpoints, Gptq4BitG32) {
  SKIP_WITHOUT("tiny-llama-gptq-4bit-g32");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-gptq-4bit-g32", f));
  EXPECT_EQ(f.weight.encoding,
            encodingOf(QuantSource::Gptq, QuantElement::Int4, 32, QuantOffset::None));
  EXPECT_FALSE(f.quantization.quantizesLmHead);
  std::vector<uint8_t> column;
  for (int k = 0; k < 8; ++k)
    column.push_back(f.weight.codes[k]);
  EXPECT_EQ(column, (std::vector<uint8_t>{7, 5, 3, 8, 7, 8, 9, 4}));
  EXPECT_EQ(f.weight.scales[0], 0.023040771484375f);
  EXPECT_EQ(f.dequantized[0], -0.023040771484375f);
  std::string qweight = f.raw(kQProj + "qweight"), qzeros = f.raw(kQProj + "qzeros"),
              scales = f.raw(kQProj + "scales");
  EXPECT_EQ(wordOf(qzeros, 0), 0x77777777u);
  for (auto [n, k] : kProbes) {
    int q = (wordOf(qweight, k / 8 * 256 + n) >> (4 * (k % 8))) & 0xf;
    int z = ((wordOf(qzeros, k / 32 * 32 + n / 8) >> (4 * (n % 8))) & 0xf) + 1;
    float s = float(loom::loadElement(DType::F16, scales.data(), k / 32 * 256 + n));
    EXPECT_EQ(f.dequantized[n * 256 + k], s * float(q - z)) << n << ", " << k;
  }
  expectNearSource(f, 0.55f);
}

TEST(QuantCheckpoints, Gptq4BitG64ActOrder) {
  SKIP_WITHOUT("tiny-llama-gptq-4bit-g64-actorder");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-gptq-4bit-g64-actorder", f));
  EXPECT_EQ(f.weight.encoding, encodingOf(QuantSource::Gptq, QuantElement::Int4, 64,
                                          QuantOffset::Zero, DType::F16, true));
  std::vector<int32_t> first(f.weight.groupOf.begin(), f.weight.groupOf.begin() + 16);
  EXPECT_EQ(first,
            (std::vector<int32_t>{0, 3, 2, 0, 3, 0, 3, 2, 2, 0, 2, 2, 0, 3, 2, 0}));
  std::string qweight = f.raw(kQProj + "qweight"), qzeros = f.raw(kQProj + "qzeros"),
              scales = f.raw(kQProj + "scales"), gIdx = f.raw(kQProj + "g_idx");
  for (auto [n, k] : kProbes) {
    int g = static_cast<int>(wordOf(gIdx, k));
    int q = (wordOf(qweight, k / 8 * 256 + n) >> (4 * (k % 8))) & 0xf;
    int z = ((wordOf(qzeros, g * 32 + n / 8) >> (4 * (n % 8))) & 0xf) + 1;
    float s = float(loom::loadElement(DType::F16, scales.data(), g * 256 + n));
    EXPECT_EQ(f.dequantized[n * 256 + k], s * float(q - z)) << n << ", " << k;
  }
  expectNearSource(f, 0.55f);
  // The kernels' layout gathers each group's 64 inputs together.
  loom::KernelWeightLayout layout = loom::repackForKernels(f.weight);
  for (int64_t i = 0; i < 256; ++i)
    ASSERT_EQ(f.weight.groupOf[wordOf(layout.perm, i)], i / 64);
}

TEST(QuantCheckpoints, Gptq8BitPerChannel) {
  SKIP_WITHOUT("tiny-llama-gptq-8bit-perchannel");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-gptq-8bit-perchannel", f));
  EXPECT_EQ(f.weight.encoding,
            encodingOf(QuantSource::Gptq, QuantElement::Int8, 0, QuantOffset::None));
  std::string qweight = f.raw(kQProj + "qweight"), qzeros = f.raw(kQProj + "qzeros"),
              scales = f.raw(kQProj + "scales");
  EXPECT_EQ(wordOf(qzeros, 0), 0x7F7F7F7Fu);
  for (auto [n, k] : kProbes) {
    int q = (wordOf(qweight, k / 4 * 256 + n) >> (8 * (k % 4))) & 0xff;
    int z = ((wordOf(qzeros, n / 4) >> (8 * (n % 4))) & 0xff) + 1;
    float s = float(loom::loadElement(DType::F16, scales.data(), n));
    EXPECT_EQ(f.dequantized[n * 256 + k], s * float(q - z)) << n << ", " << k;
  }
  // 127.5 steps round to 128 and clip to 127; the f16 scale adds up to 127.5 * 2^-11.
  expectNearSource(f, 0.6f);
}

TEST(QuantCheckpoints, AwqGemm4BitG32) {
  SKIP_WITHOUT("tiny-llama-awq-4bit-g32");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-awq-4bit-g32", f));
  EXPECT_EQ(f.weight.encoding,
            encodingOf(QuantSource::Awq, QuantElement::Int4, 32, QuantOffset::Zero));
  std::vector<uint8_t> row;
  for (int n = 0; n < 8; ++n)
    row.push_back(f.weight.codes[n * 256]);
  EXPECT_EQ(row, (std::vector<uint8_t>{7, 15, 9, 2, 2, 0, 11, 7}));
  std::string qweight = f.raw(kQProj + "qweight"), qzeros = f.raw(kQProj + "qzeros"),
              scales = f.raw(kQProj + "scales");
  EXPECT_EQ(wordOf(qweight, 0), 0x702FB297u);
  EXPECT_EQ(wordOf(qzeros, 0), 0x977A7788u);
  for (auto [n, k] : kProbes) {
    int nibble = 0; // the i with kAwqOrder[i] == n % 8
    while (kAwqOrder[nibble] != n % 8)
      ++nibble;
    int q = (wordOf(qweight, k * 32 + n / 8) >> (4 * nibble)) & 0xf;
    int z = (wordOf(qzeros, k / 32 * 32 + n / 8) >> (4 * nibble)) & 0xf;
    float s = float(loom::loadElement(DType::F16, scales.data(), k / 32 * 256 + n));
    EXPECT_EQ(f.dequantized[n * 256 + k], s * float(q - z)) << n << ", " << k;
  }
  expectNearSource(f, 0.55f);
}

TEST(QuantCheckpoints, CompressedTensorsW4A16) {
  SKIP_WITHOUT("tiny-llama-w4a16-ct");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-w4a16-ct", f));
  EXPECT_EQ(f.weight.encoding, encodingOf(QuantSource::CtPacked, QuantElement::Int4, 32,
                                          QuantOffset::None, DType::BF16));
  EXPECT_FALSE(f.quantization.quantizes("lm_head"));
  EXPECT_TRUE(f.quantization.quantizes("model.layers.0.self_attn.q_proj"));
  EXPECT_EQ(f.weight.scales[0], 0.0230712890625f);
  std::string packed = f.raw(kQProj + "weight_packed"),
              scales = f.raw(kQProj + "weight_scale");
  EXPECT_EQ(wordOf(packed, 0), 0x49878357u);
  for (auto [n, k] : kProbes) {
    int q = int((wordOf(packed, n * 32 + k / 8) >> (4 * (k % 8))) & 0xf) - 8;
    float s = float(loom::loadElement(DType::BF16, scales.data(), n * 8 + k / 32));
    EXPECT_EQ(f.dequantized[n * 256 + k], float(q) * s) << n << ", " << k;
  }
  expectNearSource(f, 0.55f);
}

TEST(QuantCheckpoints, CompressedTensorsFp8) {
  SKIP_WITHOUT("tiny-llama-fp8-channel");
  Folder f;
  ASSERT_TRUE(openFolder("tiny-llama-fp8-channel", f));
  EXPECT_EQ(f.weight.encoding, encodingOf(QuantSource::CtFloat, QuantElement::Fp8E4M3, 0,
                                          QuantOffset::None, DType::F32));
  EXPECT_TRUE(f.quantization.fp8Activations);
  std::string codes = f.raw(kQProj + "weight"), scales = f.raw(kQProj + "weight_scale");
  for (auto [n, k] : kProbes) {
    float s = float(loom::loadElement(DType::F32, scales.data(), n));
    float value = float(e4m3Value(static_cast<uint8_t>(codes[n * 256 + k])));
    EXPECT_EQ(f.dequantized[n * 256 + k], value * s) << n << ", " << k;
  }
  // Loom's FP8 quantizer is compressed-tensors' rule: from the source it writes the same
  // codes and scales.
  std::vector<float> source = sourceQProj();
  ASSERT_EQ(source.size(), 256u * 256u);
  QuantizedWeight rtn;
  std::string error;
  ASSERT_TRUE(
      loom::quantizeRoundToNearest(source.data(), 256, 256,
                                   encodingOf(QuantSource::Rtn, QuantElement::Fp8E4M3, 0,
                                              QuantOffset::None, DType::F32),
                                   rtn, error))
      << error;
  EXPECT_EQ(rtn.codes, f.weight.codes);
  EXPECT_EQ(rtn.scales, f.weight.scales);
}

} // namespace
