//===- Float16.h - IEEE half and bfloat16 conversions ---------------*- C++ -*-===//
//
// Exact widening to float and round-to-nearest-even narrowing, bit for bit what the
// GPU's conversions do. NaN stays NaN (quiet); overflow rounds to infinity.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_FLOAT16_H
#define LOOM_SUPPORT_FLOAT16_H

#include <cstdint>

namespace loom {

float halfToFloat(uint16_t bits);
float bfloat16ToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
uint16_t floatToBfloat16(float value);

/// `value` rounded to the nearest half / bfloat16, as a float.
float roundToHalf(float value);
float roundToBfloat16(float value);

} // namespace loom

#endif // LOOM_SUPPORT_FLOAT16_H
