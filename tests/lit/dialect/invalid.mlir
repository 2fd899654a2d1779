// One case per verifier rule of the loom dialect, each with the message that names it.
// RUN: loom-opt %s -split-input-file -verify-diagnostics

// #loom.dims must name each dynamic dimension once.
// expected-error @+1 {{names 2 dimension(s) but the tensor has 1 dynamic dimension(s)}}
func.func @f(%x: tensor<?x4xf32, #loom.dims<batch, seq>>) { return }

// -----

// #loom.dims names are identifiers.
// expected-error @+1 {{dimension name '2nd' is not an identifier}}
func.func @f(%x: tensor<?xf32, #loom.dims<"2nd">>) { return }

// -----

// #loom.dims expressions are canonical.
// expected-error @+1 {{dimension name '1+seq' is not an identifier ([A-Za-z_][A-Za-z0-9_]*) or a size expression in canonical form}}
func.func @f(%x: tensor<?xf32, #loom.dims<"1+seq">>) { return }

// -----

// Reshape keeps size expressions.
func.func @case3(%x: tensor<?x?xf32, #loom.dims<batch, seq>>) {
  // expected-error @+1 {{(batch*seq vs batch*seq+1 elements)}}
  %y = loom.reshape %x : tensor<?x?xf32, #loom.dims<batch, seq>> -> tensor<?xf32, #loom.dims<"batch*seq+1">>
  return
}

// -----

// #loom.dims names at least one size.
// expected-error @+1 {{#loom.dims names no dimension}}
func.func @f(%x: tensor<?xf32, #loom.dims<"?">>) { return }

// -----

// #loom.dims is never empty.
// expected-error @+1 {{#loom.dims needs at least one name}}
func.func @f(%x: tensor<4xf32, #loom.dims<>>) { return }

// -----

// A weight has a name.
func.func @case6() {
  // expected-error @+1 {{needs a non-empty name}}
  %w = loom.weight "" : tensor<4xf32>
  return
}

// -----

// A weight has a static shape.
func.func @case7() {
  // expected-error @+1 {{has a dynamic shape; a weight's shape is static}}
  %w = loom.weight "w" : tensor<?xf32>
  return
}

// -----

// A stacked weight's parts add up to its first dimension.
func.func @stacked_rows() {
  // expected-error @+1 {{stacks 96 rows into a weight of 128}}
  %w = loom.weight "q" stacked ["k"] rows [64, 32] : tensor<128x16xf32>
  return
}

// -----

// A stacked weight gives one row count per part.
func.func @stacked_count() {
  // expected-error @+1 {{stacks 3 tensors but gives 2 row counts}}
  %w = loom.weight "q" stacked ["k", "v"] rows [64, 64] : tensor<128x16xf32>
  return
}

// -----

// A quantized weight's groups have an allowed size.
func.func @quant0() {
  // expected-error @+1 {{#loom.quant group 48 is not one of 16, 32, 64, 128, 256}}
  %w = loom.weight "w" quant <code = int4, group = 48, scale = f16, offset = zero, source = gptq> : tensor<8x96xf32>
  return
}

// -----

// Scales are f16, bf16 or f32.
func.func @quant1() {
  // expected-error @+1 {{#loom.quant scale type 'f64' is not f16, bf16 or f32}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = f64, offset = zero, source = gptq> : tensor<8x64xf32>
  return
}

// -----

// FP8 codes take no offset.
func.func @quant2() {
  // expected-error @+1 {{#loom.quant fp8e4m3 codes take no offset (offset zero)}}
  %w = loom.weight "w" quant <code = fp8e4m3, group = 0, scale = f32, offset = zero, source = ct_float> : tensor<8x64xf32>
  return
}

// -----

// FP8 codes are scaled per channel.
func.func @quant3() {
  // expected-error @+1 {{#loom.quant fp8e4m3 codes have one scale per channel (group 0), not groups of 32}}
  %w = loom.weight "w" quant <code = fp8e4m3, group = 32, scale = f32, offset = none, source = ct_float> : tensor<8x64xf32>
  return
}

// -----

// Act-order needs groups.
func.func @quant4() {
  // expected-error @+1 {{#loom.quant is permuted but has one group per channel}}
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<8x64xf32>
  return
}

// -----

// Round-to-nearest quantization is never permuted.
func.func @quant5() {
  // expected-error @+1 {{#loom.quant source rtn is never permuted}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = f16, offset = zero, permuted = true, source = rtn> : tensor<8x64xf32>
  return
}

// -----

// Round-to-nearest quantization has no mins.
func.func @quant6() {
  // expected-error @+1 {{#loom.quant source rtn has no mins}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = f16, offset = min, source = rtn> : tensor<8x64xf32>
  return
}

// -----

// GPTQ stores zero points and f16 scales.
func.func @quant7() {
  // expected-error @+1 {{#loom.quant source gptq stores int4 or int8 codes with f16 scales and no mins}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = bf16, offset = zero, source = gptq> : tensor<8x64xf32>
  return
}

// -----

// AWQ stores int4 codes in groups.
func.func @quant8() {
  // expected-error @+1 {{#loom.quant source awq stores int4 codes in groups with f16 scales, never permuted}}
  %w = loom.weight "w" quant <code = int8, group = 32, scale = f16, offset = zero, source = awq> : tensor<8x64xf32>
  return
}

// -----

// compressed-tensors pack-quantized stores integers.
func.func @quant9() {
  // expected-error @+1 {{#loom.quant source ct_packed stores int4 or int8 codes, never permuted, with no mins}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = bf16, offset = min, source = ct_packed> : tensor<8x64xf32>
  return
}

// -----

// compressed-tensors float-quantized stores FP8.
func.func @quant10() {
  // expected-error @+1 {{#loom.quant source ct_float stores fp8e4m3 codes}}
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f32, offset = none, source = ct_float> : tensor<8x64xf32>
  return
}

// -----

// A quantized weight is a float matrix.
func.func @quantop0() {
  // expected-error @+1 {{is quantized but 'tensor<4x8x64xf32>' is not a float matrix [N, K]}}
  %w = loom.weight "w" quant <code = int8, group = 0, scale = f16, offset = none, source = rtn> : tensor<4x8x64xf32>
  return
}

// -----

// A quantized weight's groups divide its inputs.
func.func @quantop1() {
  // expected-error @+1 {{is quantized in groups of 32, which do not divide its 48 inputs}}
  %w = loom.weight "w" quant <code = int4, group = 32, scale = f16, offset = zero, source = gptq> : tensor<8x48xf32>
  return
}

// -----

// int4 codes pack two to a byte.
func.func @quantop2() {
  // expected-error @+1 {{holds int4 codes, two to a byte, but has an odd number of inputs (63)}}
  %w = loom.weight "w" quant <code = int4, group = 0, scale = f16, offset = none, source = rtn> : tensor<8x63xf32>
  return
}

// -----

// Permuted weights are never stacked.
func.func @quantop3() {
  // expected-error @+1 {{is permuted (act-order) and stacked}}
  %w = loom.weight "q" stacked ["k"] rows [4, 4] quant <code = int4, group = 32, scale = f16, offset = zero, permuted = true, source = gptq> : tensor<8x64xf32>
  return
}

// -----

// Rows are rounded to fp8e4m3 or int8.
func.func @quantize_rows_int4(%x: tensor<4x64xf32>) {
  // expected-error @+1 {{rounds rows to fp8e4m3 or int8, not int4}}
  %y = loom.quantize_rows %x code int4 : tensor<4x64xf32>
  return
}

// -----

// Rows need an axis.
func.func @quantize_rows_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{needs rank 1 or more: rows are along the last axis}}
  %y = loom.quantize_rows %x code fp8e4m3 : tensor<f32>
  return
}

// -----

// Constants are small unless splat.
func.func @case8() {
  // expected-error @+1 {{holds 4097 distinct elements; constants hold at most 4096}}
  %c = loom.constant dense<"0x0001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001020304050600010203040506000102030405060001"> : tensor<4097xi8>
  return
}

// -----

// A constant's value has the result type.
func.func @case9() {
  // expected-error @+1 {{failed to verify that all of {value, result} have same type}}
  %c = "loom.constant"() <{value = dense<1.0> : tensor<2xf32>}> : () -> tensor<3xf32>
  return
}

// -----

// Iota counts a dimension the source has.
func.func @case10(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{iota dimension 2 is out of range [0, 2)}}
  %y = loom.iota %x dim 2 : tensor<4x3xf32> -> tensor<3xi64>
  return
}

// -----

// Iota has the size of the counted dimension.
func.func @case11(%x: tensor<?x3xf32, #loom.dims<seq>>) {
  // expected-error @+1 {{result shape [3] does not match [seq], the shape [size of the counted dimension]}}
  %y = loom.iota %x dim 0 : tensor<?x3xf32, #loom.dims<seq>> -> tensor<3xi64>
  return
}

// -----

// Iota gives numbers.
func.func @case12(%x: tensor<3xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 16-bit float}}
  %y = loom.iota %x dim 0 : tensor<3xf32> -> tensor<3xi1>
  return
}

