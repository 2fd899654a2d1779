//===- Harness.cpp - Per-kernel test data for checking kernels on a GPU ---===//
//
// Each distinct kernel of a fused module becomes a one-kernel module that the
// reference executor runs on random inputs; the inputs and the outputs it computes go
// beside the CUDA source, with the launch of each kernel for the chosen sizes, so the
// GPU side (`loom kernel-check`, no MLIR) can run every kernel alone and compare.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/codegen/cuda/CudaEmitter.h"
#include "compiler/codegen/cuda/ElementEmitter.h"
#include "compiler/codegen/cuda/QuantizedWeights.h"
#include "compiler/reference/ElementTypes.h"
#include "compiler/reference/Reference.h"
#include "dialects/loom/Shape.h"
#include "loom/support/Files.h"
#include "loom/support/Float16.h"
#include "loom/support/Quantization.h"
#include "loom/support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <random>
#include <set>

using namespace mlir;
using loom::cuda::jsonString;

namespace loom {

namespace {

using reference::ElementType;
using reference::Tensor;

/// A module whose @forward runs `kernel` alone on its inputs.
OwningOpRef<ModuleOp> isolate(KernelOp kernel) {
  OpBuilder builder(kernel.getContext());
  OwningOpRef<ModuleOp> module = ModuleOp::create(kernel.getLoc());
  builder.setInsertionPointToEnd(module->getBody());
  auto type =
      builder.getFunctionType(kernel.getInputs().getTypes(), kernel.getResultTypes());
  auto func = func::FuncOp::create(builder, kernel.getLoc(), "forward", type);
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToEnd(entry);
  IRMapping mapping;
  mapping.map(kernel.getInputs(), entry->getArguments());
  Operation *copy = builder.clone(*kernel, mapping);
  func::ReturnOp::create(builder, kernel.getLoc(), copy->getResults());
  return module;
}

/// The exclusive upper bound of random values for kernel input `index`: the indexed
/// dimension for gather indices, 2 for other integers (valid ids, masks and flags).
int64_t integerBound(KernelOp kernel, unsigned index,
                     const std::map<std::string, int64_t> &sizes) {
  Value arg = kernel.getBody().front().getArgument(index);
  for (Operation *user : arg.getUsers())
    if (auto gather = llvm::dyn_cast<GatherOp>(user);
        gather && gather.getIndices() == arg) {
      Dim dim = getShape(gather.getData().getType())[gather.getAxis()];
      std::optional<SizeExpr> expr = toExpr(dim);
      std::optional<int64_t> size = expr ? expr->evaluate(sizes) : std::nullopt;
      return size && *size > 0 ? *size : 1;
    }
  return 2;
}

/// For a kernel input that is a quantized KV cache's scales, the largest code of its
/// cache (127 for int8, 448 for FP8); 0 for any other input.
double scalesOfCodes(KernelOp kernel, unsigned index) {
  Value arg = kernel.getBody().front().getArgument(index);
  auto largest = [](Value cache) {
    return llvm::cast<RankedTensorType>(cache.getType()).getElementType().isInteger(8)
               ? 127.0
               : 448.0;
  };
  for (Operation *user : arg.getUsers()) {
    if (auto write = llvm::dyn_cast<CacheWriteOp>(user); write && write.getScales() == arg)
      return largest(write.getCache());
    if (auto paged = llvm::dyn_cast<PagedAttentionOp>(user); paged && paged.isQuantized()) {
      if (paged.getKeyScales() == arg)
        return largest(paged.getKeyCache());
      if (paged.getValueScales() == arg)
        return largest(paged.getValueCache());
    }
  }
  return 0;
}

/// Valid integer inputs for a kernel over a paged KV cache (by input index): block
/// tables, context lengths and query starts that lay random ragged sequences out in
/// distinct random cache blocks, and slots for a cache write that are distinct cache
/// rows (for writes into the attention's caches in the same kernel, the rows of the
/// tokens' positions), so that the kernel never reads past its tables or writes a row
/// twice.
/// Fails when the sizes leave too few cache blocks for the step's tokens.
bool pagedInputs(KernelOp kernel, const std::map<std::string, int64_t> &sizes,
                 std::mt19937_64 &rng, std::map<unsigned, std::vector<int64_t>> &values,
                 std::string &error) {
  auto sizeOf = [&](const Dim &dim) -> int64_t {
    std::optional<SizeExpr> expr = toExpr(dim);
    std::optional<int64_t> size = expr ? expr->evaluate(sizes) : std::nullopt;
    return size.value_or(0);
  };
  auto argIndex = [](Value v) -> std::optional<unsigned> {
    if (auto arg = llvm::dyn_cast<BlockArgument>(v))
      return arg.getArgNumber();
    return std::nullopt;
  };
  bool ok = true;
  kernel.walk([&](Operation *op) {
    if (auto attention = llvm::dyn_cast<PagedAttentionOp>(op)) {
      Shape cache = getShape(attention.getKeyCache().getType());
      int64_t tokens = sizeOf(getShape(attention.getQuery().getType())[0]),
              seqs = sizeOf(getShape(attention.getContextLens().getType())[0]),
              width = sizeOf(getShape(attention.getBlockTables().getType())[1]),
              blocks = sizeOf(cache[0]), blockSize = sizeOf(cache[1]);
      int64_t perSeq = seqs ? std::min(width, blocks / seqs) : 0;
      if (seqs < 1 || tokens < seqs || tokens > seqs * perSeq * blockSize) {
        error = std::to_string(tokens) + " tokens in " + std::to_string(seqs) +
                " sequences do not fit " + std::to_string(blocks) + " cache blocks of " +
                std::to_string(blockSize) + " with tables of " + std::to_string(width) +
                " (set tokens, seqs, blocks and table with --sizes)";
        ok = false;
        return;
      }
      // Every sequence gets one new token, the rest go to random sequences that have
      // room; then each context holds its new tokens and a random number of older ones.
      std::vector<int64_t> count(seqs, 1), lens(seqs), starts(seqs);
      for (int64_t t = seqs; t < tokens;) {
        int64_t s = std::uniform_int_distribution<int64_t>(0, seqs - 1)(rng);
        if (count[s] < perSeq * blockSize) {
          ++count[s];
          ++t;
        }
      }
      std::vector<int64_t> order(blocks), tables(seqs * width, -1);
      for (int64_t b = 0; b < blocks; ++b)
        order[b] = b;
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t s = 0, start = 0; s < seqs; ++s) {
        starts[s] = start;
        start += count[s];
        lens[s] =
            std::uniform_int_distribution<int64_t>(count[s], perSeq * blockSize)(rng);
        for (int64_t i = 0; i * blockSize < lens[s]; ++i)
          tables[s * width + i] = order[s * perSeq + i];
      }
      for (auto [operand, data] : {std::pair(attention.getBlockTables(), &tables),
                                   std::pair(attention.getContextLens(), &lens),
                                   std::pair(attention.getQueryStarts(), &starts)})
        if (std::optional<unsigned> index = argIndex(operand))
          values[*index] = *data;
      // Writes in the same kernel (loom-writes-into-attention) store each token's rows
      // where its sequence's table puts its position, as a serving step does: the
      // kernel may take a one-token step's new row from the write itself. (Visited
      // after the writes, this replaces their random slots.)
      if (auto write = attention.getKeyCache().getDefiningOp<CacheWriteOp>()) {
        std::vector<int64_t> slots(tokens);
        for (int64_t s = 0; s < seqs; ++s)
          for (int64_t i = 0; i < count[s]; ++i) {
            int64_t position = lens[s] - count[s] + i;
            slots[starts[s] + i] = tables[s * width + position / blockSize] * blockSize +
                                   position % blockSize;
          }
        if (std::optional<unsigned> index = argIndex(write.getSlots()))
          values[*index] = slots;
      }
    } else if (auto write = llvm::dyn_cast<CacheWriteOp>(op)) {
      Shape cache = getShape(write.getCache().getType());
      int64_t rows = sizeOf(cache[0]) * sizeOf(cache[1]),
              tokens = sizeOf(getShape(write.getSlots().getType())[0]);
      if (tokens > rows) {
        error = std::to_string(tokens) + " new rows do not fit a cache of " +
                std::to_string(rows) + " (set tokens and blocks with --sizes)";
        ok = false;
        return;
      }
      std::vector<int64_t> slots(rows);
      for (int64_t r = 0; r < rows; ++r)
        slots[r] = r;
      std::shuffle(slots.begin(), slots.end(), rng);
      slots.resize(tokens);
      if (tokens > 1)
        slots[0] = -1; // a padding token, which writes nothing
      if (std::optional<unsigned> index = argIndex(write.getSlots()))
        values[*index] = slots;
    }
  });
  return ok;
}

/// `value` rounded to a scale type (F16, BF16 or F32).
float roundToScale(DType type, float value) {
  return type == DType::F16    ? roundToHalf(value)
         : type == DType::BF16 ? roundToBfloat16(value)
                               : value;
}

/// A random valid [n, k] weight of `encoding`, in Loom's unpacked form: any code (FP8:
/// any finite e4m3), scales that keep |W| near 0.15 (so that a sum over k of products
/// with inputs in [-1, 1] stays near 1), any zero point, mins of about half the range,
/// and for an act-order weight a random assignment of inputs to groups of equal size.
QuantizedWeight randomQuantized(const QuantEncoding &encoding, int64_t n, int64_t k,
                                std::mt19937_64 &rng) {
  QuantizedWeight w;
  w.rows = n;
  w.cols = k;
  w.encoding = encoding;
  bool fp8 = encoding.element == QuantElement::Fp8E4M3;
  int bits = quantBits(encoding.element);
  int64_t groups = quantGroups(encoding, k);
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::uniform_real_distribution<float> spread(0.5f, 1.5f);
  w.codes.resize(n * k);
  for (uint8_t &c : w.codes) {
    do
      c = static_cast<uint8_t>(code(rng));
    while (fp8 && (c & 0x7f) == 0x7f); // e4m3 NaN
  }
  float range = fp8 ? 448.0f : static_cast<float>(1 << (bits - 1));
  for (int64_t i = 0; i < n * groups; ++i) {
    float scale = roundToScale(encoding.scaleType, spread(rng) * 0.15f / range);
    w.scales.push_back(scale);
    if (encoding.offset == QuantOffset::Zero)
      w.zeros.push_back(static_cast<uint8_t>(code(rng)));
    if (encoding.offset == QuantOffset::Min)
      w.mins.push_back(roundToScale(encoding.scaleType, scale * range * spread(rng)));
  }
  if (encoding.permuted) {
    int64_t size = k / groups;
    for (int64_t i = 0; i < k; ++i)
      w.groupOf.push_back(static_cast<int32_t>(i / size));
    std::shuffle(w.groupOf.begin(), w.groupOf.end(), rng);
  }
  return w;
}

/// A quantized weight input of a kernel: its buffers in the kernel layout as harness
/// tensors named `name` + the parameter suffix (codes, scales, zeros or mins,
/// permutation: the kernel's parameter order), and in `weight` the reference's input,
/// the dequantized weight rounded to the weight's element type.
void quantizedInput(QuantAttr quant, const std::string &name, int64_t n, int64_t k,
                    std::mt19937_64 &rng, Tensor &weight,
                    std::vector<TensorBytes> &tensors, std::vector<std::string> &names) {
  QuantizedWeight random = randomQuantized(quant.getEncoding(), n, k, rng);
  KernelWeightLayout layout = repackForKernels(random);
  const std::string *bytes[] = {&layout.codes, &layout.scales, &layout.zeros,
                                &layout.mins, &layout.perm};
  for (const cuda::QuantBuffer &buffer : cuda::quantBuffers(quant, n, k)) {
    static const char *roles[] = {"codes", "scales", "zeros", "mins", "perm"};
    size_t role = std::find(std::begin(roles), std::end(roles), buffer.role) - roles;
    DType dtype = DType::U8;
    parseDType(buffer.dtype, dtype);
    tensors.push_back({name + buffer.suffix, dtype, buffer.shape, *bytes[role]});
    names.push_back(name + buffer.suffix);
  }
  std::vector<float> values = dequantize(random);
  for (size_t i = 0; i < values.size(); ++i)
    weight.floats[i] = reference::roundTo(weight.type, values[i]);
}

/// Random inputs of `kernel` for `sizes` (`paged`: those pagedInputs chose): the
/// reference executor's tensors in `inputs`; the kernel's buffers as harness tensors,
/// a quantized weight's several (quantizedInput), their names in parameter order in
/// `buffers`, and the index in `buffers` of each input's first one in `firstBuffer`.
bool randomInputs(KernelOp kernel, const std::map<std::string, int64_t> &sizes,
                  const std::map<unsigned, std::vector<int64_t>> &paged,
                  std::mt19937_64 &rng, std::vector<Tensor> &inputs,
                  std::vector<TensorBytes> &tensors, std::vector<std::string> &buffers,
                  std::vector<int64_t> &firstBuffer, std::string &error) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::string name = kernel->getAttrOfType<StringAttr>("loom.cuda_name").str();
  for (auto [i, input] : llvm::enumerate(kernel.getInputs())) {
    auto type = llvm::cast<RankedTensorType>(input.getType());
    Tensor t;
    reference::elementTypeOf(type.getElementType(), t.type);
    std::vector<int64_t> shape;
    for (const Dim &dim : getShape(type)) {
      std::optional<SizeExpr> expr = toExpr(dim);
      std::optional<int64_t> size = expr ? expr->evaluate(sizes) : std::nullopt;
      if (!size) {
        error = "input " + std::to_string(i) + " has a dimension of unknown size";
        return false;
      }
      shape.push_back(*size);
    }
    t = Tensor::zeros(t.type, shape);
    std::string tensorName = name + ".in" + std::to_string(i);
    firstBuffer.push_back(static_cast<int64_t>(buffers.size()));
    if (QuantAttr quant = cuda::quantOf(input)) {
      quantizedInput(quant, tensorName, shape[0], shape[1], rng, t, tensors, buffers);
      inputs.push_back(std::move(t));
      continue;
    }
    // A quantized cache's codes span their range and its scales bring them to about
    // [-1, 1], as a written cache's do.
    if (double largest = scalesOfCodes(kernel, i)) {
      std::uniform_real_distribution<double> scale(0.25 / largest, 1.0 / largest);
      for (double &f : t.floats)
        f = static_cast<float>(scale(rng));
    } else if (t.type == reference::ElementType::F8E4M3) {
      std::uniform_real_distribution<double> code(-448.0, 448.0);
      for (double &f : t.floats)
        f = reference::roundTo(t.type, code(rng));
    } else if (reference::isFloat(t.type)) {
      for (double &f : t.floats)
        f = reference::roundTo(t.type, uniform(rng));
    } else if (t.type == reference::ElementType::I8 &&
               llvm::any_of(kernel.getBody().front().getArgument(i).getUsers(),
                            [](Operation *user) {
                              return llvm::isa<CacheWriteOp, PagedAttentionOp>(user);
                            })) {
      std::uniform_int_distribution<int64_t> code(-127, 127);
      for (int64_t &n : t.ints)
        n = code(rng);
    } else if (auto it = paged.find(i); it != paged.end()) {
      t.ints = it->second;
    } else {
      std::uniform_int_distribution<int64_t> pick(0, integerBound(kernel, i, sizes) - 1);
      for (int64_t &n : t.ints)
        n = reference::wrapTo(t.type, pick(rng));
    }
    tensors.push_back(
        {tensorName, reference::safetensorsType(t.type), t.shape, reference::toBytes(t)});
    buffers.push_back(tensorName);
    inputs.push_back(std::move(t));
  }
  return true;
}

