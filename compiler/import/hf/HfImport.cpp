//===- HfImport.cpp - Hugging Face folders into loom IR --------------------===//
//
// One builder per family shape: Llama-like decoders (Llama, Mistral, Qwen2), GPT-2 and
// BERT. Each writes the forward pass of the `transformers` implementation in loom ops.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/hf/HfImport.h"
#include "compiler/import/GraphBuilder.h"
#include "compiler/import/hf/HfConfig.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Float16.h"
#include "loom/support/StepInputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cfloat>
#include <cmath>
#include <tuple>

using namespace mlir;

namespace loom {

namespace {

/// Shared state of one import: the checkpoint, the builder, the collected errors.
class HfImporter {
public:
  HfImporter(const HfModelSpec &spec, const Checkpoint &checkpoint, GraphBuilder &g,
             std::vector<std::string> &errors)
      : spec_(spec), checkpoint_(checkpoint), g_(g), errors_(errors) {}

  /// The weight `name`, which must exist with `shape` and a float dtype.
  Value weight(const std::string &name, ArrayRef<int64_t> shape) {
    const TensorInfo *tensor = checkpoint_.find(name);
    if (!tensor) {
      errors_.push_back("checkpoint has no tensor '" + name + "'");
    } else if (tensor->shape != std::vector<int64_t>(shape.begin(), shape.end())) {
      errors_.push_back("tensor '" + name + "' has shape " + shapeText(tensor->shape) +
                        " but the config implies " + shapeText(shape));
    } else if (!dtypeIsFloat(tensor->dtype)) {
      errors_.push_back("tensor '" + name + "' has dtype " + dtypeName(tensor->dtype) +
                        "; weights must be floating point");
    }
    return g_.weight(name, shape);
  }
  bool has(const std::string &name) const { return checkpoint_.find(name) != nullptr; }

private:
  LoraConfig lora_;
  std::vector<std::string> loraNames_;

public:

  /// x @ W^T + b for a PyTorch Linear stored [out, in]; x @ W + b for GPT-2's Conv1D
  /// stored [in, out]. A layer the checkpoint stores quantized reads a quantized
  /// weight, its input rounded to FP8 per token first when the checkpoint says so.
  Value linear(Value x, const std::string &prefix, int64_t in, int64_t out, bool bias,
               bool conv1d = false) {
    Value y;
    if (isQuantized(prefix)) {
      if (conv1d)
        errors_.push_back("layer '" + prefix + "' is a GPT-2 Conv1D stored quantized; "
                          "quantized Conv1D layers are not supported");
      if (spec_.fp8Activations)
        x = QuantizeRowsOp::create(g_.builder(), g_.loc(), x, QuantCode::Fp8E4M3);
      y = g_.matmul(x, quantizedWeight(prefix, out, in), /*transposeRhs=*/true);
    } else {
      Value w = conv1d ? weight(prefix + ".weight", {in, out})
                       : weight(prefix + ".weight", {out, in});
      y = g_.matmul(x, w, /*transposeRhs=*/!conv1d);
    }
    if (bias)
      y = g_.add(y, weight(prefix + ".bias", {out}));
    return lora_.enabled() && lora_.appliesTo(prefix) ? g_.add(y, loraDelta(x, prefix, in, out))
                                                      : y;
  }

  /// PEFT's added term scaling * (x A^T) B^T, rounded as PEFT computes it: the
  /// product first, then the scaling. A and B are weights under PEFT's names; their
  /// shapes are checked when they load (the adapter is not in the checkpoint).
  Value loraDelta(Value x, const std::string &prefix, int64_t in, int64_t out) {
    std::string a = loraTensorName(prefix, 'A'), b = loraTensorName(prefix, 'B');
    loraNames_.push_back(a);
    loraNames_.push_back(b);
    Value h = g_.matmul(x, g_.weight(a, {lora_.r, in}), /*transposeRhs=*/true);
    Value d = g_.matmul(h, g_.weight(b, {out, lora_.r}), /*transposeRhs=*/true);
    return g_.mul(d, g_.constant({static_cast<float>(lora_.scaling())}));
  }

  void setLora(const LoraConfig &lora) { lora_ = lora; }
  /// The adapter tensors built so far, A then B per adapted layer.
  const std::vector<std::string> &loraNames() const { return loraNames_; }

  /// Whether the checkpoint stores the Linear module `prefix` quantized.
  bool isQuantized(const std::string &prefix) const {
    return spec_.quantization && spec_.quantization->quantizes(prefix);
  }

  /// The weight [n, k] of the quantized Linear module `prefix`: its packed tensors must
  /// all be in the checkpoint (their shapes and contents are checked when they load);
  /// the scales' element type is the one stored.
  Value quantizedWeight(const std::string &prefix, int64_t n, int64_t k) {
    QuantEncoding encoding = spec_.quantization->encoding;
    std::string name = prefix + ".weight";
    bool complete = true;
    for (const std::string &tensor : quantTensorNames(name, encoding))
      if (!checkpoint_.find(tensor)) {
        errors_.push_back("checkpoint has no tensor '" + tensor + "', which a " +
                          quantSourceName(encoding.source) + " layer '" + prefix +
                          "' stores");
        complete = false;
      }
    std::string why;
    if (complete && !scaleTypeFromCheckpoint(CheckpointReader(checkpoint_), name, encoding, why))
      errors_.push_back(why);
    else if (!(why = checkQuantEncoding(encoding, k)).empty())
      errors_.push_back("layer '" + prefix + "': " + why);
    Value w = g_.weight(name, {n, k});
    auto op = w.getDefiningOp<WeightOp>();
    op.setQuantAttr(QuantAttr::get(op.getContext(), encoding));
    return w;
  }