// -----

// Transcendental ops take floats.
func.func @case13(%x: tensor<4xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values}}
  %y = loom.exp %x : tensor<4xi32>
  return
}

// -----

// Unary ops keep the type.
func.func @case14(%x: tensor<4xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %y = "loom.tanh"(%x) : (tensor<4xf32>) -> tensor<5xf32>
  return
}

// -----

// Not takes booleans.
func.func @case15(%x: tensor<4xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 1-bit signless integer values}}
  %y = loom.not %x : tensor<4xf32>
  return
}

// -----

// Gelu takes floats.
func.func @case16(%x: tensor<4xi64>) {
  // expected-error @+1 {{must be ranked tensor of 16-bit float}}
  %y = loom.gelu erf %x : tensor<4xi64>
  return
}

// -----

// Static sizes broadcast only against equal sizes or 1.
func.func @case17(%a: tensor<4x3xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{operands do not broadcast: dimension 1 (counting the broadcast shape) is 3 in one operand and 5 in the other}}
  %y = loom.add %a, %b : (tensor<4x3xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  return
}

// -----

// A named dimension never broadcasts against a static size.
func.func @case18(%a: tensor<?xf32, #loom.dims<seq>>, %b: tensor<4xf32>) {
  // expected-error @+1 {{a named dimension only broadcasts against itself or a static 1}}
  %y = loom.mul %a, %b : (tensor<?xf32, #loom.dims<seq>>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Different names do not broadcast.
func.func @case19(%a: tensor<?xf32, #loom.dims<batch>>, %b: tensor<?xf32, #loom.dims<seq>>) {
  // expected-error @+1 {{is batch in one operand and seq in the other}}
  %y = loom.sub %a, %b : (tensor<?xf32, #loom.dims<batch>>, tensor<?xf32, #loom.dims<seq>>) -> tensor<?xf32, #loom.dims<seq>>
  return
}

// -----

// The result has the broadcast shape.
func.func @case20(%a: tensor<4x1xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{result shape [4, 1] does not match [4, 3], the shape the operands broadcast to}}
  %y = loom.div %a, %b : (tensor<4x1xf32>, tensor<3xf32>) -> tensor<4x1xf32>
  return
}

// -----

// Binary operands share the element type.
func.func @case21(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %y = loom.max %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

// Pow takes floats.
func.func @case22(%a: tensor<4xi32>) {
  // expected-error @+1 {{must be ranked tensor of 16-bit float}}
  %y = loom.pow %a, %a : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

// Logical ops take booleans.
func.func @case23(%a: tensor<4xf32>) {
  // expected-error @+1 {{must be ranked tensor of 1-bit signless integer values}}
  %y = loom.and %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Comparisons give booleans.
func.func @case24(%a: tensor<4xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 1-bit signless integer values}}
  %y = loom.compare lt, %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Compared operands share the element type.
func.func @case25(%a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error @+1 {{failed to verify that all of {lhs, rhs} have same element type}}
  %y = loom.compare eq, %a, %b : (tensor<4xf32>, tensor<4xi32>) -> tensor<4xi1>
  return
}

// -----

// Comparisons broadcast.
func.func @case26(%a: tensor<4xi64>, %b: tensor<3xi64>) {
  // expected-error @+1 {{operands do not broadcast}}
  %y = loom.compare eq, %a, %b : (tensor<4xi64>, tensor<3xi64>) -> tensor<4xi1>
  return
}

// -----

// Select's condition is boolean.
func.func @case27(%c: tensor<4xf32>, %a: tensor<4xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 1-bit signless integer values}}
  %y = loom.select %c, %a, %a : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Select's branches share the element type.
func.func @case28(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xbf16>) {
  // expected-error @+1 {{failed to verify that all of {true_value, false_value, result} have same element type}}
  %y = loom.select %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<4xbf16>) -> tensor<4xf32>
  return
}

// -----

// Select's three operands broadcast.
func.func @case29(%c: tensor<3xi1>, %a: tensor<4xf32>) {
  // expected-error @+1 {{operands do not broadcast}}
  %y = loom.select %c, %a, %a : (tensor<3xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// A cast keeps the shape.
func.func @case30(%a: tensor<4xf32>) {
  // expected-error @+1 {{result shape [5] does not match [4], the shape of the operand (a cast keeps the shape)}}
  %y = loom.cast %a : tensor<4xf32> to tensor<5xbf16>
  return
}

// -----

// Matmul operands have rank 2 or more.
func.func @case31(%a: tensor<4xf32>, %b: tensor<4x2xf32>) {
  // expected-error @+1 {{operands have rank 1 and 2; both need rank 2 or more}}
  %y = loom.matmul %a, %b : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>
  return
}

// -----

// Matmul contracts equal dimensions.
func.func @case32(%a: tensor<3x4xf32>, %b: tensor<5x2xf32>) {
  // expected-error @+1 {{contracted dimensions differ: 4 in the left operand and 5 in the right (after transposes)}}
  %y = loom.matmul %a, %b : (tensor<3x4xf32>, tensor<5x2xf32>) -> tensor<3x2xf32>
  return
}

// -----

// Transpose flags change what is contracted.
func.func @case33(%a: tensor<3x4xf32>, %b: tensor<4x2xf32>) {
  // expected-error @+1 {{contracted dimensions differ: 4 in the left operand and 2 in the right}}
  %y = loom.matmul %a, %b transpose_rhs : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x4xf32>
  return
}

// -----

// Matmul batch dimensions broadcast.
func.func @case34(%a: tensor<2x3x4xf32>, %b: tensor<5x4x2xf32>) {
  // expected-error @+1 {{batch dimensions do not broadcast}}
  %y = loom.matmul %a, %b : (tensor<2x3x4xf32>, tensor<5x4x2xf32>) -> tensor<2x3x2xf32>
  return
}

// -----

// Matmul gives [batch..., M, N].
func.func @case35(%a: tensor<3x4xf32>, %b: tensor<4x2xf32>) {
  // expected-error @+1 {{result shape [3, 4] does not match [3, 2], the shape [batch..., M, N] of the product}}
  %y = loom.matmul %a, %b : (tensor<3x4xf32>, tensor<4x2xf32>) -> tensor<3x4xf32>
  return
}

// -----

// Matmul operands share the element type.
func.func @case36(%a: tensor<3x4xf32>, %b: tensor<4x2xbf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %y = loom.matmul %a, %b : (tensor<3x4xf32>, tensor<4x2xbf16>) -> tensor<3x2xf32>
  return
}

// -----

// A reduction names at least one axis.
func.func @case37(%a: tensor<4xf32>) {
  // expected-error @+1 {{needs at least one axis to reduce}}
  %y = loom.reduce sum %a axes [] : tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

// Reduction axes are in range.
func.func @case38(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{reduction axis 2 is out of range [0, 2) for a tensor of rank 2}}
  %y = loom.reduce sum %a axes [2] : tensor<4x3xf32> -> tensor<4xf32>
  return
}

// -----

// Negative axes are normalized by importers, not accepted here.
func.func @case39(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{reduction axis -1 is out of range [0, 2)}}
  %y = loom.reduce sum %a axes [-1] : tensor<4x3xf32> -> tensor<4xf32>
  return
}

// -----

// Reduction axes are distinct.
func.func @case40(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{reduction axis 1 is listed twice}}
  %y = loom.reduce max %a axes [1, 1] : tensor<4x3xf32> -> tensor<4xf32>
  return
}

// -----

// Mean needs floats.
func.func @case41(%a: tensor<4xi32>) {
  // expected-error @+1 {{mean needs a floating-point element type}}
  %y = loom.reduce mean %a axes [0] : tensor<4xi32> -> tensor<i32>
  return
}

// -----

// Keep_dims decides whether reduced axes remain.
func.func @case42(%a: tensor<4x3xf32>) {
  // expected-error @+1 {{result shape [4, 1] does not match [4], the shape left after the reduction}}
  %y = loom.reduce sum %a axes [1] : tensor<4x3xf32> -> tensor<4x1xf32>
  return
}

// -----

// Softmax axis is in range.
func.func @case43(%a: tensor<4xf32>) {
  // expected-error @+1 {{softmax axis 1 is out of range [0, 1)}}
  %y = loom.softmax %a axis 1 : tensor<4xf32>
  return
}

// -----

// Softmax takes floats.
func.func @case44(%a: tensor<4xi32>) {
  // expected-error @+1 {{must be ranked tensor of 16-bit float}}
  %y = loom.softmax %a axis 0 : tensor<4xi32>
  return
}

// -----

// Cumsum axis is in range.
func.func @case45(%a: tensor<4xi32>) {
  // expected-error @+1 {{cumsum axis 1 is out of range [0, 1)}}
  %y = loom.cumsum %a axis 1 : tensor<4xi32>
  return
}

// -----

// Normalization axis is in range.
func.func @case46(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{normalization axis 3 is out of range [0, 2)}}
  %y = loom.layer_norm %x, %g axis 3 epsilon 1.0e-5 : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Normalized dimensions are static.
func.func @case47(%x: tensor<?x8xf32, #loom.dims<seq>>, %g: tensor<8xf32>) {
  // expected-error @+1 {{normalized dimensions [seq, 8] must be static}}
  %y = loom.rms_norm %x, %g axis 0 epsilon 1.0e-5 : (tensor<?x8xf32, #loom.dims<seq>>, tensor<8xf32>) -> tensor<?x8xf32, #loom.dims<seq>>
  return
}

// -----

// The scale has the normalized shape.
func.func @case48(%x: tensor<2x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{parameter shape [4] differs from the normalized dimensions [8]}}
  %y = loom.rms_norm %x, %g axis 1 epsilon 1.0e-5 : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  return
}

// -----

// The bias has the normalized shape.
func.func @case49(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{parameter shape [1, 8] differs from the normalized dimensions [8]}}
  %y = loom.layer_norm %x, %g, %b axis 1 epsilon 1.0e-5 : (tensor<2x8xf32>, tensor<8xf32>, tensor<1x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Epsilon is positive.
func.func @case50(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon 0.000000e+00 must be positive}}
  %y = loom.layer_norm %x, %g axis 1 epsilon 0.0 : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Normalization keeps the input type.
func.func @case51(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result} have same type}}
  %y = loom.rms_norm %x, %g axis 1 epsilon 1.0e-5 : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xbf16>
  return
}

