//===- Quantization.h - Quantized weights: formats, unpacking, repacking -*- C++ -*-===//
//
// One quantized-weight form that every source maps to (GPTQ, AWQ, compressed-tensors,
// Loom's own round-to-nearest quantizer, later GGUF): a linear layer's weight W [N, K]
// (N outputs, K inputs, PyTorch's Linear orientation) as b-bit codes with per-group
// scales along K, and zero points, mins, or neither. The compiler's `#loom.quant`
// attribute carries a QuantEncoding; the reference executor dequantizes through
// `dequantize`, the runtime repacks through `repackForKernels`. MLIR-free.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_QUANTIZATION_H
#define LOOM_SUPPORT_QUANTIZATION_H

#include "loom/support/Safetensors.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

class Checkpoint;

/// The code type of a quantized weight.
enum class QuantElement { Int4, Int8, Fp8E4M3 };

/// What is subtracted from (or added to) the scaled code.
///   None: W = s * c, where c is the code read as a signed value: for the integer types
///         the unsigned b-bit code minus 2^(b-1) (symmetric), for FP8 the e4m3 value.
///   Zero: W = s * (c - z), c and z unsigned b-bit integers (asymmetric), z per group.
///   Min:  W = s * c - m, c unsigned, m a float per group (GGUF's `q*d - m`).
enum class QuantOffset { None, Zero, Min };

/// The layout the checkpoint stores the weight in (how the runtime finds and unpacks its
/// tensors). Rtn: the checkpoint holds the float weight; Loom quantizes it at load.
enum class QuantSource { Rtn, Gptq, GptqV2, Awq, CtPacked, CtFloat };

/// How one weight is encoded.
struct QuantEncoding {
  QuantElement element = QuantElement::Int4;
  /// Inputs per group along K: 16, 32, 64, 128 or 256; 0 means one group per output
  /// channel (the whole of K).
  int64_t groupSize = 0;
  /// Element type of the scales (and of the mins): F16, BF16 or F32.
  DType scaleType = DType::F16;
  QuantOffset offset = QuantOffset::None;
  /// Act-order: input rows are grouped through a stored group index (GPTQ `g_idx`),
  /// not by k / groupSize.
  bool permuted = false;
  QuantSource source = QuantSource::Rtn;

  bool operator==(const QuantEncoding &other) const;
  bool operator!=(const QuantEncoding &other) const { return !(*this == other); }
};

/// Bits of one code (4 or 8).
int quantBits(QuantElement element);
/// Number of groups along K of a [N, K] weight (K / groupSize, 1 for groupSize 0).
int64_t quantGroups(const QuantEncoding &encoding, int64_t k);
/// Names used in IR text, the manifest and messages: "int4", "int8", "fp8e4m3";
/// "none", "zero", "min"; "rtn", "gptq", "gptq_v2", "awq", "ct_packed", "ct_float".
const char *quantElementName(QuantElement element);
const char *quantOffsetName(QuantOffset offset);
const char *quantSourceName(QuantSource source);
bool parseQuantElement(std::string_view name, QuantElement &out);
bool parseQuantOffset(std::string_view name, QuantOffset &out);
bool parseQuantSource(std::string_view name, QuantSource &out);

/// Checks the rules every encoding must follow (group size one of the allowed ones,
/// FP8 only per channel with no offset, Min only for integers, a permutation only with
/// groups, a scale type among F16/BF16/F32, the source able to store it) and that the
/// group size divides `k` when given (k > 0). Returns an empty string or the broken rule.
std::string checkQuantEncoding(const QuantEncoding &encoding, int64_t k = 0);

/// A weight W [N, K] in Loom's unpacked form, in natural k order.
struct QuantizedWeight {
  int64_t rows = 0; ///< N
  int64_t cols = 0; ///< K
  QuantEncoding encoding;
  /// [N, K]: unsigned b-bit codes (0 .. 2^b - 1) for the integer types, e4m3 bit
  /// patterns for FP8.
  std::vector<uint8_t> codes;
  /// [N, groups], already rounded to encoding.scaleType.
  std::vector<float> scales;
  /// [N, groups], Zero only.
  std::vector<uint8_t> zeros;
  /// [N, groups], Min only, rounded to encoding.scaleType.
  std::vector<float> mins;
  /// [K], permuted only: the group of input k.
  std::vector<int32_t> groupOf;