  /// A [n, k] weight read as x @ W^T: quantized when the checkpoint stores the Linear
  /// module `module` so (a quantized LM head).
  Value matrix(const std::string &module, int64_t n, int64_t k) {
    return isQuantized(module) ? quantizedWeight(module, n, k)
                               : weight(module + ".weight", {n, k});
  }

  Value activation(Value x) {
    switch (spec_.activation) {
    case Activation::Silu:
      return g_.unary<SiluOp>(x);
    case Activation::GeluErf:
      return g_.gelu(x, GeluApproximation::Erf);
    case Activation::GeluTanh:
      return g_.gelu(x, GeluApproximation::Tanh);
    case Activation::Relu:
      return g_.unary<ReluOp>(x);
    }
    return x;
  }

  static std::string shapeText(ArrayRef<int64_t> shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i)
      text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
  }

  const HfModelSpec &spec_;
  const Checkpoint &checkpoint_;
  GraphBuilder &g_;
  std::vector<std::string> &errors_;
};

/// RoPE tables [positions, rotary/2] for float32 `positions` [n]: angle = position *
/// theta^(-2i/rotary), computed in float32 whatever the model's type, then cast, as
/// transformers computes them. The inverse frequencies are a buffer of the model, so a
/// model cast to bfloat16 or float16 has them rounded to that type (unless asked to
/// keep float32, which is what from_pretrained with torch_dtype computes).
std::pair<Value, Value> ropeTables(HfImporter &m, Value positions) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  SmallVector<double> inverse;
  const HfModelSpec::RopeScaling &scaling = s.ropeScaling;
  for (int64_t i = 0; i < s.rotaryDim / 2; ++i) {
    double frequency = 1.0 / std::pow(s.ropeTheta, static_cast<double>(2 * i) / s.rotaryDim);
    if (scaling.type == "linear") {
      frequency /= scaling.factor;
    } else if (scaling.type == "llama3") {
      // Wavelengths above original / low_freq_factor are scaled, those below
      // original / high_freq_factor kept, and the ones between blended smoothly.
      double wavelength = 2 * M_PI / frequency;
      double ratio = scaling.originalMaxPositions / wavelength;
      if (ratio < scaling.lowFreqFactor) {
        frequency /= scaling.factor;
      } else if (ratio <= scaling.highFreqFactor) {
        double smooth = (ratio - scaling.lowFreqFactor) /
                        (scaling.highFreqFactor - scaling.lowFreqFactor);
        frequency = (1 - smooth) * frequency / scaling.factor + smooth * frequency;
      }
    }
    float value = static_cast<float>(frequency);
    if (s.roundRopeFrequencies && s.storedDtype == "bfloat16")
      value = roundToBfloat16(value);
    else if (s.roundRopeFrequencies && s.storedDtype == "float16")
      value = roundToHalf(value);
    inverse.push_back(value);
  }
  Type f32 = g.builder().getF32Type();
  Shape n = GraphBuilder::shape(positions);
  Value frequencies = ConstantOp::create(
      g.builder(), g.loc(),
      GraphBuilder::floatElements(inverse, RankedTensorType::get({s.rotaryDim / 2}, f32)));
  Value angles = g.mul(g.reshape(positions, {n[0], Dim::fixed(1)}), frequencies);
  return {g.cast(g.unary<CosOp>(angles), g.floatType()),
          g.cast(g.unary<SinOp>(angles), g.floatType())};
}

/// The start of a Llama-like layer: the input norm of the residual `x` and the Q, K, V
/// projections, [.., heads * head_dim] each.
std::tuple<Value, Value, Value> attentionInputs(HfImporter &m, const std::string &p,
                                                Value x) {
  const HfModelSpec &s = m.spec_;
  int64_t h = s.hiddenSize, hd = s.headDim;
  Value a = m.g_.rmsNorm(x, m.weight(p + "input_layernorm.weight", {h}), s.normEpsilon);
  return {m.linear(a, p + "self_attn.q_proj", h, s.numHeads * hd, s.attentionBias),
          m.linear(a, p + "self_attn.k_proj", h, s.numKvHeads * hd, s.attentionBias),
          m.linear(a, p + "self_attn.v_proj", h, s.numKvHeads * hd, s.attentionBias)};
}

/// The rest of a Llama-like layer after attention: the output projection of the
/// attention `o` added to the residual `x`, then the gated MLP and its residual.
Value layerOutput(HfImporter &m, const std::string &p, Value x, Value o) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  int64_t h = s.hiddenSize, f = s.intermediateSize;
  x = g.add(x, m.linear(o, p + "self_attn.o_proj", s.numHeads * s.headDim, h, s.outputBias));
  Value b = g.rmsNorm(x, m.weight(p + "post_attention_layernorm.weight", {h}),
                      s.normEpsilon);
  Value gate = m.activation(m.linear(b, p + "mlp.gate_proj", h, f, s.mlpBias));
  Value up = m.linear(b, p + "mlp.up_proj", h, f, s.mlpBias);
  return g.add(x, m.linear(g.mul(gate, up), p + "mlp.down_proj", f, h, s.mlpBias));
}

