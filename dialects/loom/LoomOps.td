//===- LoomOps.td - Operations of the loom dialect -----------------*- tablegen -*-===//
//
// Every op has a verifier: ODS type constraints for element types, and C++ verifiers
// (LoomOps.cpp, LoomShapeOps.cpp) for the shape rules, each message naming its rule.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_OPS_TD
#define LOOM_OPS_TD

include "dialects/loom/LoomBase.td"
include "dialects/loom/LoomInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Loom_Op<string mnemonic, list<Trait> traits = []>
    : Op<Loom_Dialect, mnemonic, !listconcat([Pure], traits)>;

/// An op with a gradient rule (LoomGradients.cpp), which loom-autodiff calls.
defvar Differentiable = DeclareOpInterfaceMethods<Loom_DifferentiableOpInterface>;

// Shards (which the weight op takes) and collectives.
include "dialects/loom/LoomParallelOps.td"

//===----------------------------------------------------------------------===//
// Sources of values
//===----------------------------------------------------------------------===//

def Loom_WeightOp : Loom_Op<"weight", [Differentiable]> {
  let summary = "A named tensor whose data lives outside the IR";
  let description = [{
    Refers to a model parameter by its name in the checkpoint (a safetensors key or an ONNX
    initializer). The bytes never enter the IR; the runtime binds them at load time. A
    weight has a static shape.

    ```mlir
    %w = loom.weight "model.layers.0.self_attn.q_proj.weight" : tensor<256x256xbf16>
    ```

    With `stacked`, the weight is several checkpoint tensors stacked along dimension 0:
    `name` first, then each of `stacked`; `rows` gives the size of each in dimension 0
    (`name`'s first) and adds up to the weight's. The other dimensions are the
    weight's. Sibling linear layers that read the same input become one this way
    (`loom-merge-linears`); the runtime places each part at its offset when it binds the
    weights.

    ```mlir
    %qkv = loom.weight "l0.q_proj.weight" stacked ["l0.k_proj.weight", "l0.v_proj.weight"]
        rows [256, 64, 64] : tensor<384x256xbf16>
    ```

    With `quant`, the checkpoint stores the weight quantized (`#loom.quant`): the weight
    is a linear layer's `[N, K]` matrix, its type the float tensor it dequantizes to, and
    the group size divides K. Stacked parts share the encoding; a `permuted` (act-order)
    weight is never stacked, since each part orders its inputs differently.

    ```mlir
    %w = loom.weight "l0.q_proj.weight"
        quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq>
        : tensor<256x256xbf16>
    ```

    With `shard` (`#loom.shard`, made by `loom-partition-tensor`), the weight is one of
    `count` equal parts of the checkpoint tensor along `axis`, and its type is the
    part's: a rank binds only its part. A sharded weight is neither stacked nor
    quantized (yet).

    ```mlir
    %w = loom.weight "l0.q_proj.weight" shard <axis = 0, index = 1, count = 2>
        : tensor<128x256xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrArrayAttr>:$stacked,
                   OptionalAttr<DenseI64ArrayAttr>:$rows, OptionalAttr<Loom_QuantAttr>:$quant,
                   OptionalAttr<Loom_ShardAttr>:$shard);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$name (`stacked` $stacked^ `rows` $rows)? (`quant` $quant^)? "
                       "(`shard` $shard^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Type":$type, "::llvm::StringRef":$name), [{
      build($_builder, $_state, type, name, /*stacked=*/nullptr, /*rows=*/nullptr,
            /*quant=*/nullptr, /*shard=*/nullptr);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The checkpoint tensors this weight is made of, with their sizes in dimension 0:
    /// one part (the whole weight) unless it is stacked.
    ::llvm::SmallVector<std::pair<::llvm::StringRef, int64_t>> getParts();
  }];
}

def Loom_ConstantOp : Loom_Op<"constant",
    [Differentiable, ConstantLike, AllTypesMatch<["value", "result"]>]> {
  let summary = "A small constant tensor held in the IR";
  let description = [{
    A constant small enough to read: at most 4096 elements unless it is a splat. Larger
    data belongs in a `loom.weight`.

    ```mlir
    %eps = loom.constant dense<1.0e-06> : tensor<f32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Loom_IotaOp : Loom_Op<"iota", [Differentiable]> {
  let summary = "0, 1, 2, ... along one dimension of another tensor's shape";
  let description = [{
    A 1-D tensor counting from 0 up to the size of dimension `dim` of `shape_source`
    (whose values are not read). Positions for a sequence are an iota over its
    sequence dimension, so the result carries that dimension's name:

    ```mlir
    %pos = loom.iota %ids dim 1 : tensor<?x?xi64, #loom.dims<batch, seq>> -> tensor<?xi64, #loom.dims<seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$shape_source, I64Attr:$dim);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat =
      "$shape_source `dim` $dim attr-dict `:` type($shape_source) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary
//===----------------------------------------------------------------------===//

class Loom_UnaryOp<string mnemonic, Type operandType, string formula,
                   list<Trait> traits = []>
    : Loom_Op<mnemonic,
              !listconcat([SameOperandsAndResultType, Differentiable], traits)> {
  let summary = "Elementwise " # formula;
  let description = "Computes `" # formula # "` for every element; the type is unchanged.";
  let arguments = (ins operandType:$operand);
  let results = (outs operandType:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
}

def Loom_NegOp : Loom_UnaryOp<"neg", Loom_NumericTensor, "-x"> { let hasFolder = 1; }
def Loom_ReluOp : Loom_UnaryOp<"relu", Loom_NumericTensor, "max(x, 0)">;
def Loom_ExpOp : Loom_UnaryOp<"exp", Loom_FloatTensor, "exp(x)">;
def Loom_LogOp : Loom_UnaryOp<"log", Loom_FloatTensor, "log(x)">;
def Loom_SqrtOp : Loom_UnaryOp<"sqrt", Loom_FloatTensor, "sqrt(x)">;
def Loom_RsqrtOp : Loom_UnaryOp<"rsqrt", Loom_FloatTensor, "1 / sqrt(x)">;
def Loom_ReciprocalOp : Loom_UnaryOp<"reciprocal", Loom_FloatTensor, "1 / x">;
def Loom_TanhOp : Loom_UnaryOp<"tanh", Loom_FloatTensor, "tanh(x)">;
def Loom_CosOp : Loom_UnaryOp<"cos", Loom_FloatTensor, "cos(x)">;
def Loom_SinOp : Loom_UnaryOp<"sin", Loom_FloatTensor, "sin(x)">;
def Loom_ErfOp : Loom_UnaryOp<"erf", Loom_FloatTensor, "erf(x)">;
def Loom_SigmoidOp : Loom_UnaryOp<"sigmoid", Loom_FloatTensor, "1 / (1 + exp(-x))">;
def Loom_SiluOp : Loom_UnaryOp<"silu", Loom_FloatTensor, "x * sigmoid(x)">;
def Loom_NotOp : Loom_UnaryOp<"not", Loom_BoolTensor, "logical not"> { let hasFolder = 1; }

def Loom_GeluOp : Loom_Op<"gelu", [SameOperandsAndResultType]> {
  let summary = "Elementwise GELU, exact (erf) or tanh-approximated";
  let description = [{
    `erf`:  `0.5 * x * (1 + erf(x / sqrt(2)))`.
    `tanh`: `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))`.

    ```mlir
    %y = loom.gelu tanh %x : tensor<?x128xf32, #loom.dims<tokens>>
    ```
  }];
  let arguments = (ins Loom_GeluApproximationAttr:$approximation, Loom_FloatTensor:$operand);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "`` $approximation $operand attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Elementwise binary, with numpy broadcasting
//===----------------------------------------------------------------------===//

class Loom_BinaryOp<string mnemonic, Type tensorType, string formula,
                    list<Trait> traits = []>
    : Loom_Op<mnemonic,
              !listconcat([SameOperandsAndResultElementType, Differentiable], traits)> {
  let summary = "Elementwise " # formula # " with broadcasting";
  let description = "Computes `" # formula # "` elementwise. The operands broadcast "
    # "numpy-style: shapes align on the right and a static 1 stretches; the result has "
    # "the broadcast shape.";
  let arguments = (ins tensorType:$lhs, tensorType:$rhs);
  let results = (outs tensorType:$result);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_AddOp : Loom_BinaryOp<"add", Loom_NumericTensor, "x + y", [Commutative]> {
  let hasFolder = 1;
}
def Loom_SubOp : Loom_BinaryOp<"sub", Loom_NumericTensor, "x - y"> { let hasFolder = 1; }
def Loom_MulOp : Loom_BinaryOp<"mul", Loom_NumericTensor, "x * y", [Commutative]> {
  let hasFolder = 1;
}
def Loom_DivOp : Loom_BinaryOp<"div", Loom_NumericTensor, "x / y"> { let hasFolder = 1; }
def Loom_PowOp : Loom_BinaryOp<"pow", Loom_FloatTensor, "x ^ y">;
def Loom_MaxOp : Loom_BinaryOp<"max", Loom_NumericTensor, "max(x, y)", [Commutative]>;
def Loom_MinOp : Loom_BinaryOp<"min", Loom_NumericTensor, "min(x, y)", [Commutative]>;
def Loom_AndOp : Loom_BinaryOp<"and", Loom_BoolTensor, "x and y", [Commutative]>;
def Loom_OrOp : Loom_BinaryOp<"or", Loom_BoolTensor, "x or y", [Commutative]>;

def Loom_CompareOp : Loom_Op<"compare", [AllElementTypesMatch<["lhs", "rhs"]>]> {
  let summary = "Elementwise comparison with broadcasting, giving booleans";
  let description = [{
    ```mlir
    %m = loom.compare le, %i, %j : (tensor<?x1xi64, #loom.dims<seq>>,
                                    tensor<1x?xi64, #loom.dims<seq>>) -> tensor<?x?xi1, #loom.dims<seq, seq>>
    ```
  }];
  let arguments = (ins Loom_CompareKindAttr:$predicate, Loom_NumericTensor:$lhs,
                   Loom_NumericTensor:$rhs);
  let results = (outs Loom_BoolTensor:$result);
  let assemblyFormat =
      "`` $predicate `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_SelectOp : Loom_Op<"select",
    [Differentiable, AllElementTypesMatch<["true_value", "false_value", "result"]>]> {
  let summary = "Picks elements from two tensors by a boolean condition, with broadcasting";
  let description = [{
    `result = condition ? true_value : false_value`, elementwise; all three operands
    broadcast to the result shape.
  }];
  let arguments = (ins Loom_BoolTensor:$condition, Loom_Tensor:$true_value,
                   Loom_Tensor:$false_value);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$condition `,` $true_value `,` $false_value attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_CastOp : Loom_Op<"cast", [Differentiable]> {
  let summary = "Converts the element type, keeping the shape";
  let description = [{
    Float to float rounds to nearest even; float to integer truncates toward zero; to
    `i1`, nonzero becomes true.

    ```mlir
    %y = loom.cast %x : tensor<4xbf16> to tensor<4xf32>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($operand) `to` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Contractions, reductions, normalizations
//===----------------------------------------------------------------------===//

def Loom_MatmulOp : Loom_Op<"matmul",
    [Differentiable, SameOperandsAndResultElementType]> {
  let summary = "Batched matrix product with optional transposes";
  let description = [{
    Multiplies the last two dimensions: `[..., M, K] x [..., K, N] -> [..., M, N]`, after
    swapping the last two dimensions of an operand whose `transpose_lhs`/`transpose_rhs`
    flag is set. Leading (batch) dimensions broadcast numpy-style. Both operands have
    rank 2 or more.

    ```mlir
    %y = loom.matmul %x, %w transpose_rhs
        : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>)
        -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_NumericTensor:$lhs, Loom_NumericTensor:$rhs,
                   UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? "
                       "(`transpose_rhs` $transpose_rhs^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_LinearOp : Loom_Op<"linear",
    [Differentiable, AllElementTypesMatch<["input", "weight", "result"]>]> {
  let summary = "A linear layer: input times a 2-D weight, plus an optional bias";
  let description = [{
    `input [..., K]` times `weight [K, N]` (`[N, K]` with `transpose_weight`, the
    PyTorch `nn.Linear` layout), plus `bias [N]` when given: result `[..., N]`. The
    leading dimensions of the input are rows of one GEMM, so the weight is read once
    for all of them; `K` and `N` are static.

    ```mlir
    %y = loom.linear %x, %w bias %b transpose_weight
        : (tensor<?x?x256xf32, #loom.dims<batch, seq>>, tensor<512x256xf32>, tensor<512xf32>)
        -> tensor<?x?x512xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$weight,
                   Optional<Loom_FloatTensor>:$bias, UnitAttr:$transpose_weight);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$input `,` $weight (`bias` $bias^)? "
                       "(`transpose_weight` $transpose_weight^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_QuantizeRowsOp : Loom_Op<"quantize_rows", [SameOperandsAndResultType]> {
  let summary = "Rounds each row to a low-bit type with its own scale (dynamic activations)";
  let description = [{
    Rounds every row (the last axis) of `input` as a linear layer's dynamically
    quantized activations are: per row, `s = max|x| / R` in float32 (R = 448 for
    `fp8e4m3`, 127 for `int8`), then `x' = dequant(quant(x / s)) * s`, the quotient
    rounded to the nearest code (ties to even; FP8 saturates at +-448). A row of zeros
    stays zeros. The result has the input's type; a kernel that reads it may keep the
    codes and apply `s` in its epilogue (FP8 W8A8).

    ```mlir
    %x8 = loom.quantize_rows %x code fp8e4m3 : tensor<?x2048xbf16, #loom.dims<tokens>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_QuantCodeAttr:$code);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$input `code` $code attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Loom_ReduceOp : Loom_Op<"reduce",
    [Differentiable, SameOperandsAndResultElementType]> {
  let summary = "Sum, mean, max or min over a set of axes";
  let description = [{
    Reduces the listed axes (distinct, in `[0, rank)`, not empty). With `keep_dims` the
    reduced axes stay as size 1; without it they are removed.

    ```mlir
    %m = loom.reduce mean %x axes [2] keep_dims
        : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x?x1xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_ReduceKindAttr:$kind, Loom_NumericTensor:$operand,
                   DenseI64ArrayAttr:$axes, UnitAttr:$keep_dims);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat = "`` $kind $operand `axes` $axes (`keep_dims` $keep_dims^)? attr-dict "
                       "`:` type($operand) `->` type($result)";
  let hasVerifier = 1;
}

def Loom_CumsumOp : Loom_Op<"cumsum", [Differentiable, SameOperandsAndResultType]> {
  let summary = "Running sum along one axis";
  let description = [{
    `result[..., i, ...] = sum of operand[..., j, ...]` for `j <= i` (`j < i` with
    `exclusive`); with `reverse` the sum runs from the end of the axis.
  }];
  let arguments = (ins Loom_NumericTensor:$operand, I64Attr:$axis, UnitAttr:$exclusive,
                   UnitAttr:$reverse);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat = "$operand `axis` $axis (`exclusive` $exclusive^)? "
                       "(`reverse` $reverse^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Loom_SoftmaxOp : Loom_Op<"softmax", [Differentiable, SameOperandsAndResultType]> {
  let summary = "Softmax along one axis";
  let description = [{
    `exp(x - max(x)) / sum(exp(x - max(x)))` along `axis`, which is in `[0, rank)`.
  }];
  let arguments = (ins Loom_FloatTensor:$operand, I64Attr:$axis);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$operand `axis` $axis attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Loom_LayerNormOp : Loom_Op<"layer_norm",
    [AllTypesMatch<["input", "result"]>, SameOperandsElementType]> {
  let summary = "Layer normalization over the trailing dimensions";
  let description = [{
    Normalizes over dimensions `[axis, rank)`: `(x - mean) / sqrt(var + epsilon) * scale
    + bias`, with the biased variance. `scale` and the optional `bias` have exactly the
    shape of the normalized dimensions, which must be static.

    ```mlir
    %y = loom.layer_norm %x, %g, %b axis 2 epsilon 1.0e-05
        : (tensor<?x?x128xf32, #loom.dims<batch, seq>>, tensor<128xf32>, tensor<128xf32>)
        -> tensor<?x?x128xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$scale,
                   Optional<Loom_FloatTensor>:$bias, I64Attr:$axis, F32Attr:$epsilon);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale (`,` $bias^)? `axis` $axis `epsilon` $epsilon "
                       "attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_RmsNormOp : Loom_Op<"rms_norm",
    [Differentiable, AllTypesMatch<["input", "result"]>, SameOperandsElementType]> {
  let summary = "Root-mean-square normalization over the trailing dimensions";
  let description = [{
    Normalizes over dimensions `[axis, rank)`: `x / sqrt(mean(x^2) + epsilon) * scale`.
    `scale` has exactly the shape of the normalized dimensions, which must be static.
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$scale, I64Attr:$axis,
                   F32Attr:$epsilon);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$input `,` $scale `axis` $axis `epsilon` $epsilon attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Indexing and layout
//===----------------------------------------------------------------------===//

def Loom_GatherOp : Loom_Op<"gather",
    [Differentiable, AllElementTypesMatch<["data", "result"]>]> {
  let summary = "Takes slices of `data` along `axis` at integer indices (embedding lookup)";
  let description = [{
    The result shape is `data[:axis] + indices.shape + data[axis+1:]`. An embedding
    lookup is a gather along axis 0 of the table. Indices are in `[-n, n)` for
    `n = data.shape[axis]`; a negative index counts from the end, as in ONNX and numpy.
    An index out of that range is an error at run time.

    ```mlir
    %h = loom.gather %table, %ids axis 0
        : (tensor<2048x256xf32>, tensor<?x?xi64, #loom.dims<batch, seq>>)
        -> tensor<?x?x256xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$data, Loom_IntTensor:$indices, I64Attr:$axis);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$data `,` $indices `axis` $axis attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_GatherElementsOp : Loom_Op<"gather_elements",
    [AllElementTypesMatch<["data", "result"]>]> {
  let summary = "Picks one element of `data` per index along `axis` (ONNX GatherElements)";
  let description = [{
    `result[i...] = data[i with i[axis] replaced by indices[i...]]`. `indices` has the
    rank of `data` and the shape of the result; outside `axis` its sizes are at most
    the data's (static ones are checked). Indices are in `[-n, n)`.
  }];
  let arguments = (ins Loom_Tensor:$data, Loom_IntTensor:$indices, I64Attr:$axis);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$data `,` $indices `axis` $axis attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_GatherNdOp : Loom_Op<"gather_nd", [AllElementTypesMatch<["data", "result"]>]> {
  let summary = "Gathers slices of `data` at multi-dimensional indices (ONNX GatherND)";
  let description = [{
    The last dimension of `indices` (static, `K`) indexes the `K` dimensions of `data`
    after its `batch_dims` leading ones, which `indices` shares. The result shape is
    `indices.shape[:-1] + data.shape[batch_dims + K:]`. Indices are in `[-n, n)`.
  }];
  let arguments = (ins Loom_Tensor:$data, Loom_IntTensor:$indices, I64Attr:$batch_dims);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$data `,` $indices `batch_dims` $batch_dims attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_ReshapeOp : Loom_Op<"reshape",
    [Differentiable, AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Reinterprets a tensor with another shape of the same element count";
  let description = [{
    The element count is preserved: when no dimension is anonymous, the product of the
    static sizes and the multiset of dimension names are the same on both sides, so
    `[batch, seq, 8, 32] -> [batch, seq, 256]` verifies and `[seq, 4] -> [seq, 8]` does not.
  }];
  let arguments = (ins Loom_Tensor:$operand);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($operand) `->` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Loom_TransposeOp : Loom_Op<"transpose",
    [Differentiable, AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Permutes dimensions";
  let description = [{
    `result.shape[i] = operand.shape[permutation[i]]`.

    ```mlir
    %t = loom.transpose %x [0, 2, 1, 3]
        : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand, DenseI64ArrayAttr:$permutation);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat =
      "$operand $permutation attr-dict `:` type($operand) `->` type($result)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
  let hasVerifier = 1;
}

def Loom_ConcatOp : Loom_Op<"concat",
    [Differentiable, SameOperandsAndResultElementType]> {
  let summary = "Joins tensors along one axis";
  let description = [{
    All inputs have the same rank and equal sizes outside `axis`. Along `axis` the result
    size is the sum of the inputs' sizes (dynamic if any of them is).
  }];
  let arguments = (ins Variadic<Loom_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat =
      "$inputs `axis` $axis attr-dict `:` functional-type($inputs, results)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Loom_SliceOp : Loom_Op<"slice",
    [Differentiable, AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Takes a strided window along some axes";
  let description = [{
    For each listed axis `a` with `start`, `end` and `step` (nonzero), takes the elements
    of `range(start, end, step)` clamped to the axis the way Python slices do; negative
    `start`/`end` count from the end of the axis, so `-1` works on dynamic dimensions.
    Axes not listed are kept whole. Where the sliced size can be computed (static
    axis, or both bounds on the same side of a dynamic one) the result size must match.

    ```mlir
    %last = loom.slice %h axes [1] starts [-1] ends [9223372036854775807] steps [1]
        : tensor<?x?x256xf32, #loom.dims<batch, seq>> -> tensor<?x1x256xf32, #loom.dims<batch>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand, DenseI64ArrayAttr:$axes,
                   DenseI64ArrayAttr:$starts, DenseI64ArrayAttr:$ends,
                   DenseI64ArrayAttr:$steps);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand `axes` $axes `starts` $starts `ends` $ends `steps` $steps "
                       "attr-dict `:` type($operand) `->` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Where the window along the `i`-th listed axis begins, its start clamped the way
    /// Python slices are, when it is a step-1 window of a static axis (the kind a
    /// kernel can store as an output of its own); nullopt otherwise.
    std::optional<int64_t> getWindowStart(size_t i);
  }];
}

def Loom_BroadcastOp : Loom_Op<"broadcast",
    [Differentiable, AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Expands a tensor to a larger shape (numpy broadcasting)";
  let description = [{
    Aligns the operand's dimensions with the result's on the right; each operand dimension
    equals the result's or is a static 1. The result may add leading dimensions.
  }];
  let arguments = (ins Loom_Tensor:$operand);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($operand) `->` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Transformer blocks
//===----------------------------------------------------------------------===//

def Loom_RopeOp : Loom_Op<"rope",
    [Differentiable, AllTypesMatch<["input", "result"]>, AllTypesMatch<["cos", "sin"]>,
     SameOperandsElementType]> {
  let summary = "Rotary position embedding from cos/sin tables";
  let description = [{
    Rotates pairs of the first `R = 2 * cos.shape[-1]` features of the last dimension of
    `input` (`R <= input.shape[-1]`; the rest pass through). Half-rotation form (default,
    as in Llama): pairs are `(x[i], x[i + R/2])`. With `interleaved` (GPT-J form): pairs
    are `(x[2i], x[2i+1])`. Each pair `(a, b)` becomes `(a*cos - b*sin, b*cos + a*sin)`
    with `cos[..., i]`, `sin[..., i]`. The tables' leading dimensions broadcast to the
    input's leading dimensions, so `[batch, 1, seq, R/2]` tables serve
    `[batch, heads, seq, D]` inputs.

    ```mlir
    %q2 = loom.rope %q, %cos, %sin
        : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x1x?x16xf32, #loom.dims<batch, seq>>,
           tensor<?x1x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$cos, Loom_FloatTensor:$sin,
                   UnitAttr:$interleaved);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$input `,` $cos `,` $sin (`interleaved` $interleaved^)? attr-dict "
                       "`:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_AttentionOp : Loom_Op<"attention",
    [Differentiable, AllElementTypesMatch<["query", "key", "value", "result"]>]> {
  let summary = "Scaled dot-product attention, with causal masking and grouped KV heads";
  let description = [{
    `query [B, Hq, Sq, D]`, `key [B, Hkv, Skv, D]`, `value [B, Hkv, Skv, Dv]`, result
    `[B, Hq, Sq, Dv]`: `softmax(Q K^T * scale + mask) V` per head, where query head `h`
    reads KV head `h / (Hq / Hkv)`, so `Hkv == Hq` is multi-head, `1 < Hkv < Hq` grouped
    (GQA) and `Hkv == 1` multi-query attention; `Hq` is a multiple of `Hkv`.

    `scale` defaults to `1 / sqrt(D)`. The optional `mask` is added to the scores and
    broadcasts to `[B, Hq, Sq, Skv]`. With `causal`, query `i` sees keys `j <= i + Skv - Sq`
    (aligned to the end, so that decoding one token over a cache sees every key). A query
    whose every score is `-inf` (all keys masked) gets a zero row, not NaN. With `softcap`
    `c`, each scaled score `s` becomes `c * tanh(s / c)` before the mask is added (the
    Gemma 2 / ONNX form, so that a `-inf` mask stays `-inf`).

    ```mlir
    %o = loom.attention %q, %k, %v causal
        : (tensor<?x8x?x32xf32, #loom.dims<batch, seq>>, tensor<?x2x?x32xf32, #loom.dims<batch, seq>>,
           tensor<?x2x?x32xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$query, Loom_FloatTensor:$key,
                   Loom_FloatTensor:$value, Optional<Loom_FloatTensor>:$mask,
                   UnitAttr:$causal, OptionalAttr<F32Attr>:$scale,
                   OptionalAttr<F32Attr>:$softcap);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$query `,` $key `,` $value (`mask` $mask^)? (`causal` $causal^)? "
                       "(`scale` $scale^)? (`softcap` $softcap^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Paged KV cache (serving)
//===----------------------------------------------------------------------===//

def Loom_CacheWriteOp : Loom_Op<"cache_write",
    [AllTypesMatch<["cache", "result"]>]> {
  let summary = "Writes new keys or values into slots of a paged KV cache";
  let description = [{
    `cache [blocks, block_size, heads, head_dim]` holds keys (or values) in fixed-size
    blocks of token slots; `values [tokens, heads, head_dim]` are the new tokens' and
    `slots [tokens]` where each goes: slot `s` is row `s % block_size` of block
    `s / block_size`. A negative slot skips its token (padding). The result is the
    cache with those rows replaced; the runtime updates the cache's buffer in place.
    The cache may hold another float type than the values (a bf16 cache for an f32
    model, say): each value is rounded to the cache's type as it is written.

    A quantized cache holds 8-bit codes (`i8`, or FP8 `f8E4M3FN`) and takes `scales
    [blocks, block_size, heads]` (f32): each new row `x` (one token's `head_dim` values
    of one head) is stored as `scale = max|x| / M` (`M` 127 for int8, 448 for FP8) and
    codes `x / scale`, rounded to nearest (int8: to an integer in [-127, 127]; FP8: to
    e4m3, ties to even), so that `code * scale` gives the row back. A row of zeros has
    scale 0 and codes 0. The second result is `scales` with the rows' scales written.

    ```mlir
    %k2 = loom.cache_write %kc, %k, %slots
        : (tensor<?x16x2x32xf32, #loom.dims<blocks>>, tensor<?x2x32xf32, #loom.dims<tokens>>,
           tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xf32, #loom.dims<blocks>>
    %k3, %s3 = loom.cache_write %kq, %k, %slots scales %ks
        : (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x2x32xf32, #loom.dims<tokens>>,
           tensor<?xi64, #loom.dims<tokens>>, tensor<?x16x2xf32, #loom.dims<blocks>>)
        -> (tensor<?x16x2x32xi8, #loom.dims<blocks>>, tensor<?x16x2xf32, #loom.dims<blocks>>)
    ```
  }];
  let arguments = (ins Loom_CacheTensor:$cache, Loom_FloatTensor:$values,
                   Loom_IntTensor:$slots, Optional<Loom_FloatTensor>:$scales);
  let results = (outs Loom_CacheTensor:$result, Optional<Loom_FloatTensor>:$new_scales);
  let assemblyFormat = "$cache `,` $values `,` $slots (`scales` $scales^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the cache holds 8-bit codes with per-row scales.
    bool isQuantized() { return static_cast<bool>(getScales()); }
  }];
}

def Loom_PagedAttentionOp : Loom_Op<"paged_attention",
    [AllElementTypesMatch<["query", "result"]>,
     AllElementTypesMatch<["key_cache", "value_cache"]>]> {
  let summary = "Causal attention of ragged sequences over a paged KV cache";
  let description = [{
    The new tokens of a step, `query [tokens, Hq, D]`, belong to sequences laid end to
    end: sequence `s` owns tokens `[query_starts[s], query_starts[s + 1])` (the last
    ends at `tokens`) and has `context_lens[s]` tokens in the cache, its new ones last,
    so its token `t` sits at position `p = context_lens[s] - n_s + (t - query_starts[s])`
    with `n_s` its number of new tokens. Token `t` attends to positions `0..p` of its
    sequence, the key and value of position `j` being row `j % block_size` of block
    `block_tables[s, j / block_size]` of `key_cache [blocks, block_size, Hkv, D]` and
    `value_cache [blocks, block_size, Hkv, Dv]`. Query head `h` reads KV head
    `h / (Hq / Hkv)`. A prefill (many new tokens) and a decode step (one) are the same
    op. `scale` defaults to `1 / sqrt(D)`; `softcap` as in `loom.attention`. Result
    `[tokens, Hq, Dv]`, of the query's type; the caches may hold another float type
    (both the same one), read as they are and computed with in f32. Quantized caches
    (8-bit codes, see `loom.cache_write`) come with their scales, `key_scales` and
    `value_scales [blocks, block_size, Hkv]`: a key or value is `code * scale`.

    ```mlir
    %o = loom.paged_attention %q, %kc, %vc, %tables, %lens, %starts
        : (tensor<?x8x32xf32, #loom.dims<tokens>>, tensor<?x16x2x32xf32, #loom.dims<blocks>>,
           tensor<?x16x2x32xf32, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>,
           tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>)
        -> tensor<?x8x32xf32, #loom.dims<tokens>>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$query, Loom_CacheTensor:$key_cache,
                   Loom_CacheTensor:$value_cache, Loom_IntTensor:$block_tables,
                   Loom_IntTensor:$context_lens, Loom_IntTensor:$query_starts,
                   Variadic<Loom_FloatTensor>:$cache_scales,
                   OptionalAttr<F32Attr>:$scale, OptionalAttr<F32Attr>:$softcap);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$query `,` $key_cache `,` $value_cache `,` $block_tables `,` "
                       "$context_lens `,` $query_starts (`scales` $cache_scales^)? (`scale` $scale^)? "
                       "(`softcap` $softcap^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the caches hold 8-bit codes (then `cache_scales` holds their scales).
    bool isQuantized() { return !getCacheScales().empty(); }
    ::mlir::Value getKeyScales() { return isQuantized() ? getCacheScales()[0] : nullptr; }
    ::mlir::Value getValueScales() { return isQuantized() ? getCacheScales()[1] : nullptr; }
  }];
}

include "dialects/loom/LoomTrainingOps.td"
include "dialects/loom/LoomFusionOps.td"

#endif // LOOM_OPS_TD