// -----

// Normalization parameters share the input's element type.
func.func @case52(%x: tensor<2x8xf32>, %g: tensor<8xbf16>) {
  // expected-error @+1 {{requires the same element type for all operands}}
  %y = loom.rms_norm %x, %g axis 1 epsilon 1.0e-5 : (tensor<2x8xf32>, tensor<8xbf16>) -> tensor<2x8xf32>
  return
}

// -----

// Gather axis is in range.
func.func @case53(%t: tensor<10x4xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{gather axis 2 is out of range [0, 2)}}
  %y = loom.gather %t, %i axis 2 : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  return
}

// -----

// Gather gives data[:axis] + indices + data[axis+1:].
func.func @case54(%t: tensor<10x4xf32>, %i: tensor<?xi64, #loom.dims<seq>>) {
  // expected-error @+1 {{result shape [4, 4] does not match [seq, 4], the shape data[:axis] + indices + data[axis+1:]}}
  %y = loom.gather %t, %i axis 0 : (tensor<10x4xf32>, tensor<?xi64, #loom.dims<seq>>) -> tensor<4x4xf32>
  return
}

// -----

// Gather indices are integers.
func.func @case55(%t: tensor<10x4xf32>, %i: tensor<3xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 8-bit signless integer}}
  %y = loom.gather %t, %i axis 0 : (tensor<10x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>
  return
}

