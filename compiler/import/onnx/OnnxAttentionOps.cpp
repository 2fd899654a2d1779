//===- OnnxAttentionOps.cpp - ONNX Attention and RotaryEmbedding (opset 23) -===//
//
// Both map onto one loom op after layout changes: 3-D inputs [batch, seq, heads * dim]
// become [batch, heads, seq, dim] and back.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/OnnxConverters.h"

#include <cmath>

using namespace mlir;

namespace loom::onnximport {

namespace {

/// A scalar of `type` (a float type).
Value scalar(GraphBuilder &g, float value, Type type) {
  return g.cast(g.constant({value}), type);
}

/// 3-D operands need a static hidden size that the head count divides.
bool checkHeads(Importer &im, const onnx::NodeProto &node, Value x, int64_t heads,
                const char *attribute) {
  Dim hidden = GraphBuilder::shape(x).back();
  if (heads <= 0 || !hidden.isStatic() || hidden.size % heads)
    return im.fail(node, std::string("3-D inputs need a positive ") + attribute +
                             " that divides the static hidden size (got " +
                             std::to_string(heads) + " for " + toString(hidden) + ")");
  return true;
}

} // namespace

/// Where query 0 sits among the keys; query i sits i further. Causal and window bounds
/// are measured from these positions.
struct QueryOffset {
  /// A per-batch offset `[B, 1, 1, 1]` (i64), when the offset depends on the batch.
  Value perBatch;
  /// Otherwise a fixed offset, if known at import time.
  std::optional<int64_t> fixed = 0;
  /// The offset is Skv - Sq, which is loom.attention's own causal alignment.
  bool endAligned = false;

