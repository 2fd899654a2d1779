//===- Tensor.h - Host tensors of the reference executor -----------*- C++ -*-===//
//
// A tensor as the reference executor holds it: every float type's elements as doubles
// (each already rounded to its own type), every integer and boolean type's as int64
// (each already wrapped to its width). Plain enough that each op reads like its
// definition. No MLIR here: tools and tests use it directly.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_TENSOR_H
#define LOOM_COMPILER_REFERENCE_TENSOR_H

#include "loom/support/Safetensors.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom::reference {

using Shape = std::vector<int64_t>;

/// F8E4M3 is FP8 e4m3fn (a KV cache's codes): a float type of the executor, rounded
/// as the GPU kernels round (ties to even, saturating at +-448).
enum class ElementType { F16, BF16, F32, F64, I1, I8, I16, I32, I64, F8E4M3 };

/// "f32", "i64", "i1", ... as in MLIR.
const char *elementTypeName(ElementType type);
bool isFloat(ElementType type);

/// `value` rounded to the nearest value of float type `type` (ties to even).
double roundTo(ElementType type, double value);
/// `value` wrapped to the width of integer type `type` (two's complement); for i1,
/// nonzero is 1.
int64_t wrapTo(ElementType type, int64_t value);

struct Tensor {
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  /// The elements, row-major: `floats` for float types, `ints` otherwise.
  std::vector<double> floats;
  std::vector<int64_t> ints;

  static Tensor zeros(ElementType type, std::vector<int64_t> shape);

  int64_t numElements() const;
  bool isFloat() const { return reference::isFloat(type); }
  /// Element `i` as a double (integers converted).
  double asDouble(int64_t i) const {
    return isFloat() ? floats[i] : static_cast<double>(ints[i]);
  }
  /// "tensor<2x24xi64>" for messages.
  std::string describe() const;
};

/// How far `actual` is from `expected`: the largest absolute difference (NaN against
/// NaN counts as equal, NaN against a number as infinite) and that relative to the
/// expected tensor's largest magnitude.
struct TensorDifference {
  double maxAbsolute = 0, relative = 0;
  bool shapeDiffers = false;
};
TensorDifference compareTensors(const Tensor &actual, const Tensor &expected);

/// The tensors of safetensors file `path` that `wanted` names, each converted to its
/// element type there (fromBytes); names it lacks are left out of `out`.
bool readNamedTensors(const std::string &path,
                      const std::map<std::string, ElementType> &wanted,
                      std::map<std::string, Tensor> &out, std::string &error);

/// Decodes little-endian elements of a safetensors dtype into a tensor of `type`,
/// converting exactly where `type` can hold the values (bf16 -> f32, i32 -> i64) and
/// rounding otherwise. Fails for dtypes with no conversion (float8, unsigned to float
/// is allowed, float to integer is not).
bool fromBytes(DType dtype, const std::string &bytes, std::vector<int64_t> shape,
               ElementType type, Tensor &out, std::string &error);

/// Makes a tensor of `type` from decoded values: `floats` when the source was a float
/// type, else `ints` (one per element of `shape`), converted exactly where `type` holds
/// them and rounded otherwise. Float sources cannot become integer tensors.
bool fromValues(bool sourceFloat, const std::vector<double> &floats,
                const std::vector<int64_t> &ints, std::vector<int64_t> shape,
                ElementType type, Tensor &out, std::string &error);

/// The safetensors dtype that holds `type` exactly.
DType safetensorsType(ElementType type);
/// The tensor's elements as little-endian bytes of safetensorsType(type).
std::string toBytes(const Tensor &tensor);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_TENSOR_H
