// Paged KV cache kernels: the cache writes (in place at their slots, the K and V ones
// in one kernel), split-KV attention (its last slice combining; 8 warps per block at
// steps of at most 8 tokens; one-token steps read short contexts whole), and the
// tensor-core variant for large steps. Checked
// text; NVRTC for sm_80 and sm_90a. The GPU suite runs them against the reference
// (harnesses llama-step-*).
// RUN: loom-opt %s -loom-fuse -loom-merge-cache-writes -loom-choose-tiles | loom-translate --loom-to-cuda > %t.cu
// RUN: FileCheck %s < %t.cu
// RUN: loom cuda-compile %t.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC
// RUN: loom-opt %s -loom-fuse -loom-merge-cache-writes -loom-choose-tiles=target=sm_86 | loom-translate --loom-to-cuda | FileCheck %s --check-prefix=SM86
// RUN: loom-opt %s -loom-fuse -loom-merge-cache-writes -loom-writes-into-attention -loom-choose-tiles | loom-translate --loom-to-cuda > %t.writes.cu
// RUN: FileCheck %s --check-prefix=WRITES < %t.writes.cu
// RUN: loom cuda-compile %t.writes.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// With the 99 KiB of sm_86, whole contexts hold 144 keys beside the split path's 48 KiB.
// SM86-LABEL: //@loom-kernel loom_attention_{{.*}}_single
// SM86: if (keys <= 144) {

// With the writes in the attention kernel (loom-writes-into-attention): a one-token
// step's whole-context blocks compute the new rows into their tiles and the KV head's
// first block stores them; its split path's last slice stores them before copying
// them back; other steps run the writes as a phase launched before the attention.
// WRITES-LABEL: //@loom-kernel loom_attention_{{.*}}_single
// WRITES: loom_wait_prior();
// WRITES-NEXT: {
// WRITES-NEXT: const long long [[S:v[0-9]+]] = in{{[0-9]+}}[token];
// The K row from thread 0, the V row from thread 64, the query from thread 128.
// WRITES: for (int c = threadIdx.x; c < 64; c += blockDim.x) {
// WRITES: (Kw + (keys - 1) * 72)[c] = __float2bfloat16_rn([[K:v[0-9]+]]);
// WRITES-NEXT: const long long at = slot * 128 + g * 64 + c;
// WRITES-NEXT: if (blockIdx.z == 0 && slot >= 0 && at < capacity) out1[at] = __float2bfloat16_rn([[K]]);
// WRITES: for (int c = (int)((threadIdx.x + blockDim.x - 64) % blockDim.x); c < 64; c += blockDim.x) {
// WRITES: (Vw + (keys - 1) * 72)[c] =
// WRITES: out2[at] =
// WRITES: for (int i = (int)((threadIdx.x + blockDim.x - 128) % blockDim.x); i < 64; i += blockDim.x) {
// WRITES: qw[i] =
// WRITES: if (k1 == keys) {
// WRITES: if (true && slot >= 0 && at < capacity) out1[at] =
// WRITES: if (true && slot >= 0 && at < capacity) out2[at] =
// WRITES: __syncthreads();
// WRITES-LABEL: //@loom-kernel loom_attention_{{.*}}_write
// WRITES: out1[at] =
// WRITES: out2[at] =

// NVRTC: sm_80: 5 kernels
// NVRTC: sm_90a: 5 kernels

// CHECK-LABEL: //@loom-kernel loom_scatter_
// CHECK: __nv_bfloat16 *__restrict__ out0, __nv_bfloat16 *__restrict__ out1,
// CHECK: const long long slot = (long long)v{{[0-9]+}};
// CHECK: if (slot >= 0 && at < capacity)
// CHECK-NEXT: const float [[K:v[0-9]+]] = __bfloat162float(in1[
// CHECK-NEXT: out0[at] = __float2bfloat16_rn([[K]]);
// CHECK: if (slot >= 0 && at < capacity)
// CHECK-NEXT: const float [[V:v[0-9]+]] = __bfloat162float(in4[
// CHECK-NEXT: out1[at] = __float2bfloat16_rn([[V]]);

// Split-KV: a block per (token, KV head, slice). A step of few (token, KV head) pairs
// (here 2 per token) slices contexts every 16 keys, larger steps every tile_kv (64);
// a pass scores only its n keys, each (key, head) pair once.
// CHECK-LABEL: //@loom-kernel loom_attention_
// CHECK: float *__restrict__ ws0, unsigned int *__restrict__ counters, long long s_blocks
// CHECK-NEXT: loom_launch_next();
// CHECK-NEXT: const long long tokens =
// CHECK: const long long granule = tokens * 2 < 128 ? 16LL : 64LL;
// CHECK-NEXT: const long long splits = loom_max(1LL, loom_min(perToken, (keys + granule - 1) / granule));
// CHECK: if (z >= splits) return;
// The tables, lengths and starts are inputs of the run: the first pass's keys and
// values cached before the step are copied before the wait for the kernels before it,
// the step's own (from `old` on, which its cache writes store) after.
// CHECK-NOT: loom_wait_prior();
// CHECK: const long long old = (long long)in{{[0-9]}}[seq] - (end - first);
// CHECK: if (j < k1 && j < old) {
// CHECK: __nv_bfloat16 *to = &Ks[r][c];
// CHECK: if (vec) loom_cp_async16(to, from, 16);
// CHECK: loom_wait_prior();
// CHECK-NEXT: for (long long j0 = k0; j0 < k1; j0 += 64) {
// CHECK: if (j < k1 && (j0 > k0 || j >= old)) {
// The query loads while the first pass's keys and values are in flight.
// CHECK: if (j0 == k0) {
// CHECK: qs[i / 64][dd] =
// CHECK: loom_cp_async_wait<0>();
// CHECK: const int n = (int)loom_min(64LL, k1 - j0);
// CHECK-NEXT: for (int x = threadIdx.x; x < n * 4; x += blockDim.x) {
// CHECK-NEXT: const int key = x % n, hh = x / n;
// CHECK: for (int c = lane; c < n; c += 32) best = fmaxf(best, ps[hh][c]);
// CHECK: #pragma unroll 4
// CHECK-NEXT: for (int c = 0; c < n; ++c) sum += ps[hh][c] * __bfloat162float(Vs[c][dd]);
// CHECK: ws0[(scratchRow * 8 + h) * 68 + dd] = acc[r];