  /// The group of input k.
  int64_t group(int64_t k) const;
};

/// Finds a checkpoint tensor and reads its bytes: a folder's checkpoint, or one file.
class TensorReader {
public:
  virtual ~TensorReader();
  virtual const TensorInfo *find(std::string_view name) const = 0;
  virtual bool read(const TensorInfo &tensor, std::string &bytes, std::string &error) const = 0;
};
/// A reader over a model folder's (possibly sharded) checkpoint.
class CheckpointReader : public TensorReader {
public:
  explicit CheckpointReader(const Checkpoint &checkpoint) : checkpoint_(checkpoint) {}
  const TensorInfo *find(std::string_view name) const override;
  bool read(const TensorInfo &tensor, std::string &bytes, std::string &error) const override;

private:
  const Checkpoint &checkpoint_;
};
/// A reader over one safetensors file.
class SafetensorsFileReader : public TensorReader {
public:
  explicit SafetensorsFileReader(const SafetensorsHeader &file) : file_(file) {}
  const TensorInfo *find(std::string_view name) const override;
  bool read(const TensorInfo &tensor, std::string &bytes, std::string &error) const override;

private:
  const SafetensorsHeader &file_;
};

/// The checkpoint tensors that hold the weight `name` ("<layer>.weight") in
/// `encoding.source`'s layout, e.g. "<layer>.qweight", "<layer>.qzeros",
/// "<layer>.scales", "<layer>.g_idx" for GPTQ. Rtn: `name` itself.
std::vector<std::string> quantTensorNames(const std::string &name, const QuantEncoding &encoding);

/// Sets `encoding.scaleType` from the dtype of the stored scales of the weight `name`
/// (GPTQ/AWQ "<layer>.scales", compressed-tensors "<layer>.weight_scale"): the
/// compressed-tensors config does not say it, so its importer takes it from here. Rtn
/// leaves the encoding as it is. False if the tensor is missing or not F16, BF16 or F32.
bool scaleTypeFromCheckpoint(const TensorReader &reader, const std::string &name,
                             QuantEncoding &encoding, std::string &error);

/// Reads and unpacks the weight `name` ("<layer>.weight", logical shape [n, k]) from the
/// checkpoint in `encoding.source`'s layout. Every rule is checked: each tensor present
/// with the dtype and shape the bits and group size imply, `g_idx` in range and giving
/// each group the same number of rows (act-order) or k / groupSize (otherwise), zeros
/// storable (GPTQ v1 stores zero - 1), scales finite and non-zero. An error names the
/// tensor and the rule. Rtn is not read here (see quantizeRoundToNearest).
/// GPTQ and AWQ always store zero points: with offset Zero they are returned; with
/// offset None (symmetric GPTQ, AWQ `zero_point: false`) each must be 2^(b-1), which is
/// what None subtracts. The stored scale dtype must be encoding.scaleType.
bool readQuantizedWeight(const TensorReader &reader, const std::string &name,
                         const QuantEncoding &encoding, int64_t n, int64_t k,
                         QuantizedWeight &out, std::string &error);

/// Quantizes a float weight [n, k] by round to nearest (Loom's `--quantize`): int8 per
/// channel symmetric, int4 per group symmetric or with zero points, FP8 e4m3 per channel
/// (scale = max|w| / 448). Scales are rounded to encoding.scaleType. Fails on
/// non-finite weights, on offset Min and on a permuted encoding. Per row and group, in
/// float32, with round(x) to nearest even:
///   None (b bits, h = 2^(b-1)): s = max|w| / (h - 1) rounded up to scaleType,
///        c = clamp(round(w / s), -h, h - 1) + h (so code 0 stays unused);
///   Zero: lo = min(0, min w), hi = max(0, max w), s = (hi - lo) / (2^b - 1) rounded up,
///        z = clamp(round(-lo / s), 0, 2^b - 1), c = clamp(round(w / s) + z, 0, 2^b - 1);
///   FP8: s = max|w| / 448 rounded to nearest, c = e4m3(w / s) saturating
///        (compressed-tensors' rule: with F32 scales it writes the same bytes).
/// Rounding integer scales up never clips, so every weight decodes within s / 2. A
/// group of zeros gets s = 1 (and z = 0): it decodes to exact zeros.
bool quantizeRoundToNearest(const float *weight, int64_t n, int64_t k,
                            const QuantEncoding &encoding, QuantizedWeight &out,
                            std::string &error);