/// The additive attention mask [batch, 1, 1, seq] of an int `attention_mask`
/// [batch, seq]: 0 where it is 1, the lowest float where it is 0, as transformers
/// builds it (its causal part is the attention's `causal` flag).
Value additiveMask(GraphBuilder &g, Value mask) {
  Shape ms = GraphBuilder::shape(mask);
  Value keep = g.cast(mask, g.floatType());
  Value blocked = g.sub(g.constant({1.0f}), keep);
  Value additive = g.mul(blocked, g.constant({-FLT_MAX}));
  return g.reshape(additive, {ms[0], Dim::fixed(1), Dim::fixed(1), ms[1]});
}

/// While it lives, the ops built are located at layer `layer` ("model.layers.3"),
/// which activation checkpointing and pipeline partitioning read.
class LayerLocation {
public:
  LayerLocation(GraphBuilder &g, int64_t layer) : g_(g), saved_(g.loc()) {
    g.setLoc(NameLoc::get(g.name("model.layers." + std::to_string(layer)), saved_));
  }
  ~LayerLocation() { g_.setLoc(saved_); }

private:
  GraphBuilder &g_;
  Location saved_;
};

/// Llama, Mistral and Qwen2: pre-norm RMSNorm decoder with RoPE, GQA and a gated MLP.
/// With `mask` (an int attention_mask [batch, seq]), padded keys are not attended.
SmallVector<Value> buildLlamaLike(HfImporter &m, Value ids, Value mask = {}) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  int64_t h = s.hiddenSize, hd = s.headDim;
  Value x = g.gather(m.weight("model.embed_tokens.weight", {s.vocabSize, h}), ids);

  // Positions [seq] as float32 (a bfloat16 position is inexact past 256).
  Value positions = g.iota(ids, 1, g.builder().getF32Type());
  auto [cos, sin] = ropeTables(m, positions);
  Value additive = mask ? additiveMask(g, mask) : Value();

  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    LayerLocation located(g, layer);
    std::string p = "model.layers." + std::to_string(layer) + ".";
    auto [q, k, v] = attentionInputs(m, p, x);
    q = g.rope(g.splitHeads(q, s.numHeads), cos, sin);
    k = g.rope(g.splitHeads(k, s.numKvHeads), cos, sin);
    v = g.splitHeads(v, s.numKvHeads);
    Value o = g.mergeHeads(g.attention(q, k, v, additive, /*causal=*/true, std::nullopt));
    x = layerOutput(m, p, x, o);
  }
  x = g.rmsNorm(x, m.weight("model.norm.weight", {h}), s.normEpsilon);
  Value head = s.tieEmbeddings ? m.weight("model.embed_tokens.weight", {s.vocabSize, h})
                               : m.matrix("lm_head", s.vocabSize, h);
  return {g.matmul(x, head, /*transposeRhs=*/true)};
}

/// GPT-2: learned positions, pre-norm LayerNorm, fused QKV Conv1D, biases everywhere.
SmallVector<Value> buildGpt2(HfImporter &m, Value ids) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  std::string root = m.has("transformer.wte.weight") ? "transformer." : "";
  int64_t h = s.hiddenSize;
  Value wte = m.weight(root + "wte.weight", {s.vocabSize, h});
  Value positions = g.iota(ids, 1, g.builder().getI64Type());
  Value x = g.add(g.gather(wte, ids),
                  g.gather(m.weight(root + "wpe.weight", {s.maxPositions, h}), positions));
  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    LayerLocation located(g, layer);
    std::string p = root + "h." + std::to_string(layer) + ".";
    Value a = g.layerNorm(x, m.weight(p + "ln_1.weight", {h}), m.weight(p + "ln_1.bias", {h}),
                          s.normEpsilon);
    Value qkv = m.linear(a, p + "attn.c_attn", h, 3 * h, true, /*conv1d=*/true);
    Value q = g.splitHeads(g.slice(qkv, 2, 0, h), s.numHeads);
    Value k = g.splitHeads(g.slice(qkv, 2, h, 2 * h), s.numHeads);
    Value v = g.splitHeads(g.slice(qkv, 2, 2 * h, 3 * h), s.numHeads);
    float scale = s.scaleAttention ? 1.0f / std::sqrt(static_cast<float>(s.headDim)) : 1.0f;
    if (s.scaleByInverseLayer)
      scale /= static_cast<float>(layer + 1);
    Value o = g.mergeHeads(g.attention(q, k, v, {}, /*causal=*/true, scale));
    x = g.add(x, m.linear(o, p + "attn.c_proj", h, h, true, true));
    Value b = g.layerNorm(x, m.weight(p + "ln_2.weight", {h}), m.weight(p + "ln_2.bias", {h}),
                          s.normEpsilon);
    int64_t f = s.intermediateSize;
    Value up = m.activation(m.linear(b, p + "mlp.c_fc", h, f, true, true));
    x = g.add(x, m.linear(up, p + "mlp.c_proj", f, h, true, true));
  }
  x = g.layerNorm(x, m.weight(root + "ln_f.weight", {h}), m.weight(root + "ln_f.bias", {h}),
                  s.normEpsilon);
  Value head = s.tieEmbeddings ? wte : m.weight("lm_head.weight", {s.vocabSize, h});
  return {g.matmul(x, head, /*transposeRhs=*/true)};
}

