//===- PagedPrefillKernels.cpp - Paged attention on tensor cores ----------===//
//
// The tensor-core variant of paged attention, for steps larger than the split-KV
// kernel takes (prefills): flash attention over each sequence's queries, its keys and
// values read through the block table.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"
#include "compiler/codegen/cuda/PagedKernels.h"

#include <algorithm>

using namespace mlir;

namespace loom::cuda {

namespace {

/// Rows of the tensor-core variant's block ((query token, query head) pairs of one KV
/// head; 16 per warp) and keys per K/V tile.
constexpr int64_t kPrefillRows = 128, kPrefillKeys = 64;

} // namespace

/// The tensor-core variant for steps of more than kSplitMaxTokens tokens (16-bit,
/// caches of the query's type, head sizes multiples of 16): flash attention as in
/// tensorCoreAttention, over one sequence's queries at a time. A block takes a KV head
/// and a tile of queries of one sequence, its kPrefillRows rows being (query, query head)
/// pairs — the G heads of the KV head for kPrefillRows / G consecutive queries — so each
/// key and value tile read through the block table serves every head that shares it.
/// Blocks walk the tiles of all sequences in a grid-stride loop. The split-KV kernel and
/// its combine are guarded to the smaller steps.
bool KernelWriter::pagedPrefill(PagedAttentionOp op) {
  Shape q = shapeOf(op.getQuery()), kc = shapeOf(op.getKeyCache()),
        tables = shapeOf(op.getBlockTables());
  int64_t heads = q[1].size, d = q[2].size, blockSize = kc[1].size, kvHeads = kc[2].size,
          dv = shapeOf(op.getValueCache())[3].size, group = heads / kvHeads;
  Type element = elementOf(op.getQuery());
  std::optional<std::string> tokenName = guardName(q[0]);
  if (!(element.isBF16() || element.isF16()) || elementOf(op.getKeyCache()) != element ||
      d % 16 || dv % 16 || kPrefillRows % group || !tokenName)
    return true; // no variant: the split-KV kernel takes every step
  std::string keys = cacheParameter(op.getKeyCache()),
              values = cacheParameter(op.getValueCache()),
              table = parameter(op.getBlockTables()),
              lens = parameter(op.getContextLens()),
              starts = parameter(op.getQueryStarts());
  double scale = softmaxScale(op.getScale(), d);
  int64_t perTile = kPrefillRows / group, ldQ = d + 8, ldV = dv + 8;
  // The Q tile is staged in the K/V tiles' shared memory (its fragments stay in
  // registers); K and V tiles are double-buffered (the next copied while this one is
  // used) when both buffers fit the static shared memory.
  int64_t kvElements = kPrefillKeys * (ldQ + ldV);
  int64_t buffers = 2 * kvElements * 2 <= 48 * 1024 ? 2 : 1;
  int64_t sharedElements = std::max(buffers * kvElements, kPrefillRows * ldQ);
  if (sharedElements * 2 > 48 * 1024)
    return true; // no variant: its tiles would not fit a block's static shared memory
  std::string T = storageType(element), kind = element.isBF16() ? "bf16" : "f16",
              G = num(group), D = num(d), Dv = num(dv), rows = num(kPrefillRows),
              tileKeys = num(kPrefillKeys), minusInf = "__int_as_float(0xff800000)";

  EmittedKernel::Phase phase;
  phase.name = name_ + "_tc";
  phase.threads = static_cast<int>(kPrefillRows / 16 * 32);
  // Two blocks per SM, so one block's softmax overlaps the other's multiplies (unbound,
  // the compiler takes 134 registers and one block fits).
  phase.minBlocks = 2;
  phase.grid[0] = {work(ArrayRef<Dim>(q).take_front()), perTile, 0};
  phase.grid[1] = {num(kvHeads), 1, 0};
  phase.guard = {*tokenName, kSplitMaxTokens + 1, 0};
  info_.guard.name = *tokenName;
  info_.guard.max = kSplitMaxTokens;
  return writePhase(phase, [&] {
    ElementEmitter &e = *emitter_;
    std::string B = num(buffers), LQ = num(ldQ), LV = num(ldV);
    e.line("__shared__ __align__(16) " + T + " tiles[" + num(sharedElements) + "];");
    e.line(T + " (*Qs)[" + LQ + "] = reinterpret_cast<" + T + " (*)[" + LQ +
           "]>(tiles);");
    e.line(T + " (*KsAt)[" + tileKeys + "][" + LQ + "] = reinterpret_cast<" + T +
           " (*)[" + tileKeys + "][" + LQ + "]>(tiles);");
    e.line(T + " (*VsAt)[" + tileKeys + "][" + LV + "] = reinterpret_cast<" + T +
           " (*)[" + tileKeys + "][" + LV + "]>(tiles + " +
           num(buffers * kPrefillKeys * ldQ) + ");");
    e.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
    e.line("const int group = lane / 4, pair = lane % 4;");
    e.line("const " + T + " zero = " +
           (element.isBF16() ? "__float2bfloat16_rn(0.0f)" : "__float2half_rn(0.0f)") +
           ";");
    e.line("const long long tokens = " + sizeExpr(q[0]) +
           ", seqs = " + sizeExpr(shapeOf(op.getContextLens())[0]) +
           ", tableWidth = " + sizeExpr(tables[1]) + ";");
    // Blocks start in the order of their rank (x fastest): the KV heads of a tile are
    // adjacent ranks, so the longest tiles of every KV head start first.
    e.line("const long long rank = (long long)blockIdx.y * gridDim.x + blockIdx.x, kvh = "
           "rank % " +
           num(kvHeads) + ";");
    emitCachesAligned(e, keys, values);
    e.open("for (long long t = rank / " + num(kvHeads) + ";; t += gridDim.x)");
    // Tile t of the step: the sequence whose tiles (perTile queries each) include it.
    // Sequences and their tiles are taken last first: a sequence's last tiles see the
    // most keys, and the short ones then fill the tail of the launch.
    e.line("long long seq = seqs - 1, tile = t, first = 0, end = 0;");
    e.open("for (; seq >= 0; --seq)");
    e.line("first = " + starts + "[seq];");
    e.line("end = seq + 1 < seqs ? (long long)" + starts + "[seq + 1] : tokens;");
    e.line("const long long n = (end - first + " + num(perTile - 1) + ") / " +
           num(perTile) + ";");
    e.open("if (tile < n)");
    e.line("tile = n - 1 - tile;");
    e.line("break;");
    e.close();
    e.line("tile -= n;");
    e.close();
    e.line("if (seq < 0) break;");
    // The sequence's Sq new queries see its Skv keys, causally aligned at the end.
    e.line("const long long Sq = end - first, Skv = " + lens + "[seq], i0 = tile * " +
           num(perTile) + ";");
    e.line("const long long kvEnd = loom_min(Skv, loom_max(0LL, i0 + " + num(perTile) +
           " + Skv - Sq));");
    e.line("__syncthreads();");
    e.open("for (int x = threadIdx.x; x < " + rows + " * " + D + "; x += blockDim.x)");
    e.line("const int r = x / " + D + ";");
    e.line("const long long qi = i0 + r / " + G + ", token = first + qi, hq = kvh * " +
           G + " + r % " + G + ", col = x % " + D + ";");
    e.open("if (qi < Sq)");
    e.line(store(element, "Qs[r][col]", e.at(op.getQuery(), {"token", "hq", "col"})));
    e.close();
    e.open("else");
    e.line("Qs[r][col] = zero;");
    e.close();
    e.close();
    e.line("__syncthreads();");
    flashQueryFragments(d);
    // The K/V tiles overwrite Qs.
    e.line("__syncthreads();");
    // The thread's two accumulator rows: their queries and heads.
    e.line("const int r0 = warp * 16 + group, r1 = r0 + 8;");
    e.line("const long long row0 = i0 + r0 / " + G + ", row1 = i0 + r1 / " + G + ";");
    e.line("const long long h0 = kvh * " + G + " + r0 % " + G + ", h1 = kvh * " + G +
           " + r1 % " + G + ";");
    e.line("float o[" + num(dv / 8) + "][4] = {};");
    e.line("float running[2] = {" + minusInf + ", " + minusInf +
           "}, total[2] = {0.f, 0.f};");
    // With double buffers and keys and values of one width, each thread copies the same
    // rows of every tile, and the block table's entries for a tile are read a tile
    // ahead (`slots`), so the copies of the next tile wait for no load.
    int64_t threads = phase.threads, chunksPerTile = kPrefillKeys * (d / 8);
    bool early = buffers == 2 && d == dv && chunksPerTile % threads == 0;
    std::string P = num(chunksPerTile / threads), chunksOfRow = num(d / 8),
                Bs = num(blockSize);
    auto loadSlots = [&](const std::string &from0) {
      e.line("#pragma unroll");
      e.open("for (int i = 0; i < " + P + "; ++i)");
      e.line("const long long j = " + from0 + " + (threadIdx.x + i * " + num(threads) +
             ") / " + chunksOfRow + ";");
      e.line("slots[i] = j < kvEnd ? (long long)" + table + "[seq * tableWidth + j / " +
             Bs + "] * " + Bs + " + j % " + Bs + " : 0;");
      e.close();
    };
    // Key and value rows j0 .. j0 + tile through the block table into buffer `buffer`,
    // 16 bytes at a time (one copy group).
    auto stage = [&](const std::string &tile, const std::string &cache, int64_t width,
                     const std::string &from0, const std::string &buffer, bool slotted) {
      std::string chunks = num(width / 8);
      if (slotted) {
        e.line("#pragma unroll");
        e.open("for (int i = 0; i < " + P + "; ++i)");
        e.line("const int x = threadIdx.x + i * " + num(threads) + ";");
      } else {
        e.open("for (int x = threadIdx.x; x < " + tileKeys + " * " + chunks +
               "; x += blockDim.x)");
      }
      e.line("const int r = x / " + chunks + ", c = (x % " + chunks + ") * 8;");
      e.line("const long long j = " + from0 + " + r;");
      e.line(T + " *to = &" + tile + "[" + buffer + "][r][c];");
      e.open("if (j < kvEnd)");
      emitCacheCopy(e, {cache, table, blockSize, kvHeads, width}, T, "j", "kvh", 8, true,
                    slotted ? "slots[i]" : "");
      e.close();
      e.open("else");
      e.line("for (int y = 0; y < 8; ++y) to[y] = zero;");
      e.close();
      e.close();
    };
    auto stageBoth = [&](const std::string &from0, const std::string &buffer,
                         bool slotted) {
      stage("KsAt", keys, d, from0, buffer, slotted);
      stage("VsAt", values, dv, from0, buffer, slotted);
      e.line("loom_cp_async_commit();");
    };
    if (buffers == 2)
      stageBoth("0LL", "0", false);
    if (early) {
      e.line("long long slots[" + P + "];");
      loadSlots(tileKeys + "LL");
    }
    e.open("for (long long j0 = 0, kt = 0; j0 < kvEnd; j0 += " + tileKeys + ", ++kt)");
    e.line("const int buffer = (int)(kt % " + B + ");");
    if (buffers == 2) {
      // The other buffer was last read in the previous tile, before its closing barrier.
      e.open("if (j0 + " + tileKeys + " < kvEnd)");
      stageBoth("j0 + " + tileKeys, "buffer ^ 1", early);
      if (early)
        loadSlots("j0 + 2 * " + tileKeys + "LL");
      e.line("loom_cp_async_wait<1>();");
      e.close();
      e.line("else loom_cp_async_wait<0>();");
    } else {
      stageBoth("j0", "0", false);
      e.line("loom_cp_async_wait<0>();");
    }
    e.line("__syncthreads();");
    e.line(T + " (*Ks)[" + num(ldQ) + "] = KsAt[buffer];");
    e.line(T + " (*Vs)[" + num(ldV) + "] = VsAt[buffer];");
    std::function<void()> softcap;
    if (std::optional<APFloat> cap = op.getSoftcap())
      softcap = [&e, c = floatLiteral(cap->convertToDouble(), "float")] {
        e.line("score = " + c + " * tanhf(score / " + c + ");");
      };
    flashTile(d, dv, kPrefillKeys, kind, /*causal=*/true, scale, softcap);
    e.line("__syncthreads();");
    e.close();
    bool stored = flashFinish(dv, [&] {
      e.line("const long long token = first + row, hq = x < 2 ? h0 : h1;");
      return storeOutputs(op.getResult(), {"token", "hq", "col"}, "y");
    });
    e.close();
    return stored;
  });
}

} // namespace loom::cuda
