//===- QuantizedWeights.h - The buffers of a quantized weight ------*- C++ -*-===//
//
// A weight with `#loom.quant` is not one buffer but up to four, in Loom's kernel layout
// (loom/support/Quantization.h, repackForKernels): the codes, the scales, the zero
// points or mins, and the input permutation of an act-order weight. The artifact
// writer allocates them and passes them to kernels in this order, and the CUDA emitter
// declares a kernel's parameters in the same order, so both read this one list.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_QUANTIZEDWEIGHTS_H
#define LOOM_COMPILER_CODEGEN_CUDA_QUANTIZEDWEIGHTS_H

#include "dialects/loom/LoomDialect.h"

#include <string>
#include <vector>

namespace loom::cuda {

/// One buffer of a quantized weight.
struct QuantBuffer {
  /// What it holds: "codes", "scales", "zeros", "mins" or "perm" (the manifest's key).
  std::string role;
  /// The suffix of its kernel parameter after the input's name ("", "_s", "_z", "_m",
  /// "_p").
  std::string suffix;
  /// Safetensors element type.
  std::string dtype;
  std::vector<int64_t> shape;
};

/// The buffers of a quantized weight [n, k], in kernel-parameter order.
inline std::vector<QuantBuffer> quantBuffers(QuantAttr quant, int64_t n, int64_t k) {
  QuantEncoding encoding = quant.getEncoding();
  std::string scale = dtypeName(encoding.scaleType);
  int64_t groups = quantGroups(encoding, k);
  int64_t codeBytes = encoding.element == QuantElement::Int4 ? (k + 1) / 2 : k;
  std::vector<QuantBuffer> buffers = {{"codes", "", "U8", {n, codeBytes}},
                                      {"scales", "_s", scale, {n, groups}}};
  if (encoding.offset == QuantOffset::Zero)
    buffers.push_back({"zeros", "_z", "U8", {n, groups}});
  if (encoding.offset == QuantOffset::Min)
    buffers.push_back({"mins", "_m", scale, {n, groups}});
  if (encoding.permuted)
    buffers.push_back({"perm", "_p", "I32", {k}});
  return buffers;
}

/// The encoding of a kernel input that is a quantized weight, or null.
inline QuantAttr quantOf(mlir::Value input) {
  auto weight = input ? input.getDefiningOp<WeightOp>() : WeightOp();
  return weight ? weight.getQuantAttr() : QuantAttr();
}

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_QUANTIZEDWEIGHTS_H
