//===- TrainingKernels.cpp - Losses and backward pieces --------------------===//
//
// The kernels of ops that only training graphs have: the cross-entropy loss (a block
// per row of logits, the last block to finish adding the rows' losses in a fixed
// order, so the loss does not depend on which block finished when), its gradient (a
// block per row, every block counting the targets itself) and scatter_add (the
// gather's gradient: zeros, then atomic adds). attention_grad is in
// AttentionGradKernel.cpp.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

using namespace mlir;

namespace loom::cuda {

namespace {

/// The index of row `row` of the labels (the logits' shape without its last axis)
/// and, in `target`, a statement declaring `long long target`: the row's label, or
/// for `shift_labels` the label of the next position (`ignore` at the last).
template <typename Op>
Index emitTarget(ElementEmitter &e, Op op, const std::string &row) {
  Shape labels = shapeOf(op.getLabels());
  Index index = e.delinearize(row, labels);
  std::string ignore = std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL";
  if (op.getShiftLabels()) {
    Index next = index;
    next.back() = "(" + index.back() + " + 1)";
    e.line("long long target = " + ignore + ";");
    e.open("if (" + index.back() + " + 1 < " + sizeExpr(labels.back()) + ")");
    e.line("target = (long long)" + e.at(op.getLabels(), next) + ";");
    e.close();
  } else {
    e.line("const long long target = (long long)" + e.at(op.getLabels(), index) + ";");
  }
  return index;
}

/// Declares `most` and `sum`, the largest of a row of `logits` (elements at `at`,
/// whose last index is `v`) and the sum of exponentials of the row minus it, by block
/// reductions.
void emitRowStatistics(ElementEmitter &e, Value logits, const Index &at) {
  std::string minusInf = "__int_as_float(0xff800000)";
  e.line("float most = " + minusInf + ";");
  e.open("for (long long v = threadIdx.x; v < vocab; v += blockDim.x)");
  e.line("most = fmaxf(most, (float)" + e.at(logits, at) + ");");
  e.close();
  e.line("most = loom_block_reduce(most, LoomMax(), " + minusInf + ");");
  e.line("float sum = 0.0f;");
  e.open("for (long long v = threadIdx.x; v < vocab; v += blockDim.x)");
  e.line("sum += expf((float)" + e.at(logits, at) + " - most);");
  e.close();
  e.line("sum = loom_block_sum(sum);");
}

} // namespace

/// cross_entropy: a block per row of logits (grid-stride) finds the row's largest
/// logit and sum of exponentials (block reductions) and leaves `logsumexp - picked`
/// and 1 in scratch (0 and 0 for an ignored position; NaN for a target outside the
/// vocabulary, which the reference refuses); the last block to count itself adds the
/// rows in a fixed order and stores the mean (0 / 0 = NaN with no counted position,
/// as the op says).
bool KernelWriter::crossEntropyKernel(CrossEntropyOp op) {
  ElementEmitter &e = *emitter_;
  Shape logits = shapeOf(op.getLogits());
  ArrayRef<Dim> rows = ArrayRef<Dim>(logits).drop_back();
  std::string ignore = std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL";
  info_.grid[0] = {work(rows), 1, 1024};
  info_.scratch = {{{work(rows), "2"}, Float32Type::get(op.getContext())}};
  info_.counters = 1;
  e.line("const long long rows = " + product(rows) + ", vocab = " +
         sizeExpr(logits.back()) + ";");
  e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
  Index index = emitTarget(e, op, "row");
  Index at = index;
  at.push_back("v");
  e.line("float loss = 0.0f, counted = 0.0f;");
  e.open("if (target != " + ignore + ")");
  emitRowStatistics(e, op.getLogits(), at);
  e.line("float picked = __int_as_float(0x7fc00000);");
  Index picked = index;
  picked.push_back("target");
  e.open("if (target >= 0 && target < vocab)");
  e.line("picked = (float)" + e.at(op.getLogits(), picked) + ";");
  e.close();
  e.line("loss = logf(sum) + most - picked;");
  e.line("counted = 1.0f;");
  e.close();
  e.open("if (threadIdx.x == 0)");
  e.line("ws0[2 * row] = loss;");
  e.line("ws0[2 * row + 1] = counted;");
  e.close();
  e.close();
  // The last block adds every row's loss and count (each thread a fixed set of rows,
  // then the block reduction: the same order whichever block is last).
  e.line("__shared__ bool last_s;");
  e.line("__syncthreads();");
  e.open("if (threadIdx.x == 0)");
  e.line("last_s = loom_count_block(counters) == gridDim.x - 1u;");
  e.line("if (last_s) *counters = 0u;");
  e.close();
  e.line("__syncthreads();");
  e.line("if (!last_s) return;");
  e.line("float total = 0.0f, count = 0.0f;");
  e.open("for (long long r = threadIdx.x; r < rows; r += blockDim.x)");
  e.line("total += __ldcg(ws0 + 2 * r);");
  e.line("count += __ldcg(ws0 + 2 * r + 1);");
  e.close();
  e.line("total = loom_block_sum(total);");
  e.line("count = loom_block_sum(count);");
  e.open("if (threadIdx.x == 0)");
  e.line("const float mean = total / count;");
  bool stored = storeOutputs(op.getResult(), {}, "mean");
  e.close();
  return stored;
}

/// cross_entropy_grad: a block per row; every block first counts the counted
/// positions of the whole batch (N, a block reduction over the labels, which are
/// small beside a row of logits), then writes `g * (softmax - onehot) / N` over its
/// row, or zeros at an ignored position.
bool KernelWriter::crossEntropyGradKernel(CrossEntropyGradOp op) {
  ElementEmitter &e = *emitter_;
  Shape logits = shapeOf(op.getLogits());
  ArrayRef<Dim> rows = ArrayRef<Dim>(logits).drop_back();
  std::string ignore = std::to_string(static_cast<int64_t>(op.getIgnoreIndex())) + "LL";
  info_.grid[0] = {work(rows), 1, 65536};
  e.line("const long long rows = " + product(rows) + ", vocab = " +
         sizeExpr(logits.back()) + ";");
  e.line("float n = 0.0f;");
  e.open("for (long long r = threadIdx.x; r < rows; r += blockDim.x)");
  emitTarget(e, op, "r");
  e.line("n += target != " + ignore + " ? 1.0f : 0.0f;");
  e.close();
  e.line("n = loom_block_sum(n);");
  e.line("const float g = (float)" + e.at(op.getLossGrad(), {}) + " / n;");
  e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
  Index index = emitTarget(e, op, "row");
  Index at = index;
  at.push_back("v");
  e.open("if (target == " + ignore + ")");
  e.open("for (long long v = threadIdx.x; v < vocab; v += blockDim.x)");
  e.line("const float zero = 0.0f;");
  if (!storeOutputs(op.getResult(), at, "zero"))
    return false;
  e.close();
  e.line("continue;");
  e.close();
  emitRowStatistics(e, op.getLogits(), at);
  e.line("const float inverse = 1.0f / sum;");
  e.open("for (long long v = threadIdx.x; v < vocab; v += blockDim.x)");
  e.line("const float p = expf((float)" + e.at(op.getLogits(), at) + " - most) * inverse;");
  e.line("const float d = g * (p - (v == target ? 1.0f : 0.0f));");
  if (!storeOutputs(op.getResult(), at, "d"))
    return false;
  e.close();
  e.close();
  return true;
}

/// scatter_add: a first phase zeroes the result; the kernel then adds every element
/// of `updates` at its index with atomicAdd (f32: the order of additions into one row
/// varies from run to run, within rounding). The result must be the kernel's output
/// itself (no epilogue) and f32.
bool KernelWriter::scatterAddKernel(ScatterAddOp op) {
  if (yielded().size() != 1 || yielded()[0] != op.getResult())
    return refuse("a scatter_add kernel outputs its result and nothing else");
  if (!elementOf(op.getResult()).isF32())
    return refuse("scatter_add accumulates in f32 on the GPU (atomic adds); cast the "
                  "updates to f32 first");
  Shape result = shapeOf(op.getResult()), updates = shapeOf(op.getUpdates()),
        indices = shapeOf(op.getIndices());
  int64_t axis = op.getAxis();
  if (!result[axis].isStatic())
    return refuse("scatter_add needs a static size along its axis");
  EmittedKernel::Phase zero;
  zero.name = name_ + "_zero";
  zero.first = true;
  zero.grid[0] = {work(result), 256, 65536};
  if (!writePhase(zero, [&] {
        ElementEmitter &z = *emitter_;
        z.line("const long long n = " + product(result) + ";");
        z.line("for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; "
               "i += (long long)gridDim.x * blockDim.x) out0[i] = 0.0f;");
        return true;
      }))
    return false;
  ElementEmitter &e = *emitter_;
  info_.grid[0] = {work(updates), 256, 65536};
  e.line("const long long n = " + product(updates) + ", size = " + std::to_string(result[axis].size) +
         ";");
  e.open("for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; "
         "i += (long long)gridDim.x * blockDim.x)");
  Index u = e.delinearize("i", updates);
  // updates = result[:axis] + indices.shape + result[axis+1:].
  Index which(u.begin() + axis, u.begin() + axis + indices.size());
  e.line("long long at = (long long)" + e.at(op.getIndices(), which) + ";");
  e.line("if (at < 0) at += size;");
  e.line("if (at < 0 || at >= size) continue;");
  Index target(u.begin(), u.begin() + axis);
  target.push_back("at");
  target.insert(target.end(), u.begin() + axis + indices.size(), u.end());
  e.line("atomicAdd(out0 + " + ElementEmitter::linearize(target, result) + ", (float)" +
         e.at(op.getUpdates(), u) + ");");
  e.close();
  return true;
}

} // namespace loom::cuda
