// One decoder layer of examples' tiny Llama (hidden 256, 8 query heads, 2 KV heads,
// head_dim 32, SwiGLU MLP of 704), written in loom IR the way an importer emits it:
// with leftovers (a transpose and its inverse, a reshape round trip, a multiply by one)
// that `loom-opt --loom-canonicalize` removes.
//
//   loom-opt --loom-canonicalize examples/llama-layer.mlir

!hidden = tensor<?x?x256xf32, #loom.dims<batch, seq>>
!heads = tensor<?x8x?x32xf32, #loom.dims<batch, seq>>
!kv = tensor<?x2x?x32xf32, #loom.dims<batch, seq>>
!table = tensor<?x1x?x16xf32, #loom.dims<batch, seq>>
!mlp = tensor<?x?x704xf32, #loom.dims<batch, seq>>

func.func @layer0(%x: !hidden, %cos: !table, %sin: !table) -> !hidden {
  // Attention block.
  %ln1 = loom.weight "model.layers.0.input_layernorm.weight" : tensor<256xf32>
  %h = loom.rms_norm %x, %ln1 axis 2 epsilon 1.0e-5 : (!hidden, tensor<256xf32>) -> !hidden

  %wq = loom.weight "model.layers.0.self_attn.q_proj.weight" : tensor<256x256xf32>
  %wk = loom.weight "model.layers.0.self_attn.k_proj.weight" : tensor<64x256xf32>
  %wv = loom.weight "model.layers.0.self_attn.v_proj.weight" : tensor<64x256xf32>
  %q0 = loom.matmul %h, %wq transpose_rhs : (!hidden, tensor<256x256xf32>) -> !hidden
  %k0 = loom.matmul %h, %wk transpose_rhs : (!hidden, tensor<64x256xf32>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>>
  %v0 = loom.matmul %h, %wv transpose_rhs : (!hidden, tensor<64x256xf32>) -> tensor<?x?x64xf32, #loom.dims<batch, seq>>

  %q1 = loom.reshape %q0 : !hidden -> tensor<?x?x8x32xf32, #loom.dims<batch, seq>>
  %q2 = loom.transpose %q1 [0, 2, 1, 3] : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> !heads
  %k1 = loom.reshape %k0 : tensor<?x?x64xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x32xf32, #loom.dims<batch, seq>>
  %k2 = loom.transpose %k1 [0, 2, 1, 3] : tensor<?x?x2x32xf32, #loom.dims<batch, seq>> -> !kv
  %v1 = loom.reshape %v0 : tensor<?x?x64xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x32xf32, #loom.dims<batch, seq>>
  %v2 = loom.transpose %v1 [0, 2, 1, 3] : tensor<?x?x2x32xf32, #loom.dims<batch, seq>> -> !kv

  %q3 = loom.rope %q2, %cos, %sin : (!heads, !table, !table) -> !heads
  %k3 = loom.rope %k2, %cos, %sin : (!kv, !table, !table) -> !kv
  // Leftover from an exporter: K transposed for Q K^T and back again.
  %kt = loom.transpose %k3 [0, 1, 3, 2] : !kv -> tensor<?x2x32x?xf32, #loom.dims<batch, seq>>
  %k4 = loom.transpose %kt [0, 1, 3, 2] : tensor<?x2x32x?xf32, #loom.dims<batch, seq>> -> !kv

  %o0 = loom.attention %q3, %k4, %v2 causal : (!heads, !kv, !kv) -> !heads
  %o1 = loom.transpose %o0 [0, 2, 1, 3] : !heads -> tensor<?x?x8x32xf32, #loom.dims<batch, seq>>
  %o2 = loom.reshape %o1 : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> !hidden
  %wo = loom.weight "model.layers.0.self_attn.o_proj.weight" : tensor<256x256xf32>
  %o3 = loom.matmul %o2, %wo transpose_rhs : (!hidden, tensor<256x256xf32>) -> !hidden
  // Leftover: a multiply by one and a reshape round trip.
  %one = loom.constant dense<1.0> : tensor<f32>
  %o4 = loom.mul %o3, %one : (!hidden, tensor<f32>) -> !hidden
  %o5 = loom.reshape %o4 : !hidden -> tensor<?x?x8x32xf32, #loom.dims<batch, seq>>
  %o6 = loom.reshape %o5 : tensor<?x?x8x32xf32, #loom.dims<batch, seq>> -> !hidden
  %r1 = loom.add %x, %o6 : (!hidden, !hidden) -> !hidden

  // MLP block: down(silu(gate(h)) * up(h)).
  %ln2 = loom.weight "model.layers.0.post_attention_layernorm.weight" : tensor<256xf32>
  %h2 = loom.rms_norm %r1, %ln2 axis 2 epsilon 1.0e-5 : (!hidden, tensor<256xf32>) -> !hidden
  %wg = loom.weight "model.layers.0.mlp.gate_proj.weight" : tensor<704x256xf32>
  %wu = loom.weight "model.layers.0.mlp.up_proj.weight" : tensor<704x256xf32>
  %wd = loom.weight "model.layers.0.mlp.down_proj.weight" : tensor<256x704xf32>
  %g = loom.matmul %h2, %wg transpose_rhs : (!hidden, tensor<704x256xf32>) -> !mlp
  %u = loom.matmul %h2, %wu transpose_rhs : (!hidden, tensor<704x256xf32>) -> !mlp
  %a = loom.silu %g : !mlp
  %gu = loom.mul %a, %u : (!mlp, !mlp) -> !mlp
  %d = loom.matmul %gu, %wd transpose_rhs : (!mlp, tensor<256x704xf32>) -> !hidden
  %r2 = loom.add %r1, %d : (!hidden, !hidden) -> !hidden
  return %r2 : !hidden
}
