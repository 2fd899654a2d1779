//===- Nvrtc.cpp - NVRTC, loaded with dlopen --------------------------------===//

#include "Nvrtc.h"
#include "Symbols.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <sys/stat.h>

namespace loom::rt {

namespace {

// Declarations restated from the NVRTC reference (nvrtc.h), so the runtime builds
// without the toolkit.
using nvrtcResult = int;
using nvrtcProgram = struct NvrtcProgramOpaque *;

struct NvrtcApi {
  nvrtcResult (*version)(int *major, int *minor);
  nvrtcResult (*createProgram)(nvrtcProgram *program, const char *source,
                               const char *name, int headers,
                               const char *const *headerSources,
                               const char *const *headerNames);
  nvrtcResult (*compileProgram)(nvrtcProgram program, int options,
                                const char *const *values);
  nvrtcResult (*getProgramLogSize)(nvrtcProgram program, size_t *size);
  nvrtcResult (*getProgramLog)(nvrtcProgram program, char *log);
  nvrtcResult (*getCubinSize)(nvrtcProgram program, size_t *size);
  nvrtcResult (*getCubin)(nvrtcProgram program, char *cubin);
  nvrtcResult (*getPtxSize)(nvrtcProgram program, size_t *size);
  nvrtcResult (*getPtx)(nvrtcProgram program, char *ptx);
  nvrtcResult (*destroyProgram)(nvrtcProgram *program);
  const char *(*getErrorString)(nvrtcResult result);
};

struct LoadedNvrtc {
  NvrtcApi api{};
  std::string error;
};

template <typename Fn>
void resolve(void *library, const char *symbol, Fn &slot, std::string &error) {
  resolveSymbol(library, symbol, slot, error, "NVRTC");
}

LoadedNvrtc load() {
  LoadedNvrtc loaded;
  std::vector<std::string> candidates;
  if (const char *path = std::getenv("LOOM_NVRTC"); path && *path)
    candidates.push_back(path);
  else
    candidates = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                  "/usr/local/cuda/lib64/libnvrtc.so"};
  void *library = nullptr;
  std::string reasons;
  for (const std::string &candidate : candidates) {
    library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library)
      break;
    const char *reason = dlerror();
    reasons += "\n  " + candidate + ": " + (reason ? reason : "unknown reason");
  }
  if (!library) {
    loaded.error =
        "cannot load NVRTC (install the CUDA toolkit's NVRTC or set LOOM_NVRTC):" +
        reasons;
    return loaded;
  }
  NvrtcApi &a = loaded.api;
  std::string &e = loaded.error;
  resolve(library, "nvrtcVersion", a.version, e);
  resolve(library, "nvrtcCreateProgram", a.createProgram, e);
  resolve(library, "nvrtcCompileProgram", a.compileProgram, e);
  resolve(library, "nvrtcGetProgramLogSize", a.getProgramLogSize, e);
  resolve(library, "nvrtcGetProgramLog", a.getProgramLog, e);
  resolve(library, "nvrtcGetCUBINSize", a.getCubinSize, e);
  resolve(library, "nvrtcGetCUBIN", a.getCubin, e);
  resolve(library, "nvrtcGetPTXSize", a.getPtxSize, e);
  resolve(library, "nvrtcGetPTX", a.getPtx, e);
  resolve(library, "nvrtcDestroyProgram", a.destroyProgram, e);
  resolve(library, "nvrtcGetErrorString", a.getErrorString, e);
  return loaded;
}

const NvrtcApi *getNvrtc(std::string &error) {
  static LoadedNvrtc loaded = load();
  if (!loaded.error.empty()) {
    error = loaded.error;
    return nullptr;
  }
  return &loaded.api;
}

bool isDirectory(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

/// Where cuda_fp16.h and cuda_bf16.h are; empty when nowhere known.
std::string cudaIncludeDir() {
  for (const char *variable : {"LOOM_CUDA_INCLUDE", "CUDA_HOME", "CUDA_PATH"}) {
    const char *value = std::getenv(variable);
    if (!value || !*value)
      continue;
    std::string dir = value;
    if (std::string(variable) != "LOOM_CUDA_INCLUDE")
      dir += "/include";
    if (isDirectory(dir))
      return dir;
  }
  return isDirectory("/usr/local/cuda/include") ? "/usr/local/cuda/include" : "";
}

bool validArch(const std::string &arch) {
  size_t digits = arch.rfind("sm_", 0) == 0 ? 3 : arch.rfind("compute_", 0) == 0 ? 8 : 0;
  if (!digits || arch.size() <= digits)
    return false;
  size_t i = digits;
  while (i < arch.size() && std::isdigit(static_cast<unsigned char>(arch[i])))
    ++i;
  return i > digits && (i == arch.size() || (i + 1 == arch.size() && arch[i] == 'a'));
}

} // namespace

std::string nvrtcVersion(std::string &error) {
  const NvrtcApi *api = getNvrtc(error);
  int major = 0, minor = 0;
  if (!api || api->version(&major, &minor) != 0)
    return "";
  return std::to_string(major) + "." + std::to_string(minor);
}

/// Everything compileCuda passes to NVRTC besides the architecture.
std::vector<std::string> baseOptions() {
  // Generated kernels name every index they compute; unused ones (warning 177) are
  // expected and removed by the compiler.
  std::vector<std::string> options = {"--std=c++17", "--device-as-default-execution-space",
                                      "--diag-suppress=177"};
  if (std::string include = cudaIncludeDir(); !include.empty())
    options.push_back("--include-path=" + include);
  return options;
}

std::string nvrtcOptionsKey() {
  std::string key;
  for (const std::string &option : baseOptions())
    key += option + " ";
  return key;
}

bool compileCuda(const std::string &source, const std::string &name,
                 const std::string &arch, NvrtcOutput &output, std::string &error) {
  if (!validArch(arch)) {
    error = "unknown GPU architecture '" + arch +
            "' (expected sm_80, sm_90a, compute_90, ...)";
    return false;
  }
  const NvrtcApi *api = getNvrtc(error);
  if (!api)
    return false;
  nvrtcProgram program = nullptr;
  nvrtcResult result =
      api->createProgram(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr);
  if (result != 0) {
    error = std::string("nvrtcCreateProgram failed: ") + api->getErrorString(result);
    return false;
  }
  std::vector<std::string> options = baseOptions();
  options.push_back("--gpu-architecture=" + arch);
  std::vector<const char *> pointers;
  for (const std::string &option : options)
    pointers.push_back(option.c_str());
  result =
      api->compileProgram(program, static_cast<int>(pointers.size()), pointers.data());
  size_t logSize = 0;
  api->getProgramLogSize(program, &logSize);
  output.log.assign(logSize, '\0');
  if (logSize)
    api->getProgramLog(program, output.log.data());
  while (!output.log.empty() && (output.log.back() == '\0' || output.log.back() == '\n'))
    output.log.pop_back();
  bool ok = result == 0;
  if (!ok) {
    error = name + " does not compile for " + arch + " (" + api->getErrorString(result) +
            "):\n" + output.log;
  } else {
    bool cubin = arch.rfind("sm_", 0) == 0;
    size_t size = 0;
    (cubin ? api->getCubinSize : api->getPtxSize)(program, &size);
    output.binary.assign(size, '\0');
    (cubin ? api->getCubin : api->getPtx)(program, output.binary.data());
  }
  api->destroyProgram(&program);
  return ok;
}

} // namespace loom::rt
