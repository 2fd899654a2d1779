//===- LoomFusionOps.td - The kernel regions of fusion -----------*- tablegen -*-===//
//
// `loom.kernel` and its terminator, which `loom-fuse` creates and the code generator
// writes as GPU kernels. Included by LoomOps.td (it uses the `Loom_Op` class there),
// so the dialect's ops are generated and documented together.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_FUSION_OPS_TD
#define LOOM_FUSION_OPS_TD

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def Loom_KernelOp : Loom_Op<"kernel",
    [IsolatedFromAbove, SingleBlockImplicitTerminator<"YieldOp">]> {
  let summary = "A group of ops that runs as one GPU kernel";
  let description = [{
    The fusion pass wraps each group of ops that will become one kernel in a
    `loom.kernel`. The body reads only its block arguments (the kernel's inputs, which
    are the op's operands) and constants, and yields the values used outside it (the
    kernel's outputs, which are the op's results); every other value in the body lives
    in registers or shared memory. `kind` says what the kernel is built around:

    - `pointwise`: elementwise and index-mapping ops only (casts, broadcasts,
      transposes, slices, gathers, rope), one thread per output element;
    - `reduction`: one `reduce`/`softmax`/`cumsum` with pointwise prologue and epilogue;
    - `normalization`: one `rms_norm`/`layer_norm` with pointwise prologue and epilogue;
    - `matmul`: one `matmul`/`linear` with a pointwise epilogue on its output tile,
      and optionally an `rms_norm` read only as the linear layer's input (its prologue,
      put there by `loom-norm-into-linear`);
    - `attention`: one `attention` with pointwise prologues on its operands (rope,
      layout) and a pointwise epilogue, or one `paged_attention` with a prologue on its
      query only (its caches, block tables and lengths are inputs);
    - `scatter`: one or more `cache_write`s (`loom-merge-cache-writes` puts a layer's
      key and value writes in one kernel), each with a pointwise prologue on its new
      rows; each cache is an input, which the kernel's output updates in place (the
      artifact gives both one buffer), and nothing follows them.

    ```mlir
    %y = loom.kernel matmul (%x, %w, %b) : (tensor<?x256xf32, #loom.dims<tokens>>,
        tensor<704x256xf32>, tensor<?x704xf32, #loom.dims<tokens>>)
        -> tensor<?x704xf32, #loom.dims<tokens>> {
    ^bb0(%a: tensor<?x256xf32, #loom.dims<tokens>>, %m: tensor<704x256xf32>,
         %u: tensor<?x704xf32, #loom.dims<tokens>>):
      %g = loom.linear %a, %m transpose_weight : ...
      %s = loom.silu %g : tensor<?x704xf32, #loom.dims<tokens>>
      %p = loom.mul %s, %u : ...
      loom.yield %p : tensor<?x704xf32, #loom.dims<tokens>>
    }
    ```

    `schedule` (set by `loom-choose-tiles`) is how the code generator lays the kernel
    out on the GPU; the verifier accepts only the keys of the kernel's kind, with
    positive sizes:

    - `matmul`: `tile_m`, `tile_n`, `tile_k` (the block's output tile and its
      k-slice), `warps`, `stages` (shared-memory slices in flight), `tensor_cores`;
    - `attention`: `tile_q` (queries per block), `tile_kv` (keys per step; for
      `paged_attention`, the keys one block of a split context covers), `warps`,
      `shared_kib` (the shared memory a block may take on the target, which sizes
      the one-token paged kernel's whole-context tiles), `tensor_cores`;
    - `pointwise`: `threads`, `vector` (consecutive elements per thread);
    - `normalization`, `reduction`, `scatter`: `threads`.
  }];
  let arguments = (ins Loom_KernelKindAttr:$kind, Variadic<Loom_KernelTensor>:$inputs,
                       OptionalAttr<DictionaryAttr>:$schedule);
  let results = (outs Variadic<Loom_KernelTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`` $kind `(` $inputs `)` attr-dict `:` "
                       "functional-type($inputs, $results) $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The op the kernel is built around (null for a pointwise kernel).
    ::mlir::Operation *getAnchor();
    /// The kind of kernel `op` anchors (matmul, linear, attention, norms, reductions);
    /// nullopt for ops that fit in any kernel.
    static std::optional<KernelKind> anchorKindOf(::mlir::Operation *op);
  }];
}

def Loom_YieldOp : Loom_Op<"yield", [Terminator, HasParent<"KernelOp">]> {
  let summary = "The outputs of a loom.kernel";
  let arguments = (ins Variadic<Loom_KernelTensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
  let builders = [OpBuilder<(ins), [{ build($_builder, $_state, ::mlir::ValueRange()); }]>];
}

#endif // LOOM_FUSION_OPS_TD