/// BERT: post-norm encoder with token types, a padding mask and a pooler.
SmallVector<Value> buildBert(HfImporter &m, Value ids, Value mask, Value types) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  std::string root = m.has("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  int64_t h = s.hiddenSize;
  std::string e = root + "embeddings.";
  Value positions = g.iota(ids, 1, g.builder().getI64Type());
  Value x = g.add(
      g.add(g.gather(m.weight(e + "word_embeddings.weight", {s.vocabSize, h}), ids),
            g.gather(m.weight(e + "token_type_embeddings.weight", {s.typeVocabSize, h}), types)),
      g.gather(m.weight(e + "position_embeddings.weight", {s.maxPositions, h}), positions));
  x = g.layerNorm(x, m.weight(e + "LayerNorm.weight", {h}), m.weight(e + "LayerNorm.bias", {h}),
                  s.normEpsilon);

  Value additive = additiveMask(g, mask);

  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    LayerLocation located(g, layer);
    std::string p = root + "encoder.layer." + std::to_string(layer) + ".";
    Value q = g.splitHeads(m.linear(x, p + "attention.self.query", h, h, true), s.numHeads);
    Value k = g.splitHeads(m.linear(x, p + "attention.self.key", h, h, true), s.numHeads);
    Value v = g.splitHeads(m.linear(x, p + "attention.self.value", h, h, true), s.numHeads);
    Value o = g.mergeHeads(g.attention(q, k, v, additive, /*causal=*/false, std::nullopt));
    o = m.linear(o, p + "attention.output.dense", h, h, true);
    x = g.layerNorm(g.add(o, x), m.weight(p + "attention.output.LayerNorm.weight", {h}),
                    m.weight(p + "attention.output.LayerNorm.bias", {h}), s.normEpsilon);
    Value f = m.activation(m.linear(x, p + "intermediate.dense", h, s.intermediateSize, true));
    f = m.linear(f, p + "output.dense", s.intermediateSize, h, true);
    x = g.layerNorm(g.add(f, x), m.weight(p + "output.LayerNorm.weight", {h}),
                    m.weight(p + "output.LayerNorm.bias", {h}), s.normEpsilon);
  }
  SmallVector<Value> outputs{x};
  if (m.has(root + "pooler.dense.weight")) {
    Shape xs = GraphBuilder::shape(x);
    Value first = g.reshape(g.slice(x, 1, 0, 1), {xs[0], Dim::fixed(h)});
    outputs.push_back(g.unary<TanhOp>(m.linear(first, root + "pooler.dense", h, h, true)));
  }
  return outputs;
}

/// The arguments of a serving step's function (see ImportOptions::entry) and the
/// caches it returns, shared by the family bodies below.
struct StepArgs {
  Value tokens, positions, slots, blockTables, contextLens, queryStarts, lastTokens;
  Block *body = nullptr;
  RankedTensorType cacheType;
  RankedTensorType scalesType; // a quantized cache's scales; null for a float cache
  int64_t layers = 0;
  SmallVector<Value> caches; // the updated caches, k and v per layer
  SmallVector<Value> scales; // the updated scales of quantized caches, k and v per layer
};

/// Writes a layer's new keys and values `k`, `v` [tokens, kv_heads, hd] into its
/// caches and attends to them with `q` [tokens, heads, hd]: [tokens, heads * hd].
Value pagedAttention(HfImporter &m, StepArgs &a, int64_t layer, Value q, Value k, Value v,
                     std::optional<float> scale) {
  GraphBuilder &g = m.g_;
  OpBuilder &b = g.builder();
  // Each cache write returns its cache (and a quantized cache's scales).
  auto write = [&](bool value, Value rows) -> std::pair<Value, Value> {
    Value cache = a.body->getArgument(step::cacheArgument(value, layer));
    if (!a.scalesType)
      return {CacheWriteOp::create(b, g.loc(), a.cacheType, /*new_scales=*/nullptr, cache,
                                   rows, a.slots, /*scales=*/nullptr)
                  .getResult(),
              nullptr};
    Value scales = a.body->getArgument(step::scalesArgument(value, layer, a.layers));
    auto op = CacheWriteOp::create(b, g.loc(), a.cacheType, a.scalesType, cache, rows,
                                   a.slots, scales);
    return {op.getResult(), op.getNewScales()};
  };
  auto [kc, ks] = write(false, k);
  auto [vc, vs] = write(true, v);
  a.caches.append({kc, vc});
  SmallVector<Value> scales;
  if (a.scalesType) {
    scales = {ks, vs};
    a.scales.append({ks, vs});
  }
  FloatAttr scaleAttr = scale ? b.getF32FloatAttr(*scale) : FloatAttr();
  // Result [tokens, heads, hd]: the query's type.
  Value o = PagedAttentionOp::create(b, g.loc(), q.getType(), q, kc, vc, a.blockTables,
                                     a.contextLens, a.queryStarts, scales, scaleAttr,
                                     /*softcap=*/nullptr);
  Shape qs = GraphBuilder::shape(q);
  return g.reshape(o, {qs[0], Dim::fixed(qs[1].size * qs[2].size)});
}

/// [tokens, n * hd] -> [tokens, n, hd].
Value splitTokenHeads(GraphBuilder &g, Value v, int64_t n, int64_t hd) {
  return g.reshape(v, {GraphBuilder::shape(v)[0], Dim::fixed(n), Dim::fixed(hd)});
}

