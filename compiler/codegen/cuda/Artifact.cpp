//===- Artifact.cpp - A fused module as kernels.cu + manifest.json --------===//
//
// The manifest is all the runtime needs to run the model without MLIR: the entry
// point's inputs and outputs, one buffer per stored value (a reshape is a view of its
// operand's buffer), the weights by name, and the launches in order with their grids
// as size expressions over the named dimensions. Format: docs/artifact.md.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/codegen/cuda/CudaEmitter.h"
#include "compiler/codegen/cuda/QuantizedWeights.h"
#include "compiler/codegen/cuda/ElementEmitter.h"
#include "dialects/loom/Shape.h"

#include "loom/support/Files.h"
#include "loom/support/MemoryPlan.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cstdio>
#include <set>

using namespace mlir;
using loom::cuda::jsonString;

namespace loom {

namespace {

/// The safetensors spelling of an element type.
std::string dtypeOf(Type type) {
  if (type.isF32())
    return "F32";
  if (type.isF16())
    return "F16";
  if (type.isBF16())
    return "BF16";
  if (type.isF64())
    return "F64";
  if (type.isInteger(1))
    return "BOOL";
  if (type.isInteger(8))
    return "I8";
  if (type.isInteger(16))
    return "I16";
  if (type.isInteger(32))
    return "I32";
  if (isa<Float8E4M3FNType>(type))
    return "F8_E4M3";
  return "I64";
}

/// `["batch", "seq", "256"]`; false if a dimension is anonymous.
bool shapeJson(Type type, std::string &out) {
  out = "[";
  for (auto [i, dim] : llvm::enumerate(getShape(llvm::cast<RankedTensorType>(type)))) {
    std::optional<SizeExpr> expr = toExpr(dim);
    if (!expr)
      return false;
    out += (i ? ", " : "") + jsonString(expr->str());
  }
  out += "]";
  return true;
}

int64_t elementBytes(Type element) {
  return element.isInteger(1) ? 1 : (element.getIntOrFloatBitWidth() + 7) / 8;
}

/// The bound of a dimension name: its own, else --max-seq for names with "seq" and
/// --max-batch for names with "batch".
std::optional<int64_t> boundOf(const std::string &name,
                               const std::map<std::string, int64_t> &bounds) {
  if (auto it = bounds.find(name); it != bounds.end())
    return it->second;
  for (const char *key : {"batch", "seq"})
    if (name.find(key) != std::string::npos)
      if (auto it = bounds.find(key); it != bounds.end())
        return it->second;
  return std::nullopt;
}

std::optional<uint64_t> peakAtBounds(const std::vector<Type> &types,
                                     const std::vector<int> &weights,
                                     const std::vector<int> &inputs,
                                     const std::vector<int> &outputs,
                                     const std::vector<std::vector<int>> &launches,
                                     const std::map<std::string, int64_t> &bounds) {
  std::vector<bool> used;
  std::vector<BufferLife> lives =
      bufferLives(types.size(), launches, inputs, outputs, used);
  for (size_t i = 0; i < types.size(); ++i) {
    if (llvm::is_contained(weights, static_cast<int>(i)) || !used[i])
      continue;
    auto tensor = llvm::cast<RankedTensorType>(types[i]);
    std::set<std::string> names;
    cuda::collectSymbols(tensor, names);
    std::map<std::string, int64_t> sizes;
    for (const std::string &name : names) {
      std::optional<int64_t> bound = boundOf(name, bounds);
      if (!bound)
        return std::nullopt;
      sizes[name] = *bound;
    }
    std::optional<SizeExpr> elements = elementCount(getShape(tensor));
    std::optional<int64_t> n = elements ? elements->evaluate(sizes) : std::nullopt;
    if (!n)
      return std::nullopt;
    lives[i].bytes = static_cast<uint64_t>(*n * elementBytes(tensor.getElementType()));
  }
  return planMemory(lives).peak;
}

/// A scratch buffer as a tensor type, for the memory plan at the bounds.
Type scratchType(const cuda::EmittedKernel::Scratch &scratch) {
  MLIRContext *context = scratch.element.getContext();
  const std::vector<std::string> &shape = scratch.shape;
  SmallVector<int64_t> sizes;
  SmallVector<StringAttr> names;
  Builder b(context);
  for (const std::string &dim : shape) {
    int64_t size = 0;
    if (!StringRef(dim).getAsInteger(10, size)) {
      sizes.push_back(size);
    } else {
      sizes.push_back(ShapedType::kDynamic);
      names.push_back(b.getStringAttr(dim));
    }
  }
  Attribute encoding = names.empty() ? Attribute() : Attribute(DimsAttr::get(context, names));
  return RankedTensorType::get(sizes, scratch.element, encoding);
}

/// Every file an artifact folder holds.
const std::vector<std::string> kArtifactFiles = {"manifest.json", "kernels.cu"};

} // namespace

bool mayWriteArtifact(const std::string &dir, std::string &error) {
  return FolderOutput::mayReplace(dir, "manifest.json", "loom-artifact", kArtifactFiles,
                                  error);
}

bool writeArtifact(const std::string &ir, const std::string &dir,
                   const ArtifactOptions &options, std::string &summary,
                   std::string &error) {
  cuda::EmittedModule emitted;
  if (!cuda::parseAndEmit(ir, emitted, error))
    return false;
  OwningOpRef<ModuleOp> &module = emitted.module;
  const std::string &source = emitted.source;
  const std::vector<cuda::EmittedKernel> &kernels = emitted.kernels;
  func::FuncOp entry;
  for (auto func : module->getOps<func::FuncOp>())
    if (func.getName() == "forward" || !entry)
      entry = func;
  if (!entry || entry.isExternal()) {
    error = "the module has no function to compile";
    return false;
  }

  // One buffer per stored value; reshapes view their operand's buffer.
  llvm::DenseMap<Value, int> bufferOf;
  std::vector<Type> bufferTypes;
  std::vector<std::vector<int>> launchArgs;
  std::vector<int> weightBuffers, inputBuffers, outputBuffers;
  std::string buffers, weights, launches, inputs, outputs;
  int count = 0;
  auto addBuffer = [&](Value value) -> bool {
    std::string shape;
    if (!shapeJson(value.getType(), shape)) {
      error = "a value has a dimension of unknown size; run loom-infer-shapes";
      return false;
    }
    Type element = llvm::cast<RankedTensorType>(value.getType()).getElementType();
    buffers += std::string(count ? ",\n    " : "\n    ") +
               "{\"dtype\": " + jsonString(dtypeOf(element)) + ", \"shape\": " + shape +
               "}";
    bufferOf[value] = count++;
    bufferTypes.push_back(value.getType());
    return true;
  };
  // A quantized weight's other buffers (scales, zeros or mins, permutation) by its
  // value, after the codes buffer bufferOf gives.
  llvm::DenseMap<Value, std::vector<int>> quantBuffersOf;
  auto addRawBuffer = [&](const cuda::QuantBuffer &b, MLIRContext *context) {
    std::string shape;
    for (int64_t d : b.shape)
      shape += (shape.empty() ? "" : ", ") + jsonString(std::to_string(d));
    buffers += std::string(count ? ",\n    " : "\n    ") + "{\"dtype\": " +
               jsonString(b.dtype) + ", \"shape\": [" + shape + "]}";
    bufferTypes.push_back(RankedTensorType::get(b.shape, IntegerType::get(context, 8)));
    return count++;
  };
  Block &body = entry.getBody().front();
  for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
    if (!addBuffer(arg))
      return false;
    inputBuffers.push_back(bufferOf[arg]);
    auto name = entry.getArgAttrOfType<StringAttr>(i, "loom.name");
    std::string entryText =
        "{\"name\": " + jsonString(name ? name.str() : "arg" + std::to_string(i)) +
        ", \"buffer\": " + std::to_string(bufferOf[arg]);
    if (auto fill = entry.getArgAttrOfType<IntegerAttr>(i, "loom.default"))
      entryText += ", \"default\": " + std::to_string(fill.getInt());
    inputs += std::string(i ? ",\n    " : "\n    ") + entryText + "}";
  }
  int weightCount = 0, launchCount = 0, counterBuffer = -1;
  for (Operation &op : body) {
    if (auto weight = llvm::dyn_cast<WeightOp>(op); weight && weight.getQuantAttr()) {
      // Codes, scales, zeros or mins, permutation: each part lists where its rows go.
      QuantAttr quant = weight.getQuantAttr();
      ArrayRef<int64_t> dims = weight.getType().getShape();
      std::vector<cuda::QuantBuffer> parts = cuda::quantBuffers(quant, dims[0], dims[1]);
      std::vector<int> ids;
      for (const cuda::QuantBuffer &b : parts) {
        ids.push_back(addRawBuffer(b, weight.getContext()));
        weightBuffers.push_back(ids.back());
      }
      bufferOf[weight] = ids[0];
      quantBuffersOf[weight] = std::vector<int>(ids.begin() + 1, ids.end());
      QuantEncoding e = quant.getEncoding();
      std::string encoding =
          "{\"code\": " + jsonString(quantElementName(e.element)) +
          ", \"group\": " + std::to_string(e.groupSize) +
          ", \"scale\": " + jsonString(dtypeName(e.scaleType)) +
          ", \"offset\": " + jsonString(quantOffsetName(e.offset)) +
          ", \"permuted\": " + (e.permuted ? "true" : "false") +
          ", \"source\": " + jsonString(quantSourceName(e.source)) + "}";
      int64_t row = 0;
      for (auto [name, rows] : weight.getParts()) {
        std::string part = "{\"name\": " + jsonString(name) + ", \"buffer\": " +
                           std::to_string(ids[0]) + ", \"row\": " + std::to_string(row) +
                           ", \"shape\": [" + std::to_string(rows) + ", " +
                           std::to_string(dims[1]) + "], \"quant\": " + encoding;
        for (size_t b = 1; b < parts.size(); ++b)
          part += ", " + jsonString(parts[b].role) + ": " + std::to_string(ids[b]);
        weights += std::string(weightCount++ ? ",\n    " : "\n    ") + part + "}";
        row += rows;
      }
    } else if (auto weight = llvm::dyn_cast<WeightOp>(op)) {
      if (!addBuffer(weight))
        return false;
      weightBuffers.push_back(bufferOf[weight]);
      // A stacked weight lists each part with its element offset and shape.
      ArrayRef<int64_t> dims = weight.getType().getShape();
      int64_t rowElements = 1, offset = 0;
      for (int64_t d : dims.drop_front())
        rowElements *= d;
      for (auto [name, rows] : weight.getParts()) {
        std::string part = "{\"name\": " + jsonString(name) +
                           ", \"buffer\": " + std::to_string(bufferOf[weight]);
        if (weight.getStacked()) {
          part += ", \"offset\": " + std::to_string(offset) + ", \"shape\": [" +
                  std::to_string(rows);
          for (int64_t d : dims.drop_front())
            part += ", " + std::to_string(d);
          part += "]";
        }
        weights += std::string(weightCount++ ? ",\n    " : "\n    ") + part + "}";
        offset += rows * rowElements;
      }
    } else if (auto reshape = llvm::dyn_cast<ReshapeOp>(op)) {
      bufferOf[reshape] = bufferOf.lookup(reshape.getOperand());
    } else if (auto kernel = llvm::dyn_cast<KernelOp>(op)) {
      std::string name = kernel->getAttrOfType<StringAttr>("loom.cuda_name").str();
      const cuda::EmittedKernel &info = *llvm::find_if(
          kernels, [&](const cuda::EmittedKernel &k) { return k.name == name; });
      std::string args, sizes;
      launchArgs.emplace_back();
      for (Value input : kernel.getInputs()) {
        if (!bufferOf.count(input)) {
          error = "kernel " + name +
                  " reads a value that is not stored (a constant outside "
                  "a kernel?)";
          return false;
        }
        args += (args.empty() ? "" : ", ") + std::to_string(bufferOf[input]);
        launchArgs.back().push_back(bufferOf[input]);
        for (int extra : quantBuffersOf.lookup(input)) {
          args += ", " + std::to_string(extra);
          launchArgs.back().push_back(extra);
        }
      }
      for (auto [i, result] : llvm::enumerate(kernel.getResults())) {
        int updated = i < info.inPlace.size() ? info.inPlace[i] : -1;
        if (updated >= 0) {
          // The kernel stores into its input's buffer: nothing may read the old value.
          Value source = kernel.getInputs()[updated];
          if (!source.hasOneUse()) {
            error = "kernel " + name + " updates input " + std::to_string(updated) +
                    " in place, but other ops read that value too";
            return false;
          }
          bufferOf[result] = bufferOf[source];
        } else if (!addBuffer(result)) {
          return false;
        }
        args += (args.empty() ? "" : ", ") + std::to_string(bufferOf[result]);
        launchArgs.back().push_back(bufferOf[result]);
      }
      for (const cuda::EmittedKernel::Scratch &scratch : info.scratch) {
        std::string shapeText;
        for (const std::string &dim : scratch.shape)
          shapeText += (shapeText.empty() ? "" : ", ") + jsonString(dim);
        buffers += std::string(count ? ",\n    " : "\n    ") + "{\"dtype\": \"" +
                   dtypeOf(scratch.element) + "\", \"shape\": [" + shapeText + "]}";
        bufferTypes.push_back(scratchType(scratch));
        args += (args.empty() ? "" : ", ") + std::to_string(count);
        launchArgs.back().push_back(count++);
      }
      if (info.counters) {
        // One zero-filled buffer of counters for all kernels (each leaves it zero).
        if (counterBuffer < 0) {
          int64_t most = 0;
          for (const cuda::EmittedKernel &k : kernels)
            most = std::max(most, k.counters);
          buffers += std::string(count ? ",\n    " : "\n    ") +
                     "{\"dtype\": \"U32\", \"shape\": [" +
                     jsonString(std::to_string(most)) + "], \"zeroed\": true}";
          bufferTypes.push_back(RankedTensorType::get(
              {most}, IntegerType::get(kernel.getContext(), 32, IntegerType::Unsigned)));
          counterBuffer = count++;
        }
        args += (args.empty() ? "" : ", ") + std::to_string(counterBuffer);
        launchArgs.back().push_back(counterBuffer);
      }
      for (const std::string &symbol : info.symbols)
        sizes += (sizes.empty() ? "" : ", ") + jsonString(symbol);
      // The kernel and its phases, in launch order, with the same arguments.
      std::vector<cuda::EmittedKernel::Phase> order = info.launches();
      for (const cuda::EmittedKernel::Phase &phase : order) {
        const cuda::EmittedKernel::GridDim *dims = phase.grid;
        const cuda::EmittedKernel::Guard &guard = phase.guard;
        std::string grid;
        for (int d = 0; d < 3; ++d)
          grid += std::string(d ? ", " : "") + "{\"work\": " + jsonString(dims[d].work) +
                  ", \"per\": " + std::to_string(dims[d].per) +
                  ", \"cap\": " + std::to_string(dims[d].cap) +
                  (dims[d].perSm ? ", \"per_sm\": " + std::to_string(dims[d].perSm)
                                 : std::string()) +
                  "}";
        launches +=
            std::string(launchCount++ ? ",\n    " : "\n    ") +
            "{\"kernel\": " + jsonString(phase.name) +
            ", \"threads\": " + std::to_string(phase.threads) +
            (phase.sharedBytes ? ", \"shared\": " + std::to_string(phase.sharedBytes)
                               : std::string()) +
            ", \"grid\": [" + grid + "], \"args\": [" + args + "], \"sizes\": [" + sizes +
            "]" +
            (guard.name.empty() ? std::string()
                                : ", \"when\": {\"name\": " + jsonString(guard.name) +
                                      ", \"min\": " + std::to_string(guard.min) +
                                      ", \"max\": " + std::to_string(guard.max) + "}") +
            (phase.early ? ", \"early\": true" : "") + "}";
      }
      std::vector<int> kernelArgs = launchArgs.back();
      launchArgs.insert(launchArgs.end(), order.size() - 1, kernelArgs);
    } else if (auto ret = llvm::dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
        auto name = entry.getResultAttrOfType<StringAttr>(i, "loom.name");
        std::string shape;
        if (!bufferOf.count(value) || !shapeJson(value.getType(), shape)) {
          error = "output " + std::to_string(i) + " is not a stored value of known shape";
          return false;
        }
        outputBuffers.push_back(bufferOf[value]);
        outputs +=
            std::string(i ? ",\n    " : "\n    ") +
            "{\"name\": " + jsonString(name ? name.str() : "result" + std::to_string(i)) +
            ", \"buffer\": " + std::to_string(bufferOf[value]) + ", \"dtype\": " +
            jsonString(
                dtypeOf(llvm::cast<RankedTensorType>(value.getType()).getElementType())) +
            ", \"shape\": " + shape + "}";
      }
    } else if (!llvm::isa<ConstantOp>(op) || !op.use_empty()) {
      error = "'" + op.getName().getStringRef().str() +
              "' outside a kernel cannot be compiled; run the default pipeline first";
      return false;
    }
  }
  size_t kernelCount = 0;
  for (const cuda::EmittedKernel &k : kernels)
    kernelCount += 1 + k.phases.size();
  // Peak activation memory at the declared bounds, planned as the runtime plans it.
  std::optional<uint64_t> peak = peakAtBounds(bufferTypes, weightBuffers, inputBuffers,
                                              outputBuffers, launchArgs, options.bounds);
  std::string bounds;
  for (const auto &[name, bound] : options.bounds)
    bounds +=
        (bounds.empty() ? "" : ", ") + jsonString(name) + ": " + std::to_string(bound);
  uint64_t hash = llvm::xxh3_64bits(source);
  std::string hashText;
  llvm::raw_string_ostream(hashText) << llvm::format_hex_no_prefix(hash, 16);
  std::string manifest =
      "{\n  \"format\": \"loom-artifact\",\n  \"version\": 1,\n"
      "  \"target\": " +
      jsonString(options.target) +
      ",\n"
      "  \"kernels\": {\"file\": \"kernels.cu\", \"xxh3\": " +
      jsonString(hashText) + ", \"count\": " + std::to_string(kernels.size()) +
      "},\n  \"bounds\": {" + bounds + "},\n  \"peak_activation_bytes\": " +
      (peak ? std::to_string(*peak) : std::string("null")) + ",\n  \"inputs\": [" +
      inputs + "\n  ],\n  \"outputs\": [" + outputs + "\n  ],\n  \"weights\": [" +
      weights + "\n  ],\n  \"buffers\": [" + buffers + "\n  ],\n  \"launches\": [" +
      launches + "\n  ]\n}\n";

  // Staged beside the destination, then moved into place; an existing folder is
  // replaced only when it is an artifact holding nothing but artifact files.
  FolderOutput output;
  if (!output.open(dir, "manifest.json", "loom-artifact", kArtifactFiles, error) ||
      !output.write("kernels.cu", source, error) ||
      !output.write("manifest.json", manifest, error) || !output.commit(error))
    return false;
  summary = std::to_string(launchCount) + " launches of " +
            std::to_string(kernelCount) + " kernels, " + std::to_string(weightCount) +
            " weights, " + std::to_string(count) + " buffers";
  if (peak) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%.1f", *peak / (1024.0 * 1024.0));
    summary += "; peak activation memory " + text + " MiB at the bounds";
  } else {
    summary += "; peak activation memory unknown (give --max-batch and --max-seq)";
  }
  return true;
}

} // namespace loom
