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

bool convertAttention(Importer &im, const onnx::NodeProto &node) {
  GraphBuilder &g = im.g;
  Value q = im.input(node, 0), k = im.input(node, 1), v = im.input(node, 2);
  if (!q || !k || !v)
    return false;
  float softcap = im.attrFloat(node, "softcap", 0.0f);
  if (softcap < 0.0f)
    return im.fail(node, "softcap " + std::to_string(softcap) + " is negative");
  if (node.output_size() > 3 && !node.output(3).empty())
    return im.fail(node, "asks for qk_matmul_output, which Loom does not produce");
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
  if (hasPast) {
    Value pastK = im.input(node, 4), pastV = im.input(node, 5);
    if (!pastK || !pastV)
      return false;
    k = g.concat({pastK, k}, 2);
    v = g.concat({pastV, v}, 2);
  }
  Type type = elementOf(q);
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
  // nonpad_kv_seqlen[b]: keys from that position on are padding for batch b.
  bool nonpadCausal = false;
  if (im.hasInput(node, 6)) {
    Value lengths = im.input(node, 6);
    if (!lengths)
      return false;
    if (rankOf(lengths) != 1)
      return im.fail(node, "nonpad_kv_seqlen must be a 1-D tensor of lengths");
    Type i64 = g.builder().getI64Type();
    Dim batch = GraphBuilder::shape(lengths)[0];
    Value limits = g.reshape(g.cast(lengths, i64), {batch, Dim::fixed(1), Dim::fixed(1),
                                                    Dim::fixed(1)});
    Value keys = g.iota(k, 2, i64);
    Value padding = g.select(g.compare(CompareKind::LT, keys, limits), zero, negInf);
    mask = mask ? g.add(mask, padding) : padding;
    if (im.attrInt(node, "is_causal", 0) != 0) {
      // The queries are the last Sq of each batch's valid keys: query i sees keys
      // j <= i + length[b] - Sq.
      if (!qs[2].isStatic())
        return im.fail(node, "is_causal with nonpad_kv_seqlen needs a static query length");
      Value rows = g.reshape(g.iota(q, 2, i64), {qs[2], Dim::fixed(1)});
      Value last = g.add(rows, g.sub(limits, im.intConstant({qs[2].size}, true, i64)));
      Value causalMask = g.select(g.compare(CompareKind::LE, keys, last), zero, negInf);
      mask = g.add(mask, causalMask);
      nonpadCausal = true;
    }
  }
  // ONNX aligns the causal diagonal at the end of a past cache; with no past it starts
  // at the top-left, which differs from loom's end alignment when the lengths differ.
  bool causal = im.attrInt(node, "is_causal", 0) != 0 && !nonpadCausal;
  if (causal && !hasPast && qs[2] != ks[2]) {
    Type i64 = g.builder().getI64Type();
    Value rows = g.reshape(g.iota(q, 2, i64), {qs[2], Dim::fixed(1)});
    Value cols = g.iota(k, 2, i64);
    Value topLeft = g.select(g.compare(CompareKind::LE, cols, rows), zero, negInf);
    mask = mask ? g.add(mask, topLeft) : topLeft;
    causal = false;
  }
  std::optional<float> scale;
  if (im.attr(node, "scale"))
    scale = im.attrFloat(node, "scale", 1.0f);
  Value y = g.attention(q, k, v, mask, causal, scale,
                        softcap > 0.0f ? std::optional<float>(softcap) : std::nullopt);
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
