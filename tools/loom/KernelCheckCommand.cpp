//===- KernelCheckCommand.cpp - `loom kernel-check`: generated kernels on a GPU ===//
//
// Reads a harness folder written by `loom kernel-harness` (kernels.cu, harness.json,
// tensors.safetensors), compiles the kernels with NVRTC for the device, and runs each
// kernel alone on its recorded inputs, with its outputs poisoned (all bytes 0xFF, NaN
// for floats) before the launch, then compares with the reference executor's outputs.
// Runtime only: builds without MLIR.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "loom/runtime.hpp"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace loom::cli {

std::vector<double> decodeElements(DType dtype, const std::string &bytes) {
  std::vector<double> values(bytes.size() / dtypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = loadElement(dtype, bytes.data(), static_cast<int64_t>(i));
  return values;
}

double maxRelativeError(const std::vector<double> &actual,
                        const std::vector<double> &expected) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(actual[i]) != std::isnan(expected[i]))
      return NAN;
    if (std::isinf(expected[i]) || std::isnan(expected[i])) {
      if (actual[i] != expected[i] && !(std::isnan(actual[i]) && std::isnan(expected[i])))
        return NAN;
      continue;
    }
    worst = std::max(worst, std::fabs(actual[i] - expected[i]));
    scale = std::max(scale, std::fabs(expected[i]));
  }
  return worst / std::max(scale, 1e-30);
}

namespace {

/// Whether 8-bit codes (a quantized KV cache's int8 or e4m3 bytes) agree within one
/// step: the kernel and the reference may compute a row's values (rope, say) an ulp
/// apart, which moves a code sitting at a rounding boundary to its neighbour.
bool codesAgree(DType dtype, const std::string &actual, const std::string &expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    int a = dtype == DType::I8 ? static_cast<int8_t>(actual[i]) : 0,
        e = dtype == DType::I8 ? static_cast<int8_t>(expected[i]) : 0;
    if (dtype == DType::F8E4M3) {
      // e4m3 magnitudes are ordered as their 7 bits: a signed step count.
      auto steps = [](char c) {
        int bits = static_cast<uint8_t>(c);
        return bits & 0x80 ? -(bits & 0x7f) : bits & 0x7f;
      };
      a = steps(actual[i]);
      e = steps(expected[i]);
    }
    if (std::abs(a - e) > 1)
      return false;
  }
  return true;
}

double defaultTolerance(DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return 2e-2;
  case DType::F16:
    return 5e-3;
  case DType::F32:
    return 1e-4;
  case DType::F64:
    return 1e-10;
  default:
    return 0;
  }
}

struct Tensors {
  SafetensorsHeader header;
  bool load(const std::string &name, const TensorInfo *&info, std::string &bytes,
            std::string &error) {
    info = header.find(name);
    if (!info) {
      error = "tensors.safetensors has no tensor '" + name + "'";
      return false;
    }
    return readTensorBytes(header, *info, bytes, error);
  }
};

} // namespace

