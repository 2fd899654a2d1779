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

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cfloat>
#include <cmath>

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

  /// x @ W^T + b for a PyTorch Linear stored [out, in]; x @ W + b for GPT-2's Conv1D
  /// stored [in, out].
  Value linear(Value x, const std::string &prefix, int64_t in, int64_t out, bool bias,
               bool conv1d = false) {
    Value w = conv1d ? weight(prefix + ".weight", {in, out}) : weight(prefix + ".weight", {out, in});
    Value y = g_.matmul(x, w, /*transposeRhs=*/!conv1d);
    return bias ? g_.add(y, weight(prefix + ".bias", {out})) : y;
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

/// Llama, Mistral and Qwen2: pre-norm RMSNorm decoder with RoPE, GQA and a gated MLP.
SmallVector<Value> buildLlamaLike(HfImporter &m, Value ids) {
  const HfModelSpec &s = m.spec_;
  GraphBuilder &g = m.g_;
  int64_t h = s.hiddenSize, hd = s.headDim;
  Value x = g.gather(m.weight("model.embed_tokens.weight", {s.vocabSize, h}), ids);

  // RoPE tables [seq, rotary/2]: angle = position * theta^(-2i/rotary), as transformers
  // computes them: the inverse frequencies are a buffer of the model, so a model cast to
  // bfloat16 or float16 has them rounded to that type (unless asked to keep float32,
  // which is what from_pretrained with torch_dtype computes).
  SmallVector<float> inverse;
  for (int64_t i = 0; i < s.rotaryDim / 2; ++i) {
    float value = static_cast<float>(
        1.0 / std::pow(s.ropeTheta, static_cast<double>(2 * i) / s.rotaryDim));
    if (s.roundRopeFrequencies && s.storedDtype == "bfloat16")
      value = roundToBfloat16(value);
    else if (s.roundRopeFrequencies && s.storedDtype == "float16")
      value = roundToHalf(value);
    inverse.push_back(value);
  }
  // Positions, angles, cos and sin are float32 whatever the model's type (a bfloat16
  // position is inexact past 256), then cast, as transformers does.
  Type f32 = g.builder().getF32Type();
  Value positions = g.iota(ids, 1, f32);
  Shape seq = GraphBuilder::shape(positions);
  SmallVector<double> wide(inverse.begin(), inverse.end());
  Value frequencies = ConstantOp::create(
      g.builder(), g.loc(),
      GraphBuilder::floatElements(wide, RankedTensorType::get({s.rotaryDim / 2}, f32)));
  Value angles = g.mul(g.reshape(positions, {seq[0], Dim::fixed(1)}), frequencies);
  Value cos = g.cast(g.unary<CosOp>(angles), g.floatType());
  Value sin = g.cast(g.unary<SinOp>(angles), g.floatType());

  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
    std::string p = "model.layers." + std::to_string(layer) + ".";
    Value a = g.rmsNorm(x, m.weight(p + "input_layernorm.weight", {h}), s.normEpsilon);
    Value q = m.linear(a, p + "self_attn.q_proj", h, s.numHeads * hd, s.attentionBias);
    Value k = m.linear(a, p + "self_attn.k_proj", h, s.numKvHeads * hd, s.attentionBias);
    Value v = m.linear(a, p + "self_attn.v_proj", h, s.numKvHeads * hd, s.attentionBias);
    q = g.rope(g.splitHeads(q, s.numHeads), cos, sin);
    k = g.rope(g.splitHeads(k, s.numKvHeads), cos, sin);
    v = g.splitHeads(v, s.numKvHeads);
    Value o = g.mergeHeads(g.attention(q, k, v, {}, /*causal=*/true, std::nullopt));
    x = g.add(x, m.linear(o, p + "self_attn.o_proj", s.numHeads * hd, h, s.outputBias));

    Value b = g.rmsNorm(x, m.weight(p + "post_attention_layernorm.weight", {h}),
                        s.normEpsilon);
    int64_t f = s.intermediateSize;
    Value gate = m.activation(m.linear(b, p + "mlp.gate_proj", h, f, s.mlpBias));
    Value up = m.linear(b, p + "mlp.up_proj", h, f, s.mlpBias);
    x = g.add(x, m.linear(g.mul(gate, up), p + "mlp.down_proj", f, h, s.mlpBias));
  }
  x = g.rmsNorm(x, m.weight("model.norm.weight", {h}), s.normEpsilon);
  std::string head = s.tieEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  return {g.matmul(x, m.weight(head, {s.vocabSize, h}), /*transposeRhs=*/true)};
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

  // Additive mask [batch, 1, 1, seq]: 0 where attention_mask is 1, the lowest float
  // where it is 0, as transformers builds it.
  Shape ms = GraphBuilder::shape(mask);
  Value keep = g.cast(mask, g.floatType());
  Value blocked = g.sub(g.constant({1.0f}), keep);
  Value additive = g.mul(blocked, g.constant({-FLT_MAX}));
  additive = g.reshape(additive, {ms[0], Dim::fixed(1), Dim::fixed(1), ms[1]});

  for (int64_t layer = 0; layer < s.numLayers; ++layer) {
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

} // namespace

bool importHfFolder(const std::string &folder, ModuleOp module, Type floatType,
                    bool ropeInF32, std::vector<std::string> &errors,
                    std::vector<std::string> &warnings) {
  HfModelSpec spec;
  if (!readHfConfig(folder + "/config.json", spec, errors, warnings))
    return false;
  spec.roundRopeFrequencies = !ropeInF32;
  Checkpoint checkpoint;
  std::string error;
  if (!checkpoint.open(folder, error)) {
    errors.push_back(error);
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

  auto func = func::FuncOp::create(builder, loc, "forward",
                                   builder.getFunctionType(inputTypes, {}));
  module->setAttr("loom.architecture", builder.getStringAttr(spec.architecture));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  GraphBuilder g(builder, loc, floatType);
  HfImporter importer(spec, checkpoint, g, errors);

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
