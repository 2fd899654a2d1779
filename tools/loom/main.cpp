//===- main.cpp - The `loom` command line -----------------------------------===//
//
// `loom <command> [args]`. Commands that only need the runtime are always present;
// the compiler's commands (import, compile, ...) join them as they land.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "loom/runtime.hpp"
#include "loom/support/Checkpoint.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

int usage(FILE *out) {
  std::fprintf(
      out,
      "usage: loom <command> [options]\n\n"
      "commands:\n"
#ifdef LOOM_WITH_COMPILER
      "  import    print a model (ONNX file or Hugging Face folder) as loom IR\n"
      "  optimize  run the pass pipeline over a model and print the IR\n"
      "  compile   compile a model into an artifact (kernels.cu + manifest.json)\n"
      "  generate  generate text from a model folder on the CPU reference executor\n"
      "  reference run a model on the CPU reference executor\n"
      "  grad      the loss of a batch and its gradients on the CPU reference executor\n"
      "  train     train a model with AdamW on the CPU reference executor\n"
      "  kernel-harness  write per-kernel test data for a model's CUDA kernels\n"
#endif
      "  generate  generate text on the GPU with a step artifact (continuous batching)\n"
      "  run       run a compiled artifact on the GPU\n"
      "  greedy    greedy decoding with an artifact, checked against generations.json\n"
      "  devices   list the CUDA devices this machine has\n"
      "  cuda-compile  compile CUDA C++ (loom-translate output) with NVRTC\n"
      "  kernel-check  run a kernel harness on the GPU against its reference outputs\n"
      "  version   print the version of Loom\n"
      "  help      print this message\n");
  return out == stdout ? 0 : 2;
}

int runDevices() {
  std::vector<loom_device_info_t> devices;
  loom::Status status = loom::listDevices(devices);
  if (!status.ok()) {
    std::fprintf(stderr, "loom devices: %s\n", status.message().c_str());
    return 1;
  }
  if (devices.empty())
    std::printf("no CUDA devices (the driver is installed but reports none)\n");
  for (const loom_device_info_t &d : devices)
    std::printf("%d: %s, sm_%d%d, %d SMs, %.1f GiB\n", d.ordinal, d.name,
                d.compute_capability_major, d.compute_capability_minor,
                d.multiprocessor_count,
                static_cast<double>(d.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0));
  return 0;
}

/// `loom cuda-compile <file.cu> [--arch sm_80,sm_90a]`: compiles every kernel of a
/// generated source with NVRTC for each architecture, printing size and time.
int runCudaCompile(int argc, char **argv) {
  std::string path, archs = "sm_80,sm_90a";
  loom::cli::OptionParser parser("loom cuda-compile",
                                 "usage: loom cuda-compile <file.cu> [--arch sm_80,sm_90a]\n");
  parser.positional("the CUDA file", path, true).text("--arch", archs);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  std::string source, error;
  if (!loom::readTextFile(path, source, error, loom::kSourceFileLimit)) {
    std::fprintf(stderr, "loom cuda-compile: %s\n", error.c_str());
    return 1;
  }
  size_t kernels = 0;
  for (size_t at = source.find("__global__"); at != std::string::npos;
       at = source.find("__global__", at + 1))
    ++kernels;
  std::stringstream list(archs);
  for (std::string arch; std::getline(list, arch, ',');) {
    auto start = std::chrono::steady_clock::now();
    std::string binary;
    loom::Status status = loom::compileCuda(source, path, arch, binary);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!status.ok()) {
      std::fprintf(stderr, "loom cuda-compile: %s\n", status.message().c_str());
      return 1;
    }
    std::printf("%s: %zu kernels, %zu bytes in %.2f s\n", arch.c_str(), kernels,
                binary.size(), seconds);
  }
  return 0;
}

int dispatch(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr);
  std::string command = argv[1];
  if (command == "help" || command == "--help" || command == "-h")
    return usage(stdout);
  if (command == "version" || command == "--version") {
    std::printf("loom %s\n", loom_version());
    return 0;
  }
  if (command == "devices")
    return runDevices();
  if (command == "cuda-compile")
    return runCudaCompile(argc - 2, argv + 2);
  if (command == "run")
    return loom::cli::runRun(argc - 2, argv + 2);
  if (command == "greedy")
    return loom::cli::runGreedy(argc - 2, argv + 2);
  if (command == "kernel-check")
    return loom::cli::runKernelCheck(argc - 2, argv + 2);
  if (command == "launch")
    return loom::cli::runLaunch(argc - 2, argv + 2);
  // `train` with a compiled train_step artifact runs on the GPU; with a model, on the
  // CPU reference executor (compiler builds only).
  if (command == "train" && argc >= 3 &&
      std::filesystem::exists(std::string(argv[2]) + "/manifest.json"))
    return loom::cli::runTrainStep(argc - 2, argv + 2);
  // `generate` with a compiled step artifact runs on the GPU; with a model, on the CPU
  // reference executor (compiler builds only).
  if (command == "generate" &&
      (argc < 3 || std::filesystem::exists(std::string(argv[2]) + "/manifest.json")))
    return loom::cli::runServeGenerate(argc - 2, argv + 2);
#ifdef LOOM_WITH_COMPILER
  if (command == "import")
    return loom::cli::runImport(argc - 2, argv + 2);
  if (command == "optimize")
    return loom::cli::runOptimize(argc - 2, argv + 2);
  if (command == "generate")
    return loom::cli::runGenerate(argc - 2, argv + 2);
  if (command == "reference")
    return loom::cli::runReference(argc - 2, argv + 2);
  if (command == "grad")
    return loom::cli::runGrad(argc - 2, argv + 2);
  if (command == "train")
    return loom::cli::runTrain(argc - 2, argv + 2);
  if (command == "compile")
    return loom::cli::runCompile(argc - 2, argv + 2);
  if (command == "kernel-harness")
    return loom::cli::runKernelHarness(argc - 2, argv + 2);
#endif
  std::fprintf(stderr, "loom: unknown command '%s'\n\n", command.c_str());
  return usage(stderr);
}

} // namespace

int main(int argc, char **argv) {
  int code = dispatch(argc, argv);
  // Output lost on a full disk or a closed pipe must not look like success.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "loom: cannot write to standard output: %s\n",
                 std::strerror(errno ? errno : EIO));
    return code ? code : 1;
  }
  return code;
}