int runKernelCheck(int argc, char **argv) {
  const char *usage =
      "usage: loom kernel-check <harness-dir> [--device N] [--tolerance T]\n"
      "                         [--multiprocessors N]\n"
      "  --multiprocessors N  bound grids given per multiprocessor as on a device of N\n"
      "                       (default: this device's), so that their blocks loop\n";
  std::string dir;
  int device = 0, multiprocessors = 0;
  double tolerance = -1;
  OptionParser parser("loom kernel-check", usage);
  parser.positional("the harness folder", dir, true)
      .integer("--device", device, 0, 1024)
      .integer("--multiprocessors", multiprocessors, 1, 1 << 16)
      .number("--tolerance", tolerance, 0, 1e30);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;

  std::string source, manifestText, error;
  json::Value manifest;
  Tensors tensors;
  if (!readTextFile(dir + "/kernels.cu", source, error, kSourceFileLimit) ||
      !readTextFile(dir + "/harness.json", manifestText, error)) {
    std::fprintf(stderr, "loom kernel-check: %s lacks kernels.cu or harness.json\n",
                 dir.c_str());
    return 1;
  }
  if (!json::parse(manifestText, manifest, error) ||
      !readSafetensorsHeader(dir + "/tensors.safetensors", tensors.header, error)) {
    std::fprintf(stderr, "loom kernel-check: %s\n", error.c_str());
    return 1;
  }

  std::vector<loom_device_info_t> devices;
  Status status = listDevices(devices);
  if (!status.ok() || device < 0 || device >= static_cast<int>(devices.size())) {
    std::fprintf(stderr, "loom kernel-check: %s\n",
                 status.ok() ? "no such CUDA device" : status.message().c_str());
    return 1;
  }
  const loom_device_info_t &info = devices[device];
  if (multiprocessors == 0)
    multiprocessors = info.multiprocessor_count;
  std::string arch = "sm_" + std::to_string(info.compute_capability_major) +
                     std::to_string(info.compute_capability_minor) +
                     (info.compute_capability_major == 9 ? "a" : "");
  auto start = std::chrono::steady_clock::now();
  std::string image;
  status = compileCuda(source, dir + "/kernels.cu", arch, image);
  if (!status.ok()) {
    std::fprintf(stderr, "loom kernel-check: %s\n", status.message().c_str());
    return 1;
  }
  double compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: compiled for %s in %.2f s\n", info.name, arch.c_str(), compileSeconds);

  loom_device_t gpu = nullptr;
  loom_module_t module = nullptr;
  auto fail = [&](loom_status_t s) {
    std::fprintf(stderr, "loom kernel-check: %s\n", loom_status_message(s));
    loom_status_free(s);
    loom_module_unload(module);
    loom_device_close(gpu);
    return 1;
  };
  if (loom_status_t s = loom_device_open(device, &gpu))
    return fail(s);
  if (loom_status_t s = loom_module_load(gpu, image.data(), image.size(), &module))
    return fail(s);

  const json::Value *list = manifest.get("kernels");
  int failures = 0, count = 0;
  for (const json::Value &kernel : list ? list->asArray() : std::vector<json::Value>{}) {
    std::string name = kernel.get("name")->asString();
    std::vector<uint64_t> buffers;
    std::vector<int64_t> sizes;
    std::vector<void *> args;
    std::vector<std::pair<uint64_t, const TensorInfo *>> outputs;
    bool ok = true;
    // An output updated in place starts as its input (the kernel writes some rows
    // only); other outputs start poisoned.
    std::vector<std::string> inputNames;
    for (const json::Value &input : kernel.get("inputs")->asArray())
      inputNames.push_back(input.asString());
    std::vector<int64_t> inPlace;
    if (const json::Value *list = kernel.get("in_place"))
      for (const json::Value &input : list->asArray())
        inPlace.push_back(input.asInteger());
    // A buffer for `tensor` holding the bytes of tensor `from` (itself by default).
    auto allocate = [&](const std::string &tensor, bool poison, const std::string &from) {
      const TensorInfo *t = nullptr;
      std::string bytes;
      if (!tensors.load(from.empty() ? tensor : from, t, bytes, error))
        return ok = false;
      if (!from.empty() && !(t = tensors.header.find(tensor))) {
        error = "tensors.safetensors has no tensor '" + tensor + "'";
        return ok = false;
      }
      uint64_t pointer = 0;
      if (loom_status_t s = loom_device_alloc(gpu, bytes.size(), &pointer)) {
        error = loom_status_message(s);
        loom_status_free(s);
        return ok = false;
      }
      buffers.push_back(pointer);
      if (poison && from.empty())
        std::memset(bytes.data(), 0xFF, bytes.size());
      if (loom_status_t s =
              loom_device_upload(gpu, pointer, bytes.data(), bytes.size())) {
        error = loom_status_message(s);
        loom_status_free(s);
        return ok = false;
      }
      if (poison)
        outputs.emplace_back(pointer, t);
      return true;
    };
    // One buffer per entry of "inputs", in the kernel's parameter order: a quantized
    // weight input is several entries (codes, scales, zeros or mins, permutation;
    // QuantizedWeights.h), and "in_place" indexes these entries.
    for (const std::string &input : inputNames)
      ok = ok && allocate(input, false, "");
    const std::vector<json::Value> &outputList = kernel.get("outputs")->asArray();
    for (size_t i = 0; i < outputList.size(); ++i) {
      int64_t source = i < inPlace.size() ? inPlace[i] : -1;
      ok = ok && allocate(outputList[i].asString(), true,
                          source >= 0 && source < static_cast<int64_t>(inputNames.size())
                              ? inputNames[source]
                              : "");
    }
    // Scratch buffers follow the outputs, then the counters, zero-filled (the kernel
    // leaves them zero).
    auto device = [&](int64_t bytes, bool zero) {
      uint64_t pointer = 0;
      loom_status_t s = loom_device_alloc(gpu, static_cast<size_t>(bytes), &pointer);
      if (!s)
        buffers.push_back(pointer);
      if (!s && zero)
        s = loom_device_zero(gpu, pointer, static_cast<size_t>(bytes));
      if (s) {
        error = loom_status_message(s);
        loom_status_free(s);
        ok = false;
      }
      return ok;
    };
    if (const json::Value *list = kernel.get("scratch"))
      for (const json::Value &bytes : list->asArray())
        if (!device(std::max<int64_t>(bytes.asInteger(), 4), false))
          break;
    if (const json::Value *counters = kernel.get("counters");
        ok && counters && counters->isInteger() && counters->asInteger() > 0)
      device(counters->asInteger() * 4, true);
    for (const json::Value &size : kernel.get("sizes")->asArray())
      sizes.push_back(size.asInteger());
    for (uint64_t &pointer : buffers)
      args.push_back(&pointer);
    for (int64_t &size : sizes)
      args.push_back(&size);
    // The launches the harness's sizes select, in order (older harnesses: one).
    std::vector<const json::Value *> launchList;
    if (const json::Value *list = kernel.get("launches"))
      for (const json::Value &launch : list->asArray())
        launchList.push_back(&launch);
    else
      launchList.push_back(&kernel);
    std::string launched;
    for (const json::Value *launch : launchList) {
      if (!ok)
        break;
      std::string function = launch->get("name")->asString();
      uint32_t grid[3];
      for (int d = 0; d < 3; ++d)
        grid[d] = static_cast<uint32_t>(launch->get("grid")->asArray()[d].asInteger());
      // A grid bounded per multiprocessor is bounded as the runtime bounds it, so the
      // blocks loop over the rest as they do in a model.
      if (const json::Value *perSm = launch->get("per_sm"))
        if (perSm->isInteger() && multiprocessors > 0)
          grid[0] = static_cast<uint32_t>(
              std::min<int64_t>(grid[0], perSm->asInteger() * multiprocessors));
      uint32_t threads = static_cast<uint32_t>(launch->get("threads")->asInteger());
      const json::Value *shared = launch->get("shared");
      uint32_t sharedBytes =
          shared && shared->isInteger() ? static_cast<uint32_t>(shared->asInteger()) : 0;
      loom_status_t s = loom_module_launch_shared(module, function.c_str(), grid, threads,
                                                  sharedBytes, args.data());
      if (!s)
        s = loom_device_synchronize(gpu);
      if (s) {
        error = function + ": " + loom_status_message(s);
        loom_status_free(s);
        ok = false;
      }
      char text[96];
      std::snprintf(text, sizeof text, "%s%s grid %u,%u,%u x %u",
                    launched.empty() ? "" : "; ",
                    function == name ? "" : function.substr(name.size()).c_str(), grid[0],
                    grid[1], grid[2], threads);
      launched += text;
    }
    // A kernel computes in its least precise type: a bf16 matmul whose epilogue casts
    // to f32 is held to bf16's tolerance.
    double limit = 0;
    for (const char *list : {"inputs", "outputs"})
      for (const json::Value &t : kernel.get(list)->asArray())
        if (const TensorInfo *info = tensors.header.find(t.asString()))
          limit = std::max(limit, defaultTolerance(info->dtype));
    if (tolerance >= 0)
      limit = tolerance;
    double worst = 0;
    bool pass = ok;
    for (auto [pointer, t] : outputs) {
      if (!ok)
        break;
      std::string actual(t->fileEnd - t->fileBegin, '\0'), expected;
      if (loom_status_t s =
              loom_device_download(gpu, actual.data(), pointer, actual.size()))
        return fail(s);
      readTensorBytes(tensors.header, *t, expected, error);
      if (t->dtype == DType::I8 || t->dtype == DType::F8E4M3) {
        pass = pass && codesAgree(t->dtype, actual, expected);
        continue;
      }
      double e = maxRelativeError(decodeElements(t->dtype, actual),
                                  decodeElements(t->dtype, expected));
      worst = std::isnan(e) || std::isnan(worst) ? NAN : std::max(worst, e);
      pass = pass && !std::isnan(e) && e <= limit;
    }
    for (uint64_t pointer : buffers)
      if (loom_status_t s = loom_device_free(gpu, pointer))
        loom_status_free(s);
    ++count;
    if (!pass)
      ++failures;
    std::printf("%-6s %-40s %-13s %s  max relative error %.2e%s%s\n",
                pass ? "PASS" : "FAIL", name.c_str(),
                kernel.get("kind")->asString().c_str(), launched.c_str(), worst,
                ok ? "" : "  ", ok ? "" : error.c_str());
  }
  loom_module_unload(module);
  loom_device_close(gpu);
  std::printf("%d of %d kernels match the reference executor\n", count - failures, count);
  return failures ? 1 : 0;
}

} // namespace loom::cli
