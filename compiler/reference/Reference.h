//===- Reference.h - Runs loom IR on the CPU, op by op --------------*- C++ -*-===//
//
// The numerical truth of the compiler: an interpreter of loom IR in plain C++ that
// every import, pass and GPU kernel is compared with. It takes the IR as text, so
// its users need no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_REFERENCE_REFERENCE_H
#define LOOM_COMPILER_REFERENCE_REFERENCE_H

#include "compiler/Compiler.h"
#include "compiler/reference/Tensor.h"

#include "loom/support/Quantization.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom::reference {

class Communicator;

/// Where `loom.weight` ops get their data.
class WeightSource {
public:
  virtual ~WeightSource();
  /// Loads weight `name` into `out` with element type `type` (converted exactly where
  /// `type` holds the stored values) after checking that it has `shape`.
  virtual bool load(const std::string &name, ElementType type, const Shape &shape,
                    Tensor &out, std::string &error) = 0;
  /// Reads the quantized weight `name` ([n, k], stored as `encoding.source` lays it
  /// out) into Loom's unpacked form. A `rtn` encoding loads the float weight and
  /// quantizes it by round to nearest, as the runtime does at load.
  virtual bool loadQuantized(const std::string &name, const QuantEncoding &encoding,
                             int64_t n, int64_t k, QuantizedWeight &out, std::string &error);
};

/// Weights held in memory by name (a training loop's current parameters, a LoRA
/// adapter), looked up first; the others come from `fallback` (may be null). The map
/// is the caller's and must outlive the source; its tensors are converted to the type
/// the IR asks for.
std::unique_ptr<WeightSource>
memoryWeights(const std::map<std::string, Tensor> &tensors,
              std::unique_ptr<WeightSource> fallback);

/// The weights of a model: a Hugging Face folder (its safetensors checkpoint), a
/// `.safetensors` file, or an ONNX file (its initializers and external data).
std::unique_ptr<WeightSource> openWeights(const std::string &path, std::string &error);

/// An input or output of the entry point.
struct Port {
  std::string name;
  ElementType type = ElementType::F32;
  /// Per dimension: its size, its name ("batch", "seq+1") or "?".
  std::vector<std::string> dims;
  /// For an input that may be left out (`loom.default` on the argument): the value it
  /// is filled with, its shape taken from the sizes the other inputs bind.
  std::optional<double> defaultValue;
  /// "input_ids: i64[batch, seq]".
  std::string describe() const;
};

class Executor {
public:
  /// Parses and verifies `ir` and picks its entry point (`@forward`, or the only
  /// function; `function` when given). `weights` may be null when the IR has no
  /// `loom.weight`. A rank function of a partitioned program makes its collectives
  /// through `communicator` (Parallel.h's ParallelExecutor runs all ranks).
  static std::unique_ptr<Executor> create(const std::string &ir,
                                          std::unique_ptr<WeightSource> weights,
                                          std::string &error,
                                          const std::string &function = "",
                                          Communicator *communicator = nullptr);
  ~Executor();

  const std::vector<Port> &inputs() const;
  const std::vector<Port> &outputs() const;

  /// Runs the entry point. Inputs are in the order of inputs(), each of its element
  /// type; their shapes bind the named dimensions. Weights are loaded on first use and
  /// kept. A failure names the op and why.
  bool run(const std::vector<Tensor> &inputs, std::vector<Tensor> &outputs,
           std::string &error);
  /// The same with inputs by name; inputs with a default may be left out.
  bool run(const std::map<std::string, Tensor> &inputs, std::vector<Tensor> &outputs,
           std::string &error);
  /// Drops the weights loaded so far: the next run loads them again from the weight
  /// source (a training loop whose source holds the updated parameters).
  void forgetWeights();

private:
  Executor();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// An executor for a model file: an ONNX file or Hugging Face folder (imported with
/// `options`: compute type, quantization, ...; weights from the same place unless
/// `weights` is given), or a `.mlir` file of loom IR (weights from `weights`, if it has
/// any).
std::unique_ptr<Executor> openModel(const std::string &model, const std::string &weights,
                                    const ImportOptions &options, std::string &error);

/// What openModel runs: the loom IR of `model` (read from a `.mlir` file, or imported
/// with `options`) and where its weights are (`weights`, else the model itself when it
/// was imported; empty for IR without a weight path).
bool readModelIr(const std::string &model, const std::string &weights,
                 const ImportOptions &options, std::string &ir, std::string &weightPath,
                 std::string &error);

} // namespace loom::reference

#endif // LOOM_COMPILER_REFERENCE_REFERENCE_H
