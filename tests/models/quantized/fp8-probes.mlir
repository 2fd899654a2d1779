// The W8A8 projections of layer 0 of the compressed-tensors FP8 checkpoint: each input
// rounded to FP8 per token (loom.quantize_rows), times the FP8 weight with its per-channel
// scales. Inputs and expected outputs are fp8_linear_probes.safetensors (see the shared
// quantized README): tests/models/CMakeLists.txt runs it with `loom reference --check`.
func.func @forward(%x0: tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.q_proj.input"},
                   %x1: tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.k_proj.input"},
                   %x2: tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.v_proj.input"},
                   %x3: tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.o_proj.input"},
                   %x4: tensor<2x24x256xf32> {loom.name = "model.layers.0.mlp.gate_proj.input"},
                   %x5: tensor<2x24x256xf32> {loom.name = "model.layers.0.mlp.up_proj.input"},
                   %x6: tensor<2x24x704xf32> {loom.name = "model.layers.0.mlp.down_proj.input"})
    -> (tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.q_proj.output"},
        tensor<2x24x64xf32> {loom.name = "model.layers.0.self_attn.k_proj.output"},
        tensor<2x24x64xf32> {loom.name = "model.layers.0.self_attn.v_proj.output"},
        tensor<2x24x256xf32> {loom.name = "model.layers.0.self_attn.o_proj.output"},
        tensor<2x24x704xf32> {loom.name = "model.layers.0.mlp.gate_proj.output"},
        tensor<2x24x704xf32> {loom.name = "model.layers.0.mlp.up_proj.output"},
        tensor<2x24x256xf32> {loom.name = "model.layers.0.mlp.down_proj.output"}) {
  %w0 = loom.weight "model.layers.0.self_attn.q_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<256x256xf32>
  %r0 = loom.quantize_rows %x0 code fp8e4m3 : tensor<2x24x256xf32>
  %y0 = loom.linear %r0, %w0 transpose_weight : (tensor<2x24x256xf32>, tensor<256x256xf32>) -> tensor<2x24x256xf32>
  %w1 = loom.weight "model.layers.0.self_attn.k_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<64x256xf32>
  %r1 = loom.quantize_rows %x1 code fp8e4m3 : tensor<2x24x256xf32>
  %y1 = loom.linear %r1, %w1 transpose_weight : (tensor<2x24x256xf32>, tensor<64x256xf32>) -> tensor<2x24x64xf32>
  %w2 = loom.weight "model.layers.0.self_attn.v_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<64x256xf32>
  %r2 = loom.quantize_rows %x2 code fp8e4m3 : tensor<2x24x256xf32>
  %y2 = loom.linear %r2, %w2 transpose_weight : (tensor<2x24x256xf32>, tensor<64x256xf32>) -> tensor<2x24x64xf32>
  %w3 = loom.weight "model.layers.0.self_attn.o_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<256x256xf32>
  %r3 = loom.quantize_rows %x3 code fp8e4m3 : tensor<2x24x256xf32>
  %y3 = loom.linear %r3, %w3 transpose_weight : (tensor<2x24x256xf32>, tensor<256x256xf32>) -> tensor<2x24x256xf32>
  %w4 = loom.weight "model.layers.0.mlp.gate_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<704x256xf32>
  %r4 = loom.quantize_rows %x4 code fp8e4m3 : tensor<2x24x256xf32>
  %y4 = loom.linear %r4, %w4 transpose_weight : (tensor<2x24x256xf32>, tensor<704x256xf32>) -> tensor<2x24x704xf32>
  %w5 = loom.weight "model.layers.0.mlp.up_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<704x256xf32>
  %r5 = loom.quantize_rows %x5 code fp8e4m3 : tensor<2x24x256xf32>
  %y5 = loom.linear %r5, %w5 transpose_weight : (tensor<2x24x256xf32>, tensor<704x256xf32>) -> tensor<2x24x704xf32>
  %w6 = loom.weight "model.layers.0.mlp.down_proj.weight" quant <code = fp8e4m3, group = 0, scale = f32, offset = none, source = ct_float> : tensor<256x704xf32>
  %r6 = loom.quantize_rows %x6 code fp8e4m3 : tensor<2x24x704xf32>
  %y6 = loom.linear %r6, %w6 transpose_weight : (tensor<2x24x704xf32>, tensor<256x704xf32>) -> tensor<2x24x256xf32>
  return %y0, %y1, %y2, %y3, %y4, %y5, %y6 : tensor<2x24x256xf32>, tensor<2x24x64xf32>, tensor<2x24x64xf32>, tensor<2x24x256xf32>, tensor<2x24x704xf32>, tensor<2x24x704xf32>, tensor<2x24x256xf32>
}
