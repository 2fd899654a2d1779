//===- prelude.cuh - Helpers every Loom kernel may use -----------*- CUDA -*-===//
//
// Placed in every kernels.cu, first of the device files: min and max of sizes,
// programmatic dependent launch (loom_launch_next, loom_wait_prior, which every
// kernel calls), a block counter for the last-block-finishes pattern, an L2
// prefetch, and block-wide reductions (LoomSum, LoomMax, LoomMin, loom_block_reduce,
// loom_block_sum). Needs no header, so f32-only artifacts compile without the 16-bit
// float headers.
//
// Everything below this header block is embedded verbatim (DeviceLibrary.h); its text
// is pinned byte for byte by the artifacts compiled before it moved here, so edit it
// only with a GPU run of the kernels that use it.
//
//===----------------------------------------------------------------------===//

__device__ __forceinline__ long long loom_min(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ long long loom_max(long long a, long long b) { return a > b ? a : b; }

/// Programmatic dependent launch (sm_90 on): every kernel lets the next one in the
/// stream start launching, then waits until the grids before it have finished and
/// their writes are visible; only reads of what no kernel writes (weights) may come
/// before the wait. Launched without the attribute, or before sm_90, both do nothing.
__device__ __forceinline__ void loom_launch_next() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void loom_wait_prior() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
/// Counts a block in: adds 1 to `*counter` and returns the count before. Called by one
/// thread after a barrier, it releases the whole block's earlier writes at GPU scope
/// and acquires those of the blocks counted before it (acquire-release; a barrier
/// after it orders the other threads' reads).
__device__ __forceinline__ unsigned loom_count_block(unsigned *counter) {
  unsigned before;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], 1;\n"
               : "=r"(before) : "l"(counter) : "memory");
#else
  __threadfence();
  before = atomicAdd(counter, 1u);
  __threadfence();
#endif
  return before;
}
/// Starts bringing the 128-byte line at `p` into the L2 cache.
__device__ __forceinline__ void loom_prefetch_l2(const void *p) {
  asm volatile("prefetch.global.L2 [%0];\n" :: "l"(p));
}

/// Combining functions of reductions; max and min propagate NaN like the reference.
struct LoomSum {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct LoomMax {
  template <typename T> __device__ T operator()(T a, T b) const {
    return (a != a || b != b) ? a + b : (a > b ? a : b);
  }
};
struct LoomMin {
  template <typename T> __device__ T operator()(T a, T b) const {
    return (a != a || b != b) ? a + b : (a < b ? a : b);
  }
};

/// `op` over `v` of every thread of the block, returned to every thread.
template <typename T, typename Op> __device__ T loom_block_reduce(T v, Op op, T identity) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? partial[threadIdx.x] : identity;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1)
      v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if (threadIdx.x == 0)
    partial[0] = v;
  __syncthreads();
  const T total = partial[0];
  __syncthreads();
  return total;
}

/// The sum of `v` over the block, returned to every thread.
template <typename T> __device__ T loom_block_sum(T v) {
  return loom_block_reduce(v, LoomSum(), T(0));
}
