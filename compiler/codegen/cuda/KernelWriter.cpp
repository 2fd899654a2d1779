//===- KernelWriter.cpp - Pointwise, normalization, shared parts ----------===//
//
// The writer's dispatch and signature, the kinds without a separate file, and the
// epilogue stores every anchored kind uses.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"

#include <set>

using namespace mlir;

namespace loom::cuda {

/// The statement storing compute-typed `value` into `target`.
std::string store(Type element, const std::string &target, const std::string &value) {
  if (element.isF16())
    return target + " = __float2half_rn(" + value + ");";
  if (element.isBF16())
    return target + " = __float2bfloat16_rn(" + value + ");";
  return target + " = (" + storageType(element) + ")(" + value + ");";
}

std::string floatLiteral(double x, const std::string &type) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.9e", x);
  return "(" + type + ")" + text;
}

/// The product of `dims` as size-expression text ("?" if one is anonymous).
std::string work(ArrayRef<Dim> dims) {
  std::optional<SizeExpr> count = elementCount(dims);
  return count ? count->str() : "?";
}

std::string product(ArrayRef<Dim> dims) {
  std::string text = "1LL";
  for (const Dim &d : dims)
    text += " * " + sizeExpr(d);
  return text;
}

/// "ceil(batch*seq / 256)", "min(.., 65536)": a grid dimension for the launch comment.
static std::string describe(const EmittedKernel::GridDim &dim) {
  std::string text = dim.per == 1
                         ? dim.work
                         : "ceil(" + dim.work + " / " + std::to_string(dim.per) + ")";
  return dim.cap ? "min(" + text + ", " + std::to_string(dim.cap) + ")" : text;
}

std::unique_ptr<ElementEmitter> KernelWriter::newEmitter() {
  std::vector<std::string> inputNames;
  for (unsigned i = 0; i < kernel_.getInputs().size(); ++i)
    inputNames.push_back("in" + std::to_string(i));
  SmallVector<Value> args(body().getArguments().begin(), body().getArguments().end());
  return std::make_unique<ElementEmitter>(args, inputNames);
}

bool KernelWriter::writePhase(EmittedKernel::Phase phase,
                              const std::function<bool()> &body) {
  std::unique_ptr<ElementEmitter> own = newEmitter();
  std::swap(emitter_, own);
  bool written = body();
  std::swap(emitter_, own);
  if (!written || own->failed())
    return written ? refuse(own->error()) : false;
  info_.phases.push_back(std::move(phase));
  phaseCode_.push_back(own->code());
  return true;
}

/// The name of `dim` when it is one plain dimension name ("tokens"), which a launch
/// guard can test; nullopt for products, constants and anonymous sizes.
std::optional<std::string> guardName(const Dim &dim) {
  std::optional<SizeExpr> expr = toExpr(dim);
  if (!expr || *expr != SizeExpr::symbol(expr->str()))
    return std::nullopt;
  return expr->str();
}

KernelWriter::KernelWriter(KernelOp kernel, std::string name)
    : kernel_(kernel), schedule_(scheduleOf(kernel)), name_(std::move(name)) {
  emitter_ = newEmitter();
  std::set<std::string> symbols;
  kernel.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      collectSymbols(t, symbols);
  });
  for (Type t : kernel.getInputs().getTypes())
    collectSymbols(t, symbols);
  info_.symbols.assign(symbols.begin(), symbols.end());
  info_.name = name_;
  info_.kind = kernel.getKind();
  info_.threads = static_cast<int>(schedule_.blockThreads());
}

LogicalResult KernelWriter::write(llvm::raw_ostream &os) {
  bool ok = checkQuantizedInputs();
  if (ok) {
    switch (kernel_.getKind()) {
    case KernelKind::Pointwise:
      ok = pointwise();
      break;
    case KernelKind::Normalization:
      ok = normalization();
      break;
    case KernelKind::Matmul:
      ok = matmul();
      break;
    case KernelKind::Attention:
      if (auto paged = llvm::dyn_cast<PagedAttentionOp>(kernel_.getAnchor()))
        ok = pagedAttention(paged);
      else if (auto grad = llvm::dyn_cast<AttentionGradOp>(kernel_.getAnchor()))
        ok = attentionGradKernel(grad);
      else
        ok = attention();
      break;
    case KernelKind::Reduction:
      ok = reduction();
      break;
    case KernelKind::Scatter:
      ok = scatter();
      break;
    }
  }
  if (!ok || emitter_->failed())
    return kernel_.emitOpError() << "cannot be written as CUDA: "
                                 << (emitter_->failed() ? emitter_->error() : why_);
  info_.inPlace.resize(kernel_.getNumResults(), -1);
  writeFunction(os, info_.asPhase(), emitter_->code());
  for (auto [phase, code] : llvm::zip(info_.phases, phaseCode_))
    writeFunction(os, phase, code);
  return success();
}