// -----

// Gather_elements indices have the data's rank.
func.func @case56(%t: tensor<10x4xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{indices have rank 1 but data has rank 2; they need the same rank}}
  %y = loom.gather_elements %t, %i axis 0 : (tensor<10x4xf32>, tensor<3xi64>) -> tensor<3xf32>
  return
}

// -----

// Gather_elements axis is in range.
func.func @case57(%t: tensor<10x4xf32>, %i: tensor<3x4xi64>) {
  // expected-error @+1 {{gather axis 2 is out of range [0, 2)}}
  %y = loom.gather_elements %t, %i axis 2 : (tensor<10x4xf32>, tensor<3x4xi64>) -> tensor<3x4xf32>
  return
}

// -----

// Gather_elements indices fit the data outside the axis.
func.func @case58(%t: tensor<10x4xf32>, %i: tensor<3x5xi64>) {
  // expected-error @+1 {{indices dimension 1 (5) is larger than the data's (4)}}
  %y = loom.gather_elements %t, %i axis 0 : (tensor<10x4xf32>, tensor<3x5xi64>) -> tensor<3x5xf32>
  return
}

// -----

// Gather_elements gives the indices' shape.
func.func @case59(%t: tensor<10x4xf32>, %i: tensor<3x4xi64>) {
  // expected-error @+1 {{result shape [4, 4] does not match [3, 4], the shape of the indices}}
  %y = loom.gather_elements %t, %i axis 0 : (tensor<10x4xf32>, tensor<3x4xi64>) -> tensor<4x4xf32>
  return
}

// -----