/// Llama-like step: RoPE from the positions, GQA over the paged cache.
Value llamaStep(HfImporter &m, StepArgs &a) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  int64_t h = s.hiddenSize, hd = s.headDim;
  Value x = g.gather(m.weight("model.embed_tokens.weight", {s.vocabSize, h}), a.tokens);
  auto [cos, sin] = ropeTables(m, g.cast(a.positions, g.builder().getF32Type()));
  // Rope over [heads, tokens, hd].
  auto roped = [&](Value v) {
    return g.transpose(g.rope(g.transpose(v, {1, 0, 2}), cos, sin), {1, 0, 2});
  };
  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    LayerLocation located(g, layer);
    std::string p = "model.layers." + std::to_string(layer) + ".";
    auto [q, k, v] = attentionInputs(m, p, x);
    q = roped(splitTokenHeads(g, q, s.numHeads, hd));
    k = roped(splitTokenHeads(g, k, s.numKvHeads, hd));
    v = splitTokenHeads(g, v, s.numKvHeads, hd);
    x = layerOutput(m, p, x, pagedAttention(m, a, layer, q, k, v, std::nullopt));
  }
  // Only each sequence's last new token needs logits.
  x = g.gather(x, a.lastTokens);
  x = g.rmsNorm(x, m.weight("model.norm.weight", {h}), s.normEpsilon);
  Value head = s.tieEmbeddings ? m.weight("model.embed_tokens.weight", {s.vocabSize, h})
                               : m.matrix("lm_head", s.vocabSize, h);
  return g.matmul(x, head, /*transposeRhs=*/true);
}

/// GPT-2 step: learned positions gathered at the tokens' positions.
Value gpt2Step(HfImporter &m, StepArgs &a) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  std::string root = m.has("transformer.wte.weight") ? "transformer." : "";
  int64_t h = s.hiddenSize, hd = s.headDim, f = s.intermediateSize;
  Value wte = m.weight(root + "wte.weight", {s.vocabSize, h});
  Value x = g.add(g.gather(wte, a.tokens),
                  g.gather(m.weight(root + "wpe.weight", {s.maxPositions, h}), a.positions));
  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    LayerLocation located(g, layer);
    std::string p = root + "h." + std::to_string(layer) + ".";
    Value n = g.layerNorm(x, m.weight(p + "ln_1.weight", {h}), m.weight(p + "ln_1.bias", {h}),
                          s.normEpsilon);
    Value qkv = m.linear(n, p + "attn.c_attn", h, 3 * h, true, /*conv1d=*/true);
    Value q = splitTokenHeads(g, g.slice(qkv, 1, 0, h), s.numHeads, hd);
    Value k = splitTokenHeads(g, g.slice(qkv, 1, h, 2 * h), s.numHeads, hd);
    Value v = splitTokenHeads(g, g.slice(qkv, 1, 2 * h, 3 * h), s.numHeads, hd);
    float scale = s.scaleAttention ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
    if (s.scaleByInverseLayer)
      scale /= static_cast<float>(layer + 1);
    Value o = pagedAttention(m, a, layer, q, k, v, scale);
    x = g.add(x, m.linear(o, p + "attn.c_proj", h, h, true, true));
    Value b = g.layerNorm(x, m.weight(p + "ln_2.weight", {h}), m.weight(p + "ln_2.bias", {h}),
                          s.normEpsilon);
    Value up = m.activation(m.linear(b, p + "mlp.c_fc", h, f, true, true));
    x = g.add(x, m.linear(up, p + "mlp.c_proj", f, h, true, true));
  }
  x = g.gather(x, a.lastTokens);
  x = g.layerNorm(x, m.weight(root + "ln_f.weight", {h}), m.weight(root + "ln_f.bias", {h}),
                  s.normEpsilon);
  Value head = s.tieEmbeddings ? wte : m.weight("lm_head.weight", {s.vocabSize, h});
  return g.matmul(x, head, /*transposeRhs=*/true);
}