void KernelWriter::writeFunction(llvm::raw_ostream &os, const EmittedKernel::Phase &phase,
                                 const std::string &code) {
  const std::string &name = phase.name;
  const EmittedKernel::GridDim *grid = phase.grid;
  int threads = phase.threads;
  // The marker line lets the runtime compile kernels in separate NVRTC programs.
  os << "\n//@loom-kernel " << name << "\n";
  os << "// " << stringifyKernelKind(kernel_.getKind()) << " kernel; launch with "
     << threads << " threads per block, grid (" << describe(grid[0]) << ", "
     << describe(grid[1]) << ", " << describe(grid[2]) << ")\n";
  os << "extern \"C\" __global__ void __launch_bounds__(" << threads;
  if (phase.minBlocks)
    os << ", " << phase.minBlocks;
  os << ") " << name << "(";
  std::string separator;
  for (auto [i, input] : llvm::enumerate(kernel_.getInputs())) {
    std::string name = "in" + std::to_string(i);
    auto parameters = quantParameters(input, name);
    if (parameters.empty())
      parameters.emplace_back(storageType(elementOf(input)), name);
    for (const auto &[type, parameter] : parameters) {
      os << separator << "const " << type << " *__restrict__ " << parameter;
      separator = ", ";
    }
  }
  for (auto [i, output] : llvm::enumerate(kernel_.getResults())) {
    os << separator << storageType(elementOf(output)) << " *__restrict__ out" << i;
    separator = ", ";
  }
  for (auto [i, scratch] : llvm::enumerate(info_.scratch)) {
    os << separator << storageType(scratch.element) << " *__restrict__ ws" << i;
    separator = ", ";
  }
  if (info_.counters) {
    os << separator << "unsigned int *__restrict__ counters";
    separator = ", ";
  }
  for (const std::string &symbol : info_.symbols) {
    os << separator << "long long s_" << symbol;
    separator = ", ";
  }
  // Launched after another kernel, this one waits for it (see loom_wait_prior).
  os << ") {\n  loom_launch_next();\n";
  if (!phase.waitsInside)
    os << "  loom_wait_prior();\n";
  os << code << "}\n";
}

/// One grid-stride loop per output. With a schedule vector of V > 1 each thread
/// computes V consecutive elements of one row (the innermost dimension is a multiple
/// of V), delinearizing its first index once, and stores them with one V-element store
/// when the output is aligned for it (else element by element).
bool KernelWriter::pointwise() {
  ElementEmitter &e = *emitter_;
  int64_t vector = std::max<int64_t>(1, schedule_.vector);
  std::string V = std::to_string(vector);
  for (auto [i, value] : llvm::enumerate(yielded())) {
    Shape shape = shapeOf(value);
    std::string count = product(shape), out = "out" + std::to_string(i);
    Type element = elementOf(value);
    if (i == 0)
      info_.grid[0] = {work(shape), info_.threads * vector, 65536};
    e.open("");
    e.line("const long long n = " + count + ";");
    if (vector == 1) {
      e.open(
          "for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n; "
          "t += (long long)gridDim.x * blockDim.x)");
      std::string v = e.at(value, e.delinearize("t", shape));
      e.line(store(element, out + "[t]", v));
      e.close();
      e.close();
      continue;
    }
    if (shape.empty() || !shape.back().isStatic() || shape.back().size % vector)
      return refuse("vector " + V +
                    " does not divide the innermost dimension of output " +
                    std::to_string(i));
    int64_t bytes = vector * ((element.getIntOrFloatBitWidth() + 7) / 8);
    std::string word = bytes == 16  ? "uint4"
                       : bytes == 8 ? "uint2"
                       : bytes == 4 ? "unsigned"
                       : bytes == 2 ? "unsigned short"
                                    : "";
    e.line("const bool aligned = (reinterpret_cast<unsigned long long>(" + out + ") % " +
           std::to_string(bytes) + ") == 0;");
    e.open("for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) * " +
           V + "; t < n; t += (long long)gridDim.x * blockDim.x * " + V + ")");
    Index index = e.delinearize("t", shape);
    std::string last = index.back();
    e.line("__align__(16) " + storageType(element) + " lanes[" + V + "];");
    e.line("#pragma unroll");
    e.open("for (int l = 0; l < " + V + "; ++l)");
    index.back() = "(" + last + " + l)";
    e.line(store(element, "lanes[l]", e.at(value, index)));
    e.close();
    if (!word.empty()) {
      e.open("if (aligned)");
      e.line("*reinterpret_cast<" + word + " *>(" + out +
             " + t) = *reinterpret_cast<const " + word + " *>(lanes);");
      e.close();
      e.open("else");
    } else {
      e.open("");
    }
    e.open("for (int l = 0; l < " + V + "; ++l)");
    e.line(out + "[t + l] = lanes[l];");
    e.close();
    e.close();
    e.close();
    e.close();
  }
  return true;
}