// Gather_nd index depth is static.
func.func @case60(%t: tensor<10x4xf32>, %i: tensor<3x?xi64, #loom.dims<k>>) {
  // expected-error @+1 {{indices need rank 1 or more and a static last dimension}}
  %y = loom.gather_nd %t, %i batch_dims 0 : (tensor<10x4xf32>, tensor<3x?xi64, #loom.dims<k>>) -> tensor<3xf32>
  return
}

// -----

// Gather_nd index depth fits the data.
func.func @case61(%t: tensor<10x4xf32>, %i: tensor<3x3xi64>) {
  // expected-error @+1 {{batch_dims 0 and index depth 3 do not fit data of rank 2}}
  %y = loom.gather_nd %t, %i batch_dims 0 : (tensor<10x4xf32>, tensor<3x3xi64>) -> tensor<3xf32>
  return
}

// -----

// Gather_nd batch dimensions agree.
func.func @case62(%t: tensor<10x4xf32>, %i: tensor<9x1xi64>) {
  // expected-error @+1 {{batch dimension 0 is 10 in data and 9 in indices}}
  %y = loom.gather_nd %t, %i batch_dims 1 : (tensor<10x4xf32>, tensor<9x1xi64>) -> tensor<9xf32>
  return
}

// -----

// Gather_nd gives indices.shape[:-1] + data.shape[batch_dims + K:].
func.func @case63(%t: tensor<10x4xf32>, %i: tensor<3x1xi64>) {
  // expected-error @+1 {{result shape [3] does not match [3, 4]}}
  %y = loom.gather_nd %t, %i batch_dims 0 : (tensor<10x4xf32>, tensor<3x1xi64>) -> tensor<3xf32>
  return
}

// -----

// Reshape keeps the static element count.
func.func @case64(%x: tensor<4x6xf32>) {
  // expected-error @+1 {{changes the element count: [4, 6] -> [5, 5]}}
  %y = loom.reshape %x : tensor<4x6xf32> -> tensor<5x5xf32>
  return
}

// -----

// Reshape keeps the named dimensions.
func.func @case65(%x: tensor<?x4xf32, #loom.dims<seq>>) {
  // expected-error @+1 {{changes the element count: [seq, 4] -> [batch, 4]}}
  %y = loom.reshape %x : tensor<?x4xf32, #loom.dims<seq>> -> tensor<?x4xf32, #loom.dims<batch>>
  return
}

// -----

// Reshape keeps the element type.
func.func @case66(%x: tensor<4xf32>) {
  // expected-error @+1 {{failed to verify that all of {operand, result} have same element type}}
  %y = loom.reshape %x : tensor<4xf32> -> tensor<2x2xf16>
  return
}

// -----

// A permutation has one entry per dimension.
func.func @case67(%x: tensor<4x6xf32>) {
  // expected-error @+1 {{permutation has 3 entries for a tensor of rank 2}}
  %y = loom.transpose %x [1, 0, 2] : tensor<4x6xf32> -> tensor<6x4xf32>
  return
}

// -----

// A permutation is a permutation.
func.func @case68(%x: tensor<4x6xf32>) {
  // expected-error @+1 {{permutation is not a permutation of [0, 2)}}
  %y = loom.transpose %x [1, 1] : tensor<4x6xf32> -> tensor<6x6xf32>
  return
}

// -----

// Transpose permutes the shape.
func.func @case69(%x: tensor<4x6xf32>) {
  // expected-error @+1 {{result shape [4, 6] does not match [6, 4], the shape permuted from the operand}}
  %y = loom.transpose %x [1, 0] : tensor<4x6xf32> -> tensor<4x6xf32>
  return
}

// -----

// Concat needs an input.
func.func @case70() {
  // expected-error @+1 {{expected 1 or more operands}}
  %y = "loom.concat"() <{axis = 0 : i64}> : () -> tensor<4xf32>
  return
}

// -----

// Concat axis is in range.
func.func @case71(%a: tensor<4xf32>) {
  // expected-error @+1 {{concat axis 1 is out of range [0, 1)}}
  %y = loom.concat %a, %a axis 1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

// Concat inputs have one rank.
func.func @case72(%a: tensor<4xf32>, %b: tensor<4x1xf32>) {
  // expected-error @+1 {{input 1 has rank 2 but input 0 has rank 1}}
  %y = loom.concat %a, %b axis 0 : (tensor<4xf32>, tensor<4x1xf32>) -> tensor<8xf32>
  return
}

// -----

// Concat inputs agree outside the axis.
func.func @case73(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{input 1 has 4 in dimension 0 where input 0 has 2; inputs agree outside the concat axis}}
  %y = loom.concat %a, %b axis 1 : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

// Concat sums the axis.
func.func @case74(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  // expected-error @+1 {{result shape [2, 5] does not match [2, 6], the shape of the joined inputs}}
  %y = loom.concat %a, %b axis 1 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
  return
}

// -----

// Concat inputs share the element type.
func.func @case75(%a: tensor<3xf32>, %b: tensor<3xi32>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %y = loom.concat %a, %b axis 0 : (tensor<3xf32>, tensor<3xi32>) -> tensor<6xf32>
  return
}

// -----

// Slice lists one entry per axis.
func.func @case76(%x: tensor<4xf32>) {
  // expected-error @+1 {{axes, starts, ends and steps have 1, 2, 1 and 1 entries}}
  %y = loom.slice %x axes [0] starts [0, 1] ends [2] steps [1] : tensor<4xf32> -> tensor<2xf32>
  return
}

// -----

// Slice axes are in range.
func.func @case77(%x: tensor<4xf32>) {
  // expected-error @+1 {{slice axis 1 is out of range [0, 1)}}
  %y = loom.slice %x axes [1] starts [0] ends [2] steps [1] : tensor<4xf32> -> tensor<2xf32>
  return
}

// -----

// Slice axes are distinct.
func.func @case78(%x: tensor<4xf32>) {
  // expected-error @+1 {{slice axis 0 is listed twice}}
  %y = loom.slice %x axes [0, 0] starts [0, 0] ends [2, 2] steps [1, 1] : tensor<4xf32> -> tensor<2xf32>
  return
}

// -----

// Slice steps are nonzero.
func.func @case79(%x: tensor<4xf32>) {
  // expected-error @+1 {{step for axis 0 is zero}}
  %y = loom.slice %x axes [0] starts [0] ends [2] steps [0] : tensor<4xf32> -> tensor<2xf32>
  return
}

// -----

// Slice gives the window's shape.
func.func @case80(%x: tensor<10xf32>) {
  // expected-error @+1 {{result shape [5] does not match [4], the shape of the sliced window}}
  %y = loom.slice %x axes [0] starts [1] ends [9] steps [2] : tensor<10xf32> -> tensor<5xf32>
  return
}

// -----

// A slice from the end of a named axis has a static size.
func.func @case81(%x: tensor<?xf32, #loom.dims<seq>>) {
  // expected-error @+1 {{result shape [seq] does not match [1], the shape of the sliced window}}
  %y = loom.slice %x axes [0] starts [-1] ends [9223372036854775807] steps [1] : tensor<?xf32, #loom.dims<seq>> -> tensor<?xf32, #loom.dims<seq>>
  return
}

// -----

// Broadcast never drops dimensions.
func.func @case82(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{result rank 1 is below the operand rank 2}}
  %y = loom.broadcast %x : tensor<2x3xf32> -> tensor<3xf32>
  return
}

// -----

// Broadcast only stretches static 1s.
func.func @case83(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{operand dimension 0 (2) can only broadcast to itself, not to 6; only a static 1 stretches}}
  %y = loom.broadcast %x : tensor<2x3xf32> -> tensor<4x6x3xf32>
  return
}

// -----

// Broadcast keeps the element type.
func.func @case84(%x: tensor<3xf32>) {
  // expected-error @+1 {{failed to verify that all of {operand, result} have same element type}}
  %y = loom.broadcast %x : tensor<3xf32> -> tensor<2x3xi32>
  return
}

// -----

