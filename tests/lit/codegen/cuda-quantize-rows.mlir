// loom.quantize_rows as a kernel of its own (a normalization-kind anchor): a block per
// row finds max|x|, then each element is divided by s = max|x| / 448 (IEEE), rounded to
// e4m3 and scaled back, as the reference executor rounds W8A8 activations; int8 rounds
// with rintf and s = max|x| / 127. Both compile with NVRTC.
// RUN: loom-opt %s --loom-fuse --loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// CHECK: // loom.quantize_rows fp8e4m3: a block per row, max|x| then each element rounded with s = max|x| / 448
// CHECK: largest = fmaxf(largest, fabsf(
// CHECK: largest = loom_block_reduce(largest, LoomMax(), 0.0f);
// CHECK: const float s = __fdiv_rn(largest, 448.0f);
// CHECK: s == 0.0f ? 0.0f : loom_q_e4m3(loom_q_to_e4m3(__fdiv_rn(
// CHECK: // loom.quantize_rows int8
// CHECK: const float s = __fdiv_rn(largest, 127.0f);
// CHECK: rintf(__fdiv_rn(
// NVRTC: sm_80: 2 kernels
// NVRTC: sm_90a: 2 kernels
func.func @forward(%x: tensor<?x256xbf16, #loom.dims<tokens>>, %y: tensor<?x200xf32, #loom.dims<tokens>>) -> (tensor<?x256xbf16, #loom.dims<tokens>>, tensor<?x200xf32, #loom.dims<tokens>>) {
  %0 = loom.quantize_rows %x code fp8e4m3 : tensor<?x256xbf16, #loom.dims<tokens>>
  %1 = loom.quantize_rows %y code int8 : tensor<?x200xf32, #loom.dims<tokens>>
  return %0, %1 : tensor<?x256xbf16, #loom.dims<tokens>>, tensor<?x200xf32, #loom.dims<tokens>>
}