/// One block per row: the row's statistics by block reductions, then the normalized
/// row with the epilogue applied.
bool KernelWriter::normalization() {
  Operation *anchor = kernel_.getAnchor();
  if (auto rows = llvm::dyn_cast<QuantizeRowsOp>(anchor))
    return quantizeRows(rows);
  if (auto grad = llvm::dyn_cast<CrossEntropyGradOp>(anchor))
    return crossEntropyGradKernel(grad);
  return normalizeRows(anchor, info_.threads, info_.grid[0],
                       [&](const Index &index, const std::string &y) {
                         return storeOutputs(anchor->getResult(0), index, y);
                       });
}

bool KernelWriter::normalizeRows(
    Operation *norm, int64_t threads, EmittedKernel::GridDim &grid,
    const std::function<bool(const Index &, const std::string &)> &store) {
  ElementEmitter &e = *emitter_;
  auto rms = llvm::dyn_cast<RmsNormOp>(norm);
  auto layer = llvm::dyn_cast<LayerNormOp>(norm);
  Value input = rms ? rms.getInput() : layer.getInput();
  Value scale = rms ? rms.getScale() : layer.getScale();
  Value bias = layer ? layer.getBias() : Value();
  int64_t axis = rms ? rms.getAxis() : layer.getAxis();
  float epsilon = (rms ? rms.getEpsilon() : layer.getEpsilon()).convertToFloat();
  Shape shape = shapeOf(input);
  ArrayRef<Dim> lead = ArrayRef<Dim>(shape).take_front(axis);
  ArrayRef<Dim> trail = ArrayRef<Dim>(shape).drop_front(axis);
  std::string type = computeType(elementOf(input));
  grid = {work(lead), 1, 65536};
  std::string cols = product(trail);

  e.line("const long long rows = " + product(lead) + ", cols = " + cols + ";");
  e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
  Index rowIndex = e.delinearize("row", lead);
  auto element = [&](const std::string &column) {
    Index index = rowIndex;
    Index columns = e.delinearize(column, trail);
    index.insert(index.end(), columns.begin(), columns.end());
    return std::pair(index, columns);
  };
  // The block size is a constant, so with static rows the passes unroll and each
  // thread has its loads in flight together.
  auto columnLoop = [&](auto body) {
    e.line("#pragma unroll 8");
    e.open("for (long long c = threadIdx.x; c < cols; c += " + std::to_string(threads) +
           ")");
    body();
    e.close();
  };
  bool stored = true;
  std::string center = "0";
  if (layer) {
    e.line(type + " sum = 0;");
    columnLoop([&] { e.line("sum += " + e.at(input, element("c").first) + ";"); });
    e.line("const " + type + " mean = loom_block_sum(sum) / (" + type + ")cols;");
    center = "mean";
  }
  e.line(type + " squares = 0;");
  columnLoop([&] {
    std::string x = e.at(input, element("c").first);
    e.line("const " + type + " d = " + x + " - " + center + ";");
    e.line("squares += d * d;");
  });
  std::string eps;
  llvm::raw_string_ostream(eps) << llvm::format("%.9e", static_cast<double>(epsilon));
  e.line("const " + type + " inverse = (" + type +
         ")1 / sqrt(loom_block_sum(squares) / (" + type + ")cols + (" + type + ")" + eps +
         ");");
  columnLoop([&] {
    auto [index, columns] = element("c");
    std::string x = e.at(input, index);
    std::string y = e.fresh("y");
    std::string value =
        "(" + x + " - " + center + ") * inverse * " + e.at(scale, columns);
    if (bias)
      value += " + " + e.at(bias, columns);
    e.line("const " + type + " " + y + " = " + value + ";");
    stored = store(index, y);
  });
  e.close();
  return stored;
}

