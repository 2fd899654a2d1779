//===- LoomBase.td - The loom dialect, its types and attributes ---*- tablegen -*-===//
//
// The dialect, the element-type constraints shared by its ops, the enums and the
// `#loom.dims` tensor encoding that names dynamic dimensions.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_BASE_TD
#define LOOM_BASE_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/TensorEncoding.td"

def Loom_Dialect : Dialect {
  let name = "loom";
  let cppNamespace = "::loom";
  let summary = "Tensor operations of transformer models, as Loom compiles them";
  let description = [{
    The `loom` dialect holds transformer graphs at the level their importers produce and
    their passes rewrite: elementwise math with numpy broadcasting, matmul, reductions,
    normalizations, gathers, layout ops, rotary embeddings and attention. Values are ranked
    builtin tensors. Weights are never stored in the IR: `loom.weight` names an external
    tensor that the runtime binds at load time.

    Dynamic dimensions carry names through the `#loom.dims` tensor encoding, for example
    `tensor<?x?x256xf32, #loom.dims<batch, seq>>`: the names label the `?` dimensions in
    order. Two dimensions with the same name are equal at run time. A named dimension never
    broadcasts (only a static 1 does), so every shape rule that the verifiers check on static
    sizes is checked on names too. A `?` in a tensor without the encoding is an anonymous
    dynamic dimension, compatible with anything; importers produce named dimensions.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

class Loom_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Loom_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Loom_DimsAttr : Loom_Attr<"Dims", "dims",
    [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "Names of the dynamic dimensions of a tensor";
  let description = [{
    A tensor encoding listing one name per dynamic (`?`) dimension, in order:

    ```mlir
    tensor<?x?x2048xf32, #loom.dims<batch, seq>>
    ```

    A name is an identifier (`[A-Za-z_][A-Za-z0-9_]*`) or a size expression of them in
    canonical form, a polynomial such as `"seq+1"` or `"batch*seq"` (written quoted).
    Equal names denote equal sizes. `"?"` marks a size nobody knows. The encoding has one
    entry per dynamic dimension, at least one of them a name.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::StringAttr", "dimension names">:$names);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Loom_ReduceKind : I32EnumAttr<"ReduceKind", "reduction kind", [
    I32EnumAttrCase<"Sum", 0, "sum">,
    I32EnumAttrCase<"Mean", 1, "mean">,
    I32EnumAttrCase<"Max", 2, "max">,
    I32EnumAttrCase<"Min", 3, "min">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_ReduceKindAttr : EnumAttr<Loom_Dialect, Loom_ReduceKind, "reduce_kind"> {
  let assemblyFormat = "$value";
}

def Loom_CompareKind : I32EnumAttr<"CompareKind", "comparison predicate", [
    I32EnumAttrCase<"EQ", 0, "eq">,
    I32EnumAttrCase<"NE", 1, "ne">,
    I32EnumAttrCase<"LT", 2, "lt">,
    I32EnumAttrCase<"LE", 3, "le">,
    I32EnumAttrCase<"GT", 4, "gt">,
    I32EnumAttrCase<"GE", 5, "ge">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_CompareKindAttr : EnumAttr<Loom_Dialect, Loom_CompareKind, "compare_kind"> {
  let assemblyFormat = "$value";
}

def Loom_GeluApproximation : I32EnumAttr<"GeluApproximation", "GELU formula", [
    I32EnumAttrCase<"Erf", 0, "erf">,
    I32EnumAttrCase<"Tanh", 1, "tanh">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_GeluApproximationAttr
    : EnumAttr<Loom_Dialect, Loom_GeluApproximation, "gelu_approximation"> {
  let assemblyFormat = "$value";
}

def Loom_KernelKind : I32EnumAttr<"KernelKind", "what a fused kernel is built around", [
    I32EnumAttrCase<"Pointwise", 0, "pointwise">,
    I32EnumAttrCase<"Reduction", 1, "reduction">,
    I32EnumAttrCase<"Normalization", 2, "normalization">,
    I32EnumAttrCase<"Matmul", 3, "matmul">,
    I32EnumAttrCase<"Attention", 4, "attention">,
    I32EnumAttrCase<"Scatter", 5, "scatter">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_KernelKindAttr : EnumAttr<Loom_Dialect, Loom_KernelKind, "kernel_kind"> {
  let assemblyFormat = "$value";
}

def Loom_QuantCode : I32EnumAttr<"QuantCode", "code type of a quantized weight", [
    I32EnumAttrCase<"Int4", 0, "int4">,
    I32EnumAttrCase<"Int8", 1, "int8">,
    I32EnumAttrCase<"Fp8E4M3", 2, "fp8e4m3">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_QuantCodeAttr : EnumAttr<Loom_Dialect, Loom_QuantCode, "quant_code"> {
  let assemblyFormat = "$value";
}
def Loom_QuantOffsetKind : I32EnumAttr<"QuantOffsetKind", "offset of a quantized weight", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Zero", 1, "zero">,
    I32EnumAttrCase<"Min", 2, "min">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}
def Loom_QuantLayout : I32EnumAttr<"QuantLayout", "checkpoint layout of a quantized weight", [
    I32EnumAttrCase<"Rtn", 0, "rtn">,
    I32EnumAttrCase<"Gptq", 1, "gptq">,
    I32EnumAttrCase<"GptqV2", 2, "gptq_v2">,
    I32EnumAttrCase<"Awq", 3, "awq">,
    I32EnumAttrCase<"CtPacked", 4, "ct_packed">,
    I32EnumAttrCase<"CtFloat", 5, "ct_float">]> {
  let cppNamespace = "::loom";
  let genSpecializedAttr = 0;
}

def Loom_QuantAttr : Loom_Attr<"Quant", "quant"> {
  let summary = "How a quantized weight is encoded";
  let description = [{
    The encoding of a linear layer's weight `W [N, K]` stored as low-bit codes: the code
    type (`int4`, `int8`, `fp8e4m3`), the number of inputs per group along K (`group`: 16,
    32, 64, 128 or 256; 0 for one group per output channel), the scales' element type
    (`scale`: f16, bf16 or f32), the offset (`none`: `W = s * c` with signed codes;
    `zero`: `W = s * (c - z)` with a zero point per group; `min`: `W = s * c - m`, as GGUF
    stores it), whether input rows are grouped through a stored index (`permuted`, GPTQ's
    act-order), and the checkpoint layout the runtime reads (`source`: `rtn` quantizes a
    float checkpoint at load by round to nearest; `gptq`, `gptq_v2`, `awq`, `ct_packed`,
    `ct_float` read those formats). The weight's own type stays the float tensor it
    stands for; the runtime repacks the checkpoint's bytes into Loom's kernel layout.

    ```mlir
    #loom.quant<code = int4, group = 128, scale = f16, offset = zero, source = gptq>
    #loom.quant<code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float>
    ```
  }];
  let parameters = (ins
    EnumParameter<Loom_QuantCode>:$code,
    "int64_t":$group,
    "::mlir::Type":$scale,
    EnumParameter<Loom_QuantOffsetKind>:$offset,
    DefaultValuedParameter<"bool", "false">:$permuted,
    EnumParameter<Loom_QuantLayout>:$source);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bits of one code.
    int bits() const;
    /// Groups along an input dimension of `k`.
    int64_t groups(int64_t k) const;
    /// The same encoding as the MLIR-free struct the runtime and the reference use.
    ::loom::QuantEncoding getEncoding() const;
    static QuantAttr get(::mlir::MLIRContext *context, const ::loom::QuantEncoding &encoding);
  }];
}

//===----------------------------------------------------------------------===//
// Tensor constraints
//===----------------------------------------------------------------------===//

def Loom_FloatElement : AnyTypeOf<[F16, BF16, F32, F64]>;
def Loom_IntElement : AnyTypeOf<[I8, I16, I32, I64]>;

def Loom_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;
def Loom_IntTensor : RankedTensorOf<[I8, I16, I32, I64]>;
def Loom_BoolTensor : RankedTensorOf<[I1]>;
def Loom_NumericTensor : RankedTensorOf<[F16, BF16, F32, F64, I8, I16, I32, I64]>;
def Loom_Tensor : RankedTensorOf<[F16, BF16, F32, F64, I1, I8, I16, I32, I64]>;
/// A paged KV cache: a float type, or 8-bit codes (int8, FP8 e4m3) with a scale per
/// (slot, head) in a tensor of its own.
def Loom_CacheTensor : RankedTensorOf<[F16, BF16, F32, F64, I8, F8E4M3FN]>;
/// What a loom.kernel takes and makes: any tensor, an FP8 KV cache included.
def Loom_KernelTensor : RankedTensorOf<[F16, BF16, F32, F64, F8E4M3FN, I1, I8, I16, I32, I64]>;

#endif // LOOM_BASE_TD
