//===- HfConfig.h - What a Hugging Face config.json says about the math -*- C++ -*-===//
//
// Reads config.json of the supported families into one description of the network.
// Every setting that would change the math and is not supported is collected, so the
// user sees all of them in one error.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_IMPORT_HF_HFCONFIG_H
#define LOOM_COMPILER_IMPORT_HF_HFCONFIG_H

#include "loom/support/Json.h"
#include "loom/support/Quantization.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loom {

class Checkpoint;

enum class HfFamily { Llama, Mistral, Qwen2, Gpt2, Bert };

/// The activation of a model's MLP.
enum class Activation { Silu, GeluErf, GeluTanh, Relu };

/// What the importer needs to build the graph of one model.
struct HfModelSpec {
  HfFamily family = HfFamily::Llama;
  std::string architecture;
  int64_t vocabSize = 0, hiddenSize = 0, numLayers = 0, numHeads = 0, numKvHeads = 0;
  int64_t headDim = 0, intermediateSize = 0, maxPositions = 0;
  /// Features of each head that RoPE rotates (headDim unless partial rotary).
  int64_t rotaryDim = 0;
  double normEpsilon = 1e-5;
  double ropeTheta = 10000.0;
  /// Scaled RoPE (`rope_scaling` / `rope_parameters`): "default" (none), "linear"
  /// (every frequency over `factor`) or "llama3" (Llama 3.1's: low frequencies over
  /// `factor`, high ones kept, a smooth blend between, by wavelength against
  /// `originalMaxPositions / lowFreqFactor` and `/ highFreqFactor`).
  struct RopeScaling {
    std::string type = "default";
    double factor = 1.0, lowFreqFactor = 1.0, highFreqFactor = 4.0;
    double originalMaxPositions = 8192;
  } ropeScaling;
  Activation activation = Activation::Silu;
  bool attentionBias = false;   // q/k/v projections
  bool outputBias = false;      // o projection
  bool mlpBias = false;
  bool tieEmbeddings = false;
  /// GPT-2: divide attention scores by (layer index + 1) as well.
  bool scaleByInverseLayer = false;
  bool scaleAttention = true;
  int64_t typeVocabSize = 0; // BERT
  /// The dtype the checkpoint was saved in ("bfloat16", "float16", "float32"; empty when
  /// the config does not say). transformers keeps RoPE's inverse frequencies in it.
  std::string storedDtype;
  /// Whether RoPE's inverse frequencies are rounded to storedDtype (the import option).
  bool roundRopeFrequencies = true;
  /// The checkpoint's `quantization_config` (or GPTQ's quantize_config.json), when its
  /// linear layers are stored quantized.
  std::optional<CheckpointQuantization> quantization;
  /// Whether quantized linear layers round their inputs to FP8 per token (W8A8): the
  /// checkpoint asks for it and the import option does not turn it off.
  bool fp8Activations = false;
};

/// Reads the `quantization_config` object of config.json, or quantize_config.json (which
/// GPTQ tools write beside it), into `spec.quantization`. Returns false with the reasons
/// in `errors` when the scheme is not one Loom takes.
bool readHfQuantization(const std::string &folder, const json::Value *config,
                        HfModelSpec &spec, std::vector<std::string> &errors);

/// Reads the text of a config.json (`configPath` names it in messages and locates
/// quantize_config.json beside it).
bool parseHfConfig(const std::string &text, const std::string &configPath,
                   HfModelSpec &spec, std::vector<std::string> &errors,
                   std::vector<std::string> &warnings);
/// Reads `configPath`. On failure returns false; `errors` lists every problem.
bool readHfConfig(const std::string &configPath, HfModelSpec &spec,
                  std::vector<std::string> &errors, std::vector<std::string> &warnings);

/// Checks the config's sizes against `checkpoint` before the importer allocates
/// anything from them: each size and product of sizes (heads x head_dim) must fit the
/// largest dimension of any tensor, and the checkpoint must hold no layer beyond
/// the config's count (its tensors would be silently unused). False with the reasons
/// in `errors`.
bool checkSizesAgainstCheckpoint(const HfModelSpec &spec, const Checkpoint &checkpoint,
                                 std::vector<std::string> &errors);

/// "llama", "gpt2", ...
const char *familyName(HfFamily family);

} // namespace loom

#endif // LOOM_COMPILER_IMPORT_HF_HFCONFIG_H
