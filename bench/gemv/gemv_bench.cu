// Matrix-vector kernels for bf16 [N, K] weights at 1 and 4 input rows (the decode
// steps' linear layers of the 1.1B Llama), each launched back to back in a CUDA graph
// over rotating weight copies (more than L2 holds), programmatically, with and without
// the L2 prefetch of the block's rows. V0 is the earlier generated kernel, V2 the
// current one (`_rows8`, MatmulKernels.cpp) at 2, 4 and 8 warps per weight row. Prints
// microseconds per launch, the weight bytes per second and the error against a float64
// product. Run: bench/gemv/run.sh on the GPU machine.
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cmath>
#include <algorithm>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)
typedef __nv_bfloat16 bf16;

__device__ __forceinline__ void wait_prior() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
__device__ __forceinline__ void launch_next() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }
__device__ __forceinline__ void prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];\n" :: "l"(p)); }

__device__ __forceinline__ float dot8(uint4 w, uint4 x) {
  const __nv_bfloat162 *wp = reinterpret_cast<const __nv_bfloat162 *>(&w);
  const __nv_bfloat162 *xp = reinterpret_cast<const __nv_bfloat162 *>(&x);
  float s = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
    s += a.x * b.x + a.y * b.y;
  }
  return s;
}

// Stores each weight row's dot products: lane 0 of its only warp, or its W warps'
// partial sums added through shared memory by one thread per (row, input row).
template <int W>
__device__ void storeRows(const float (&acc)[8], float (&partial)[8][8], bf16 *y, long long M,
                          long long N, long long n0, long long n) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int rows = 8 / W;
  if (W == 1) {
    if (lane == 0 && n < N)
      for (int m = 0; m < 8 && m < M; ++m) y[m * N + n] = __float2bfloat16_rn(acc[m]);
    return;
  }
  if (lane == 0)
    for (int m = 0; m < 8; ++m) partial[warp][m] = acc[m];
  __syncthreads();
  if (threadIdx.x < rows * 8) {
    const int r = threadIdx.x / 8, m = threadIdx.x % 8;
    const long long row = n0 + r;
    if (row < N && m < M) {
      float s = 0;
      for (int p = 0; p < W; ++p) s += partial[r * W + p][m];
      y[m * N + row] = __float2bfloat16_rn(s);
    }
  }
  __syncthreads();
}

// V0: the earlier generated kernel (W warps per row, 8/W rows per block, grid cap 2048).
template <int W>
__global__ void __launch_bounds__(256) v0(const bf16 *x, const bf16 *w0, bf16 *y, long long M, long long N, long long K, int pf) {
  launch_next();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = warp % W, local = warp / W;
  constexpr int rows = 8 / W;
  if (pf) {
    const long long first = blockIdx.x * rows;
    const long long bytes = min((long long)rows, N - first) * K * 2;
    const char *from = reinterpret_cast<const char *>(w0 + first * K);
    for (long long t = threadIdx.x * 128LL; t < bytes; t += 256 * 128LL) prefetch_l2(from + t);
  }
  wait_prior();
  __shared__ float partial[8][8];
  for (long long n0 = blockIdx.x * rows; n0 < N; n0 += gridDim.x * rows) {
    const long long n = n0 + local;
    float acc[8];
#pragma unroll
    for (int m = 0; m < 8; ++m) acc[m] = 0.0f;
    if (n < N) {
      const bf16 *w = w0 + n * K;
#pragma unroll 8
      for (long long k = (part * 32LL + lane) * 8; k < K; k += W * 256) {
        const uint4 wv = __ldg(reinterpret_cast<const uint4 *>(w + k));
#pragma unroll
        for (int m = 0; m < 8; ++m) {
          if (m >= M) break;
          const uint4 xv = *reinterpret_cast<const uint4 *>(x + m * K + k);
          acc[m] += dot8(wv, xv);
        }
      }
    }
#pragma unroll
    for (int m = 0; m < 8; ++m) {
      if (m >= M) break;
      for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    }
    storeRows<W>(acc, partial, y, M, N, n0, n);
  }
}

