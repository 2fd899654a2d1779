//===- Passes.td - Loom's passes, grouped by pipeline stage ------*- tablegen -*-===//
//
// Every pass is declared here and registered by the generated code. Groups follow the
// order of the default pipeline; passes are alphabetical inside a group.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PASSES_TD
#define LOOM_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Cleanup
//===----------------------------------------------------------------------===//

def LoomCanonicalize : Pass<"loom-canonicalize"> {
  let summary = "Applies the folders and canonicalization patterns of the loom ops";
  let description = [{
    Runs the loom dialect's folders and canonicalization patterns to a fixed point and
    erases loom ops whose results are unused. Unlike the upstream `canonicalize` pass it
    applies only loom's own rewrites, so a pipeline can clean up loom IR without touching
    other dialects. Every rewrite is exact (bit for bit): reshape/broadcast chains
    collapse, transposes compose, identity layout ops and `x * 1`, `x / 1`, `x - 0.0`,
    `x + -0.0` disappear, double negations cancel, layout ops of constants fold.

    Before:
    ```mlir
    %0 = loom.transpose %x [1, 0] : tensor<4x8xf32> -> tensor<8x4xf32>
    %1 = loom.transpose %0 [1, 0] : tensor<8x4xf32> -> tensor<4x8xf32>
    %one = loom.constant dense<1.0> : tensor<f32>
    %2 = loom.mul %1, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
    After: every use of `%2` reads `%x`.
  }];
  let options = [
    Option<"maxIterations", "max-iterations", "int64_t", /*default=*/"10",
           "Stop after this many sweeps over the IR even if rewrites still apply">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

//===----------------------------------------------------------------------===//
// Folding: shape, position and mask arithmetic
//===----------------------------------------------------------------------===//

def LoomFoldIndexArithmetic : Pass<"loom-fold-index-arithmetic"> {
  let summary = "Replaces mask and position arithmetic that is constant with constants";
  let description = [{
    Integer and boolean values computed from shapes and positions (iota, broadcasts,
    slices, concatenations, sums, comparisons, cumulative sums, gathers of constants)
    are analyzed as functions of their own indices; those that are the same constant at
    every index become a splat constant (broadcast to the shape when it is dynamic). For
    example the "same packed sequence" test transformers builds from position ids is
    the constant true when positions are an iota.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomInferShapes : Pass<"loom-infer-shapes"> {
  let summary = "Gives every value the most precise shape its operands imply";
  let description = [{
    Re-derives each result shape from the operand shapes with the rules the verifiers
    check, in program order, so that a dimension the importer could only write as `?`
    becomes a static size or an expression of the named input dimensions: a slice
    `[0:-1]` of `seq+1` is `seq`, a reshape to `[?, 4, 32]` of `[batch*seq, 128]` is
    `[batch*seq, 4, 32]`, an elementwise op meeting `?` and `seq` is `seq`. Dimensions
    already known are never changed; function result types follow their returned values.

    Before:
    ```mlir
    %s = loom.slice %x axes [1] starts [0] ends [-1] steps [1]
        : tensor<2x?xf32, #loom.dims<"seq+1">> -> tensor<2x?xf32>
    %y = loom.exp %s : tensor<2x?xf32>
    ```
    After: both results are `tensor<2x?xf32, #loom.dims<seq>>`.
  }];
  let statistics = [
    Statistic<"numRefined", "refined-dims", "Dimensions that were ? and became known">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

//===----------------------------------------------------------------------===//
// Raising: primitive spellings of transformer blocks back to loom's fused ops
//===----------------------------------------------------------------------===//

def LoomRaiseActivations : Pass<"loom-raise-activations"> {
  let summary = "Replaces primitive SiLU and GELU (erf and tanh forms) with loom ops";
  let description = [{
    `x * sigmoid(x)` becomes `loom.silu`; `0.5 * x * (1 + erf(x / sqrt(2)))` becomes
    `loom.gelu erf` and `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))`
    `loom.gelu tanh`, with the products associated in any order. Constants must equal
    the formula's (to float rounding), every `x` must be the same value, and intermediate
    products may have no other users. A SwiGLU MLP is then `silu(gate) * up`.

    Before:
    ```mlir
    %s = loom.sigmoid %x : tensor<?x704xf32, #loom.dims<tokens>>
    %y = loom.mul %x, %s : (tensor<?x704xf32, #loom.dims<tokens>>, tensor<?x704xf32, #loom.dims<tokens>>) -> tensor<?x704xf32, #loom.dims<tokens>>
    ```
    After: `%y = loom.silu %x : tensor<?x704xf32, #loom.dims<tokens>>`.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomRaiseAttention : Pass<"loom-raise-attention"> {
  let summary = "Replaces primitive scaled dot-product attention with loom.attention";
  let description = [{
    `softmax(Q K^T * scale + mask) V` in primitive ops becomes one `loom.attention`.
    Scalars on Q, on K^T or on the scores multiply into `scale` (kept as an attribute only
    when it differs from `1/sqrt(D)`); K^T may reach K through reshapes and transposes that
    move whole dimensions; K and V heads repeated in place (GQA/MQA via expand) are
    un-repeated, since the op groups heads itself; the NaN guard after the softmax is
    dropped (it only differs where rows are fully masked, which the op sets to zero). A
    mask `select(c, 0, -inf or lowest)` whose condition the index analysis proves to be
    `key <= query`, with equal query and key lengths, becomes the `causal` flag; any other
    mask stays additive. A softmax over another axis, or a matmul that is not fed by
    one, is left alone.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomRaiseLinear : Pass<"loom-raise-linear"> {
  let summary = "Matmuls by a weight matrix become loom.linear, with bias and layout folded";
  let description = [{
    `matmul(x, W)` with a static 2-D `W` becomes `loom.linear`; an added bias that varies
    only along the output features becomes its `bias`; a reshape that keeps the last
    dimension (a regrouping of rows, such as the `[batch*seq, K]` flattening around an
    ONNX Gemm) moves past the layer and its bias, so the flattening and its inverse meet
    and cancel. A transpose that swaps the last two dimensions of a matmul operand
    becomes the matmul's `transpose_lhs`/`transpose_rhs` flag, and a matmul contracting a
    static 1 (an outer product, as in rope angle tables) a broadcast `loom.mul`. Matmuls of two activations
    (attention scores), biases that vary along rows, and reshapes that change the last
    dimension are left alone.

    Before:
    ```mlir
    %f = loom.reshape %x : tensor<?x?x128xf32, #loom.dims<batch, seq>> -> tensor<?x128xf32, #loom.dims<"batch*seq">>
    %m = loom.matmul %f, %w : (tensor<?x128xf32, #loom.dims<"batch*seq">>, tensor<128x384xf32>) -> tensor<?x384xf32, #loom.dims<"batch*seq">>
    %a = loom.add %b, %m : (tensor<384xf32>, tensor<?x384xf32, #loom.dims<"batch*seq">>) -> tensor<?x384xf32, #loom.dims<"batch*seq">>
    %y = loom.reshape %a : tensor<?x384xf32, #loom.dims<"batch*seq">> -> tensor<?x?x384xf32, #loom.dims<batch, seq>>
    ```
    After: `%y = loom.linear %x, %w bias %b : ...` on the 3-D input.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomMergeLinears : Pass<"loom-merge-linears"> {
  let summary = "Linear layers that read the same input become one over stacked weights";
  let description = [{
    Sibling `loom.linear` layers with `[N, K]` weights bound by name (PyTorch's layout)
    that read the same input (the Q, K and V projections of an attention layer) become
    one layer over a stacked weight (`loom.weight "q" stacked ["k", "v"] rows [...]`,
    the parts placed side by side by the runtime when it binds the weights) and slices
    of its result. One GEMM reads the input once and fills more of the GPU than several
    narrow ones, and a decode step launches one matrix-vector kernel instead of three;
    the fuser stores each slice as an output of the merged kernel. Biases are stacked
    the same way (all layers of a group have one or none). Layers whose results are
    combined again within three steps (`silu(gate) * up`) stay apart, since the second
    one's epilogue computes that product.

    Before:
    ```mlir
    %wq = loom.weight "q" : tensor<256x256xbf16>
    %wk = loom.weight "k" : tensor<64x256xbf16>
    %q = loom.linear %x, %wq transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<256x256xbf16>) -> tensor<?x256xbf16, #loom.dims<tokens>>
    %k = loom.linear %x, %wk transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<64x256xbf16>) -> tensor<?x64xbf16, #loom.dims<tokens>>
    ```
    After:
    ```mlir
    %w = loom.weight "q" stacked ["k"] rows [256, 64] : tensor<320x256xbf16>
    %y = loom.linear %x, %w transpose_weight : (...) -> tensor<?x320xbf16, #loom.dims<tokens>>
    %q = loom.slice %y axes [1] starts [0] ends [256] steps [1] : ...
    %k = loom.slice %y axes [1] starts [256] ends [320] steps [1] : ...
    ```
  }];
  let statistics = [
    Statistic<"numMerged", "merged-groups", "Groups of linear layers merged into one">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomRaiseNormalization : Pass<"loom-raise-normalization"> {
  let summary = "Replaces primitive RMSNorm and LayerNorm with loom ops";
  let description = [{
    `x * rsqrt(mean(x^2) + eps)` (also spelled with `reciprocal(sqrt(..))` or
    `x / sqrt(..)`) becomes `loom.rms_norm`; the same over `d = x - mean(x)` becomes
    `loom.layer_norm`. A following `* scale` (and `+ bias`) whose shape is exactly the
    normalized dimensions is folded in; without one the scale is a splat of ones. The
    means must reduce the same trailing axes with `keep_dims`, epsilon must be a scalar
    constant and the squared value must be the normalized one; a mean over another axis
    or a variance of a different value is left alone.

    Before:
    ```mlir
    %sq = loom.pow %x, %two : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<f32>) -> tensor<?x256xf32, #loom.dims<tokens>>
    %ms = loom.reduce mean %sq axes [1] keep_dims : tensor<?x256xf32, #loom.dims<tokens>> -> tensor<?x1xf32, #loom.dims<tokens>>
    %v = loom.add %ms, %eps : (tensor<?x1xf32, #loom.dims<tokens>>, tensor<f32>) -> tensor<?x1xf32, #loom.dims<tokens>>
    %r = loom.rsqrt %v : tensor<?x1xf32, #loom.dims<tokens>>
    %n = loom.mul %x, %r : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<?x1xf32, #loom.dims<tokens>>) -> tensor<?x256xf32, #loom.dims<tokens>>
    %y = loom.mul %w, %n : (tensor<256xf32>, tensor<?x256xf32, #loom.dims<tokens>>) -> tensor<?x256xf32, #loom.dims<tokens>>
    ```
    After: `%y = loom.rms_norm %x, %w axis 1 epsilon 1.0e-05 : ...`.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomRaiseRope : Pass<"loom-raise-rope"> {
  let summary = "Replaces primitive rotary embeddings (half-rotation and interleaved) with loom.rope";
  let description = [{
    `x * cos + concat(-x[..., D/2:], x[..., :D/2]) * sin` becomes `loom.rope %x, %c,
    %s` with half-width tables, when the full-width tables are provably two equal halves
    (`cos(concat(f, f))`, or that reshaped in its leading dimensions): the half tables
    are `cos(f)` and `sin(f)`. Both `x` must be the same value and the slices exact
    halves; a rotation of another value, unequal halves or tables that cannot be shown
    to repeat are left alone. The interleaved GPT-J form, `x * cos +
    flatten(stack(-x[..., 1::2], x[..., ::2])) * sin` with tables that repeat each entry
    twice (`repeat_interleave(c, 2)`), becomes `loom.rope interleaved` with the tables `c`.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

//===----------------------------------------------------------------------===//
// Training graphs
//===----------------------------------------------------------------------===//

def LoomAutodiff : Pass<"loom-autodiff"> {
  let summary = "Appends the gradients of a scalar loss with respect to every weight";
  let description = [{
    Differentiates, in reverse mode, every `func.func` marked with the unit attribute
    `loom.autodiff`: its first result is the loss (a rank-0 float tensor), and each
    distinct `loom.weight` name becomes one more result, the gradient of the loss with
    respect to that weight, named `grad.<weight name>` (`loom.name`). Uses of one name
    (a tied embedding read twice) add up; a weight the loss does not depend on gets
    zeros. The attribute is removed; unmarked functions are left alone. When the
    attribute is an array of weight names (`loom.autodiff = ["a", "b"]`, a LoRA adapter
    over a frozen base), only those weights are differentiated; the others are
    constants (they may then be quantized or stacked).

    Each op's rule comes from `DifferentiableOpInterface` (LoomGradients.cpp): the
    pass only finds the values that depend on a weight, seeds the loss's gradient with
    1, walks the function backwards, asks each op on the way for its operands'
    gradients and adds up the gradients of values read several times. An op on that
    path without a rule (or a case its rule does not handle), a quantized or stacked
    weight, or a fused kernel is an error. Run it before fusion.

    Before:
    ```mlir
    func.func @f(%x: tensor<4x8xf32>) -> tensor<f32> attributes {loom.autodiff} {
      %w = loom.weight "w" : tensor<8xf32>
      %y = loom.mul %x, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
      %l = loom.reduce sum %y axes [0, 1] : tensor<4x8xf32> -> tensor<f32>
      return %l : tensor<f32>
    }
    ```
    After: `@f` returns `(%l, %dw)` with `%dw` (`grad.w`) the sum over rows of `%x`.
  }];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomAppendAdamW : Pass<"loom-append-adamw", "mlir::func::FuncOp"> {
  let summary = "Turns a differentiated function into a training step with AdamW";
  let description = [{
    After `loom-autodiff`, on a function returning `(loss, grad.<w>...)`: each weight
    `w` with a gradient becomes three inputs, `param.<w>`, `adam_m.<w>` and
    `adam_v.<w>` (its value and AdamW moments, of the weight's type), and the function
    gets three scalar f32 inputs after them: `lr`, `step_size` = lr / (1 - b1^t) and
    `bias2_root` = sqrt(1 - b2^t) for step t (counting from 1), which the caller
    computes in double precision as PyTorch does (in float32, 1 - 0.999^t loses the
    digits the correction needs). It returns `(loss, param.<w>..., adam_m.<w>...,
    adam_v.<w>...)`, the parameters and moments after one step of
    `torch.optim.AdamW`'s update (decoupled weight decay on every tensor first):

    ```
    p = p * (1 - lr * wd);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p = p - step_size * m / (sqrt(v) / bias2_root + eps)
    ```

    so a runtime that gives each output its input's buffer trains in place. The update
    is elementwise: the code generator fuses it into pointwise kernels (the optimizer
    kernels). A function without gradients is left alone.
  }];
  let options = [
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "First moment decay">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Second moment decay">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "Added to the denominator">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.01",
           "Decoupled weight decay">,
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomCheckpointActivations : Pass<"loom-checkpoint-activations", "mlir::func::FuncOp"> {
  let summary = "Makes the backward recompute each layer's activations (checkpointing)";
  let description = [{
    After `loom-autodiff`: the forward is every op the loss (the first result) depends
    on; the backward is the rest. The forward's ops are grouped into segments by their
    location's name (`"model.layers.3"`, which the Hugging Face importer gives each
    layer's ops; ops of no segment are left alone). For each segment whose values the
    backward reads, the ops of the segment those values need are cloned right before
    the first backward op that reads one of them, and the backward reads the clones:
    the forward keeps only what the segment reads from outside it (its checkpoints:
    the layer's input, the rope tables, the mask), each through a `loom.recompute`, and
    its activations die with the forward's use of them. Weights and constants are not
    cloned. `policy=none` changes nothing. Gradients are unchanged: the clones compute
    what the originals did.

    Before (`%a` and `%b` of segment "l0", `%b` read by the backward):
    ```mlir
    %a = loom.mul %x, %x : ... loc("l0")
    %b = loom.exp %a : ... loc("l0")
    %l = ...(%b) // the loss
    %g = loom.mul %dl, %b : ...
    ```
    After: `%x2 = loom.recompute %x`, `%a2 = loom.mul %x2, %x2`, `%b2 = loom.exp %a2`
    before `%g`, which reads `%b2`.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"layers\"",
           "What the backward recomputes: layers (every layer's activations) or none">,
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

//===----------------------------------------------------------------------===//
// Partitioning: one program per rank
//===----------------------------------------------------------------------===//

def LoomPartitionPipeline : Pass<"loom-partition-pipeline", "mlir::ModuleOp"> {
  let summary = "Splits each function into one per pipeline stage (contiguous layers)";
  let description = [{
    Replaces each function `@f` by `stages` functions `@f_rank0`, ... (`loom.rank`,
    `loom.world`), each with `@f`'s signature. The layers, named by their ops'
    locations (`"model.layers.3"`: the Hugging Face importer's), are split into
    contiguous runs, the first stages taking one more when `stages` does not divide
    them. An op of no layer belongs to the latest stage of what it reads (the final
    norm and the LM head follow the last layer); one that reads no layer's value (the
    embedding, the rope tables, the mask) is free: every stage that needs it computes
    it. A value read by a later stage is sent (`loom.send`, one tag per value) right
    after it is made and received (`loom.recv`) at the same place in the receiver's
    function; each output is sent by the stage that makes it to every other, so every
    stage returns the whole outputs. `stages=1` changes nothing; fewer layers than
    stages is an error. Micro-batches that let the stages overlap are the runtime's.

    Before: `%h1 = ... loc("model.layers.0")`, `%h2 = f(%h1) loc("model.layers.1")`,
    `return %h2`. After, with 2 stages: `@f_rank0` computes `%h1`, sends it (tag 0),
    receives the output (tag 1) and returns it; `@f_rank1` receives `%h1`, computes
    `%h2`, sends it to rank 0 (tag 1) and returns it.
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"2", "Pipeline stages">,
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomPartitionTensor : Pass<"loom-partition-tensor", "mlir::ModuleOp"> {
  let summary = "Splits each function into one per rank for Megatron-style tensor parallelism";
  let description = [{
    Replaces each function `@f` by `degree` functions `@f_rank0`, ... with attributes
    `loom.rank` and `loom.world`, for the raised IR before `loom-merge-linears`. A linear
    layer with a whole input is split by output columns (Q, K, V, gate, up, the LM head):
    its weight becomes a `#loom.shard` of the checkpoint tensor along the output axis and
    its result is cut along its features. A layer whose input is cut along its features
    (O, down) is split by input rows and followed by one `loom.all_reduce`; its bias is
    added once, after it. Reshapes, transposes, RoPE and elementwise ops carry the cut,
    so attention runs on this rank's heads; with fewer KV heads than ranks, each KV head
    is replicated over `degree / kv_heads` ranks. Results cut along an axis are gathered
    (`loom.all_gather`): the logits come out whole on every rank. Everything else
    (embedding, norms, RoPE tables) runs whole on every rank. Every op the rules cannot
    partition is reported; `degree=1` changes nothing.

    Before:
    ```mlir
    %w = loom.weight "up.weight" : tensor<704x256xf32>
    %h = loom.linear %x, %w transpose_weight : (tensor<?x256xf32, #loom.dims<tokens>>, tensor<704x256xf32>) -> tensor<?x704xf32, #loom.dims<tokens>>
    %a = loom.silu %h : tensor<?x704xf32, #loom.dims<tokens>>
    %d = loom.weight "down.weight" : tensor<256x704xf32>
    %y = loom.linear %a, %d transpose_weight : (tensor<?x704xf32, #loom.dims<tokens>>, tensor<256x704xf32>) -> tensor<?x256xf32, #loom.dims<tokens>>
    ```
    After (`degree=2`, rank 1 of `@f_rank1`):
    ```mlir
    %w = loom.weight "up.weight" shard <axis = 0, index = 1, count = 2> : tensor<352x256xf32>
    %h = loom.linear %x, %w transpose_weight : (...) -> tensor<?x352xf32, #loom.dims<tokens>>
    %a = loom.silu %h : tensor<?x352xf32, #loom.dims<tokens>>
    %d = loom.weight "down.weight" shard <axis = 1, index = 1, count = 2> : tensor<256x352xf32>
    %p = loom.linear %a, %d transpose_weight : (...) -> tensor<?x256xf32, #loom.dims<tokens>>
    %y = loom.all_reduce %p group [0, 1] : tensor<?x256xf32, #loom.dims<tokens>>
    ```
  }];
  let options = [
    Option<"degree", "degree", "int64_t", /*default=*/"2", "Ranks to split over">
  ];
  let dependentDialects = ["::loom::LoomDialect", "::mlir::func::FuncDialect"];
}

//===----------------------------------------------------------------------===//
// Fusion: kernels for the code generator
//===----------------------------------------------------------------------===//

def LoomQuantizeWeights : Pass<"loom-quantize-weights"> {
  let summary = "Marks the float weights of linear layers to be quantized at load";
  let description = [{
    Gives every float `[N, K]` weight read only as the `[N, K]` operand of linear layers
    (`loom.linear ... transpose_weight`, or `loom.matmul ... transpose_rhs`) a
    `#loom.quant` encoding with source `rtn`: the runtime (and the reference executor)
    reads the float weight from the checkpoint and quantizes it by round to nearest when
    it loads, then runs the layer on the codes. Schemes: `int8` (one symmetric scale per
    output channel), `int4` (groups of `group-size` inputs, symmetric, or with zero points
    when `symmetric=false`), `fp8` (e4m3 codes, one f32 scale per output channel).
    Weights that are gathered (embeddings), already quantized, or whose inputs the group
    size does not divide are left alone, and so is the LM head (the layer whose result
    is returned through casts and reshapes only) unless `lm-head` is set.

    Before:
    ```mlir
    %w = loom.weight "l0.up_proj.weight" : tensor<512x256xbf16>
    %y = loom.linear %x, %w transpose_weight : (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<512x256xbf16>) -> tensor<?x512xbf16, #loom.dims<tokens>>
    ```
    After (`scheme=int4 group-size=128`):
    ```mlir
    %w = loom.weight "l0.up_proj.weight" quant <code = int4, group = 128, scale = f16, offset = none, source = rtn> : tensor<512x256xbf16>
    ```
  }];
  let options = [
    Option<"scheme", "scheme", "std::string", /*default=*/"\"int4\"",
           "int8, int4 or fp8">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "Inputs per group of int4 codes (16, 32, 64, 128, 256)">,
    Option<"symmetric", "symmetric", "bool", /*default=*/"true",
           "int4: symmetric codes (no zero points)">,
    Option<"lmHead", "lm-head", "bool", /*default=*/"false",
           "Quantize the LM head too">
  ];
  let statistics = [
    Statistic<"numQuantized", "quantized-weights", "Weights given an encoding">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomFuse : Pass<"loom-fuse"> {
  let summary = "Groups ops into loom.kernel regions, one per GPU kernel";
  let description = [{
    Every op that computes (all but weights and constants) ends up in exactly one
    `loom.kernel`, whose kind names the op it is built around: `matmul` (matmul or
    linear), `attention`, `normalization`, `reduction`, or `pointwise` when it has none.
    Reshapes are views of contiguous buffers: one joins a kernel as a free epilogue or
    between fused ops, and otherwise stays outside as a view.

    The cost rule: a value that crosses a kernel boundary is written to GPU memory and
    read back, so ops are fused where that removes a round trip without adding memory
    traffic. A pointwise op joins the kernel producing its operand when it is that
    value's only reader and computes as many elements (an epilogue); a pointwise kernel
    joins the normalization, reduction or attention kernel that is the only reader of
    its outputs (a prologue, computed as the anchor loads it); attention's key and value
    take only layout prologues (transposes, reshapes), since every query block reads
    every key and a computed prologue (rope on K) would be recomputed per query block
    and head. Two anchors never share a kernel (each decides its own parallel
    decomposition); matmuls take no prologue and only elementwise epilogues; attention
    also takes a transpose as epilogue. A merge that would make the kernel graph cyclic
    is refused.

    For a Llama layer this gives: rms_norm; the Q, K, V linears; rope on K (with its
    head transpose); attention with the Q head transpose and rope and the V head
    transpose as prologue and the output transpose as epilogue;
    the output linear with the residual add; rms_norm; the up linear; the gate linear
    with `silu(gate) * up` as epilogue; the down linear with the residual add.
  }];
  let statistics = [
    Statistic<"numKernels", "kernels", "Kernels formed">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomNormIntoLinear : Pass<"loom-norm-into-linear"> {
  let summary = "RMS norms read only by linear layers become those layers' prologue";
  let description = [{
    After `loom-fuse`: a normalization kernel that is one `rms_norm` (16-bit, over the
    last axis of a 2-D input, a multiple of 8 wide) whose every reader is a matmul
    kernel taking it as the input of a linear layer with an `[N, K]` weight moves into
    each reader as the linear layer's prologue, and its kernel goes. At a decode step
    that norm is one block over a few kilobytes, all launch and memory latency; the
    readers' matrix-vector variant scales its weights by the norm's scale as it loads
    them and reads the norm's input, adding up its squares as it goes and dividing
    each sum by the row's rms at the end (`rms_norm(x) . w = x . (w * scale) / rms(x)`). At larger steps the reader normalizes its rows into
    scratch in a phase before its tiled kernel (so a SwiGLU's gate and up layers both
    do, where one kernel did before).

    Before:
    ```mlir
    %h = loom.kernel normalization(%x, %s) : (...) -> tensor<?x256xbf16, #loom.dims<tokens>> {
      %n = loom.rms_norm %a, %b axis 1 epsilon 1.0E-6 : ...
      loom.yield %n : ...
    }
    %y = loom.kernel matmul(%h, %w) : (...) -> ... {
      %l = loom.linear %a, %m transpose_weight : ...
      loom.yield %l : ...
    }
    ```
    After:
    ```mlir
    %y = loom.kernel matmul(%x, %s, %w) : (...) -> ... {
      %n = loom.rms_norm %a, %b axis 1 epsilon 1.0E-6 : ...
      %l = loom.linear %n, %m transpose_weight : ...
      loom.yield %l : ...
    }
    ```
  }];
  let statistics = [
    Statistic<"numAbsorbed", "absorbed-norms", "Linear layers that took a norm as prologue">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomMergeCacheWrites : Pass<"loom-merge-cache-writes"> {
  let summary = "Scatter kernels that write at the same slots become one kernel";
  let description = [{
    After `loom-fuse`: the `scatter` kernels of a layer's key and value cache writes
    store rows at the same slots and do not depend on each other. At a decode step each
    moves a few kilobytes, so each is all launch and memory latency; one kernel doing
    both (a grid-stride loop per write, each cache updated in place) saves a launch per
    layer. A kernel merges into an earlier one at the same slots when every input it
    reads is available at the earlier one's place, which the merged kernel takes.

    Before:
    ```mlir
    %kc2 = loom.kernel scatter(%kc, %k, %slots) : (...) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>> {...}
    %vc2 = loom.kernel scatter(%vc, %v, %slots) : (...) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>> {...}
    ```
    After:
    ```mlir
    %c:2 = loom.kernel scatter(%kc, %k, %slots, %vc, %v) : (...) -> (...) {
      %0 = loom.cache_write %a0, %a1, %a2 : ...
      %1 = loom.cache_write %a3, %a4, %a2 : ...
      loom.yield %0, %1 : ...
    }
    ```
  }];
  let statistics = [
    Statistic<"numMerged", "merged-kernels", "Scatter kernels merged into an earlier one">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomWritesIntoAttention : Pass<"loom-writes-into-attention"> {
  let summary = "A layer's cache-write kernel joins the paged attention that reads it";
  let description = [{
    After `loom-merge-cache-writes`: a `scatter` kernel whose updated caches only a
    paged attention kernel reads (and the function returns, after it) becomes part of
    that kernel. The CUDA emitter then writes a one-token step's new key and value rows
    from the attention blocks themselves (they compute the rows from the layer's K and
    V anyway), so a batch-1 decode step saves the scatter launch and its dependent
    round trip per layer; larger steps run the writes as a phase before the attention.
    The merged kernel takes the attention's place, outputs the attention's results and
    then the caches (updated in place), and keeps the attention's schedule.

    Before:
    ```mlir
    %c:2 = loom.kernel scatter(%kc, %k, %slots, %vc, %v) : (...) -> (...) {...}
    %o = loom.kernel attention(%q, %c#0, %c#1, %tables, %lens, %starts) : (...) -> ... {...}
    ```
    After:
    ```mlir
    %o:3 = loom.kernel attention(%q, %kc, %tables, %lens, %starts, %k, %slots, %vc, %v) : (...) -> (...) {
      %0 = loom.cache_write %a1, %a5, %a6 : ...
      %1 = loom.cache_write %a7, %a8, %a6 : ...
      %2 = loom.paged_attention %a0, %0, %1, %a2, %a3, %a4 : ...
      loom.yield %2, %0, %1 : ...
    }
    ```
  }];
  let statistics = [
    Statistic<"numMerged", "merged-writes", "Scatter kernels merged into paged attention">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

def LoomChooseTiles : Pass<"loom-choose-tiles"> {
  let summary = "Chooses tile sizes, warps and vector widths per kernel and target";
  let description = [{
    Sets the `schedule` of every `loom.kernel` that has none: what the CUDA emitter
    needs to lay the kernel out on the GPU, visible here so that it can be read, tested
    and overridden (a schedule written by hand is kept).

    - `matmul`: a linear layer on bf16/f16 inputs runs on tensor cores (mma.sync,
      sm_80 and up) with 128x128 output tiles of 8 warps, or 64x64 tiles of 4 warps
      when its rows are statically at most 64 or its columns at most 512 (too few
      large tiles to fill the GPU); k-slices of 32 through dynamic shared memory,
      `stages = 4` in flight on sm_90/sm_90a and 3 on the others. Other matmuls are SIMT:
      64x64 tiles of 8 warps, k-slices of 16.
    - `attention`: bf16/f16 operands with static head sizes that are multiples of 16
      (at most 128) use tensor cores: 64 queries per block of 4 warps, 64 keys per
      step (32 when a head size exceeds 64, for shared memory). Otherwise one query per thread, 64 per block, 32 keys per step.
    - `pointwise`: 256 threads, each computing `vector` consecutive elements (16
      bytes' worth when every output's innermost dimension is static and divisible).
    - `normalization`, `reduction`: one block per row, a power of two threads from 32
      to 256, about four elements each.

    ```mlir
    %y = loom.kernel matmul (%x, %w) {schedule = {stages = 4 : i64, tensor_cores = true,
        tile_k = 32 : i64, tile_m = 128 : i64, tile_n = 128 : i64, warps = 8 : i64}} : ...
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"sm_90a\"",
           "GPU architecture: sm_80, sm_86, sm_89, sm_90 or sm_90a">
  ];
  let statistics = [
    Statistic<"numScheduled", "scheduled", "Kernels given a schedule">
  ];
  let dependentDialects = ["::loom::LoomDialect"];
}

#endif // LOOM_PASSES_TD
