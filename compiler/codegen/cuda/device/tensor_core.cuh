//===- tensor_core.cuh - Asynchronous copies and mma.sync (sm_80+) -*- CUDA -*-===//
//
// Tensor-core helpers (sm_80 and up): 16-byte asynchronous copies into shared memory
// (zero-filled past `bytes`), 8x8 matrix loads from shared memory, the m16n8k16
// multiply-accumulate with f32 accumulators, 2^x on the special-function unit and
// packing two floats into an operand register. Placed when a kernel uses 16-bit floats
// or the asynchronous copies (the f32 paged attention does); needs cuda_fp16.h and
// cuda_bf16.h, which kernels.cu includes ahead of the device files.
//
// Everything below this header block is embedded verbatim (DeviceLibrary.h); its text
// is pinned byte for byte by the artifacts compiled before it moved here, so edit it
// only with a GPU run of the kernels that use it.
//
//===----------------------------------------------------------------------===//

__device__ __forceinline__ unsigned loom_smem(const void *p) {
  return (unsigned)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void loom_cp_async16_at(unsigned shared, const void *global, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
               :: "r"(shared), "l"(global), "r"(bytes));
}
__device__ __forceinline__ void loom_cp_async16(void *shared, const void *global, int bytes) {
  loom_cp_async16_at(loom_smem(shared), global, bytes);
}
__device__ __forceinline__ void loom_cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N> __device__ __forceinline__ void loom_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
}
__device__ __forceinline__ void loom_ldmatrix_x4_at(unsigned r[4], unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
__device__ __forceinline__ void loom_ldmatrix_x4_trans_at(unsigned r[4], unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
__device__ __forceinline__ void loom_ldmatrix_x4(unsigned r[4], const void *p) {
  loom_ldmatrix_x4_at(r, loom_smem(p));
}
__device__ __forceinline__ void loom_ldmatrix_x4_trans(unsigned r[4], const void *p) {
  loom_ldmatrix_x4_trans_at(r, loom_smem(p));
}
__device__ __forceinline__ void loom_mma_bf16(float c[4], const unsigned a[4], const unsigned b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void loom_mma_f16(float c[4], const unsigned a[4], const unsigned b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/// 2^x on the special-function unit (a denormal result flushes to zero; -inf gives 0).
__device__ __forceinline__ float loom_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
/// Two floats as the packed 16-bit pair an mma operand register holds (low = first).
__device__ __forceinline__ unsigned loom_pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned *>(&v);
}
__device__ __forceinline__ unsigned loom_pack_f16(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<unsigned *>(&v);
}
