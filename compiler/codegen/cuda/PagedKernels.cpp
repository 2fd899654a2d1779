//===- PagedKernels.cpp - Kernels over a paged KV cache -------------------===//
//
// Paged attention reads a sequence's keys and values through its block table (the
// cache writes are in CacheWriteKernels.cpp). It is split-KV (flash-decoding): a block
// takes one query token, one KV head and one slice of the token's context, with the query
// heads that share the KV head computed together so each key and value is loaded once for
// all of them; when a context is split, the last of its slices to finish combines their
// partial results.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/PagedKernels.h"
#include "compiler/codegen/cuda/KernelWriter.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

namespace loom::cuda {

namespace {

/// Most slices one token's context is split into (the grid's z size); the combining
/// block weighs a head's slices with a lane each.
constexpr int64_t kMaxSplits = 16;
static_assert(32 % kMaxSplits == 0,
              "the combine weighs a head's slices in lanes of a warp");
/// Rows of the scratch buffer of partial results: a step splits each token's context
/// into at most kScratchRows / tokens slices, so long prefills are not split and need
/// no more scratch than a batch of decodes.
constexpr int64_t kScratchRows = 4096;
/// Keys per slice when a step has fewer than kFewPairs (token, KV head) pairs (a small
/// decode batch): short slices put more blocks to work on each pair, each with a
/// shorter chain of dependent steps. Larger steps keep the schedule's `tile_kv`.
constexpr int64_t kFineKeys = 16, kFewPairs = 128;
/// Steps of at most kDecodeTokens tokens (a small decode batch, whose attention is a few
/// blocks' chain of latencies) take the split-KV kernel with kDecodeWarps warps per
/// block (the `_decode` variant); larger ones the schedule's warps, which suit a grid
/// of many blocks. Batch-1 decode on an H100 was 1.8% faster with 8 warps than 4, and
/// batch-64 2.2% slower.
constexpr int64_t kDecodeTokens = 8, kDecodeWarps = 8;
/// One-token steps (batch-1 decode) take the `_single` variant: a context of at most
/// as many keys as kWholeBytes of dynamic shared memory hold (K and V rows; less where
/// the target's `shared_kib` leaves less beside kSplitStaticBytes) is not split but
/// read whole by a block per query head, with no scratch, counter or combine; its rows
/// cached before the step are copied before the wait, so what remains after it is the
/// step's own row, the query and the block's arithmetic. Longer contexts take the split
/// path in the same kernel. On an H100 the split path's combine alone cost 2 us per
/// layer of batch-1 decode.
constexpr int64_t kWholeBytes = 150 * 1024;
/// The split path's static shared memory at most (its tiles, at most 44 KiB, and the
/// combine's weights), which the same kernel's whole-context tiles come beside.
constexpr int64_t kSplitStaticBytes = 48 * 1024;

/// `pointer[offset]` of `element` storage as a compute-typed value (a quantized
/// cache's code as a float; its scale is applied to the score or probability).
std::string loadAs(Type element, const std::string &pointer, const std::string &offset) {
  std::string load = pointer + "[" + offset + "]";
  if (element.isBF16())
    return "__bfloat162float(" + load + ")";
  if (element.isF16())
    return "__half2float(" + load + ")";
  if (element.isInteger(8))
    return "(float)" + load;
  if (llvm::isa<Float8E4M3FNType>(element))
    return "loom_q_e4m3(" + load + ")";
  return load;
}

} // namespace

void emitCachesAligned(ElementEmitter &e, const std::string &keys,
                       const std::string &values) {
  e.line("const bool vec = ((reinterpret_cast<unsigned long long>(" + keys +
         ") | reinterpret_cast<unsigned long long>(" + values + ")) & 15) == 0;");
}

void emitCacheCopy(ElementEmitter &e, const PagedCache &from, const std::string &type,
                   const std::string &key, const std::string &head, int64_t count,
                   bool async, const std::string &slot) {
  std::string B = num(from.blockSize), row = slot.empty() ? "slot" : slot;
  if (slot.empty())
    e.line("const long long slot = (long long)" + from.table + "[seq * tableWidth + " +
           key + " / " + B + "] * " + B + " + " + key + " % " + B + ";");
  e.line("const " + type + " *from = " + from.cache + " + (" + row + " * " +
         num(from.kvHeads) + " + " + head + ") * " + num(from.width) + " + c;");
  if (!async) {
    e.line("to[0] = from[0];");
    return;
  }
  e.line("if (vec) loom_cp_async16(to, from, 16);");
  e.line("else for (int y = 0; y < " + num(count) + "; ++y) to[y] = from[y];");
}

/// Split-KV paged attention, a block per (token, KV head, slice): the G query
/// heads of the KV head are staged in shared memory, pre-scaled; each pass copies up
/// to 64 keys and their values through the block table into shared memory (16-byte
/// asynchronous copies), scores every (key, head) pair, then one warp per head updates
/// that head's running maximum and sum, then every thread accumulates its share of the
/// G x Dv outputs from the pass's values. An unsplit token stores its result (through
/// the epilogue); a split one writes the unnormalized output and its maximum and sum
/// to scratch, and the token's last slice to finish combines the slices of its G heads
/// (no second launch: counting blocks finds it). One-token steps take `_single`, which
/// reads contexts that fit its shared memory whole (see kWholeBytes) and splits longer
/// ones; steps of 2 to kDecodeTokens tokens take the split code with kDecodeWarps warps
/// per block (`_decode`); steps of more than kSplitMaxTokens tokens the tensor-core
/// variant (pagedPrefill) where there is one.
bool KernelWriter::pagedAttention(PagedAttentionOp op) {
  Shape q = shapeOf(op.getQuery()), kc = shapeOf(op.getKeyCache()),
        vc = shapeOf(op.getValueCache()), tables = shapeOf(op.getBlockTables());
  // Cache writes in the kernel (loom-writes-into-attention): a phase before the
  // attention stores a step's rows, or a one-token step's attention stores them.
  auto keyWrite = op.getKeyCache().getDefiningOp<CacheWriteOp>(),
       valueWrite = op.getValueCache().getDefiningOp<CacheWriteOp>();
  if (static_cast<bool>(keyWrite) != static_cast<bool>(valueWrite))
    return refuse("paged attention writes both of its caches in the kernel or neither");
  bool writes = static_cast<bool>(keyWrite);
  // Caches of 8-bit codes: a key's scale multiplies its score, a value's its
  // probability (after the softmax's sum), read through the block table.
  bool quantized = op.isQuantized();
  std::string keyScales = quantized ? parameter(op.getKeyScales()) : "",
              valueScales = quantized ? parameter(op.getValueScales()) : "";
  if (quantized && (writes || keyScales.empty() || valueScales.empty()))
    return refuse("paged attention over quantized caches reads them and their scales as "
                  "kernel inputs (their writes are a kernel of their own)");
  std::string keys = cacheParameter(op.getKeyCache()),
              values = cacheParameter(op.getValueCache()),
              table = parameter(op.getBlockTables()),
              lens = parameter(op.getContextLens()),
              starts = parameter(op.getQueryStarts());
  if (keys.empty() || values.empty() || table.empty() || lens.empty() || starts.empty())
    return refuse("paged attention reads its caches, block tables and lengths as kernel "
                  "inputs");
  for (const Dim &d : {q[1], q[2], kc[1], kc[2], vc[3]})
    if (!d.isStatic())
      return refuse("paged attention needs static heads, head sizes and block size");
  int64_t heads = q[1].size, d = q[2].size, blockSize = kc[1].size, kvHeads = kc[2].size,
          dv = vc[3].size, group = heads / kvHeads;
  // The caches' type (which may differ from the query's): the K/V tiles hold it.
  Type element = elementOf(op.getKeyCache());
  if (element.isF64() || elementOf(op.getQuery()).isF64())
    return refuse("paged attention is written for f32, f16, bf16 and 8-bit caches");
  if (llvm::isa<Float8E4M3FNType>(element))
    require("quant_weight.cuh");
  int64_t granule = schedule_.tileKv;
  double scale = softmaxScale(op.getScale(), d);
  std::string T = storageType(element), G = num(group), D = num(d), Dv = num(dv),
              minusInf = "__int_as_float(0xff800000)";
  // When the block tables, lengths and query starts are inputs of the run, the first
  // pass's keys and values cached before this step (rows before `old`; the step's cache
  // writes store only rows from `old` on) are copied before waiting for the kernels
  // before this one: launched programmatically (a decode step), the copies overlap them.
  bool prefetch = isRunInput(op.getBlockTables()) && isRunInput(op.getContextLens()) &&
                  isRunInput(op.getQueryStarts());
  info_.waitsInside = prefetch;

  info_.grid[0] = {work(ArrayRef<Dim>(q).take_front()), 1, 0};
  info_.grid[1] = {num(kvHeads), 1, 0};
  info_.grid[2] = {num(kMaxSplits), 1, 0};
  // A scratch row per (slice, query head): the Dv unnormalized outputs, the maximum and
  // the sum, padded to 16 bytes when Dv allows the combine to read 4 columns at once.
  int64_t columns = dv % 4 == 0 ? 4 : 1, width = dv + (columns == 4 ? 4 : 2);
  std::string W = num(width);
  info_.scratch = {
      {{num(kScratchRows), num(heads), W}, Float32Type::get(op.getContext())}};
  // A counter per (token, KV head) of a split step: one is split only when it has at
  // least two slices' rows of scratch, so at most kScratchRows / 2 tokens.
  info_.counters = kScratchRows / 2 * kvHeads;

  // Rows of the whole-context path's K and V tiles (padded by 16 bytes, as the split
  // path's), its capacity in keys and its dynamic shared memory: the tiles, a score per
  // key, the query, the block's reductions and the value partials.
  int64_t elementBytes = element.isF32() ? 4 : quantized ? 1 : 2,
          vector = 16 / elementBytes;
  // The scale of key (or value) `key` of the sequence, for KV head g.
  std::string B = num(blockSize), KVH = num(kvHeads);
  auto scaleOf = [&](const std::string &scales, const std::string &key) {
    return scales + "[((long long)" + table + "[seq * tableWidth + (" + key + ") / " + B +
           "] * " + B + " + (" + key + ") % " + B + ") * " + KVH + " + g]";
  };
  bool vectorized = d % vector == 0 && dv % vector == 0;
  int64_t ldK = d + vector, ldV = dv + vector;
  int64_t wholeBytes =
      std::min(kWholeBytes, schedule_.sharedKib * 1024 - kSplitStaticBytes - 8 * 1024);
  int64_t wholeKeys =
      std::max<int64_t>(0, wholeBytes) / ((ldK + ldV) * elementBytes) / 16 * 16;
  // The values' 16-byte path needs a power-of-two number of chunks per row, at most a
  // warp's lanes, so that a warp's lanes of one chunk can add by shuffles.
  auto wholeVectorPV = [&](int64_t threads) {
    int64_t chunks = dv / vector;
    return llvm::isPowerOf2_64(chunks) && chunks <= 32 && threads % 32 == 0;
  };
  auto wholeShared = [&](int64_t threads) {
    int64_t parts = std::max<int64_t>(1, threads / dv);
    int64_t partials = std::max(parts, threads / 32) * dv;
    return wholeKeys * (ldK + ldV) * elementBytes + (wholeKeys + d + 64 + partials) * 4;
  };
  // One 16-byte (or one-element) copy per (row, chunk) of a tile, through the block
  // table: rows [from, to) of the whole context (row r is key r).
  int64_t chunk = vectorized ? vector : 1;
  auto copyRows = [&](const std::string &tile, const std::string &ld,
                      const std::string &cache, int64_t width, const std::string &from,
                      const std::string &to) {
    ElementEmitter &e = *emitter_;
    std::string chunks = num(width / chunk);
    e.open("for (int x = threadIdx.x + (int)" + from + " * " + chunks + "; x < " + to +
           " * " + chunks + "; x += blockDim.x)");
    e.line("const int r = x / " + chunks + ", c = (x % " + chunks + ") * " + num(chunk) +
           ";");
    e.line(T + " *to = " + tile + " + r * " + ld + " + c;");
    emitCacheCopy(e, {cache, table, blockSize, kvHeads, width}, T, "r", "g", chunk,
                  vectorized);
    e.close();
  };
  // `dot`: the key row at `krow` times the query row `query` (floats in shared memory;
  // with `wide`, 16-byte aligned and read 4 at a time, one broadcast per warp), times
  // the key's scale (`key`, for quantized caches), then the softcap if the op has one.
  auto keyDot = [&](const std::string &query, bool wide, const std::string &key) {
    ElementEmitter &e = *emitter_;
    e.line("float dot = 0.0f;");
    if (vectorized) {
      e.line("#pragma unroll");
      e.open("for (int c = 0; c < " + D + "; c += " + num(vector) + ")");
      e.line("const uint4 word = *reinterpret_cast<const uint4 *>(krow + c);");
      e.line("const " + T + " *part = reinterpret_cast<const " + T + " *>(&word);");
      e.line("#pragma unroll");
      if (wide) {
        e.open("for (int y = 0; y < " + num(vector) + "; y += 4)");
        e.line("const float4 qv = *reinterpret_cast<const float4 *>(" + query +
               " + c + y);");
        const char *lanes[] = {"x", "y", "z", "w"};
        for (int i = 0; i < 4; ++i)
          e.line("dot += qv." + std::string(lanes[i]) + " * " +
                 loadAs(element, "part", i ? "y + " + num(i) : "y") + ";");
        e.close();
      } else {
        e.line("for (int y = 0; y < " + num(vector) + "; ++y) dot += " + query +
               "[c + y] * " + loadAs(element, "part", "y") + ";");
      }
      e.close();
    } else {
      e.line("for (int c = 0; c < " + D + "; ++c) dot += " + query + "[c] * " +
             loadAs(element, "krow", "c") + ";");
    }
    if (quantized)
      e.line("dot *= " + scaleOf(keyScales, key) + ";");
    if (std::optional<APFloat> cap = op.getSoftcap()) {
      std::string c = floatLiteral(cap->convertToDouble(), "float");
      e.line("dot = " + c + " * tanhf(dot / " + c + ");");
    }
  };
  // The whole-context path of a one-token step (see kWholeBytes): a block per query
  // head; blocks past the G heads of a KV head leave at once.
  auto whole = [&](int64_t threads) {
    ElementEmitter &e = *emitter_;
    int64_t parts = std::max<int64_t>(1, threads / dv);
    std::string LK = num(ldK), LV = num(ldV), C = num(wholeKeys), Pn = num(parts);
    e.open("if (keys <= " + C + ")");
    e.line("if (blockIdx.z >= " + G + ") return;");
    e.line("const long long g = blockIdx.y, h = g * " + G + " + blockIdx.z;");
    e.line("const long long tableWidth = " + sizeExpr(tables[1]) + ";");
    e.line("extern __shared__ __align__(16) unsigned char loom_dynamic[];");
    e.line(T + " *Kw = reinterpret_cast<" + T + " *>(loom_dynamic), *Vw = Kw + " + C +
           " * " + LK + ";");
    e.line("float *pw = reinterpret_cast<float *>(Vw + " + C + " * " + LV +
           "), *qw = pw + " + C + ", *most = qw + " + D +
           ", *total = most + 32, *pv = "
           "total + 32;");
    e.line("const long long old = (long long)" + lens + "[seq] - (end - first);");
    if (vectorized)
      emitCachesAligned(e, keys, values);
    copyRows("Kw", LK, keys, d, "0", "old");
    copyRows("Vw", LV, values, dv, "0", "old");
    e.line("loom_wait_prior();");
    if (writes) {
      // The step's own row (a one-token step: old = keys - 1), stored by the KV head's
      // first block. Its K row, V row and the query go to different threads, so their
      // loads (the step's Q/K/V result, just written) wait together.
      emitNewRow(keyWrite, d, "Kw + (keys - 1) * " + LK, "blockIdx.z == 0", 0);
      emitNewRow(valueWrite, dv, "Vw + (keys - 1) * " + LV, "blockIdx.z == 0",
                 d % threads);
    } else {
      copyRows("Kw", LK, keys, d, "old", "keys");
      copyRows("Vw", LV, values, dv, "old", "keys");
    }
    e.open("for (int i = " + rotatedThread(writes ? (d + dv) % threads : 0) + "; i < " +
           D + "; i += blockDim.x)");
    e.line("qw[i] = (float)" + e.at(op.getQuery(), {"token", "h", "(long long)i"}) +
           " * " + floatLiteral(scale, "float") + ";");
    e.close();
    if (vectorized) {
      e.line("loom_cp_async_commit();");
      e.line("loom_cp_async_wait<0>();");
    }
    e.line("__syncthreads();");
    // Scores, a key per thread at a time, and the block's largest. The block's max and
    // sum are written out rather than taken from the prelude's loom_block_reduce, which
    // spends four barriers per call where this latency-bound path needs one.
    e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
    e.line("float best = " + minusInf + ";");
    e.open("for (int j = threadIdx.x; j < keys; j += blockDim.x)");
    e.line("const " + T + " *krow = Kw + j * " + LK + ";");
    keyDot("qw", true, "j");
    e.line("pw[j] = dot;");
    e.line("best = fmaxf(best, dot);");
    e.close();
    e.line("for (int o = 16; o > 0; o >>= 1) best = fmaxf(best, "
           "__shfl_xor_sync(0xffffffffu, best, o));");
    e.line("if (lane == 0) most[warp] = best;");
    e.line("__syncthreads();");
    e.line("best = most[0];");
    e.line("for (int w = 1; w < blockDim.x / 32; ++w) best = fmaxf(best, most[w]);");
    // Each thread's keys become probabilities; the block's sum.
    e.line("float sum = 0.0f;");
    e.open("for (int j = threadIdx.x; j < keys; j += blockDim.x)");
    e.line("const float p = expf(pw[j] - best);");
    e.line(quantized ? "pw[j] = p * " + scaleOf(valueScales, "j") + ";" : "pw[j] = p;");
    e.line("sum += p;");
    e.close();
    e.line(
        "for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);");
    e.line("if (lane == 0) total[warp] = sum;");
    e.line("__syncthreads();");
    e.line("sum = 0.0f;");
    e.line("for (int w = 0; w < blockDim.x / 32; ++w) sum += total[w];");
    // Values, then each output over the partial sums in pv.
    std::string partials;
    if (vectorized && wholeVectorPV(threads)) {
      // A thread reads 16 bytes of every keyParts-th value row (a warp covers
      // 32 / chunks rows at a time); lanes of a chunk add theirs by shuffles, then a
      // warp leaves one partial row.
      int64_t chunks = dv / vector, keyParts = threads / chunks;
      std::string Ch = num(chunks), Vn = num(vector);
      e.line("const int chunk = threadIdx.x % " + Ch + ", part = threadIdx.x / " + Ch +
             ";");
      e.line("float acc[" + Vn + "] = {};");
      e.line("#pragma unroll 2");
      e.open("for (int j = part; j < keys; j += " + num(keyParts) + ")");
      e.line("const float p = pw[j];");
      e.line("const uint4 word = *reinterpret_cast<const uint4 *>(Vw + j * " + LV +
             " + chunk * " + Vn + ");");
      e.line("const " + T + " *v = reinterpret_cast<const " + T + " *>(&word);");
      e.line("#pragma unroll");
      e.line("for (int i = 0; i < " + Vn + "; ++i) acc[i] += p * " +
             loadAs(element, "v", "i") + ";");
      e.close();
      e.line("#pragma unroll");
      e.open("for (int i = 0; i < " + Vn + "; ++i)");
      e.line("for (int o = " + Ch +
             "; o < 32; o <<= 1) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);");
      e.line("if (lane < " + Ch + ") pv[warp * " + Dv + " + chunk * " + Vn +
             " + i] = acc[i];");
      e.close();
      partials = num(threads / 32);
    } else {
      // `parts` groups of threads each add every parts-th key's row.
      e.open("for (int o = threadIdx.x; o < " + Pn + " * " + Dv + "; o += blockDim.x)");
      e.line("const int part = o / " + Dv + ", dd = o % " + Dv + ";");
      e.line("float y = 0.0f;");
      e.line("#pragma unroll 4");
      e.line("for (int j = part; j < keys; j += " + Pn + ") y += pw[j] * " +
             loadAs(element, "Vw", "j * " + LV + " + dd") + ";");
      e.line("pv[o] = y;");
      e.close();
      partials = Pn;
    }
    e.line("__syncthreads();");
    e.open("for (int dd = threadIdx.x; dd < " + Dv + "; dd += blockDim.x)");
    e.line("float y = 0.0f;");
    e.line("#pragma unroll");
    e.line("for (int part = 0; part < " + partials + "; ++part) y += pv[part * " + Dv +
           " + dd];");
    e.line("y /= sum;");
    bool stored = storeOutputs(op.getResult(), {"token", "h", "(long long)dd"}, "y");
    e.close();
    e.line("return;");
    e.close();
    return stored;
  };

  // The kernel's code for blocks of `threads` threads, into the current emitter; with
  // `single`, the whole-context path first.
  auto split = [&](int64_t threads, bool single) {
    ElementEmitter &e = *emitter_;
    int64_t perThread = (group * dv + threads - 1) / threads;
    std::string Th = num(threads);

    // The token's sequence (the last whose first token is at or before it), how many
    // keys it sees, and how many slices its context is split into.
    e.line("const long long tokens = " + sizeExpr(q[0]) + ", seqs = " +
           sizeExpr(shapeOf(op.getContextLens())[0]) + ", token = blockIdx.x;");
    e.line("long long lo = 0, hi = seqs - 1;");
    e.open("while (lo < hi)");
    e.line("const long long mid = (lo + hi + 1) / 2;");
    e.line("if ((long long)" + starts + "[mid] <= token) lo = mid; else hi = mid - 1;");
    e.close();
    e.line("const long long seq = lo, first = " + starts + "[seq];");
    e.line("const long long end = seq + 1 < seqs ? (long long)" + starts +
           "[seq + 1] : tokens;");
    e.line("const long long keys = (long long)" + lens +
           "[seq] - (end - first) + (token - first) + 1;");
    if (single && !whole(threads))
      return false;
    e.line("const long long perToken = loom_max(1LL, loom_min(" + num(kMaxSplits) +
           "LL, " + num(kScratchRows) + "LL / tokens));");
    e.line("const long long granule = tokens * " + num(kvHeads) + " < " + num(kFewPairs) +
           " ? " + num(std::min(granule, kFineKeys)) + "LL : " + num(granule) + "LL;");
    e.line("const long long splits = loom_max(1LL, loom_min(perToken, (keys + granule - "
           "1) / granule));");
    e.line("const long long g = blockIdx.y, z = blockIdx.z;");
    e.line("if (z >= splits) return;");
    e.line("const long long chunk = (keys + splits - 1) / splits;");
    e.line("const long long k0 = z * chunk, k1 = loom_min(keys, k0 + chunk);");
    e.line("const long long tableWidth = " + sizeExpr(tables[1]) + ";");
    // Keys per pass: a tile of keys and one of values (rows padded by 16 bytes, so that
    // threads reading different rows hit different banks) fit the static shared memory.
    int64_t bytes = elementBytes, pass = 64;
    auto sharedFor = [&](int64_t keys) {
      return keys * (d + dv + 2 * vector) * bytes + group * (d + keys + 3) * 4;
    };
    while (pass > 16 && sharedFor(pass) > 44 * 1024)
      pass /= 2;
    if (sharedFor(pass) > 44 * 1024)
      return refuse("paged attention heads of " + D + " and " + Dv +
                    " do not fit a block's shared memory");
    std::string P = num(pass), ldKs = num(ldK), ldVs = num(ldV);
    e.line("__shared__ __align__(16) " + T + " Ks[" + P + "][" + ldKs + "], Vs[" + P +
           "][" + ldVs + "];");
    e.line("__shared__ float qs[" + G + "][" + D + "], ps[" + G + "][" + P + "], m_s[" +
           G + "], l_s[" + G + "], a_s[" + G + "];");
    e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
    if (vectorized)
      emitCachesAligned(e, keys, values);
    e.open("if (threadIdx.x < " + G + ")");
    e.line("m_s[threadIdx.x] = " + minusInf + ";");
    e.line("l_s[threadIdx.x] = 0.0f;");
    e.close();
    e.line("float acc[" + num(perThread) + "];");
    e.line("#pragma unroll");
    e.line("for (int r = 0; r < " + num(perThread) + "; ++r) acc[r] = 0.0f;");

    // The key and value rows of a pass starting at j0 (those `which` admits), through
    // the block table, 16 bytes at a time.
    auto stage = [&](const std::string &tile, const std::string &cache, int64_t width,
                     const std::string &which) {
      std::string chunks = num(width / chunk);
      e.open("for (int x = threadIdx.x; x < " + P + " * " + chunks +
             "; x += blockDim.x)");
      e.line("const int r = x / " + chunks + ", c = (x % " + chunks + ") * " +
             num(chunk) + ";");
      e.line("const long long j = j0 + r;");
      e.open("if (" + which + ")");
      e.line(T + " *to = &" + tile + "[r][c];");
      emitCacheCopy(e, {cache, table, blockSize, kvHeads, width}, T, "j", "g", chunk,
                    vectorized);
      e.close();
      e.close();
    };
    std::string rows = "j < k1";
    if (prefetch) {
      e.line("const long long old = (long long)" + lens + "[seq] - (end - first);");
      e.open("");
      e.line("const long long j0 = k0;");
      stage("Ks", keys, d, "j < k1 && j < old");
      stage("Vs", values, dv, "j < k1 && j < old");
      e.close();
      e.line("loom_wait_prior();");
      rows = "j < k1 && (j0 > k0 || j >= old)";
      if (single && writes) {
        // The step's own row is the last key, which only the last slice reads: it
        // stores the row before copying it back.
        e.open("if (k1 == keys)");
        emitNewRow(keyWrite, d, "", "true", 0);
        emitNewRow(valueWrite, dv, "", "true", d % threads);
        e.close();
        e.line("__syncthreads();");
      }
    }
    e.open("for (long long j0 = k0; j0 < k1; j0 += " + P + ")");
    stage("Ks", keys, d, rows);
    stage("Vs", values, dv, rows);
    // The query heads (pre-scaled) load while the first pass's copies are in flight.
    e.open("if (j0 == k0)");
    e.open("for (int i = threadIdx.x; i < " + G + " * " + D + "; i += blockDim.x)");
    e.line("const long long h = g * " + G + " + i / " + D + ", dd = i % " + D + ";");
    e.line("qs[i / " + D + "][dd] = (float)" + e.at(op.getQuery(), {"token", "h", "dd"}) +
           " * " + floatLiteral(scale, "float") + ";");
    e.close();
    e.close();
    if (vectorized) {
      e.line("loom_cp_async_commit();");
      e.line("loom_cp_async_wait<0>();");
    }
    e.line("__syncthreads();");
    // Scores: a (key, head) pair of the pass's n keys per thread and step.
    e.line("const int n = (int)loom_min(" + P + "LL, k1 - j0);");
    e.open("for (int x = threadIdx.x; x < n * " + G + "; x += blockDim.x)");
    e.line("const int key = x % n, hh = x / n;");
    e.line("const " + T + " *krow = Ks[key];");
    keyDot("qs[hh]", false, "j0 + key");
    e.line("ps[hh][key] = dot;");
    e.close();
    e.line("__syncthreads();");
    // Softmax bookkeeping: a warp per head.
    e.open("for (int hh = warp; hh < " + G + "; hh += blockDim.x / 32)");
    e.line("float best = " + minusInf + ";");
    e.line("for (int c = lane; c < n; c += 32) best = fmaxf(best, ps[hh][c]);");
    e.line("for (int o = 16; o > 0; o >>= 1) best = fmaxf(best, "
           "__shfl_xor_sync(0xffffffffu, "
           "best, o));");
    e.line("const float before = m_s[hh], after = fmaxf(before, best);");
    e.line("float sum = 0.0f;");
    e.open("for (int c = lane; c < n; c += 32)");
    e.line("const float p = expf(ps[hh][c] - after);");
    e.line(quantized ? "ps[hh][c] = p * " + scaleOf(valueScales, "j0 + c") + ";"
                     : "ps[hh][c] = p;");
    e.line("sum += p;");
    e.close();
    e.line(
        "for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);");
    e.line("__syncwarp();");
    e.open("if (lane == 0)");
    e.line("const float alpha = before == " + minusInf +
           " ? 0.0f : expf(before - after);");
    e.line("a_s[hh] = alpha;");
    e.line("l_s[hh] = l_s[hh] * alpha + sum;");
    e.line("m_s[hh] = after;");
    e.close();
    e.close();
    e.line("__syncthreads();");
    // Values: each thread's outputs (head hh, column dd) for idx = thread + r * threads.
    e.line("#pragma unroll");
    e.open("for (int r = 0; r < " + num(perThread) + "; ++r)");
    e.line("const int idx = threadIdx.x + r * " + Th + ";");
    e.open("if (idx < " + G + " * " + Dv + ")");
    e.line("const int hh = idx / " + Dv + ", dd = idx % " + Dv + ";");
    e.line("float sum = acc[r] * a_s[hh];");
    e.line("#pragma unroll 4");
    e.line("for (int c = 0; c < n; ++c) sum += ps[hh][c] * " +
           loadAs(element, "Vs[c]", "dd") + ";");
    e.line("acc[r] = sum;");
    e.close();
    e.close();
    e.line("__syncthreads();");
    e.close();

    // An unsplit token stores its result; a split one leaves its partial in scratch.
    e.line("const long long scratchRow = token * perToken + z;");
    e.open("for (int r = 0; r < " + num(perThread) + "; ++r)");
    e.line("const int idx = threadIdx.x + r * " + Th + ";");
    e.line("if (idx >= " + G + " * " + Dv + ") break;");
    e.line("const long long h = g * " + G + " + idx / " + Dv + ", dd = idx % " + Dv +
           ";");
    e.open("if (splits == 1)");
    e.line("const float y = acc[r] / l_s[idx / " + Dv + "];");
    bool stored = storeOutputs(op.getResult(), {"token", "h", "dd"}, "y");
    e.close();
    e.open("else");
    e.line("ws0[(scratchRow * " + num(heads) + " + h) * " + W + " + dd] = acc[r];");
    e.close();
    e.close();
    e.open("if (splits > 1 && threadIdx.x < " + G + ")");
    e.line("float *stats = ws0 + (scratchRow * " + num(heads) + " + g * " + G +
           " + threadIdx.x) * " + W + " + " + Dv + ";");
    e.line("stats[0] = m_s[threadIdx.x];");
    e.line("stats[1] = l_s[threadIdx.x];");
    e.close();
    if (!stored)
      return false;
    e.line("if (splits == 1) return;");

    // The last slice of a (token, KV head) to finish combines them all: each block counts
    // itself once its partials are written; the one that completes the count resets the
    // counter for the next launch and weighs the slices, kMaxSplits lanes per head (a
    // slice's sum rescaled to the largest maximum, over the total), then adds each
    // output's weighted partials, its loads (from L2) independent.
    e.line("__shared__ bool last_s;");
    e.line("__syncthreads();");
    e.open("if (threadIdx.x == 0)");
    e.line("unsigned int *count = counters + token * " + num(kvHeads) + " + g;");
    e.line("last_s = loom_count_block(count) == (unsigned int)splits - 1u;");
    e.line("if (last_s) *count = 0u;");
    e.close();
    e.line("__syncthreads();");
    e.line("if (!last_s) return;");
    e.line("const long long stride = " + num(heads * width) + ";");
    e.line("const float *partials = ws0 + (token * perToken * " + num(heads) + " + g * " +
           G + ") * " + W + ";");
    std::string S = num(kMaxSplits);
    e.line("__shared__ float weight[" + G + "][" + S + "];");
    e.open("for (int t = threadIdx.x; t < " + num((group * kMaxSplits + 31) / 32 * 32) +
           "; t += blockDim.x)");
    e.line("const int hh = t / " + S + ", zz = t % " + S + ";");
    e.line("const bool valid = hh < " + G + " && zz < splits;");
    e.line("const float *stats = partials + hh * " + W + " + " + Dv + " + zz * stride;");
    e.line("const float most = valid ? __ldcg(stats) : " + minusInf + ";");
    e.line("const float sum = valid ? __ldcg(stats + 1) : 0.0f;");
    e.line("float best = most;");
    e.line(
        "for (int o = " + num(kMaxSplits / 2) +
        "; o > 0; o >>= 1) best = fmaxf(best, __shfl_xor_sync(0xffffffffu, best, o));");
    e.line("const float scale = valid ? expf(most - best) : 0.0f;");
    e.line("float total = sum * scale;");
    e.line("for (int o = " + num(kMaxSplits / 2) +
           "; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);");
    e.line("if (valid) weight[hh][zz] = scale / total;");
    e.close();
    e.line("__syncthreads();");
    // Each thread adds `columns` adjacent outputs, 8 slices' loads in flight at a time.
    std::string C = num(columns), vectorType = columns == 4 ? "float4" : "float";
    e.open("for (int idx = threadIdx.x * " + C + "; idx < " + G + " * " + Dv +
           "; idx += blockDim.x * " + C + ")");
    e.line("const int hh = idx / " + Dv + ", d0 = idx % " + Dv + ";");
    e.line("const float *column = partials + hh * " + W + " + d0;");
    e.line("float y[" + C + "] = {};");
    e.open("for (int z0 = 0; z0 < splits; z0 += 8)");
    e.line("#pragma unroll");
    e.open("for (int j = 0; j < 8; ++j)");
    e.open("if (z0 + j < splits)");
    e.line("const " + vectorType + " p = __ldcg(reinterpret_cast<const " + vectorType +
           " *>(column + (z0 + j) * stride));");
    e.line("const float w = weight[hh][z0 + j];");
    if (columns == 4)
      e.line("y[0] += p.x * w, y[1] += p.y * w, y[2] += p.z * w, y[3] += p.w * w;");
    else
      e.line("y[0] += p * w;");
    e.close();
    e.close();
    e.close();
    e.line("#pragma unroll");
    e.open("for (int c = 0; c < " + C + "; ++c)");
    e.line("const long long h = g * " + G + " + hh, dd = d0 + c;");
    bool combined = storeOutputs(op.getResult(), {"token", "h", "dd"}, "y[c]");
    e.close();
    e.close();
    return combined;
  };
  if (!split(schedule_.warps * 32, false))
    return false;
  std::optional<std::string> tokenName = guardName(q[0]);
  // The fewest tokens the steps left to the kernel itself have.
  int64_t fewest = 0;
  auto variant = [&](const std::string &suffix, int64_t most, bool single) {
    EmittedKernel::Phase phase;
    phase.name = name_ + suffix;
    phase.threads = static_cast<int>(kDecodeWarps * 32);
    std::copy(info_.grid, info_.grid + 3, phase.grid);
    phase.waitsInside = prefetch;
    phase.sharedBytes = single ? wholeShared(phase.threads) : 0;
    phase.guard = {*tokenName, fewest, most};
    fewest = most + 1;
    return writePhase(phase, [&] { return split(kDecodeWarps * 32, single); });
  };
  int64_t singleThreads = kDecodeWarps * 32;
  if (tokenName && prefetch && group <= kMaxSplits && wholeKeys >= 64 &&
      wholeShared(singleThreads) + kSplitStaticBytes <= schedule_.sharedKib * 1024 &&
      !variant("_single", 1, true))
    return false;
  if (tokenName && schedule_.warps < kDecodeWarps &&
      !variant("_decode", kDecodeTokens, false))
    return false;
  if (fewest)
    info_.guard = {*tokenName, fewest, 0};
  if (writes) {
    // The writes for the steps `_single` does not take, launched before the attention.
    EmittedKernel::Phase phase;
    phase.name = name_ + "_write";
    phase.threads = 256;
    phase.first = true;
    phase.grid[0] = {work(shapeOf(keyWrite.getValues())), 256, 65536};
    if (!info_.phases.empty() && info_.phases.front().name == name_ + "_single")
      phase.guard = {*tokenName, 2, 0};
    if (!writePhase(phase, [&] {
          emitCacheWrites({keyWrite, valueWrite});
          return true;
        }))
      return false;
    info_.inPlace.assign(kernel_.getNumResults(), -1);
    for (CacheWriteOp write : {keyWrite, valueWrite})
      info_.inPlace[outputOf(write.getResult())] =
          static_cast<int>(llvm::cast<BlockArgument>(write.getCache()).getArgNumber());
  }
  return pagedPrefill(op);
}

} // namespace loom::cuda
