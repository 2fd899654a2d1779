//===- LoomTrainingOps.cpp - Verifiers of the losses and backward ops -------===//
//
// The shape rules of the ops in LoomTrainingOps.td, each message naming its rule.
//
//===----------------------------------------------------------------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

using namespace mlir;
using namespace loom;

/// Checks that `labels` has the shape of `logits` without its last dimension.
static LogicalResult verifyLabels(Operation *op, Value logits, Value labels) {
  Shape l = shapeOf(logits), t = shapeOf(labels);
  if (l.empty())
    return op->emitOpError() << "logits need rank 1 or more [..., vocab]";
  if (!areCompatible(ArrayRef<Dim>(l).drop_back(), t))
    return op->emitOpError() << "labels " << toString(t)
                             << " do not have the shape of the logits without their last "
                                "dimension, "
                             << toString(ArrayRef<Dim>(l).drop_back());
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  if (failed(verifyLabels(*this, getLogits(), getLabels())))
    return failure();
  if (getShiftLabels() && getLabels().getType().getRank() == 0)
    return emitOpError() << "shift_labels needs labels of rank 1 or more";
  if (getResult().getType().getRank() != 0)
    return emitOpError() << "the loss is a scalar (rank 0), not "
                         << toString(shapeOf(getResult()));
  return success();
}

LogicalResult CrossEntropyGradOp::verify() {
  if (failed(verifyLabels(*this, getLogits(), getLabels())))
    return failure();
  if (getShiftLabels() && getLabels().getType().getRank() == 0)
    return emitOpError() << "shift_labels needs labels of rank 1 or more";
  if (getLossGrad().getType().getRank() != 0)
    return emitOpError() << "loss_grad is the gradient of a scalar loss (rank 0), not "
                         << toString(shapeOf(getLossGrad()));
  return success();
}

LogicalResult ScatterAddOp::verify() {
  Shape result = shapeOf(getResult()), indices = shapeOf(getIndices()),
        updates = shapeOf(getUpdates());
  int64_t axis = getAxis(), rank = static_cast<int64_t>(result.size());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [0, " << rank
                         << ") for a result of rank " << rank;
  if (!result[axis].isStatic())
    return emitOpError() << "the result's size along axis " << axis
                         << " must be static, not " << toString(result[axis]);
  Shape expected(result.begin(), result.begin() + axis);
  expected.append(indices.begin(), indices.end());
  expected.append(result.begin() + axis + 1, result.end());
  if (!areCompatible(updates, expected))
    return emitOpError() << "updates " << toString(updates) << " do not match "
                         << toString(expected)
                         << ", the shape result[:axis] + indices + result[axis+1:]";
  return success();
}

LogicalResult AttentionGradOp::verify() {
  Shape q = shapeOf(getQuery()), k = shapeOf(getKey()), v = shapeOf(getValue());
  if (q.size() != 4 || k.size() != 4 || v.size() != 4)
    return emitOpError() << "query, key and value have ranks " << q.size() << ", "
                         << k.size() << " and " << v.size()
                         << "; each needs rank 4 [batch, heads, seq, head_dim]";
  if (!areCompatible(q[0], k[0]) || !areCompatible(k[0], v[0]) ||
      !areCompatible(k[1], v[1]) || !areCompatible(k[2], v[2]) ||
      !areCompatible(q[3], k[3]))
    return emitOpError() << "query " << toString(q) << ", key " << toString(k)
                         << " and value " << toString(v)
                         << " do not fit together as loom.attention's operands";
  if (q[1].isStatic() && k[1].isStatic() && (k[1].size == 0 || q[1].size % k[1].size))
    return emitOpError() << "query heads (" << q[1].size
                         << ") must be a multiple of KV heads (" << k[1].size << ")";
  Shape out{q[0], q[1], q[2], v[3]};
  if (!areCompatible(shapeOf(getResultGrad()), out))
    return emitOpError() << "result_grad " << toString(shapeOf(getResultGrad()))
                         << " does not have the attention output's shape "
                         << toString(out);
  if (FloatAttr scale = getScaleAttr(); scale && !(scale.getValueAsDouble() > 0.0))
    return emitOpError() << "scale " << scale.getValueAsDouble() << " must be positive";
  if (FloatAttr cap = getSoftcapAttr(); cap && !(cap.getValueAsDouble() > 0.0))
    return emitOpError() << "softcap " << cap.getValueAsDouble() << " must be positive";
  if (Value mask = getMask()) {
    Shape maskShape = shapeOf(mask), scores{q[0], q[1], q[2], k[2]}, joined;
    std::string why;
    if (maskShape.size() > 4 || !broadcastShapes(maskShape, scores, joined, why) ||
        !areCompatible(joined, scores))
      return emitOpError()
             << "mask " << toString(maskShape)
             << " does not broadcast to the scores [batch, heads, seq, kv_seq] "
             << toString(scores);
  }
  return success();
}
