//===- Commands.h - Subcommands of the `loom` CLI ------------------*- C++ -*-===//

#ifndef LOOM_TOOLS_LOOM_COMMANDS_H
#define LOOM_TOOLS_LOOM_COMMANDS_H

#include "Options.h"
#include "loom/support/Files.h"
#include "loom/support/Safetensors.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace loom {
struct ImportOptions;
} // namespace loom

namespace loom::cli {

/// "batch=2,seq=7" into sizes (each N > 0); false with `error` if malformed.
bool parseSizes(const std::string &text, std::map<std::string, int64_t> &sizes,
                std::string &error);
/// Takes the import option at argv[i] with its value (--dtype, --rope-frequencies,
/// --entry, --kv-block-size, --kv-dtype, --quantize, --fp8-activations), advancing i:
/// 1 if taken, 0 if argv[i] is not one, -1 with `error` for a bad value.
int takeImportOption(int argc, char **argv, int &i, ImportOptions &options,
                     std::string &error);
/// takeImportOption() for an OptionParser.
OptionParser::Taker importOptionTaker(ImportOptions &options);
/// Loom IR of a model: a .mlir file as is, else the import of an ONNX file or HF folder
/// with `options` (the import's summary goes to stderr).
bool loadModelIr(const std::string &model, const ImportOptions &options, std::string &ir,
                 std::string &error);

/// The elements of little-endian tensor bytes of `dtype` as doubles.
std::vector<double> decodeElements(DType dtype, const std::string &bytes);
/// Largest |actual - expected| over the largest |expected|; NaN when a NaN or an
/// infinity of `expected` is not matched exactly (what `run --check` and `kernel-check`
/// compare by).
double maxRelativeError(const std::vector<double> &actual,
                        const std::vector<double> &expected);

/// `loom import`; `argv` starts after the subcommand name. Returns the exit code.
int runImport(int argc, char **argv);
/// `loom reference`: runs a model on the CPU reference executor.
int runReference(int argc, char **argv);
/// `loom grad`: training gradients of a batch on the CPU reference executor.
int runGrad(int argc, char **argv);
/// `loom train`: AdamW training on the CPU reference executor.
int runTrain(int argc, char **argv);
/// `loom launch -n N -- <command>`: the command as N ranks (LaunchCommand.cpp).
int runLaunch(int argc, char **argv);
/// `loom train <train_step artifact>`: training on the GPU (TrainStepCommand.cpp).
int runTrainStep(int argc, char **argv);
/// `loom optimize`: runs pass pipelines, optionally checking numerics after each pass.
int runOptimize(int argc, char **argv);
/// `loom generate`: text generation from a prompt.
int runGenerate(int argc, char **argv);
/// `loom compile`: a model to an artifact folder.
int runCompile(int argc, char **argv);
/// `loom kernel-harness`: per-kernel test data for a model's generated kernels.
int runKernelHarness(int argc, char **argv);
/// `loom run`: an artifact on the GPU (runtime only).
int runRun(int argc, char **argv);
/// `loom greedy`: greedy decoding with an artifact, checked against generations.json.
int runGreedy(int argc, char **argv);
/// `loom generate` with a step artifact: the serving engine on the GPU.
int runServeGenerate(int argc, char **argv);
/// End-of-sequence ids from a model folder's generation_config.json, else config.json.
std::set<int32_t> readEosIds(const std::string &folder);
/// `loom kernel-check`: runs a kernel harness on a GPU (runtime only).
int runKernelCheck(int argc, char **argv);

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_COMMANDS_H