/// One serving step over a paged KV cache (see ImportOptions::entry): the step's new
/// tokens laid end to end, each layer writing its keys and values into the cache at
/// `slots` and attending through the block tables; logits (f32) for each sequence's
/// last new token.
bool buildStepFunction(const HfModelSpec &spec, const Checkpoint &checkpoint,
                       OpBuilder &builder, Location loc, Type floatType, Type cacheType,
                       int64_t blockSize, std::vector<std::string> &errors) {
  MLIRContext *context = builder.getContext();
  Type i64 = builder.getI64Type();
  auto vector = [&](StringRef dim) {
    return RankedTensorType::get({ShapedType::kDynamic}, i64,
                                 DimsAttr::get(context, {builder.getStringAttr(dim)}));
  };
  auto tables = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic}, i64,
      DimsAttr::get(context, {builder.getStringAttr("seqs"), builder.getStringAttr("table")}));
  StepArgs a;
  a.cacheType = RankedTensorType::get(
      {ShapedType::kDynamic, blockSize, spec.numKvHeads, spec.headDim}, cacheType,
      DimsAttr::get(context, {builder.getStringAttr("blocks")}));
  SmallVector<std::string> names(std::begin(step::kIntegerInputs),
                                 std::end(step::kIntegerInputs));
  SmallVector<Type> inputs = {vector("tokens"), vector("tokens"), vector("tokens"), tables,
                              vector("seqs"),   vector("seqs"),   vector("seqs")};
  for (int64_t layer = 0; layer < spec.numLayers; ++layer)
    for (bool value : {false, true}) {
      names.push_back(step::cacheName(value, layer));
      inputs.push_back(a.cacheType);
    }
  // A cache of 8-bit codes: a scale per (slot, KV head), after all the caches.
  a.layers = spec.numLayers;
  if (cacheType.isInteger(8) || isa<Float8E4M3FNType>(cacheType)) {
    a.scalesType = RankedTensorType::get(
        {ShapedType::kDynamic, blockSize, spec.numKvHeads}, builder.getF32Type(),
        DimsAttr::get(context, {builder.getStringAttr("blocks")}));
    for (int64_t layer = 0; layer < spec.numLayers; ++layer)
      for (bool value : {false, true}) {
        names.push_back(step::scalesName(value, layer));
        inputs.push_back(a.scalesType);
      }
  }
  auto func =
      func::FuncOp::create(builder, loc, "step", builder.getFunctionType(inputs, {}));
  a.body = func.addEntryBlock();
  builder.setInsertionPointToEnd(a.body);
  GraphBuilder g(builder, loc, floatType);
  HfImporter m(spec, checkpoint, g, errors);
  // In the order of step::kIntegerInputs.
  Value *fields[] = {&a.tokens,      &a.positions,   &a.slots,     &a.blockTables,
                     &a.contextLens, &a.queryStarts, &a.lastTokens};
  for (auto [i, field] : llvm::enumerate(fields))
    *field = a.body->getArgument(i);
  Value logits = spec.family == HfFamily::Gpt2 ? gpt2Step(m, a) : llamaStep(m, a);
  logits = g.cast(logits, builder.getF32Type());
  if (!errors.empty())
    return false;
  SmallVector<Value> outputs = {logits};
  outputs.append(a.caches.begin(), a.caches.end());
  outputs.append(a.scales.begin(), a.scales.end());
  func::ReturnOp::create(builder, loc, outputs);
  SmallVector<Type> outputTypes;
  for (Value v : outputs)
    outputTypes.push_back(v.getType());
  func.setType(builder.getFunctionType(inputs, outputTypes));
  for (auto [i, name] : llvm::enumerate(names))
    func.setArgAttr(i, "loom.name", builder.getStringAttr(name));
  func.setResultAttr(0, "loom.name", builder.getStringAttr("logits"));
  for (size_t i = 1; i < outputs.size(); ++i)
    func.setResultAttr(i, "loom.name",
                       builder.getStringAttr(names[step::kNumIntegerInputs + i - 1]));
  return true;
}

/// log(softmax(x)) over the last axis, as x - logsumexp(x) with the row's largest
/// subtracted first (no exp overflows, no log of an underflowed probability).
Value logSoftmax(GraphBuilder &g, Value x) {
  int64_t last = GraphBuilder::shape(x).size() - 1;
  Value most = g.reduce(ReduceKind::Max, x, {last}, /*keepDims=*/true);
  Value shifted = g.sub(x, most);
  Value sum = g.reduce(ReduceKind::Sum, g.unary<ExpOp>(shifted), {last}, /*keepDims=*/true);
  return g.sub(shifted, g.unary<LogOp>(sum));
}

/// The knowledge-distillation loss of student logits `s` [batch, seq, V] against given
/// teacher logits `t` at temperature T over the positions where `positions` [batch,
/// seq] is nonzero: T^2 times the mean over those positions of
/// KL(softmax(t / T) || softmax(s / T)) (PyTorch's kl_div of the log-probabilities with
/// log_target, summed over the vocabulary). The teacher gets no gradient (autodiff
/// differentiates weights only).
Value distillationLoss(GraphBuilder &g, Value s, Value t, Value positions, double T) {
  Value inverse = g.constant({static_cast<float>(1.0 / T)});
  Value logStudent = logSoftmax(g, g.mul(s, inverse));
  Value logTeacher = logSoftmax(g, g.mul(t, inverse));
  Value teacher = g.unary<ExpOp>(logTeacher);
  Value kl = g.reduce(ReduceKind::Sum, g.mul(teacher, g.sub(logTeacher, logStudent)), {2},
                      /*keepDims=*/false);
  Value counted = g.cast(positions, g.builder().getF32Type());
  Value total = g.reduce(ReduceKind::Sum, g.mul(kl, counted), {0, 1}, /*keepDims=*/false);
  Value count = g.reduce(ReduceKind::Sum, counted, {0, 1}, /*keepDims=*/false);
  return g.mul(g.div(total, count), g.constant({static_cast<float>(T * T)}));
}

/// The log-probability of each sequence of `ids` [batch, seq] under the causal LM
/// `logits` [batch, seq, V] over the positions `mask` [batch, seq] marks (TRL's
/// completion mask): sum over t >= 1 of mask[t] * log_softmax(logits[t - 1])[ids[t]],
/// [batch]. The shift is a gather of ids and mask at t + 1 (the last position, which
/// predicts nothing, masked off); the token's log-probability is picked by a one-hot of
/// the vocabulary, so only the differentiable path runs through the logits.
Value sequenceLogProbs(GraphBuilder &g, Value logits, Value ids, Value mask) {
  Type f32 = g.builder().getF32Type(), i64 = g.builder().getI64Type();
  Value positions = g.cast(g.iota(ids, 1, i64), f32); // [seq]
  Value next = g.add(positions, g.constant({1.0f}));
  Value last = g.reduce(ReduceKind::Max, positions, {0}, /*keepDims=*/false);
  Value clamped = g.minimum(next, last);
  Value inside = g.cast(g.compare(CompareKind::EQ, next, clamped), f32); // t + 1 < seq
  Value index = g.cast(clamped, i64);
  Value targets = g.gather(ids, index, 1);                                  // ids[t + 1]
  Value counted = g.mul(g.cast(g.gather(mask, index, 1), f32), inside);     // mask[t + 1]
  Shape t = GraphBuilder::shape(targets);
  Value column = g.reshape(targets, {t[0], t[1], Dim::fixed(1)});
  Value vocabulary = g.iota(logits, 2, i64);
  Value onehot = g.cast(g.compare(CompareKind::EQ, vocabulary, column), f32);
  Value picked = g.reduce(ReduceKind::Sum, g.mul(logSoftmax(g, logits), onehot), {2},
                          /*keepDims=*/false);
  return g.reduce(ReduceKind::Sum, g.mul(picked, counted), {1}, /*keepDims=*/false);
}

