//===- Float16.cpp - IEEE half and bfloat16 conversions --------------------===//

#include "loom/support/Float16.h"

#include <cstring>

namespace loom {

namespace {

uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

} // namespace

float bfloat16ToFloat(uint16_t bits) { return floatOf(static_cast<uint32_t>(bits) << 16); }

uint16_t floatToBfloat16(float value) {
  uint32_t bits = bitsOf(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep the sign, force a quiet payload
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // Round to nearest, ties to even, on the 16 bits that are dropped.
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float halfToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) // infinity or NaN
    return floatOf(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float magnitude = static_cast<float>(mantissa) * floatOf(0x33800000u); // 2^-24
    return sign ? -magnitude : magnitude;
  }
  return floatOf(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t floatToHalf(float value) {
  uint32_t bits = bitsOf(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) // NaN
    return sign | 0x7e00u;
  if (magnitude >= 0x47800000u) // >= 65536: infinity (65520 and up round there too)
    return sign | 0x7c00u;
  if (magnitude >= 0x38800000u) {
    // Normal half: rebias the exponent, round the 13 dropped mantissa bits to even.
    uint32_t rebased = magnitude - (112u << 23);
    uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
    return sign | static_cast<uint16_t>((rebased + rounding) >> 13);
  }
  // Subnormal half (or zero): the value in units of 2^-24, rounded to even.
  float units = floatOf(magnitude) * 16777216.0f; // exact: a power-of-two scale
  uint32_t whole = static_cast<uint32_t>(units);
  float fraction = units - static_cast<float>(whole);
  if (fraction > 0.5f || (fraction == 0.5f && (whole & 1u)))
    ++whole;
  return sign | static_cast<uint16_t>(whole);
}

float roundToHalf(float value) { return halfToFloat(floatToHalf(value)); }
float roundToBfloat16(float value) { return bfloat16ToFloat(floatToBfloat16(value)); }

} // namespace loom
