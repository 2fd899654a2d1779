//===- QuantizedKernels.cpp - Linear layers with quantized weights --------===//
//
// A linear layer whose weight is a `#loom.quant` weight: the plan (which skeleton of
// device/quant_gemm.cuh and device/quant_gemv.cuh, its template arguments, phases and
// guards), the kernel parameters of a quantized input (its codes, scales, zeros or
// mins, permutation), and the epilogue the skeletons call per output element, written
// from the IR by storeOutputs as for the unquantized kernels.
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/KernelWriter.h"
#include "compiler/codegen/cuda/QuantizedWeights.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace loom::cuda {

namespace {

/// Input rows at most this many take the matrix-vector phases (`_rows1`, `_rows8`).
constexpr int64_t kQuantFewRows = 8;

/// The C++ type of a quantized buffer's element (its safetensors dtype).
std::string bufferType(const std::string &dtype) {
  if (dtype == "U8")
    return "unsigned char";
  if (dtype == "I32")
    return "int";
  if (dtype == "F16")
    return "__half";
  if (dtype == "BF16")
    return "__nv_bfloat16";
  return "float";
}

/// The [N, K] shape of a quantized kernel input (the verifier makes it 2-D, static).
std::pair<int64_t, int64_t> weightShape(Value input) {
  ArrayRef<int64_t> dims = llvm::cast<RankedTensorType>(input.getType()).getShape();
  return {dims[0], dims[1]};
}

/// The encoding of the quantized weight `op` reads (checkQuantizedInputs has made it
/// a kernel input).
QuantEncoding encodingOf(KernelOp kernel, LinearOp op) {
  unsigned arg = llvm::cast<BlockArgument>(op.getWeight()).getArgNumber();
  return quantOf(kernel.getInputs()[arg]).getEncoding();
}

/// "int4 g32 offset zero, f16 scales, act-order": the encoding in a kernel comment.
std::string describe(const QuantEncoding &e) {
  std::string text = std::string(quantElementName(e.element)) + " " +
                     (e.groupSize ? "g" + std::to_string(e.groupSize) : "per-channel") +
                     " offset " + quantOffsetName(e.offset) + ", " +
                     llvm::StringRef(dtypeName(e.scaleType)).lower() + " scales";
  return e.permuted ? text + ", act-order" : text;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
quantParameters(Value input, const std::string &name) {
  QuantAttr quant = quantOf(input);
  if (!quant)
    return {};
  auto [n, k] = weightShape(input);
  std::vector<std::pair<std::string, std::string>> parameters;
  for (const QuantBuffer &buffer : quantBuffers(quant, n, k))
    parameters.emplace_back(bufferType(buffer.dtype), name + buffer.suffix);
  return parameters;
}

bool KernelWriter::checkQuantizedInputs() {
  auto linear = llvm::dyn_cast_or_null<LinearOp>(kernel_.getAnchor());
  for (auto [i, input] : llvm::enumerate(kernel_.getInputs())) {
    if (!quantOf(input))
      continue;
    Value arg = body().getArgument(i);
    bool weightOnly =
        linear && kernel_.getKind() == KernelKind::Matmul && linear.getWeight() == arg &&
        linear.getInput() != arg && linear.getBias() != arg &&
        llvm::all_of(arg.getUsers(), [&](Operation *u) { return u == linear; });
    if (!weightOnly)
      return refuse(
          "quantized weight input " + std::to_string(i) +
          " is read by something other than the weight operand of the kernel's "
          "linear layer (only a quantized linear layer's weight is dequantized)");
  }
  return true;
}

/// The declarations of `Q`, the LoomQuantWeight type, and `q`, the LoomQuantWeight over
/// the weight's parameters.
void KernelWriter::quantWeight(LinearOp op, const std::string &b) {
  QuantEncoding e = encodingOf(kernel_, op);
  int64_t k = weightShape(op.getWeight()).second;
  static const char *codes[] = {"LOOM_Q_INT4", "LOOM_Q_INT8", "LOOM_Q_FP8"};
  static const char *offsets[] = {"LOOM_Q_NONE", "LOOM_Q_ZERO", "LOOM_Q_MIN"};
  std::string type = "LoomQuantWeight<" + std::string(codes[int(e.element)]) + ", " +
                     std::to_string(k) + ", " + std::to_string(e.groupSize) + ", " +
                     offsets[int(e.offset)] + ", " + bufferType(dtypeName(e.scaleType)) +
                     ", " + (e.permuted ? "true" : "false") + ", " +
                     storageType(elementOf(op.getWeight())) + ">";
  auto given = [&](bool has, const std::string &suffix) {
    return has ? b + suffix : std::string("nullptr");
  };
  emitter_->line("using Q = " + type + ";");
  emitter_->line("const Q q{" + b + ", " + b + "_s, " +
                 given(e.offset == QuantOffset::Zero, "_z") + ", " +
                 given(e.offset == QuantOffset::Min, "_m") + ", " +
                 given(e.permuted, "_p") + "};");
}

/// Opens the body of a quantized linear kernel or phase: the comment naming its
/// skeleton and what it fuses, M and N, `q`, and `epilogue`, the functor the skeleton
/// calls with each output (m, n) and its sum: the bias, then every output through
/// storeOutputs.
bool KernelWriter::quantPreamble(LinearOp op, const std::string &b,
                                 const std::string &skeleton) {
  ElementEmitter &e = *emitter_;
  std::vector<std::string> fused;
  for (Operation &inner : body().without_terminator())
    if (&inner != op.getOperation())
      fused.push_back(inner.getName().getStringRef().str());
  auto [n, k] = weightShape(op.getWeight());
  QuantEncoding encoding = encodingOf(kernel_, op);
  e.line("// " + skeleton + " (quantized linear layer, " + describe(encoding) +
         "): N = " + std::to_string(n) + ", K = " + std::to_string(k) +
         (op.getBias() ? ", bias" : "") + "; epilogue: " +
         (fused.empty() ? std::string("store") : llvm::join(fused, ", ")));
  Shape ls = shapeOf(op.getInput());
  e.line("const long long M = " + product(ArrayRef<Dim>(ls).drop_back()) +
         ", N = " + std::to_string(n) + "LL;");
  quantWeight(op, b);
  e.open("auto epilogue = [&](const long long m, const long long n, const float acc)");
  Index index = e.delinearize("m", ArrayRef<Dim>(shapeOf(op.getResult())).drop_back());
  index.push_back("n");
  std::string value = "acc";
  if (Value bias = op.getBias())
    value += " + " + e.at(bias, {"n"});
  e.line("const float y = " + value + ";");
  bool stored = storeOutputs(op.getResult(), index, "y");
  e.close(";");
  return stored;
}

bool KernelWriter::quantizedLinear(LinearOp op) {
  std::string a = parameter(op.getInput()), b = parameter(op.getWeight());
  if (op.getInput().getDefiningOp<RmsNormOp>())
    return refuse("an RMS norm prologue on a linear layer with a quantized weight (run "
                  "the norm as its own kernel)");
  if (a.empty() || b.empty() || !op.getTransposeWeight())
    return refuse("a quantized linear layer reads its input and its [N, K] weight "
                  "(transpose_weight) as kernel inputs");
  if (gatedHalves(op))
    return refuse("a gated pair of linear layers with a quantized weight");
  Type x = elementOf(op.getInput()), w = elementOf(op.getWeight());
  bool mma = (x.isBF16() || x.isF16()) && x == w;
  std::string skeleton = mma ? "loom_quant_gemm_mma" : "loom_quant_gemm_simt";
  require("tensor_core.cuh");
  require("quant_weight.cuh");
  require("quant_gemm.cuh");
  auto [n, k] = weightShape(op.getWeight());
  Shape ls = shapeOf(op.getInput());
  info_.threads = mma ? 128 : 256;
  info_.grid[0] = {std::to_string(n), 64, 0};
  info_.grid[1] = {work(ArrayRef<Dim>(ls).drop_back()), 64, 0};
  if (!quantPreamble(op, b, skeleton))
    return false;
  emitter_->line(skeleton + "(q, " + a + ", M, N, epilogue);");
  return quantFewRows(op, a, b);
}

/// The decode variants: `_rows1` and `_rows8` phases running loom_quant_gemv for at
/// most 1 and 2 to 8 input rows, the tiled kernel guarded to more rows. Only for a 2-D
/// input whose rows are one named dimension and a K of whole 16-byte chunks (a multiple
/// of 32 for int4, 16 for 8-bit); otherwise the tiled kernel takes every row count.
/// Warps per weight row: the most (up to 8) that leave every lane at least two
/// 16-byte chunks of the row, a fixed rule until the H100 measures others.
bool KernelWriter::quantFewRows(LinearOp op, const std::string &a, const std::string &b) {
  Shape ls = shapeOf(op.getInput());
  std::optional<std::string> rowName = ls.size() == 2 ? guardName(ls[0]) : std::nullopt;
  auto [n, k] = weightShape(op.getWeight());
  bool int4 = encodingOf(kernel_, op).element == QuantElement::Int4;
  int64_t span = int4 ? 32 : 16;
  if (!rowName || k % span)
    return true;
  int64_t chunks = k / span, warps = 8;
  while (warps > 1 && chunks < warps * 32 * 2)
    warps /= 2;
  require("quant_gemv.cuh");
  info_.guard = {*rowName, kQuantFewRows + 1, 0};
  int64_t least = 0;
  for (int64_t most : {int64_t(1), kQuantFewRows}) {
    EmittedKernel::Phase phase;
    phase.name = name_ + "_rows" + std::to_string(most);
    phase.threads = 256;
    phase.grid[0] = {std::to_string(n), 8 / warps, 65535};
    phase.guard = {*rowName, least, most};
    phase.waitsInside = true; // after the L2 prefetch of its first weight rows
    phase.early = true;
    least = most + 1;
    bool written = writePhase(phase, [&] {
      if (!quantPreamble(op, b, "loom_quant_gemv"))
        return false;
      emitter_->line("loom_quant_gemv<Q, " + std::to_string(most) + ", " +
                     std::to_string(warps) + ">(q, " + a + ", M, N, epilogue);");
      return true;
    });
    if (!written)
      return false;
  }
  return true;
}

} // namespace loom::cuda

namespace loom::cuda {

bool KernelWriter::quantizeRows(QuantizeRowsOp op) {
  // Rounds as dynamically quantized activations are, exactly as the reference executor
  // (loom::roundRowToFp8): per row s = max|x| / R in float32, x' = dequant(quant(x / s))
  // * s with an IEEE division; a row of zeros stays zeros.
  require("quant_weight.cuh");
  ElementEmitter &e = *emitter_;
  Value input = op.getInput();
  Shape shape = shapeOf(input);
  ArrayRef<Dim> lead = ArrayRef<Dim>(shape).drop_back();
  ArrayRef<Dim> trail = ArrayRef<Dim>(shape).take_back();
  bool fp8 = op.getCode() == QuantCode::Fp8E4M3;
  int64_t threads = info_.threads;
  info_.grid[0] = {work(lead), 1, 65536};
  e.line("// loom.quantize_rows " + std::string(fp8 ? "fp8e4m3" : "int8") +
         ": a block per row, max|x| then each element rounded with s = max|x| / " +
         (fp8 ? "448" : "127"));
  e.line("const long long rows = " + product(lead) + ", cols = " + product(trail) + ";");
  e.open("for (long long row = blockIdx.x; row < rows; row += gridDim.x)");
  Index rowIndex = e.delinearize("row", lead);
  auto at = [&](const std::string &column) {
    Index index = rowIndex;
    Index columns = e.delinearize(column, trail);
    index.insert(index.end(), columns.begin(), columns.end());
    return index;
  };
  auto columnLoop = [&](auto body) {
    e.open("for (long long c = threadIdx.x; c < cols; c += " + std::to_string(threads) + ")");
    body();
    e.close();
  };
  e.line("float largest = 0.0f;");
  columnLoop([&] {
    e.line("largest = fmaxf(largest, fabsf((float)(" + e.at(input, at("c")) + ")));");
  });
  e.line("largest = loom_block_reduce(largest, LoomMax(), 0.0f);");
  e.line(std::string("const float s = __fdiv_rn(largest, ") + (fp8 ? "448.0f" : "127.0f") +
         ");");
  bool stored = true;
  columnLoop([&] {
    Index index = at("c");
    std::string x = e.at(input, index), y = e.fresh("y");
    std::string q = fp8 ? "loom_q_e4m3(loom_q_to_e4m3(__fdiv_rn((float)(" + x + "), s)))"
                        : "rintf(__fdiv_rn((float)(" + x + "), s))";
    e.line("const " + computeType(elementOf(op.getResult())) + " " + y +
           " = s == 0.0f ? 0.0f : " + q + " * s;");
    stored = stored && storeOutputs(op.getResult(), index, y);
  });
  e.close();
  return stored;
}

} // namespace loom::cuda