/// The DPO loss (TRL's sigmoid loss) of the policy's sequence log-probabilities `chosen`
/// and `rejected` [pairs] against the reference model's, given: the mean over pairs of
/// -log(sigmoid(z)), z = beta * ((chosen - refChosen) - (rejected - refRejected)),
/// written as softplus(-z) = max(-z, 0) + log(1 + exp(-|z|)) so no exp overflows.
Value dpoLoss(GraphBuilder &g, Value chosen, Value rejected, Value refChosen,
              Value refRejected, double beta) {
  Value margin = g.sub(g.sub(chosen, refChosen), g.sub(rejected, refRejected));
  Value minusZ = g.mul(margin, g.constant({static_cast<float>(-beta)}));
  Value magnitude = g.maximum(minusZ, g.unary<NegOp>(minusZ));
  Value softplus = g.add(
      g.maximum(minusZ, g.constant({0.0f})),
      g.unary<LogOp>(g.add(g.constant({1.0f}), g.unary<ExpOp>(g.unary<NegOp>(magnitude)))));
  return g.reduce(ReduceKind::Mean, softplus, {0}, /*keepDims=*/false);
}

/// The training entry (ImportOptions::entry "grad") before differentiation:
/// `grad(input_ids, attention_mask, labels) -> loss`, the causal-LM cross-entropy of a
/// Llama-like forward (labels shifted by one, -100 ignored, mean over counted
/// positions), marked `loom.autodiff` so that loom-autodiff appends the gradient of
/// every weight.
bool buildLossFunction(const HfModelSpec &spec, const Checkpoint &checkpoint,
                       OpBuilder &builder, Location loc, Type floatType, Type tokens,
                       const LoraConfig &lora, const std::string &loss,
                       double parameter, std::vector<std::string> &errors) {
  if (spec.family != HfFamily::Llama && spec.family != HfFamily::Mistral &&
      spec.family != HfFamily::Qwen2) {
    errors.push_back("a grad entry is built for Llama, Mistral and Qwen2 models; " +
                     spec.architecture + " is not one (layer_norm and gelu have no "
                     "gradient rule yet)");
    return false;
  }
  bool distill = loss == "distill", dpo = loss == "dpo";
  if (!distill && !dpo && loss != "cross-entropy") {
    errors.push_back("unsupported loss '" + loss + "' (use cross-entropy, distill or dpo)");
    return false;
  }
  if (!(parameter > 0.0 && std::isfinite(parameter))) {
    errors.push_back(std::string("the ") +
                     (dpo ? "DPO beta" : "distillation temperature") +
                     " must be a positive number");
    return false;
  }
  MLIRContext *context = builder.getContext();
  Type f32 = builder.getF32Type();
  auto tokenType = cast<RankedTensorType>(tokens);
  // The inputs of each loss, by name, all [batch, seq] int64 unless given.
  SmallVector<const char *> names = {"input_ids", "attention_mask", "labels"};
  SmallVector<Type> inputs(3, tokens);
  if (distill) {
    names = {"input_ids", "attention_mask", "teacher_logits", "position_mask"};
    inputs = {tokens, tokens,
              RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic,
                                     spec.vocabSize},
                                    f32, tokenType.getEncoding()),
              tokens};
  } else if (dpo) {
    names = {"chosen_input_ids", "rejected_input_ids", "chosen_loss_mask",
             "rejected_loss_mask", "ref_chosen_logps", "ref_rejected_logps"};
    auto pairs = RankedTensorType::get(
        {ShapedType::kDynamic}, f32,
        DimsAttr::get(context, {builder.getStringAttr("batch")}));
    inputs = {tokens, tokens, tokens, tokens, pairs, pairs};
  }
  auto func = func::FuncOp::create(builder, loc, "grad", builder.getFunctionType(inputs, {}));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  GraphBuilder g(builder, loc, floatType);
  HfImporter importer(spec, checkpoint, g, errors);
  importer.setLora(lora);
  auto arg = [&](int i) { return body->getArgument(i); };
  Value value;
  if (dpo) {
    // The policy on the chosen and on the rejected sequences (no padding: every
    // position attended); the weights' gradients of both forwards add up.
    Value chosen = g.cast(buildLlamaLike(importer, arg(0))[0], f32);
    Value rejected = g.cast(buildLlamaLike(importer, arg(1))[0], f32);
    if (!errors.empty())
      return false;
    value = dpoLoss(g, sequenceLogProbs(g, chosen, arg(0), arg(2)),
                    sequenceLogProbs(g, rejected, arg(1), arg(3)), arg(4), arg(5), parameter);
  } else {
    Value logits = g.cast(buildLlamaLike(importer, arg(0), arg(1))[0], f32);
    if (!errors.empty())
      return false;
    value = distill ? distillationLoss(g, logits, arg(2), arg(3), parameter)
                    : CrossEntropyOp::create(builder, loc, RankedTensorType::get({}, f32),
                                             logits, arg(2), /*shift_labels=*/true,
                                             /*ignore_index=*/-100)
                          .getResult();
  }
  func::ReturnOp::create(builder, loc, value);
  func.setType(builder.getFunctionType(inputs, {value.getType()}));
  for (auto [i, name] : llvm::enumerate(names))
    func.setArgAttr(i, "loom.name", builder.getStringAttr(name));
  // As in transformers: without a mask every token is attended.
  if (!dpo)
    func.setArgAttr(1, "loom.default", builder.getI64IntegerAttr(1));
  func.setResultAttr(0, "loom.name", builder.getStringAttr("loss"));
  // With an adapter the base is frozen: loom-autodiff differentiates the named weights.
  SmallVector<Attribute> trained;
  for (const std::string &name : importer.loraNames())
    trained.push_back(builder.getStringAttr(name));
  if (lora.enabled() && trained.empty()) {
    errors.push_back("the LoRA adapter targets no linear layer of the model");
    return false;
  }
  func->setAttr("loom.autodiff", lora.enabled() ? Attribute(builder.getArrayAttr(trained))
                                                : Attribute(builder.getUnitAttr()));
  return true;
}

} // namespace