/// The weight `name` [n, k] in Loom's unpacked form from any source: readQuantizedWeight
/// for the checkpoint formats; for Rtn, the float tensor `name` (F32, F16 or BF16, of
/// shape [n, k]) quantized by quantizeRoundToNearest. Errors name the weight.
bool loadQuantizedWeight(const TensorReader &reader, const std::string &name,
                         const QuantEncoding &encoding, int64_t n, int64_t k,
                         QuantizedWeight &out, std::string &error);

/// W [N, K] as float32, row-major: exactly the formula of the encoding, each product
/// computed in float32 from the float32 scale (exact for integer codes of 8 bits or
/// fewer and 16-bit scales).
std::vector<float> dequantize(const QuantizedWeight &weight);

/// The e4m3 (fn: no infinities, 0x7f/0xff NaN, max 448) value of a bit pattern, and the
/// bit pattern nearest a float (round to nearest even; out of range saturates to +-448).
float fp8e4m3ToFloat(uint8_t bits);
uint8_t floatToFp8e4m3(float value);

/// Rounds one activation row to FP8 per token, as compressed-tensors' dynamic
/// activations do: s = max|x| / 448 (float32), x' = float(e4m3(x / s)) * s, with an
/// IEEE division. A row of zeros stays zeros.
void roundRowToFp8(float *row, int64_t k);

/// The layout Loom's kernels read (docs/quantization.md), made from QuantizedWeight:
///   codes   [N, K/2] bytes for int4 (input k' = 2j in the low nibble, 2j + 1 in the
///           high nibble), [N, K] for int8 and FP8; unsigned codes as in QuantizedWeight;
///   scales  [N, groups] in encoding.scaleType;
///   zeros   [N, groups] uint8 (Zero), empty otherwise;
///   mins    [N, groups] in encoding.scaleType (Min), empty otherwise;
///   perm    [K] int32 (permuted only): the kernels read input perm[k'] at position k'.
///           Inputs are ordered by group (stable), so groups are contiguous along k'.
struct KernelWeightLayout {
  std::string codes, scales, zeros, mins, perm;
};
KernelWeightLayout repackForKernels(const QuantizedWeight &weight);

/// Bytes the kernel layout takes for a [n, k] weight of `encoding`.
uint64_t quantizedWeightBytes(const QuantEncoding &encoding, int64_t n, int64_t k);

namespace json {
class Value;
}

/// What a checkpoint's `quantization_config` (config.json, or GPTQ's
/// quantize_config.json) says: the one encoding of its quantized linear layers and which
/// layers are quantized.
struct CheckpointQuantization {
  QuantEncoding encoding;
  /// compressed-tensors FP8 with dynamic per-token FP8 input activations (W8A8).
  bool fp8Activations = false;
  /// Whether lm_head is quantized too (GPTQ `lm_head: true`).
  bool quantizesLmHead = false;
  /// Module names (or compressed-tensors "re:" regular expressions) left unquantized:
  /// AWQ `modules_to_not_convert` (a module whose name contains an entry, as AutoAWQ
  /// matches), compressed-tensors `ignore` (the exact name, or "re:" and a regular
  /// expression matched from the start of the name, as Python's re.match).
  std::vector<std::string> ignore;

  /// Whether the Linear module `module` ("model.layers.0.self_attn.q_proj") is stored
  /// quantized: every Linear of the decoder layers unless ignored; lm_head only when said.
  bool quantizes(const std::string &module) const;
};

/// Reads `quantization_config` (the object itself). Every variant Loom does not take
/// (AWQ gemv/marlin/exllama packing, 2/3-bit, GPTQModel `dynamic` overrides, block-wise or
/// static-activation FP8, activation orders other than GPTQ's g_idx, several config
/// groups with different schemes, unknown quant_method) is listed in one message,
/// each by its key and value. Keys that do not change the stored layout (damp_percent,
/// true_sequential, meta, ...) are accepted. Scale type: F16 for GPTQ and AWQ; the
/// compressed-tensors config does not say it (except a newer `scale_dtype`), so BF16
/// until the importer reads it with scaleTypeFromCheckpoint.
bool parseQuantizationConfig(const json::Value &config, CheckpointQuantization &out,
                             std::string &error);

} // namespace loom

#endif // LOOM_SUPPORT_QUANTIZATION_H
