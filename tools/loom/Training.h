//===- Training.h - What `loom grad` and `loom train` share ---------*- C++ -*-===//
//
// Reading a batch, running the grad entry over micro-batches with the whole batch's
// loss normalization, and writing float32 tensors: the pieces of a training step
// that are not the optimizer (loom/support/Optimizer.h).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_TRAINING_H
#define LOOM_TOOLS_LOOM_TRAINING_H

#include "compiler/reference/Reference.h"

#include "loom/support/Files.h"
#include "loom/support/Optimizer.h"

#include <map>
#include <string>
#include <vector>

namespace loom::cli {

/// The grad entry of Hugging Face folder `model` (imported with `options`, its entry
/// set to "grad") on the reference executor, its weights read from `memory` (the
/// trained tensors, which must outlive the executor) before the checkpoint.
std::unique_ptr<reference::Executor>
openGradEntry(const std::string &model, ImportOptions options,
              const std::map<std::string, reference::Tensor> &memory, std::string &error);

/// Reads a PEFT adapter folder: its config into `config`, its tensors (float32) into
/// `tensors`.
bool readAdapter(const std::string &folder, LoraConfig &config,
                 std::map<std::string, reference::Tensor> &tensors, std::string &error);

/// Stages `tensors` (every trained one, PEFT's names) and adapter_config.json in
/// `folder`, as PEFT's save_pretrained writes them.
bool writeAdapter(
    FolderOutput &folder, const LoraConfig &config, const std::string &baseModel,
    const std::vector<std::pair<std::string, const reference::Tensor *>> &tensors,
    std::string &error);

/// The tensors of a safetensors file whose names are in `wanted` (compiler/reference).
using reference::readNamedTensors;

/// Every tensor of a safetensors file, floats as f32 and integers as i64.
bool readAllTensors(const std::string &path,
                    std::map<std::string, reference::Tensor> &out, std::string &error);

/// The executor's inputs read from batch files (names as ../shared/training/README.md);
/// a later file's tensor of a name replaces an earlier one's.
bool readBatch(const std::vector<std::string> &paths, const reference::Executor &executor,
               std::map<std::string, reference::Tensor> &batch, std::string &error);

/// Writes named tensors as a float32 (floats) / int64 (integers) safetensors file.
bool writeTensors(
    const std::string &path,
    const std::vector<std::pair<std::string, const reference::Tensor *>> &tensors,
    std::string &error);

/// The positions the causal-LM loss counts in rows [begin, end) of `labels`
/// [batch, seq]: labels[b, t + 1] != -100.
int64_t countedTokens(const reference::Tensor &labels, int64_t begin, int64_t end);

/// Rows [begin, end) of a [batch, ...] tensor.
reference::Tensor sliceRows(const reference::Tensor &x, int64_t begin, int64_t end);

/// Runs a differentiated entry (loss first, then gradients) on `batch`. With
/// `microBatches` > 1 the batch's rows are split into that many contiguous parts (the
/// last ones one row shorter when they do not divide), each part's loss and gradients
/// weighted by its share of the batch's counted tokens, so that the sums are the whole
/// batch's mean loss and its gradients (the accumulation transformers' Trainer does).
/// The sums are rounded to float32, as a float32 accumulation buffer holds them.
bool runGradients(reference::Executor &executor,
                  const std::map<std::string, reference::Tensor> &batch, int microBatches,
                  std::vector<reference::Tensor> &outputs, std::string &error);

/// losses.json of a run: {"steps", "hyperparameters", "losses" (before each step),
/// "loss_after_last_step", "all_losses"}, the form of ../shared/training/*/adamw.
std::string lossesJson(int64_t steps, const std::vector<double> &losses, double lr,
                       const AdamWOptions &hyper);

/// Compares `losses` (before each step, then after the last) with a losses.json's
/// `all_losses` (relative, `tolerance`), and, where the json has `update_summaries`,
/// every parameter's update d = final - initial by its l2 (relative, 2e-4 as the
/// README says) and its max |d| (absolute, `toleranceAbs`). Prints a line per check;
/// true when all pass.
bool checkLosses(const std::vector<double> &losses,
                 const std::map<std::string, reference::Tensor> &final,
                 const std::map<std::string, reference::Tensor> &initial,
                 const std::string &path, double tolerance, double toleranceAbs);

/// Compares every parameter that the safetensors file `path` also holds, element by
/// element: max |mine - ref| <= `toleranceAbs`. Prints a line per tensor.
bool checkParameters(const std::map<std::string, reference::Tensor> &params,
                     const std::string &path, double toleranceAbs);

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_TRAINING_H