/// The values of the body computed from `anchor` (the anchor included), in one pass
/// over the body, which is in dependence order.
llvm::DenseSet<Value> KernelWriter::computedFrom(Value anchor) {
  llvm::DenseSet<Value> found{anchor};
  for (Operation &op : body().without_terminator())
    if (llvm::any_of(op.getOperands(), [&](Value v) { return found.contains(v); }))
      found.insert(op.result_begin(), op.result_end());
  return found;
}

/// The ops from `anchor` to `output` through values computed from it, the anchor's
/// reader first; nullopt when `output` is not computed from the anchor.
static std::optional<SmallVector<Operation *>>
epilogueChain(Value anchor, const llvm::DenseSet<Value> &fromAnchor, Value output) {
  SmallVector<Operation *> chain;
  for (Value v = output; v != anchor;) {
    Operation *op = v.getDefiningOp();
    if (!op || !fromAnchor.contains(v))
      return std::nullopt;
    chain.push_back(op);
    v = *llvm::find_if(op->getOperands(),
                       [&](Value x) { return fromAnchor.contains(x); });
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

/// `at` permuted by the transpose `t`.
static Index permuted(const Index &at, TransposeOp t) {
  Index next;
  for (int64_t p : t.getPermutation())
    next.push_back(at[p]);
  return next;
}

/// `at` shifted into the window `slice` takes; with `guards`, the conditions that `at`
/// lies inside it are added. nullopt for a window that is not step-1 on static axes.
static std::optional<Index> intoWindow(Index at, SliceOp slice,
                                       std::vector<std::string> *guards) {
  for (auto [i, axis] : llvm::enumerate(slice.getAxes())) {
    std::optional<int64_t> start = slice.getWindowStart(i);
    if (!start)
      return std::nullopt;
    std::string first = std::to_string(*start) + "LL";
    if (guards)
      guards->push_back(at[axis] + " >= " + first + " && " + at[axis] + " < " +
                        std::to_string(*start + shapeOf(slice.getResult())[axis].size) +
                        "LL");
    at[axis] = "(" + at[axis] + " - " + first + ")";
  }
  return at;
}

/// The conditions under which the anchor's element at `index` lies inside every
/// window the chain takes (step-1 slices of static axes, before any reshape, where
/// the index is still the anchor's permuted); nullopt for other windows.
static std::optional<std::vector<std::string>> windowGuards(ArrayRef<Operation *> chain,
                                                            Index at) {
  std::vector<std::string> guards;
  bool reshaped = false;
  for (Operation *op : chain) {
    if (auto t = llvm::dyn_cast<TransposeOp>(op)) {
      at = permuted(at, t);
    } else if (auto slice = llvm::dyn_cast<SliceOp>(op)) {
      std::optional<Index> inside =
          reshaped ? std::nullopt : intoWindow(at, slice, &guards);
      if (!inside)
        return std::nullopt;
      at = *inside;
    } else if (llvm::isa<ReshapeOp>(op)) {
      reshaped = true;
    }
  }
  return guards;
}

/// The linear offset in the epilogue `chain`'s output of the element that the anchor's
/// element at `index` becomes (elementwise ops keep the index, transposes permute it,
/// reshapes keep the linear offset, step-1 windows shift it), and that element's value
/// in `value`. Fails for other epilogues.
std::optional<std::string> KernelWriter::forward(Value anchor,
                                                 ArrayRef<Operation *> chain,
                                                 const Index &index, std::string &value) {
  ElementEmitter &e = *emitter_;
  Index at = index;
  Value current = anchor;
  for (Operation *op : chain) {
    Shape from = shapeOf(current), to = shapeOf(op->getResult(0));
    if (auto t = llvm::dyn_cast<TransposeOp>(op)) {
      at = permuted(at, t);
    } else if (auto slice = llvm::dyn_cast<SliceOp>(op)) {
      // The window's element is the operand's element here: defined so, since reading
      // it back through the slice would index the operand by another expression.
      std::string element = e.at(current, at);
      std::optional<Index> inside = intoWindow(at, slice, nullptr);
      if (!inside)
        return std::nullopt;
      at = *inside;
      e.define(slice.getResult(), at, element);
    } else if (llvm::isa<ReshapeOp>(op) && from != to) {
      std::string offset = ElementEmitter::linearize(at, from);
      if (op == chain.back()) {
        // The last op: the element keeps its offset, and its value is the operand's.
        value = e.at(current, at);
        return offset;
      }
      std::string name = e.fresh("o");
      e.line("const long long " + name + " = " + offset + ";");
      e.alias(at, from, name);
      at = e.delinearize(name, to);
    } else if (from != to) {
      return std::nullopt;
    }
    current = op->getResult(0);
  }
  value = e.at(current, at);
  return ElementEmitter::linearize(at, shapeOf(current));
}

/// Stores every output at the element the anchor's element at `index` becomes; the
/// anchor's value there is `value`. An output that is a window of the anchor is
/// stored under the condition that the element lies inside it, and its index is
/// computed only there.
bool KernelWriter::storeOutputs(Value anchor, const Index &index,
                                const std::string &value) {
  ElementEmitter &e = *emitter_;
  if (gate_ && anchor == gate_->low.getOperand()) {
    // A gated pair's tiled kernel: the whole result goes to scratch, paired later.
    Shape shape = shapeOf(anchor);
    e.line(store(elementOf(anchor),
                 gate_->scratch + "[" + ElementEmitter::linearize(index, shape) + "]",
                 value));
    return true;
  }
  e.define(anchor, index, value);
  llvm::DenseSet<Value> fromAnchor = computedFrom(anchor);
  Operation *owner = anchor.getDefiningOp();
  for (auto [i, out] : llvm::enumerate(yielded())) {
    if (out.getDefiningOp<CacheWriteOp>())
      continue; // a cache the kernel updates in place, stored by its writes
    if (owner && owner->getNumResults() > 1 && out != anchor && !fromAnchor.contains(out))
      continue; // computed from another result of the anchor (attention_grad's dK)
    std::optional<SmallVector<Operation *>> chain =
        epilogueChain(anchor, fromAnchor, out);
    std::optional<std::vector<std::string>> guards =
        chain ? windowGuards(*chain, index) : std::nullopt;
    if (guards && !guards->empty())
      e.open("if (" + llvm::join(*guards, " && ") + ")");
    std::string element;
    std::optional<std::string> offset =
        guards ? forward(anchor, *chain, index, element) : std::nullopt;
    if (!offset)
      return refuse("an output that is not the anchor's result through elementwise ops, "
                    "transposes, reshapes and step-1 windows of static axes");
    e.line(
        store(elementOf(out), "out" + std::to_string(i) + "[" + *offset + "]", element));
    if (!guards->empty())
      e.close();
  }
  return true;
}

unsigned KernelWriter::outputOf(Value value) {
  return static_cast<unsigned>(llvm::find(yielded(), value) - yielded().begin());
}

std::string KernelWriter::cacheParameter(Value cache) {
  // A cache the kernel writes is read through its output: the same buffer when run (it
  // is updated in place), and one holding the writes where a harness gives the output
  // a buffer of its own.
  if (auto write = cache.getDefiningOp<CacheWriteOp>())
    return "out" + std::to_string(outputOf(write.getResult()));
  return parameter(cache);
}

/// The kernel input that `value` is, as a parameter name; empty if it is computed.
std::string KernelWriter::parameter(Value value) {
  auto arg = llvm::dyn_cast<BlockArgument>(value);
  return arg ? "in" + std::to_string(arg.getArgNumber()) : "";
}

bool KernelWriter::isRunInput(Value value) {
  auto arg = llvm::dyn_cast<BlockArgument>(value);
  if (!arg || arg.getOwner() != &body())
    return false;
  Value outer = kernel_.getInputs()[arg.getArgNumber()];
  while (auto reshape = outer.getDefiningOp<ReshapeOp>())
    outer = reshape.getOperand();
  return llvm::isa<BlockArgument>(outer);
}

} // namespace loom::cuda
