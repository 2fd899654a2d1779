//===- LoomTrainingOps.td - Losses and backward pieces ------------*- tablegen -*-===//
//
// Ops that training graphs need and forward graphs do not: losses, and the backward
// of ops whose gradient the other ops cannot express (or only at a cost a kernel
// should not pay). Included by LoomOps.td (it uses the `Loom_Op` class there).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TRAINING_OPS_TD
#define LOOM_TRAINING_OPS_TD

//===----------------------------------------------------------------------===//
// Training: losses and backward pieces
//===----------------------------------------------------------------------===//

def Loom_CrossEntropyOp : Loom_Op<"cross_entropy",
    [Differentiable, AllElementTypesMatch<["logits", "result"]>]> {
  let summary = "Mean cross-entropy of logits against integer labels (a scalar loss)";
  let description = [{
    `logits [..., V]`, `labels [...]` (the logits' shape without its last dimension):
    the mean over counted positions of `logsumexp(logits[p, :]) - logits[p, target(p)]`,
    a rank-0 tensor of the logits' element type. A position is counted when its target
    is not `ignore_index`; with no counted position the result is NaN (0 / 0, as
    PyTorch's mean reduction gives).

    With `shift_labels` (the causal-LM convention of Hugging Face's `ForCausalLMLoss`),
    the logits at position `t` of the labels' last axis predict the label at `t + 1`:
    `target(..., t) = labels[..., t + 1]`, and the last position has no target. Without
    it, `target(p) = labels[p]`. Targets other than `ignore_index` are in `[0, V)`; any
    other value is an error at run time.

    ```mlir
    %loss = loom.cross_entropy %logits, %labels shift_labels ignore_index -100
        : (tensor<?x?x2048xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>)
        -> tensor<f32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$logits, Loom_IntTensor:$labels,
                   UnitAttr:$shift_labels, I64Attr:$ignore_index);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels (`shift_labels` $shift_labels^)? "
                       "`ignore_index` $ignore_index attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_CrossEntropyGradOp : Loom_Op<"cross_entropy_grad",
    [AllTypesMatch<["logits", "result"]>, AllElementTypesMatch<["logits", "loss_grad"]>]> {
  let summary = "Gradient of `loom.cross_entropy` with respect to its logits";
  let description = [{
    With `N` counted positions and `loss_grad` the gradient `g` of the loss (rank 0):
    `result[p, :] = g * (softmax(logits[p, :]) - onehot(target(p))) / N` at counted
    positions and zeros elsewhere; `labels`, `shift_labels` and `ignore_index` as in
    `loom.cross_entropy`. The softmax is recomputed from the logits, so the forward
    keeps nothing but its inputs.

    ```mlir
    %dlogits = loom.cross_entropy_grad %logits, %labels, %g shift_labels ignore_index -100
        : (tensor<?x?x2048xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>,
           tensor<f32>) -> tensor<?x?x2048xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$logits, Loom_IntTensor:$labels,
                   Loom_FloatTensor:$loss_grad, UnitAttr:$shift_labels, I64Attr:$ignore_index);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels `,` $loss_grad (`shift_labels` $shift_labels^)? "
                       "`ignore_index` $ignore_index attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_ScatterAddOp : Loom_Op<"scatter_add",
    [Differentiable, AllElementTypesMatch<["updates", "result"]>]> {
  let summary = "Adds slices into a zero tensor at integer indices (the gather's gradient)";
  let description = [{
    The transpose of `loom.gather`: starting from zeros of the result's type, each
    slice of `updates` is added at its index along `axis`, so repeated indices
    accumulate. `updates` has the shape `result[:axis] + indices.shape +
    result[axis+1:]`; the result's size along `axis` is static (an embedding table's
    rows). Indices are in `[-n, n)` as for `loom.gather`.

    ```mlir
    %dtable = loom.scatter_add %dh, %ids axis 0
        : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<?x?xi64, #loom.dims<batch, seq>>)
        -> tensor<2048x256xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$updates, Loom_IntTensor:$indices, I64Attr:$axis);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$updates `,` $indices `axis` $axis attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_AttentionGradOp : Loom_Op<"attention_grad",
    [AllTypesMatch<["query", "query_grad"]>, AllTypesMatch<["key", "key_grad"]>,
     AllTypesMatch<["value", "value_grad"]>,
     AllElementTypesMatch<["query", "key", "value", "result_grad"]>]> {
  let summary = "Gradients of `loom.attention` with respect to query, key and value";
  let description = [{
    Given the operands and attributes of a `loom.attention` and the gradient
    `result_grad` of its result `[B, Hq, Sq, Dv]`, computes the gradients of the query,
    key and value (each of its operand's type). With `P` the attention weights
    (recomputed from the operands), `dO` the result's gradient and `S` the scaled
    scores before the mask:

    ```
    dV = P^T dO                    (summed over the query heads of each KV head)
    dP = dO V^T
    dS = P * (dP - rowsum(dP * P))   (times 1 - tanh(s / c)^2 with softcap c)
    dQ = scale * dS K,   dK = scale * dS^T Q
    ```

    The mask gets no gradient. Fully masked query rows (a zero output) give zeros. The
    reference executor recomputes the weights from the operands; a GPU kernel follows
    flash-attention 2 (the forward saves each row's log-sum-exp, the backward recomputes
    `P` tile by tile from it).

    ```mlir
    %dq, %dk, %dv = loom.attention_grad %q, %k, %v, %do causal
        : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>,
           tensor<?x2x?x32xf32, #loom.dims<batch, seq>>, tensor<?x8x?x32xf32, #loom.dims<batch, seq>>)
        -> (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>,
            tensor<?x2x?x32xf32, #loom.dims<batch, seq>>)
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$query, Loom_FloatTensor:$key,
                   Loom_FloatTensor:$value, Loom_FloatTensor:$result_grad,
                   Optional<Loom_FloatTensor>:$mask, UnitAttr:$causal,
                   OptionalAttr<F32Attr>:$scale, OptionalAttr<F32Attr>:$softcap);
  let results = (outs Loom_FloatTensor:$query_grad, Loom_FloatTensor:$key_grad,
                      Loom_FloatTensor:$value_grad);
  let assemblyFormat = "$query `,` $key `,` $value `,` $result_grad (`mask` $mask^)? "
                       "(`causal` $causal^)? (`scale` $scale^)? (`softcap` $softcap^)? "
                       "attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_RecomputeOp : Op<Loom_Dialect, "recompute",
    [AllTypesMatch<["operand", "result"]>, MemoryEffects<[MemWrite]>]> {
  let summary = "A value the backward recomputes from (activation checkpointing)";
  let description = [{
    Its result is its operand. `loom-checkpoint-activations` puts one on each value a
    recomputed segment of the forward reads (a layer's input, say: the checkpoint) and
    clones the segment after it, for the backward to read instead of the forward's
    values. The op is not pure (it declares a write), so that CSE cannot merge the
    recomputed ops back into the forward's; loom-fuse drops it, as kernels need no
    marker.

    ```mlir
    %x2 = loom.recompute %x : tensor<?x?x256xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
}

#endif // LOOM_TRAINING_OPS_TD