// V2 (what codegen writes now): compile-time K (any multiple of 8), W warps per row,
// each lane loads its L = ceil(K / (256 W)) 16-byte chunks (guarded) before any
// arithmetic, then one dot product per input row (M <= 8, runtime).
template <int K, int W>
__global__ void __launch_bounds__(256) v2(const bf16 *x, const bf16 *w0, bf16 *y, long long M, long long N, long long Kd, int pf) {
  launch_next();
  constexpr int L = (K + 256 * W - 1) / (256 * W);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = warp % W, local = warp / W;
  constexpr int rows = 8 / W;
  if (pf) {
    const long long first = blockIdx.x * (long long)rows;
    const long long bytes = min((long long)rows, N - first) * K * 2;
    const char *from = reinterpret_cast<const char *>(w0 + first * K);
    for (long long t = threadIdx.x * 128LL; t < bytes; t += 256 * 128LL) prefetch_l2(from + t);
  }
  wait_prior();
  __shared__ float partial[8][8];
  for (long long n0 = blockIdx.x * (long long)rows; n0 < N; n0 += gridDim.x * (long long)rows) {
    const long long n = n0 + local;
    uint4 wv[L];
#pragma unroll
    for (int l = 0; l < L; ++l) {
      const int k = (l * W * 32 + part * 32 + lane) * 8;
      wv[l] = n < N && (K % (256 * W) == 0 || k < K) ? __ldg(reinterpret_cast<const uint4 *>(w0 + n * K + k)) : make_uint4(0, 0, 0, 0);
    }
    float acc[8];
#pragma unroll
    for (int m = 0; m < 8; ++m) {
      acc[m] = 0;
      if (m >= M) break;
#pragma unroll
      for (int l = 0; l < L; ++l) {
        const int k = (l * W * 32 + part * 32 + lane) * 8;
        if (K % (256 * W) == 0 || k < K)
          acc[m] += dot8(wv[l], *reinterpret_cast<const uint4 *>(x + m * K + k));
      }
      for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(0xffffffffu, acc[m], o);
    }
    storeRows<W>(acc, partial, y, M, N, n0, n);
  }
}

struct Shape { int n, k; };

static float ref_check(const std::vector<float> &a, const std::vector<float> &b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = fmaxf(m, fabsf(a[i] - b[i]));
  return m;
}

int main() {
  int sms;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  // Copy bandwidth.
  {
    size_t bytes = 1ull << 30;
    void *a, *b;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    for (int i = 0; i < 3; ++i) CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s));
    CK(cudaEventRecord(e0, s));
    for (int i = 0; i < 10; ++i) CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    printf("copy: %.2f TB/s (read+write)\n", 2.0 * bytes * 10 / (ms * 1e-3) / 1e12);
    CK(cudaFree(a));
    CK(cudaFree(b));
  }
  Shape shapes[] = {{5632, 2048}, {2048, 5632}, {2560, 2048}, {2048, 2048}};
  for (Shape sh : shapes) {
    const long long N = sh.n, K = sh.k, bytes = N * K * 2;
    const int copies = (int)((400ll << 20) / bytes) + 1;
    std::vector<bf16 *> w(copies);
    std::vector<bf16> host(N * K), hx(K);
    srand(1);
    for (auto &v : host) v = __float2bfloat16((rand() % 2001 - 1000) / 1000.0f);
    for (auto &v : hx) v = __float2bfloat16((rand() % 2001 - 1000) / 1000.0f);
    for (auto &p : w) {
      CK(cudaMalloc(&p, bytes));
      CK(cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice));
    }
    bf16 *x, *y;
    CK(cudaMalloc(&x, K * 2 * 8)); CK(cudaMemset(x, 0, K * 2 * 8));
    CK(cudaMalloc(&y, N * 2 * 8));
    CK(cudaMemcpy(x, hx.data(), K * 2, cudaMemcpyHostToDevice));
    std::vector<float> ref(N);
    for (long long n = 0; n < N; ++n) {
      double a = 0;
      for (long long k = 0; k < K; ++k) a += (double)__bfloat162float(host[n * K + k]) * __bfloat162float(hx[k]);
      ref[n] = (float)a;
    }
    struct Variant { const char *name; void *fn; int grid; int kind; int W; };
    std::vector<Variant> vs;
    auto add0 = [&](const char *name, void *fn, int W, int cap) {
      int rows = 8 / W;
      vs.push_back({name, fn, (int)std::min<long long>((N + rows - 1) / rows, cap), 0, W});
    };
    int W0 = 1;
    while (W0 < 8 && N * W0 / 8 < 512 && K / (W0 * 2) >= 256) W0 *= 2;
    if (W0 == 1) add0("v0 W1 (current)", (void *)v0<1>, 1, 2048);
    if (W0 == 2) add0("v0 W2 (current)", (void *)v0<2>, 2, 2048);
    if (W0 == 4) add0("v0 W4 (current)", (void *)v0<4>, 4, 2048);