bool importHfFolder(const std::string &folder, ModuleOp module, Type floatType,
                    Type cacheType, const ImportOptions &options,
                    std::vector<std::string> &errors,
                    std::vector<std::string> &warnings) {
  HfModelSpec spec;
  if (!readHfConfig(folder + "/config.json", spec, errors, warnings))
    return false;
  spec.roundRopeFrequencies = options.ropeFrequencies != "f32";
  if (options.fp8Activations == "none")
    spec.fp8Activations = false;
  Checkpoint checkpoint;
  std::string error;
  if (!checkpoint.open(folder, error)) {
    errors.push_back(error);
    return false;
  }
  if (!checkSizesAgainstCheckpoint(spec, checkpoint, errors)) {
    for (std::string &message : errors)
      if (message.rfind("config.json", 0) == 0)
        message = folder + "/" + message;
    return false;
  }

  MLIRContext *context = module.getContext();
  OpBuilder builder(context);
  Location loc = FileLineColLoc::get(context, folder + "/config.json", 0, 0);
  builder.setInsertionPointToEnd(module.getBody());
  Type i64 = builder.getI64Type();
  auto tokens = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic}, i64,
      DimsAttr::get(context, {builder.getStringAttr("batch"), builder.getStringAttr("seq")}));
  SmallVector<std::string> inputNames{"input_ids"};
  if (spec.family == HfFamily::Bert)
    inputNames = {"input_ids", "attention_mask", "token_type_ids"};
  SmallVector<Type> inputTypes(inputNames.size(), tokens);

  if (options.entry == "step") {
    if (spec.family != HfFamily::Llama && spec.family != HfFamily::Mistral &&
        spec.family != HfFamily::Qwen2 && spec.family != HfFamily::Gpt2) {
      errors.push_back("a serving step is built for Llama, Mistral, Qwen2 and GPT-2 "
                       "models; " +
                       spec.architecture + " is not one");
      return false;
    }
    module->setAttr("loom.architecture", builder.getStringAttr(spec.architecture));
    return buildStepFunction(spec, checkpoint, builder, loc, floatType, cacheType,
                             options.kvBlockSize, errors);
  }
  if (options.entry == "grad" || options.entry == "train_step") {
    module->setAttr("loom.architecture", builder.getStringAttr(spec.architecture));
    return buildLossFunction(spec, checkpoint, builder, loc, floatType, tokens, options.lora,
                             options.loss,
                             options.loss == "dpo" ? options.beta : options.temperature,
                             errors);
  }
  auto func = func::FuncOp::create(builder, loc, "forward",
                                   builder.getFunctionType(inputTypes, {}));
  module->setAttr("loom.architecture", builder.getStringAttr(spec.architecture));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  GraphBuilder g(builder, loc, floatType);
  HfImporter importer(spec, checkpoint, g, errors);
  importer.setLora(options.lora);

  SmallVector<Value> outputs;
  SmallVector<std::string> outputNames{"logits"};
  switch (spec.family) {
  case HfFamily::Llama:
  case HfFamily::Mistral:
  case HfFamily::Qwen2:
    outputs = buildLlamaLike(importer, body->getArgument(0));
    break;
  case HfFamily::Gpt2:
    outputs = buildGpt2(importer, body->getArgument(0));
    break;
  case HfFamily::Bert:
    outputs = buildBert(importer, body->getArgument(0), body->getArgument(1),
                        body->getArgument(2));
    outputNames = {"last_hidden_state", "pooler_output"};
    break;
  }
  if (!errors.empty())
    return false;

  // Outputs are float32 whatever the compute type.
  SmallVector<Type> outputTypes;
  for (Value &output : outputs) {
    output = g.cast(output, builder.getF32Type());
    outputTypes.push_back(output.getType());
  }
  func::ReturnOp::create(builder, loc, outputs);
  func.setType(builder.getFunctionType(inputTypes, outputTypes));
  for (auto [i, name] : llvm::enumerate(inputNames))
    func.setArgAttr(i, "loom.name", builder.getStringAttr(name));
  if (spec.family == HfFamily::Bert) {
    // As in transformers: without a mask every token is attended; without types all
    // tokens are of type 0.
    func.setArgAttr(1, "loom.default", builder.getI64IntegerAttr(1));
    func.setArgAttr(2, "loom.default", builder.getI64IntegerAttr(0));
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    func.setResultAttr(i, "loom.name", builder.getStringAttr(outputNames[i]));
  return true;
}

} // namespace loom