// Rope inputs have rank 2 or more.
func.func @case85(%x: tensor<8xf32>, %c: tensor<4xf32>) {
  // expected-error @+1 {{input has rank 1; it needs rank 2 or more}}
  %y = loom.rope %x, %c, %c : (tensor<8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

// Rope tables are no larger in rank than the input.
func.func @case86(%x: tensor<3x8xf32>, %c: tensor<1x3x4xf32>) {
  // expected-error @+1 {{cos/sin tables have rank 3; they need rank 1 to 2}}
  %y = loom.rope %x, %c, %c : (tensor<3x8xf32>, tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<3x8xf32>
  return
}

// -----

// Rope feature dimensions are static.
func.func @case87(%x: tensor<3x?xf32, #loom.dims<d>>, %c: tensor<3x4xf32>) {
  // expected-error @+1 {{the last dimension of the input and of the tables must be static}}
  %y = loom.rope %x, %c, %c : (tensor<3x?xf32, #loom.dims<d>>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x?xf32, #loom.dims<d>>
  return
}

// -----

// Rope rotates at most the input's features.
func.func @case88(%x: tensor<3x8xf32>, %c: tensor<3x5xf32>) {
  // expected-error @+1 {{tables rotate 10 features (twice their last dimension) but the input has 8}}
  %y = loom.rope %x, %c, %c : (tensor<3x8xf32>, tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<3x8xf32>
  return
}

// -----

// Rope tables broadcast to the input.
func.func @case89(%x: tensor<2x?x8xf32, #loom.dims<seq>>, %c: tensor<?x4xf32, #loom.dims<batch>>) {
  // expected-error @+1 {{table dimension 0 (batch) does not broadcast to input dimension 1 (seq)}}
  %y = loom.rope %x, %c, %c : (tensor<2x?x8xf32, #loom.dims<seq>>, tensor<?x4xf32, #loom.dims<batch>>, tensor<?x4xf32, #loom.dims<batch>>) -> tensor<2x?x8xf32, #loom.dims<seq>>
  return
}

// -----

// Rope cos and sin have one type.
func.func @case90(%x: tensor<3x8xf32>, %c: tensor<3x4xf32>, %s: tensor<1x4xf32>) {
  // expected-error @+1 {{failed to verify that all of {cos, sin} have same type}}
  %y = loom.rope %x, %c, %s : (tensor<3x8xf32>, tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x8xf32>
  return
}

// -----

// Attention operands have rank 4.
func.func @case91(%q: tensor<8x4x16xf32>) {
  // expected-error @+1 {{query, key and value have ranks 3, 3 and 3; each needs rank 4 [batch, heads, seq, head_dim]}}
  %y = loom.attention %q, %q, %q : (tensor<8x4x16xf32>, tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return
}

// -----

// Attention operands share the batch.
func.func @case92(%q: tensor<2x4x5x16xf32>, %k: tensor<3x4x5x16xf32>) {
  // expected-error @+1 {{batch sizes differ: query 2, key 3, value 3}}
  %y = loom.attention %q, %k, %k : (tensor<2x4x5x16xf32>, tensor<3x4x5x16xf32>, tensor<3x4x5x16xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// Key and value share heads and length.
func.func @case93(%q: tensor<2x4x5x16xf32>, %k: tensor<2x4x5x16xf32>, %v: tensor<2x4x6x16xf32>) {
  // expected-error @+1 {{need the same KV heads and KV length}}
  %y = loom.attention %q, %k, %v : (tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>, tensor<2x4x6x16xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// Query and key share head_dim.
func.func @case94(%q: tensor<2x4x5x16xf32>, %k: tensor<2x4x5x8xf32>) {
  // expected-error @+1 {{query head_dim 16 differs from key head_dim 8}}
  %y = loom.attention %q, %k, %k : (tensor<2x4x5x16xf32>, tensor<2x4x5x8xf32>, tensor<2x4x5x8xf32>) -> tensor<2x4x5x8xf32>
  return
}

// -----

// Query heads are a multiple of KV heads.
func.func @case95(%q: tensor<2x8x5x16xf32>, %k: tensor<2x3x5x16xf32>) {
  // expected-error @+1 {{query heads (8) must be a multiple of KV heads (3)}}
  %y = loom.attention %q, %k, %k : (tensor<2x8x5x16xf32>, tensor<2x3x5x16xf32>, tensor<2x3x5x16xf32>) -> tensor<2x8x5x16xf32>
  return
}

// -----

// Attention scale is positive.
func.func @case96(%q: tensor<2x4x5x16xf32>) {
  // expected-error @+1 {{scale -1.000000e+00 must be positive}}
  %y = loom.attention %q, %q, %q scale -1.0 : (tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// Attention softcap is positive.
func.func @case96b(%q: tensor<2x4x5x16xf32>) {
  // expected-error @+1 {{softcap 0.000000e+00 must be positive}}
  %y = loom.attention %q, %q, %q softcap 0.0 : (tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// The mask broadcasts to the scores.
func.func @case97(%q: tensor<2x4x5x16xf32>, %m: tensor<5x16xf32>) {
  // expected-error @+1 {{mask [5, 16] does not broadcast to the scores [batch, heads, seq, kv_seq] [2, 4, 5, 5]}}
  %y = loom.attention %q, %q, %q mask %m : (tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>, tensor<2x4x5x16xf32>, tensor<5x16xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// Attention gives [batch, heads, seq, value head_dim].
func.func @case98(%q: tensor<2x4x5x16xf32>, %k: tensor<2x4x7x16xf32>, %v: tensor<2x4x7x32xf32>) {
  // expected-error @+1 {{result shape [2, 4, 5, 16] does not match [2, 4, 5, 32]}}
  %y = loom.attention %q, %k, %v : (tensor<2x4x5x16xf32>, tensor<2x4x7x16xf32>, tensor<2x4x7x32xf32>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// Attention operands share the element type.
func.func @case99(%q: tensor<2x4x5x16xf32>, %k: tensor<2x4x5x16xbf16>) {
  // expected-error @+1 {{failed to verify that all of {query, key, value, result} have same element type}}
  %y = loom.attention %q, %k, %k : (tensor<2x4x5x16xf32>, tensor<2x4x5x16xbf16>, tensor<2x4x5x16xbf16>) -> tensor<2x4x5x16xf32>
  return
}

// -----

// A linear layer's input features are the weight's K.
func.func @case100(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>) {
  // expected-error @+1 {{input features 16 differ from the weight's 8 (weight is [N, K])}}
  %y = loom.linear %x, %w transpose_weight : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  return
}

// -----

// A linear layer's weight is a static matrix.
func.func @case101(%x: tensor<4x16xf32>, %w: tensor<?x8xf32, #loom.dims<k>>) {
  // expected-error @+1 {{weight [k, 8] must be a static matrix}}
  %y = loom.linear %x, %w : (tensor<4x16xf32>, tensor<?x8xf32, #loom.dims<k>>) -> tensor<4x8xf32>
  return
}

// -----

// A linear layer's bias has one value per output feature.
func.func @case102(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{bias [1, 8] must be [8], one value per output feature}}
  %y = loom.linear %x, %w bias %b : (tensor<4x16xf32>, tensor<16x8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// A linear layer gives [..., N].
func.func @case103(%x: tensor<2x4x16xf32>, %w: tensor<16x8xf32>) {
  // expected-error @+1 {{result shape [2, 4, 16] does not match [2, 4, 8], the shape [..., N] of the layer}}
  %y = loom.linear %x, %w : (tensor<2x4x16xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

// A kernel's kind names the op it is built around.
func.func @case104(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{of kind pointwise contains 'loom.softmax', which anchors a reduction kernel}}
  %y = loom.kernel pointwise(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %s = loom.softmax %a axis 1 : tensor<4x8xf32>
    loom.yield %s : tensor<4x8xf32>
  }
  return
}

// -----

// A kernel has exactly one anchor (a scatter kernel one or more).
func.func @case105(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{of kind reduction has 2 anchor op(s); a pointwise kernel has none, a scatter kernel one or more, others exactly one}}
  %y = loom.kernel reduction(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %s = loom.softmax %a axis 1 : tensor<4x8xf32>
    %t = loom.softmax %s axis 0 : tensor<4x8xf32>
    loom.yield %t : tensor<4x8xf32>
  }
  return
}

// -----

// A kernel's body arguments are its inputs.
func.func @case106(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{body argument 0 has type 'tensor<8x4xf32>' but input 0 has type 'tensor<4x8xf32>'}}
  %y = loom.kernel pointwise(%x) : (tensor<4x8xf32>) -> tensor<8x4xf32> {
  ^bb0(%a: tensor<8x4xf32>):
    %e = loom.exp %a : tensor<8x4xf32>
    loom.yield %e : tensor<8x4xf32>
  }
  return
}

// -----

// A kernel body is isolated: it reads its inputs, not values from outside.
func.func @case107(%x: tensor<4x8xf32>) {
  // expected-note @+1 {{required by region isolation constraints}}
  %y = loom.kernel pointwise(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    // expected-error @+1 {{using value defined outside the region}}
    %e = loom.add %a, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    loom.yield %e : tensor<4x8xf32>
  }
  return
}

// -----

// A schedule holds only its kind's keys.
func.func @case108(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{a pointwise schedule has no key 'tile_m'}}
  %y = loom.kernel pointwise(%x) {schedule = {threads = 256, vector = 4, tile_m = 64}} : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %e = loom.exp %a : tensor<4x8xf32>
    loom.yield %e : tensor<4x8xf32>
  }
  return
}

// -----

// Schedule sizes are positive.
func.func @case109(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{schedule key 'vector' must be a positive integer}}
  %y = loom.kernel pointwise(%x) {schedule = {threads = 256, vector = 0}} : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %e = loom.exp %a : tensor<4x8xf32>
    loom.yield %e : tensor<4x8xf32>
  }
  return
}

// -----

// A schedule names every key of its kind.
func.func @case110(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{schedule lacks 'threads'}}
  %y = loom.kernel reduction(%x) {schedule = {}} : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: tensor<4x8xf32>):
    %e = loom.softmax %a axis 1 : tensor<4x8xf32>
    loom.yield %e : tensor<4x8xf32>
  }
  return
}

// -----

// New values must match the cache's heads and head size.
func.func @case111(%kc: tensor<8x16x2x32xf32>, %k: tensor<3x4x32xf32>, %s: tensor<3xi64>) {
  // expected-error @+1 {{values [3, 4, 32] do not match the cache's [heads, head_dim] [2, 32]}}
  %c = loom.cache_write %kc, %k, %s : (tensor<8x16x2x32xf32>, tensor<3x4x32xf32>, tensor<3xi64>) -> tensor<8x16x2x32xf32>
  return
}

// -----

// One slot per new token.
func.func @case112(%kc: tensor<8x16x2x32xf32>, %k: tensor<3x2x32xf32>, %s: tensor<4xi64>) {
  // expected-error @+1 {{values have 3 tokens but slots 4}}
  %c = loom.cache_write %kc, %k, %s : (tensor<8x16x2x32xf32>, tensor<3x2x32xf32>, tensor<4xi64>) -> tensor<8x16x2x32xf32>
  return
}

// -----

// A cache of 8-bit codes needs its scales.
func.func @kv_codes_no_scales(%kc: tensor<8x16x2x32xi8>, %k: tensor<3x2x32xf32>, %s: tensor<3xi64>) {
  // expected-error @+1 {{a cache of 8-bit codes needs its scales}}
  %c = loom.cache_write %kc, %k, %s : (tensor<8x16x2x32xi8>, tensor<3x2x32xf32>, tensor<3xi64>) -> tensor<8x16x2x32xi8>
  return
}

// -----

// A float cache takes no scales.
func.func @kv_float_scales(%kc: tensor<8x16x2x32xf32>, %k: tensor<3x2x32xf32>, %s: tensor<3xi64>, %ks: tensor<8x16x2xf32>) {
  // expected-error @+1 {{a float cache takes no scales}}
  %c, %t = loom.cache_write %kc, %k, %s scales %ks : (tensor<8x16x2x32xf32>, tensor<3x2x32xf32>, tensor<3xi64>, tensor<8x16x2xf32>) -> (tensor<8x16x2x32xf32>, tensor<8x16x2xf32>)
  return
}

// -----

// Scales are [blocks, block_size, heads] of the cache.
func.func @kv_scales_shape(%kc: tensor<8x16x2x32xi8>, %k: tensor<3x2x32xf32>, %s: tensor<3xi64>, %ks: tensor<8x16x4xf32>) {
  // expected-error @+1 {{scales [8, 16, 4] must be [blocks, block_size, heads] of the cache [8, 16, 2, 32]}}
  %c, %t = loom.cache_write %kc, %k, %s scales %ks : (tensor<8x16x2x32xi8>, tensor<3x2x32xf32>, tensor<3xi64>, tensor<8x16x4xf32>) -> (tensor<8x16x2x32xi8>, tensor<8x16x4xf32>)
  return
}

// -----

// Scales are f32.
func.func @kv_scales_type(%kc: tensor<8x16x2x32xi8>, %k: tensor<3x2x32xf32>, %s: tensor<3xi64>, %ks: tensor<8x16x2xbf16>) {
  // expected-error @+1 {{scales must be f32}}
  %c, %t = loom.cache_write %kc, %k, %s scales %ks : (tensor<8x16x2x32xi8>, tensor<3x2x32xf32>, tensor<3xi64>, tensor<8x16x2xbf16>) -> (tensor<8x16x2x32xi8>, tensor<8x16x2xbf16>)
  return
}

// -----

// A quantized write returns its scales.
func.func @kv_scales_result(%kc: tensor<8x16x2x32xi8>, %k: tensor<3x2x32xf32>, %s: tensor<3xi64>, %ks: tensor<8x16x2xf32>) {
  // expected-error @+1 {{a quantized cache write returns its scales (two results)}}
  %c = loom.cache_write %kc, %k, %s scales %ks : (tensor<8x16x2x32xi8>, tensor<3x2x32xf32>, tensor<3xi64>, tensor<8x16x2xf32>) -> tensor<8x16x2x32xi8>
  return
}

// -----

// Paged attention over 8-bit caches takes the keys' and the values' scales.
func.func @kv_attention_one_scale(%q: tensor<5x4x32xf32>, %kc: tensor<8x16x2x32xi8>, %t: tensor<2x4xi64>, %l: tensor<2xi64>, %ks: tensor<8x16x2xf32>) {
  // expected-error @+1 {{quantized caches take two scales (keys', values'), not 1}}
  %o = loom.paged_attention %q, %kc, %kc, %t, %l, %l scales %ks : (tensor<5x4x32xf32>, tensor<8x16x2x32xi8>, tensor<8x16x2x32xi8>, tensor<2x4xi64>, tensor<2xi64>, tensor<2xi64>, tensor<8x16x2xf32>) -> tensor<5x4x32xf32>
  return
}

// -----

// ... and no scales over float caches; 8-bit caches without them are refused.
func.func @kv_attention_no_scales(%q: tensor<5x4x32xf32>, %kc: tensor<8x16x2x32xf8E4M3FN>, %t: tensor<2x4xi64>, %l: tensor<2xi64>) {
  // expected-error @+1 {{a cache of 8-bit codes needs its key scales}}
  %o = loom.paged_attention %q, %kc, %kc, %t, %l, %l : (tensor<5x4x32xf32>, tensor<8x16x2x32xf8E4M3FN>, tensor<8x16x2x32xf8E4M3FN>, tensor<2x4xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<5x4x32xf32>
  return
}

// -----

// Query heads are a multiple of the caches' KV heads.
func.func @case113(%q: tensor<5x3x32xf32>, %kc: tensor<8x16x2x32xf32>, %t: tensor<2x4xi64>, %l: tensor<2xi64>) {
  // expected-error @+1 {{query heads (3) must be a multiple of KV heads (2)}}
  %o = loom.paged_attention %q, %kc, %kc, %t, %l, %l : (tensor<5x3x32xf32>, tensor<8x16x2x32xf32>, tensor<8x16x2x32xf32>, tensor<2x4xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<5x3x32xf32>
  return
}

// -----

// Block tables, context lengths and query starts have one row per sequence.
func.func @case114(%q: tensor<5x4x32xf32>, %kc: tensor<8x16x2x32xf32>, %t: tensor<3x4xi64>, %l: tensor<2xi64>) {
  // expected-error @+1 {{need shapes [seqs, max_blocks], [seqs] and [seqs]}}
  %o = loom.paged_attention %q, %kc, %kc, %t, %l, %l : (tensor<5x4x32xf32>, tensor<8x16x2x32xf32>, tensor<8x16x2x32xf32>, tensor<3x4xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<5x4x32xf32>
  return
}

// -----

// Cross-entropy labels have the logits' shape without the vocabulary.
func.func @ce_labels(%x: tensor<4x6x64xf32>, %t: tensor<4x5xi64>) {
  // expected-error @+1 {{labels [4, 5] do not have the shape of the logits without their last dimension, [4, 6]}}
  %l = loom.cross_entropy %x, %t ignore_index -100 : (tensor<4x6x64xf32>, tensor<4x5xi64>) -> tensor<f32>
  return
}

// -----

// The cross-entropy loss is a scalar.
func.func @ce_scalar(%x: tensor<4x64xf32>, %t: tensor<4xi64>) {
  // expected-error @+1 {{the loss is a scalar (rank 0), not [1]}}
  %l = loom.cross_entropy %x, %t ignore_index -100 : (tensor<4x64xf32>, tensor<4xi64>) -> tensor<1xf32>
  return
}

// -----

// Shifted labels need a position axis.
func.func @ce_shift(%x: tensor<64xf32>, %t: tensor<i64>) {
  // expected-error @+1 {{shift_labels needs labels of rank 1 or more}}
  %l = loom.cross_entropy %x, %t shift_labels ignore_index -100 : (tensor<64xf32>, tensor<i64>) -> tensor<f32>
  return
}

// -----

// The cross-entropy gradient takes the gradient of a scalar loss.
func.func @ce_grad_scalar(%x: tensor<4x64xf32>, %t: tensor<4xi64>, %g: tensor<4xf32>) {
  // expected-error @+1 {{loss_grad is the gradient of a scalar loss (rank 0), not [4]}}
  %d = loom.cross_entropy_grad %x, %t, %g ignore_index -100 : (tensor<4x64xf32>, tensor<4xi64>, tensor<4xf32>) -> tensor<4x64xf32>
  return
}

// -----

// A scatter-add's result is static along its axis.
func.func @scatter_dynamic(%u: tensor<3x16xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{the result's size along axis 0 must be static, not ?}}
  %d = loom.scatter_add %u, %i axis 0 : (tensor<3x16xf32>, tensor<3xi64>) -> tensor<?x16xf32>
  return
}

// -----

// A scatter-add's updates are shaped like the gather they undo.
func.func @scatter_updates(%u: tensor<3x8xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{updates [3, 8] do not match [3, 16], the shape result[:axis] + indices + result[axis+1:]}}
  %d = loom.scatter_add %u, %i axis 0 : (tensor<3x8xf32>, tensor<3xi64>) -> tensor<64x16xf32>
  return
}

// -----

// A scatter-add's axis is inside the result.
func.func @scatter_axis(%u: tensor<3x16xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{axis 2 is out of range [0, 2) for a result of rank 2}}
  %d = loom.scatter_add %u, %i axis 2 : (tensor<3x16xf32>, tensor<3xi64>) -> tensor<64x16xf32>
  return
}

// -----

// attention_grad takes rank-4 operands.
func.func @attention_grad_rank(%q: tensor<2x8x32xf32>) {
  // expected-error @+1 {{each needs rank 4 [batch, heads, seq, head_dim]}}
  %dq, %dk, %dv = loom.attention_grad %q, %q, %q, %q : (tensor<2x8x32xf32>, tensor<2x8x32xf32>, tensor<2x8x32xf32>, tensor<2x8x32xf32>) -> (tensor<2x8x32xf32>, tensor<2x8x32xf32>, tensor<2x8x32xf32>)
  return
}

// -----

// attention_grad's query heads are a multiple of its KV heads.
func.func @attention_grad_heads(%q: tensor<1x6x5x32xf32>, %k: tensor<1x4x5x32xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of KV heads (4)}}
  %dq, %dk, %dv = loom.attention_grad %q, %k, %k, %q : (tensor<1x6x5x32xf32>, tensor<1x4x5x32xf32>, tensor<1x4x5x32xf32>, tensor<1x6x5x32xf32>) -> (tensor<1x6x5x32xf32>, tensor<1x4x5x32xf32>, tensor<1x4x5x32xf32>)
  return
}

// -----

// attention_grad's result gradient has the attention output's shape.
func.func @attention_grad_output(%q: tensor<1x8x5x32xf32>, %k: tensor<1x2x5x32xf32>, %do: tensor<1x8x4x32xf32>) {
  // expected-error @+1 {{result_grad [1, 8, 4, 32] does not have the attention output's shape [1, 8, 5, 32]}}
  %dq, %dk, %dv = loom.attention_grad %q, %k, %k, %do : (tensor<1x8x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x8x4x32xf32>) -> (tensor<1x8x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>)
  return
}

// -----

// attention_grad's mask broadcasts to the scores.
func.func @attention_grad_mask(%q: tensor<1x8x5x32xf32>, %k: tensor<1x2x5x32xf32>, %m: tensor<1x1x1x4xf32>) {
  // expected-error @+1 {{mask [1, 1, 1, 4] does not broadcast to the scores}}
  %dq, %dk, %dv = loom.attention_grad %q, %k, %k, %q mask %m : (tensor<1x8x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x8x5x32xf32>, tensor<1x1x1x4xf32>) -> (tensor<1x8x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>)
  return
}
