// RUN: loom-opt %s -split-input-file -loom-fuse | FileCheck %s

// A SwiGLU MLP with its residual: silu(gate) * up is the gate linear's epilogue (the up
// linear's output is an input), the residual add the down linear's.
// CHECK-LABEL: func.func @swiglu
// CHECK: %[[UP:.+]] = loom.kernel matmul(%arg0, %{{.+}}) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.linear
// CHECK-NEXT: loom.yield
// CHECK: %[[GATE:.+]] = loom.kernel matmul(%arg0, %{{.+}}, %[[UP]]) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.linear
// CHECK-NEXT: loom.silu
// CHECK-NEXT: loom.mul
// CHECK-NEXT: loom.yield
// CHECK: %[[DOWN:.+]] = loom.kernel matmul(%[[GATE]], %{{.+}}, %arg0) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.linear
// CHECK-NEXT: loom.add
// CHECK-NEXT: loom.yield
// CHECK: return %[[DOWN]]
func.func @swiglu(%x: tensor<?x64xf32, #loom.dims<tokens>>) -> tensor<?x64xf32, #loom.dims<tokens>> {
  %wg = loom.weight "gate" : tensor<176x64xf32>
  %wu = loom.weight "up" : tensor<176x64xf32>
  %wd = loom.weight "down" : tensor<64x176xf32>
  %u = loom.linear %x, %wu transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<176x64xf32>) -> tensor<?x176xf32, #loom.dims<tokens>>
  %g = loom.linear %x, %wg transpose_weight : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<176x64xf32>) -> tensor<?x176xf32, #loom.dims<tokens>>
  %s = loom.silu %g : tensor<?x176xf32, #loom.dims<tokens>>
  %p = loom.mul %s, %u : (tensor<?x176xf32, #loom.dims<tokens>>, tensor<?x176xf32, #loom.dims<tokens>>) -> tensor<?x176xf32, #loom.dims<tokens>>
  %d = loom.linear %p, %wd transpose_weight : (tensor<?x176xf32, #loom.dims<tokens>>, tensor<64x176xf32>) -> tensor<?x64xf32, #loom.dims<tokens>>
  %r = loom.add %x, %d : (tensor<?x64xf32, #loom.dims<tokens>>, tensor<?x64xf32, #loom.dims<tokens>>) -> tensor<?x64xf32, #loom.dims<tokens>>
  return %r : tensor<?x64xf32, #loom.dims<tokens>>
}

// -----

// Attention takes the head splits (reshape, transpose), the rope on Q and the V head
// transpose as prologue, and the output transpose and reshape as epilogue. The rope on
// K is a kernel of its own: every query block reads all keys, so computing it in the
// prologue would repeat it per query block and head.
// CHECK-LABEL: func.func @attention_with_rope
// CHECK-NEXT: %[[K4:.+]] = loom.reshape %arg1
// CHECK-NEXT: %[[K:.+]] = loom.kernel pointwise(%[[K4]], %arg2, %arg3) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.transpose
// CHECK-NEXT: loom.rope
// CHECK-NEXT: loom.yield
// CHECK: %[[O:.+]] = loom.kernel attention(%arg0, %arg2, %arg3, %[[K4]], %[[K]]) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.reshape
// CHECK-NEXT: loom.transpose
// CHECK-NEXT: loom.rope
// CHECK-NEXT: loom.transpose
// CHECK-NEXT: loom.attention
// CHECK-NEXT: loom.transpose
// CHECK-NEXT: loom.reshape
// CHECK-NEXT: loom.yield
// CHECK-NOT: loom.kernel
// CHECK: return %[[O]]
func.func @attention_with_rope(%q: tensor<?x?x128xf32, #loom.dims<batch, seq>>, %k: tensor<?x?x32xf32, #loom.dims<batch, seq>>, %cos: tensor<?x8xf32, #loom.dims<seq>>, %sin: tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x?x128xf32, #loom.dims<batch, seq>> {
  %q4 = loom.reshape %q : tensor<?x?x128xf32, #loom.dims<batch, seq>> -> tensor<?x?x8x16xf32, #loom.dims<batch, seq>>
  %k4 = loom.reshape %k : tensor<?x?x32xf32, #loom.dims<batch, seq>> -> tensor<?x?x2x16xf32, #loom.dims<batch, seq>>
  %qt = loom.transpose %q4 [0, 2, 1, 3] : tensor<?x?x8x16xf32, #loom.dims<batch, seq>> -> tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %qr = loom.rope %qt, %cos, %sin : (tensor<?x8x?x16xf32, #loom.dims<batch, seq>>, tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %kt = loom.transpose %k4 [0, 2, 1, 3] : tensor<?x?x2x16xf32, #loom.dims<batch, seq>> -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %kr = loom.rope %kt, %cos, %sin : (tensor<?x2x?x16xf32, #loom.dims<batch, seq>>, tensor<?x8xf32, #loom.dims<seq>>, tensor<?x8xf32, #loom.dims<seq>>) -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %vt = loom.transpose %k4 [0, 2, 1, 3] : tensor<?x?x2x16xf32, #loom.dims<batch, seq>> -> tensor<?x2x?x16xf32, #loom.dims<batch, seq>>
  %a = loom.attention %qr, %kr, %vt causal : (tensor<?x8x?x16xf32, #loom.dims<batch, seq>>, tensor<?x2x?x16xf32, #loom.dims<batch, seq>>, tensor<?x2x?x16xf32, #loom.dims<batch, seq>>) -> tensor<?x8x?x16xf32, #loom.dims<batch, seq>>
  %at = loom.transpose %a [0, 2, 1, 3] : tensor<?x8x?x16xf32, #loom.dims<batch, seq>> -> tensor<?x?x8x16xf32, #loom.dims<batch, seq>>
  %o = loom.reshape %at : tensor<?x?x8x16xf32, #loom.dims<batch, seq>> -> tensor<?x?x128xf32, #loom.dims<batch, seq>>
  return %o : tensor<?x?x128xf32, #loom.dims<batch, seq>>
}

// -----

// Normalization with a pointwise prologue (embedding gather and position add) whose
// only reader is the norm; small constants are copied into the kernel.
// CHECK-LABEL: func.func @embedding_norm
// CHECK: loom.kernel normalization(%{{.+}}, %arg0, %{{.+}}, %{{.+}}) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.constant
// CHECK-NEXT: loom.gather
// CHECK-NEXT: loom.mul
// CHECK-NEXT: loom.add
// CHECK-NEXT: loom.layer_norm
// CHECK-NEXT: loom.yield
func.func @embedding_norm(%ids: tensor<?xi64, #loom.dims<tokens>>, %pos: tensor<?x32xf32, #loom.dims<tokens>>) -> tensor<?x32xf32, #loom.dims<tokens>> {
  %table = loom.weight "wte" : tensor<100x32xf32>
  %g = loom.weight "ln.weight" : tensor<32xf32>
  %two = loom.constant dense<2.0> : tensor<f32>
  %e = loom.gather %table, %ids axis 0 : (tensor<100x32xf32>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x32xf32, #loom.dims<tokens>>
  %s = loom.mul %e, %two : (tensor<?x32xf32, #loom.dims<tokens>>, tensor<f32>) -> tensor<?x32xf32, #loom.dims<tokens>>
  %h = loom.add %s, %pos : (tensor<?x32xf32, #loom.dims<tokens>>, tensor<?x32xf32, #loom.dims<tokens>>) -> tensor<?x32xf32, #loom.dims<tokens>>
  %n = loom.layer_norm %h, %g axis 1 epsilon 1.0e-05 : (tensor<?x32xf32, #loom.dims<tokens>>, tensor<32xf32>) -> tensor<?x32xf32, #loom.dims<tokens>>
  return %n : tensor<?x32xf32, #loom.dims<tokens>>
}

// -----

// Must not fuse: a matmul takes no prologue (the cast is its own kernel); the softmax
// after the matmul is another anchor (its own kernel, with the concat as prologue; the
// reshapes are free epilogues of the matmul); the exp reads a value that the return
// also reads, so it is not an epilogue of the softmax.
// CHECK-LABEL: func.func @separate_kernels
// CHECK: loom.kernel pointwise
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.cast
// CHECK-NEXT: loom.yield
// CHECK: loom.kernel matmul
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.matmul
// CHECK-NEXT: loom.reshape
// CHECK-NEXT: loom.reshape
// CHECK-NEXT: loom.yield
// CHECK: loom.kernel reduction
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.concat
// CHECK-NEXT: loom.softmax
// CHECK-NEXT: loom.yield
// CHECK: loom.kernel pointwise
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.exp
// CHECK-NEXT: loom.yield
func.func @separate_kernels(%a: tensor<4x8xbf16>, %b: tensor<4x8x8xf32>) -> (tensor<4x8x8xf32>, tensor<4x8x8xf32>) {
  %c = loom.cast %a : tensor<4x8xbf16> to tensor<4x8xf32>
  %m = loom.matmul %b, %c transpose_rhs : (tensor<4x8x8xf32>, tensor<4x8xf32>) -> tensor<4x8x4xf32>
  %mm = loom.reshape %m : tensor<4x8x4xf32> -> tensor<4x4x8xf32>
  %r = loom.reshape %mm : tensor<4x4x8xf32> -> tensor<4x8x4xf32>
  %pad = loom.concat %r, %r axis 2 : (tensor<4x8x4xf32>, tensor<4x8x4xf32>) -> tensor<4x8x8xf32>
  %s = loom.softmax %pad axis 2 : tensor<4x8x8xf32>
  %e = loom.exp %s : tensor<4x8x8xf32>
  return %s, %e : tensor<4x8x8xf32>, tensor<4x8x8xf32>
}

// -----

// A merged Q/K/V layer read only by windows of its result: every window (and the
// reshape after one) joins the matmul kernel, which stores three outputs. A window
// that is not the only kind of reader stays outside (the second function).
// CHECK-LABEL: func.func @merged_windows
// CHECK-NEXT: %[[K:.+]]:3 = loom.kernel matmul(%arg0, %arg1) :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.linear
// CHECK-NEXT: loom.slice
// CHECK-NEXT: loom.slice
// CHECK-NEXT: loom.slice
// CHECK-NEXT: loom.reshape
// CHECK-NEXT: loom.yield
// CHECK: return %[[K]]#2, %[[K]]#0, %[[K]]#1
func.func @merged_windows(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %w: tensor<96x64xbf16>) -> (tensor<?x2x16xbf16, #loom.dims<tokens>>, tensor<?x16xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>) {
  %y = loom.linear %x, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %q = loom.slice %y axes [1] starts [0] ends [32] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x32xbf16, #loom.dims<tokens>>
  %k = loom.slice %y axes [1] starts [32] ends [48] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x16xbf16, #loom.dims<tokens>>
  %v = loom.slice %y axes [1] starts [48] ends [96] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x48xbf16, #loom.dims<tokens>>
  %q3 = loom.reshape %q : tensor<?x32xbf16, #loom.dims<tokens>> -> tensor<?x2x16xbf16, #loom.dims<tokens>>
  return %q3, %k, %v : tensor<?x2x16xbf16, #loom.dims<tokens>>, tensor<?x16xbf16, #loom.dims<tokens>>, tensor<?x48xbf16, #loom.dims<tokens>>
}

// CHECK-LABEL: func.func @window_and_whole
// CHECK-NEXT: %[[Y:.+]] = loom.kernel matmul(%arg0, %arg1) :
// CHECK: loom.kernel pointwise(%[[Y]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.slice
func.func @window_and_whole(%x: tensor<?x64xbf16, #loom.dims<tokens>>, %w: tensor<96x64xbf16>) -> (tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>) {
  %y = loom.linear %x, %w transpose_weight : (tensor<?x64xbf16, #loom.dims<tokens>>, tensor<96x64xbf16>) -> tensor<?x96xbf16, #loom.dims<tokens>>
  %q = loom.slice %y axes [1] starts [0] ends [32] steps [1] : tensor<?x96xbf16, #loom.dims<tokens>> -> tensor<?x32xbf16, #loom.dims<tokens>>
  return %y, %q : tensor<?x96xbf16, #loom.dims<tokens>>, tensor<?x32xbf16, #loom.dims<tokens>>
}