/// `[a, b, c]` of the grid of `dims` for `sizes`.
std::string gridText(const cuda::EmittedKernel::GridDim dims[3],
                     const std::map<std::string, int64_t> &sizes) {
  std::string text;
  for (int d = 0; d < 3; ++d)
    text += (d ? ", " : "") + std::to_string(dims[d].blocks(sizes).value_or(1));
  return "[" + text + "]";
}

/// Every file a harness folder holds.
const std::vector<std::string> kHarnessFiles = {"kernels.cu", "harness.json",
                                                "tensors.safetensors"};

} // namespace

bool mayWriteKernelHarness(const std::string &dir, std::string &error) {
  return FolderOutput::mayReplace(dir, "harness.json", "loom-kernel-harness",
                                  kHarnessFiles, error);
}

bool writeKernelHarness(const std::string &ir, const std::string &dir,
                        const KernelHarnessOptions &options, std::string &summary,
                        std::string &error) {
  cuda::EmittedModule emitted;
  if (!cuda::parseAndEmit(ir, emitted, error))
    return false;
  OwningOpRef<ModuleOp> &module = emitted.module;
  const std::string &source = emitted.source;
  const std::vector<cuda::EmittedKernel> &kernels = emitted.kernels;

  // Sizes for every name the kernels use.
  std::set<std::string> names;
  module->walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      cuda::collectSymbols(t, names);
    for (Type t : op->getOperandTypes())
      cuda::collectSymbols(t, names);
  });
  std::map<std::string, int64_t> sizes = options.dimSizes;
  for (const std::string &name : names)
    sizes.emplace(name, name.find("batch") != std::string::npos ? 2 : 7);

  std::mt19937_64 rng(options.seed);
  std::vector<TensorBytes> tensors;
  std::string json = "{\n  \"format\": \"loom-kernel-harness\",\n  \"kernels\": [";
  std::set<std::string> done;
  bool ok = true;
  module->walk([&](KernelOp kernel) {
    auto name = kernel->getAttrOfType<StringAttr>("loom.cuda_name").str();
    if (!ok || !done.insert(name).second)
      return;
    const cuda::EmittedKernel &info = *llvm::find_if(
        kernels, [&](const cuda::EmittedKernel &k) { return k.name == name; });
    std::map<unsigned, std::vector<int64_t>> paged;
    if (!pagedInputs(kernel, sizes, rng, paged, error)) {
      error = name + ": " + error;
      ok = false;
      return;
    }
    std::vector<Tensor> inputs;
    std::string inputNames, outputNames;
    // The kernel's input buffers in parameter order (a quantized weight is several),
    // and where each input's first buffer is among them.
    std::vector<std::string> bufferNames;
    std::vector<int64_t> flatIndex;
    if (!randomInputs(kernel, sizes, paged, rng, inputs, tensors, bufferNames, flatIndex,
                      error)) {
      error = name + ": " + error;
      ok = false;
      return;
    }
    for (const std::string &buffer : bufferNames)
      inputNames += (inputNames.empty() ? "" : ", ") + jsonString(buffer);
    OwningOpRef<ModuleOp> alone = isolate(kernel);
    std::string text;
    llvm::raw_string_ostream ts(text);
    alone->print(ts);
    std::unique_ptr<reference::Executor> executor =
        reference::Executor::create(text, nullptr, error);
    std::vector<Tensor> outputs;
    if (!executor || !executor->run(inputs, outputs, error)) {
      error = name + ": the reference executor failed: " + error;
      ok = false;
      return;
    }
    for (auto [i, t] : llvm::enumerate(outputs)) {
      std::string tensorName = name + ".out" + std::to_string(i);
      tensors.push_back({tensorName, reference::safetensorsType(t.type), t.shape,
                         reference::toBytes(t)});
      outputNames += (i ? ", " : "") + jsonString(tensorName);
    }
    std::string symbols, launchList, scratch, inPlace;
    for (const std::string &symbol : info.symbols)
      symbols += (symbols.empty() ? "" : ", ") + std::to_string(sizes[symbol]);
    // The launches the sizes select (a kernel, its phases and variants, by guard).
    auto addLaunch = [&](const std::string &kernelName, int threads, int64_t shared,
                         const cuda::EmittedKernel::GridDim grid[3],
                         const cuda::EmittedKernel::Guard &guard) {
      if (!guard.admits(sizes))
        return;
      launchList += std::string(launchList.empty() ? "" : ", ") +
                    "{\"name\": " + jsonString(kernelName) +
                    ", \"threads\": " + std::to_string(threads) +
                    ", \"shared\": " + std::to_string(shared) +
                    ", \"grid\": " + gridText(grid, sizes) +
                    (grid[0].perSm ? ", \"per_sm\": " + std::to_string(grid[0].perSm)
                                   : std::string()) +
                    "}";
    };
    for (const cuda::EmittedKernel::Phase &launch : info.launches())
      addLaunch(launch.name, launch.threads, launch.sharedBytes, launch.grid,
                launch.guard);
    for (const cuda::EmittedKernel::Scratch &buffer : info.scratch) {
      int64_t elements = 1;
      for (const std::string &dim : buffer.shape) {
        std::optional<SizeExpr> expr = SizeExpr::parse(dim);
        elements *= expr ? expr->evaluate(sizes).value_or(1) : 1;
      }
      scratch += (scratch.empty() ? "" : ", ") +
                 std::to_string(elements * buffer.element.getIntOrFloatBitWidth() / 8);
    }
    for (int input : info.inPlace)
      inPlace += (inPlace.empty() ? "" : ", ") +
                 std::to_string(input < 0 ? -1 : flatIndex[input]);
    json += std::string(done.size() > 1 ? "," : "") +
            "\n    {\"name\": " + jsonString(name) +
            ", \"kind\": " + jsonString(stringifyKernelKind(info.kind).str()) +
            ", \"launches\": [" + launchList + "], \"scratch\": [" + scratch +
            "], \"counters\": " + std::to_string(info.counters) + ", \"in_place\": [" +
            inPlace + "], \"sizes\": [" + symbols + "], \"inputs\": [" + inputNames +
            "], \"outputs\": [" + outputNames + "]}";
  });
  if (!ok)
    return false;
  json += "\n  ]\n}\n";

  FolderOutput output;
  if (!output.open(dir, "harness.json", "loom-kernel-harness", kHarnessFiles, error) ||
      !output.write("kernels.cu", source, error) ||
      !output.write("harness.json", json, error) ||
      !writeSafetensors(output.staged("tensors.safetensors"), tensors, error) ||
      !output.commit(error))
    return false;
  summary = std::to_string(done.size()) + " kernels, " + std::to_string(tensors.size()) +
            " tensors";
  return true;
}

} // namespace loom