// The last slice of a (token, KV head) to count itself combines the slices: 16 lanes
// per query head find the weights, then each thread adds 4 columns' partials (rows
// padded to 68 floats, so 16-byte loads), 8 slices' loads at a time; the counter is
// left zero for the next launch.
// CHECK: if (splits == 1) return;
// CHECK-NEXT: __shared__ bool last_s;
// CHECK-NEXT: __syncthreads();
// CHECK: unsigned int *count = counters + token * 2 + g;
// CHECK-NEXT: last_s = loom_count_block(count) == (unsigned int)splits - 1u;
// CHECK-NEXT: if (last_s) *count = 0u;
// CHECK: if (!last_s) return;
// CHECK: const float *partials = ws0 + (token * perToken * 8 + g * 4) * 68;
// CHECK: for (int t = threadIdx.x; t < 64; t += blockDim.x) {
// CHECK: for (int o = 8; o > 0; o >>= 1) best = fmaxf(best,
// CHECK: if (valid) weight[hh][zz] = scale / total;
// CHECK: for (int idx = threadIdx.x * 4; idx < 4 * 64; idx += blockDim.x * 4) {
// CHECK: const float4 p = __ldcg(reinterpret_cast<const float4 *>(column + (z0 + j) * stride));
// CHECK-NOT: _combine

// One-token steps: a context of at most 528 keys (150 KiB of 144-byte K and V rows in
// dynamic shared memory, rounded down to 16 keys) is read whole by a block per query head, its rows before `old`
// copied before the wait; no scratch or combine. Longer contexts split as above.
// CHECK-LABEL: //@loom-kernel loom_attention_{{.*}}_single
// CHECK-NEXT: // attention kernel; launch with 256 threads per block, grid (tokens, 2, 16)
// CHECK: if (keys <= 528) {
// CHECK-NEXT: if (blockIdx.z >= 4) return;
// CHECK-NEXT: const long long g = blockIdx.y, h = g * 4 + blockIdx.z;
// CHECK: extern __shared__ __align__(16) unsigned char loom_dynamic[];
// CHECK: for (int x = threadIdx.x + (int)0 * 8; x < old * 8; x += blockDim.x) {
// CHECK: __nv_bfloat16 *to = Kw + r * 72 + c;
// CHECK: if (vec) loom_cp_async16(to, from, 16);
// CHECK: loom_wait_prior();
// CHECK-NEXT: for (int x = threadIdx.x + (int)old * 8; x < keys * 8; x += blockDim.x) {
// CHECK: const float4 qv = *reinterpret_cast<const float4 *>(qw + c + y);
// CHECK: if (lane == 0) most[warp] = best;
// CHECK: if (lane == 0) total[warp] = sum;
// The values: 8 threads of 16 bytes per row, 32 rows at a time; shuffles add a warp's.
// CHECK: const int chunk = threadIdx.x % 8, part = threadIdx.x / 8;
// CHECK: for (int j = part; j < keys; j += 32) {
// CHECK: for (int o = 8; o < 32; o <<= 1) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);
// CHECK: for (int part = 0; part < 8; ++part) y += pv[part * 64 + dd];
// CHECK-NEXT: y /= sum;
// CHECK: return;
// CHECK: if (z >= splits) return;
// CHECK: last_s = loom_count_block(count) == (unsigned int)splits - 1u;

// Steps of 2 to 8 tokens: the split kernel with 8 warps per block.
// CHECK-LABEL: //@loom-kernel loom_attention_{{.*}}_decode
// CHECK-NEXT: // attention kernel; launch with 256 threads per block, grid (tokens, 2, 16)
// CHECK: if (j < k1 && j < old) {
// CHECK: loom_wait_prior();
// CHECK: const int idx = threadIdx.x + r * 256;
// CHECK: last_s = loom_count_block(count) == (unsigned int)splits - 1u;

// CHECK-LABEL: //@loom-kernel loom_attention_{{.*}}_tc
// CHECK: loom_mma_bf16(

func.func @step(%kc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>,
                %k: tensor<?x2x64xbf16, #loom.dims<tokens>>, %v: tensor<?x2x64xbf16, #loom.dims<tokens>>,
                %slots: tensor<?xi64, #loom.dims<tokens>>, %q: tensor<?x8x64xbf16, #loom.dims<tokens>>,
                %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                %starts: tensor<?xi64, #loom.dims<seqs>>)
    -> (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>) {
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  %d = loom.cache_write %vc, %v, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  %o = loom.paged_attention %q, %c, %d, %tables, %lens, %starts scale 1.250000e-01 : (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>) -> tensor<?x8x64xbf16, #loom.dims<tokens>>
  return %o, %c, %d : tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>
}