  bool known() const { return perBatch || fixed; }
};

/// Additive mask (0 or -inf) allowing key `j` to query position `p` when
/// `minDiff <= p - j <= maxDiff` for the bounds given.
static Value bandMask(Importer &im, Value positions, Value k, std::optional<int64_t> minDiff,
                      std::optional<int64_t> maxDiff, Value zero, Value negInf) {
  GraphBuilder &g = im.g;
  Type i64 = g.builder().getI64Type();
  Value diff = g.sub(positions, g.iota(k, 2, i64));
  auto bound = [&](int64_t value) { return im.intConstant({value}, true, i64); };
  Value allowed;
  if (minDiff)
    allowed = g.compare(CompareKind::GE, diff, bound(*minDiff));
  if (maxDiff) {
    Value upper = g.compare(CompareKind::LE, diff, bound(*maxDiff));
    allowed = allowed ? g.logicalAnd(allowed, upper) : upper;
  }
  return g.select(allowed, zero, negInf);
}

/// `[B, Hkv, S, D]` repeated to `[B, Hkv * reps, S, D]` with each head's copies
/// adjacent (head h of the result reads head h / reps).
static Value repeatHeads(GraphBuilder &g, Value x, int64_t reps) {
  if (reps == 1)
    return x;
  Shape s = GraphBuilder::shape(x);
  Value grouped = g.reshape(x, {s[0], s[1], Dim::fixed(1), s[2], s[3]});
  Value copies = g.broadcastTo(grouped, {s[0], s[1], Dim::fixed(reps), s[2], s[3]});
  return g.reshape(copies, {s[0], Dim::fixed(s[1].size * reps), s[2], s[3]});
}

namespace {

/// What ONNX's qk_matmul_output returns, by qk_matmul_output_mode (as the ONNX reference
/// implementation numbers them): 0 and 1 the scores after softcap, 2 with the mask
/// added, 3 the probabilities after softmax.
enum class ScoresOutput { None, Scores, WithMask, Probabilities };

/// The attention spelled out in primitive ops, for when the scores themselves are an
/// output: softmax(cap(Q K^T * scale) + mask) V, zero rows where the mask allows
/// nothing.
struct ExplicitAttention {
  Value y, scores;
};

ExplicitAttention explicitAttention(Importer &im, Value q, Value k, Value v, Value mask,
                                    float scale, std::optional<float> softcap,
                                    Type softmaxType, ScoresOutput what, Value zero,
                                    Value negInf) {
  GraphBuilder &g = im.g;
  Type type = elementOf(q);
  Shape qs = GraphBuilder::shape(q), ks = GraphBuilder::shape(k);
  int64_t reps = qs[1].size / ks[1].size;
  k = repeatHeads(g, k, reps);
  v = repeatHeads(g, v, reps);
  // ONNX scales Q and K by sqrt(scale) each, in the input type.
  Value root = scalar(g, std::sqrt(scale), type);
  Value scores = g.matmul(g.mul(q, root), g.mul(k, root), /*transposeRhs=*/true);
  if (softcap) {
    Value cap = scalar(g, *softcap, type);
    scores = g.mul(g.unary<TanhOp>(g.div(scores, cap)), cap);
  }
  ExplicitAttention out;
  out.scores = scores;
  Value biased = mask ? g.add(scores, mask) : scores;
  if (what == ScoresOutput::WithMask)
    out.scores = biased;
  Value probs = g.softmax(softmaxType ? g.cast(biased, softmaxType) : biased, 3);
  if (softmaxType)
    probs = g.cast(probs, type);
  if (mask) {
    // A row the mask closes entirely attends to nothing: zeros, not NaN.
    Value rowMax = g.reduce(ReduceKind::Max, mask, {rankOf(mask) - 1}, /*keepDims=*/true);
    probs = g.select(g.compare(CompareKind::EQ, rowMax, negInf), zero, probs);
  }
  if (what == ScoresOutput::Probabilities)
    out.scores = probs;
  out.y = g.matmul(probs, v, /*transposeRhs=*/false);
  return out;
}

} // namespace

bool convertAttention(Importer &im, const onnx::NodeProto &node) {
  GraphBuilder &g = im.g;
  Value q = im.input(node, 0), k = im.input(node, 1), v = im.input(node, 2);
  if (!q || !k || !v)
    return false;
  float softcap = im.attrFloat(node, "softcap", 0.0f);
  if (softcap < 0.0f)
    return im.fail(node, "softcap " + std::to_string(softcap) + " is negative");
  ScoresOutput scoresOutput = ScoresOutput::None;
  if (node.output_size() > 3 && !node.output(3).empty()) {
    int64_t mode = im.attrInt(node, "qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3)
      return im.fail(node, "qk_matmul_output_mode " + std::to_string(mode) +
                               " is not one of 0, 1, 2, 3");
    scoresOutput = mode == 3   ? ScoresOutput::Probabilities
                   : mode == 2 ? ScoresOutput::WithMask
                               : ScoresOutput::Scores;
  }
  Type softmaxType;
  if (im.attr(node, "softmax_precision")) {
    int64_t precision = im.attrInt(node, "softmax_precision", 0);
    softmaxType = im.elementType(precision);
    if (!softmaxType || !llvm::isa<FloatType>(softmaxType))
      return im.fail(node, "softmax_precision " + std::to_string(precision) +
                               " is not a float type Loom supports");
  }
  int64_t left = im.attrInt(node, "left_window_size", -1);
  int64_t right = im.attrInt(node, "right_window_size", -1);
  if (left < -1 || right < -1)
    return im.fail(node, "window sizes must be -1 (unbounded) or nonnegative");
  bool window = left >= 0 || right >= 0;
  int64_t rank = rankOf(q);
  if (rank != rankOf(k) || rank != rankOf(v) || (rank != 3 && rank != 4))
    return im.fail(node, "Q, K and V need the same rank, 3 or 4");
  if (rank == 3) {
    int64_t qHeads = im.attrInt(node, "q_num_heads", 0);
    int64_t kvHeads = im.attrInt(node, "kv_num_heads", 0);
    if (!checkHeads(im, node, q, qHeads, "q_num_heads") ||
        !checkHeads(im, node, k, kvHeads, "kv_num_heads") ||
        !checkHeads(im, node, v, kvHeads, "kv_num_heads"))
      return false;
    q = g.splitHeads(q, qHeads);
    k = g.splitHeads(k, kvHeads);
    v = g.splitHeads(v, kvHeads);
  }
  bool hasPast = im.hasInput(node, 4) && im.hasInput(node, 5);
  Dim newKeys = GraphBuilder::shape(k)[2];
  if (hasPast) {
    Value pastK = im.input(node, 4), pastV = im.input(node, 5);
    if (!pastK || !pastV)
      return false;
    k = g.concat({pastK, k}, 2);
    v = g.concat({pastV, v}, 2);
  }
  Type type = elementOf(q);
  Type i64 = g.builder().getI64Type();
  Value negInf = scalar(g, -INFINITY, type), zero = scalar(g, 0.0f, type);
  Shape qs = GraphBuilder::shape(q), ks = GraphBuilder::shape(k);
  Value mask;
  if (im.hasInput(node, 3)) {
    mask = im.input(node, 3);
    if (!mask)
      return false;
    Shape maskShape = GraphBuilder::shape(mask);
    Dim last = maskShape.back();
    mask = elementOf(mask).isInteger(1) ? g.select(mask, zero, negInf) : g.cast(mask, type);
    if (last.isStatic() && ks[2].isStatic() && last.size < ks[2].size) {
      // A mask shorter than the keys leaves the keys after it masked out (ONNX pads it
      // with -inf).
      Shape rest = maskShape;
      rest.back() = Dim::fixed(ks[2].size - last.size);
      mask = g.concat({mask, g.broadcastTo(negInf, rest)}, maskShape.size() - 1);
    } else if (!areCompatible(last, ks[2])) {
      return im.fail(node, "attn_mask covers " + toString(last) + " keys but there are " +
                               toString(ks[2]));
    }
  }
  auto addMask = [&](Value more) { mask = mask ? g.add(mask, more) : more; };

  // Query positions: after the past keys (internal cache), at the end of each batch's
  // valid keys (nonpad_kv_seqlen, an external cache), or from 0 (no cache).
  QueryOffset offset;
  offset.endAligned = !hasPast && qs[2] == ks[2];
  if (im.hasInput(node, 6)) {
    Value lengths = im.input(node, 6);
    if (!lengths)
      return false;
    if (rankOf(lengths) != 1)
      return im.fail(node, "nonpad_kv_seqlen must be a 1-D tensor of lengths");
    if (hasPast)
      return im.fail(node, "nonpad_kv_seqlen cannot be combined with past_key/past_value");
    Dim batch = GraphBuilder::shape(lengths)[0];
    Value limits = g.reshape(g.cast(lengths, i64), {batch, Dim::fixed(1), Dim::fixed(1),
                                                    Dim::fixed(1)});
    // Keys from length[b] on are padding for batch b.
    addMask(g.select(g.compare(CompareKind::LT, g.iota(k, 2, i64), limits), zero, negInf));
    offset.endAligned = false;
    offset.fixed = std::nullopt;
    if (qs[2].isStatic())
      offset.perBatch = g.sub(limits, im.intConstant({qs[2].size}, true, i64));
  } else if (hasPast) {
    // After the past keys: the end of all keys when Q and the new keys are equally long.
    offset.endAligned = qs[2] == newKeys;
    offset.fixed = ks[2].isStatic() && newKeys.isStatic()
                       ? std::optional<int64_t>(ks[2].size - newKeys.size)
                       : std::nullopt;
  }
  auto positions = [&]() {
    Value rows = g.reshape(g.iota(q, 2, i64), {qs[2], Dim::fixed(1)});
    if (offset.perBatch)
      return g.add(rows, offset.perBatch);
    return *offset.fixed ? g.add(rows, im.intConstant({*offset.fixed}, true, i64)) : rows;
  };

  bool explicitScores = scoresOutput != ScoresOutput::None;
  bool causal = im.attrInt(node, "is_causal", 0) != 0;
  if ((causal && (!offset.endAligned || explicitScores)) || window) {
    if (!offset.known())
      return im.fail(node, "is_causal or a window needs static query lengths with "
                           "nonpad_kv_seqlen, and static key lengths with a past cache, "
                           "unless loom.attention's own causal flag applies");
    Value where = positions();
    if (causal)
      addMask(bandMask(im, where, k, 0, std::nullopt, zero, negInf));
    if (window)
      addMask(bandMask(im, where, k,
                       right >= 0 ? std::optional<int64_t>(-right) : std::nullopt,
                       left >= 0 ? std::optional<int64_t>(left) : std::nullopt, zero, negInf));
    causal = false;
  }

  std::optional<float> cap = softcap > 0.0f ? std::optional<float>(softcap) : std::nullopt;
  Value y;
  if (explicitScores) {
    if (!qs[3].isStatic() || !qs[1].isStatic() || !ks[1].isStatic() ||
        qs[1].size % ks[1].size)
      return im.fail(node, "qk_matmul_output needs static head counts (query heads a "
                           "multiple of KV heads) and head size");
    float scale = im.attr(node, "scale") ? im.attrFloat(node, "scale", 1.0f)
                                         : 1.0f / std::sqrt(float(qs[3].size));
    ExplicitAttention out = explicitAttention(im, q, k, v, mask, scale, cap, softmaxType,
                                              scoresOutput, zero, negInf);
    y = out.y;
    im.define(node, 3, out.scores);
  } else {
    std::optional<float> scale;
    if (im.attr(node, "scale"))
      scale = im.attrFloat(node, "scale", 1.0f);
    y = g.attention(q, k, v, mask, causal, scale, cap);
  }
  im.define(node, 0, rank == 3 ? g.mergeHeads(y) : y);
  im.define(node, 1, k);
  im.define(node, 2, v);
  return true;
}

bool convertRotaryEmbedding(Importer &im, const onnx::NodeProto &node) {
  GraphBuilder &g = im.g;
  Value x = im.input(node, 0), cos = im.input(node, 1), sin = im.input(node, 2);
  if (!x || !cos || !sin)
    return false;
  int64_t rank = rankOf(x);
  if (rank != 3 && rank != 4)
    return im.fail(node, "X needs rank 3 or 4");
  if (im.hasInput(node, 3)) {
    Value positions = im.input(node, 3);
    if (!positions)
      return false;
    cos = g.gather(cos, positions);
    sin = g.gather(sin, positions);
  }
  // Tables are [batch, seq, rotary/2]; the rotary dimension must be what they say.
  Shape ts = GraphBuilder::shape(cos);
  if (ts.size() != 3 || !ts[2].isStatic())
    return im.fail(node, "cos/sin must give [batch, seq, rotary_dim/2] tables");
  int64_t rotary = im.attrInt(node, "rotary_embedding_dim", 0);
  if (rotary != 0 && rotary != 2 * ts[2].size)
    return im.fail(node, "rotary_embedding_dim " + std::to_string(rotary) +
                             " disagrees with tables of " + toString(ts[2]) + " entries");
  Value input = x;
  Shape tableShape{ts[0], Dim::fixed(1), ts[1], ts[2]}; // [batch, 1, seq, rotary/2]
  if (rank == 3) {
    int64_t heads = im.attrInt(node, "num_heads", 0);
    if (!checkHeads(im, node, x, heads, "num_heads"))
      return false;
    Shape xs = GraphBuilder::shape(x);
    input = g.reshape(x, {xs[0], xs[1], Dim::fixed(heads), Dim::fixed(xs[2].size / heads)});
    tableShape = {ts[0], ts[1], Dim::fixed(1), ts[2]}; // [batch, seq, 1, rotary/2]
  }
  cos = g.reshape(cos, tableShape);
  sin = g.reshape(sin, tableShape);
  Value rotated = g.rope(input, cos, sin);
  if (im.attrInt(node, "interleaved", 0))
    rotated.getDefiningOp()->setAttr("interleaved", g.builder().getUnitAttr());
  im.define(node, 0, rank == 3 ? g.reshape(rotated, GraphBuilder::shape(x)) : rotated);
  return true;
}

} // namespace loom::onnximport