#define V2(KK, W) if (K == KK) add0("v2 K" #KK " W" #W, (void *)v2<KK, W>, W, 1 << 20);
    V2(2048, 2) V2(2048, 4) V2(2048, 8) V2(5632, 2) V2(5632, 4) V2(5632, 8)
    for (int mrows : {1, 4})
    for (const Variant &v : vs) {
      for (int pdl = 0; pdl < 2; ++pdl)
        for (int pf = 0; pf < 2; ++pf) {
          if (!pdl) continue;
          long long M = mrows, NN = N;
          auto launch = [&](int c) {
            cudaLaunchConfig_t cfg = {};
            cfg.gridDim = dim3(v.grid);
            cfg.blockDim = dim3(256);
            cfg.stream = s;
            cudaLaunchAttribute attr[1];
            attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
            attr[0].val.programmaticStreamSerializationAllowed = 1;
            cfg.attrs = attr;
            cfg.numAttrs = pdl ? 1 : 0;
            const bf16 *wc = w[c];
            long long Kk = K;
            void *args0[] = {&x, &wc, &y, &M, &NN, &Kk, &pf};
            CK(cudaLaunchKernelExC(&cfg, v.fn, args0));
          };
          launch(0);
          CK(cudaStreamSynchronize(s));
          std::vector<bf16> hy(N);
          CK(cudaMemcpy(hy.data(), y, N * 2, cudaMemcpyDeviceToHost));
          std::vector<float> fy(N);
          for (long long n = 0; n < N; ++n) fy[n] = __bfloat162float(hy[n]);
          float err = ref_check(fy, ref);
          cudaGraph_t g;
          cudaGraphExec_t ge;
          const int per = copies * 4;
          CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
          for (int i = 0; i < per; ++i) launch(i % copies);
          CK(cudaStreamEndCapture(s, &g));
          CK(cudaGraphInstantiate(&ge, g, 0));
          CK(cudaGraphLaunch(ge, s));
          std::vector<float> t;
          for (int rep = 0; rep < 7; ++rep) {
            CK(cudaEventRecord(e0, s));
            CK(cudaGraphLaunch(ge, s));
            CK(cudaEventRecord(e1, s));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            t.push_back(ms * 1000 / per);
          }
          std::sort(t.begin(), t.end());
          printf("M%lld %5lldx%-5lld %-24s pdl=%d pf=%d grid=%5d: %6.2f us %5.2f TB/s err %.3g\n", M, N, K, v.name, pdl, pf,
                 v.grid, t[3], bytes / (t[3] * 1e-6) / 1e12, err);
          CK(cudaGraphExecDestroy(ge));
          CK(cudaGraphDestroy(g));
        }
    }
    for (auto p : w) CK(cudaFree(p));
    CK(cudaFree(x));
    CK(cudaFree(y));
  }
  return 0;
}
