//===- RunCommand.cpp - `loom run`: an artifact on the GPU ------------------===//
//
// loom run <artifact> --weights <model> --inputs in.safetensors
//          [--outputs out.safetensors] [--check expected.safetensors] [--device N]
// Runtime only (no MLIR). With --check, every output is compared with the tensor of the
// same name (largest difference over the largest expected magnitude).
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "loom/runtime.hpp"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <algorithm>
#include <cstdint>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace loom::cli {

namespace {

/// A one-line progress bar on stderr, redrawn in place (only on a terminal).
void drawProgress(void *, size_t done, size_t total, uint64_t doneBytes,
                  uint64_t totalBytes) {
  const int width = 30;
  int filled = totalBytes ? static_cast<int>(width * doneBytes / totalBytes) : width;
  std::fprintf(stderr, "\rweights [%.*s%*s] %zu/%zu  %.1f/%.1f MiB", filled,
               "##############################", width - filled, "", done, total,
               doneBytes / 1048576.0, totalBytes / 1048576.0);
  if (done == total)
    std::fputc('\n', stderr);
  std::fflush(stderr);
}

/// Binds weights, with a progress bar when stderr is a terminal.
loom_status_t bindWeights(loom_model_t model, const std::string &path) {
  return loom_model_bind_weights_with_progress(
      model, path.c_str(), isatty(2) ? drawProgress : nullptr, nullptr);
}

} // namespace

/// One run through loom_model_run_device: host inputs uploaded, device outputs
/// downloaded into `outputs` (malloc'd, as loom_model_run gives them).
static loom_status_t runOnDevice(loom_device_t device, loom_model_t model,
                                 const std::vector<loom_host_tensor_t> &inputs,
                                 std::vector<loom_host_tensor_t> &outputs) {
  std::vector<loom_device_tensor_t> in, out(outputs.size());
  loom_status_t status = nullptr;
  for (const loom_host_tensor_t &h : inputs) {
    loom_device_tensor_t d{h.name, h.dtype, h.rank, {}, 0, h.bytes};
    std::copy(h.shape, h.shape + 8, d.shape);
    if (!status && !(status = loom_device_alloc(device, h.bytes, &d.pointer)))
      status = loom_device_upload(device, d.pointer, h.data, h.bytes);
    in.push_back(d);
  }
  if (!status)
    status = loom_model_run_device(model, in.data(), in.size(), out.data(), out.size());
  for (size_t i = 0; i < out.size() && !status; ++i) {
    loom_host_tensor_t &h = outputs[i];
    h = loom_host_tensor_t{out[i].name, out[i].dtype, out[i].rank, {}, nullptr, out[i].bytes};
    std::copy(out[i].shape, out[i].shape + 8, h.shape);
    h.data = std::malloc(h.bytes ? h.bytes : 1);
    status = loom_device_download(device, h.data, out[i].pointer, h.bytes);
  }
  for (loom_device_tensor_t &t : in)
    if (t.pointer)
      if (loom_status_t s = loom_device_free(device, t.pointer))
        loom_status_free(s);
  for (loom_device_tensor_t &t : out)
    if (t.pointer)
      if (loom_status_t s = loom_device_free(device, t.pointer))
        loom_status_free(s);
  return status;
}

int runRun(int argc, char **argv) {
  const char *usage =
      "usage: loom run <artifact> --weights <model> --inputs in.safetensors\n"
      "                [--outputs out.safetensors] [--check expected.safetensors]\n"
      "                [--device N] [--tolerance T] [--repeat N] [--profile]\n"
      "                [--on-device]\n";
  std::string artifact, weights, inputsPath, outputsPath, checkPath;
  int ordinal = 0, repeat = 1;
  bool profile = false, onDevice = false;
  double tolerance = 1e-4;
  OptionParser parser("loom run", usage);
  parser.positional("the artifact", artifact, true)
      .text("--weights", weights)
      .text("--inputs", inputsPath)
      .text("--outputs", outputsPath)
      .text("--check", checkPath)
      .integer("--device", ordinal, 0, 1024)
      .number("--tolerance", tolerance, 0, 1e30)
      .integer("--repeat", repeat, 1, 1 << 20)
      .flag("--profile", profile)
      .flag("--on-device", onDevice);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (weights.empty() || inputsPath.empty())
    return parser.misuse("give --weights and --inputs");
  std::string error;
  SafetensorsHeader inputFile;
  if (!readSafetensorsHeader(inputsPath, inputFile, error)) {
    std::fprintf(stderr, "loom run: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::string> inputBytes(inputFile.tensors.size());
  std::vector<loom_host_tensor_t> inputs;
  for (size_t i = 0; i < inputFile.tensors.size(); ++i) {
    const TensorInfo &t = inputFile.tensors[i];
    if (!readTensorBytes(inputFile, t, inputBytes[i], error)) {
      std::fprintf(stderr, "loom run: %s\n", error.c_str());
      return 1;
    }
    loom_host_tensor_t h{};
    h.name = t.name.c_str();
    h.dtype = dtypeName(t.dtype);
    h.rank = static_cast<int32_t>(t.shape.size());
    for (size_t d = 0; d < t.shape.size() && d < 8; ++d)
      h.shape[d] = t.shape[d];
    h.data = inputBytes[i].data();
    h.bytes = inputBytes[i].size();
    inputs.push_back(h);
  }

  auto fail = [&](loom_status_t s) {
    std::fprintf(stderr, "loom run: %s\n", loom_status_message(s));
    loom_status_free(s);
    return 1;
  };
  auto clock = [] { return std::chrono::steady_clock::now(); };
  auto seconds = [](auto a, auto b) {
    return std::chrono::duration<double>(b - a).count();
  };
  loom_device_t device = nullptr;
  loom_model_t model = nullptr;
  if (loom_status_t s = loom_device_open(ordinal, &device))
    return fail(s);
  auto t0 = clock();
  if (loom_status_t s = loom_model_load(device, artifact.c_str(), &model))
    return fail(s);
  auto t1 = clock();
  if (loom_status_t s = bindWeights(model, weights))
    return fail(s);
  auto t2 = clock();
  // With --repeat, every run after the first is timed (host inputs in, host outputs
  // out) and the median is reported.
  std::vector<loom_host_tensor_t> outputs(loom_model_num_outputs(model));
  std::vector<double> times;
  auto t3 = clock();
  for (int r = 0; r < repeat; ++r) {
    if (r > 0)
      for (loom_host_tensor_t &o : outputs)
        loom_free(o.data);
    // Profile the runs after the first (which warms up), or the only one.
    if (profile && (r == 1 || repeat == 1))
      if (loom_status_t s = loom_model_set_profiling(model, 1))
        return fail(s);
    auto start = clock();
    if (onDevice) {
      // The device API: inputs uploaded here, outputs left on the device by the run and
      // downloaded here (so --check covers loom_model_run_device).
      if (loom_status_t s = runOnDevice(device, model, inputs, outputs))
        return fail(s);
    } else if (loom_status_t s = loom_model_run(model, inputs.data(), inputs.size(),
                                                outputs.data(), outputs.size())) {
      return fail(s);
    }
    t3 = clock();
    if (r > 0)
      times.push_back(seconds(start, t3));
  }
  if (profile)
    std::fprintf(stderr, "GPU time per kernel over %d run(s):\n%s", repeat > 1 ? repeat - 1 : 1,
                 loom_model_profile(model));
  if (!times.empty()) {
    std::sort(times.begin(), times.end());
    std::fprintf(stderr, "median of %zu runs after the first: %.3f ms\n", times.size(),
                 1e3 * times[times.size() / 2]);
  }
  std::fprintf(stderr, "kernels %s in %.2f s, weights in %.2f s, ran in %.3f s\n",
               loom_model_kernels_cached(model) ? "from the cache" : "compiled (NVRTC)",
               seconds(t0, t1), seconds(t1, t2), seconds(t2, t3));
  if (*loom_model_cache_note(model))
    std::fprintf(stderr, "kernel cache: %s\n", loom_model_cache_note(model));

  int status = 0;
  SafetensorsHeader expected;
  if (!checkPath.empty() && !readSafetensorsHeader(checkPath, expected, error)) {
    std::fprintf(stderr, "loom run: %s\n", error.c_str());
    status = 1;
  }
  std::vector<TensorBytes> written;
  for (const loom_host_tensor_t &out : outputs) {
    DType dtype;
    parseDType(out.dtype, dtype);
    TensorBytes t{out.name, dtype, std::vector<int64_t>(out.shape, out.shape + out.rank),
                  std::string(static_cast<const char *>(out.data), out.bytes)};
    if (const TensorInfo *e = expected.find(out.name); e && status == 0) {
      std::string bytes;
      readTensorBytes(expected, *e, bytes, error);
      if (e->shape != t.shape) {
        std::printf("%s: shape differs from the expected tensor\n", out.name);
        status = 1;
      } else {
        double relative = maxRelativeError(decodeElements(dtype, t.bytes),
                                           decodeElements(e->dtype, bytes));
        bool ok = !std::isnan(relative) && relative <= tolerance;
        std::printf("%s: max relative error %.2e (tolerance %.0e) %s\n", out.name,
                    relative, tolerance, ok ? "ok" : "TOO LARGE");
        status |= ok ? 0 : 1;
      }
    }
    written.push_back(std::move(t));
    loom_free(out.data);
  }
  if (!outputsPath.empty() && !writeSafetensors(outputsPath, written, error)) {
    std::fprintf(stderr, "loom run: %s\n", error.c_str());
    status = 1;
  }
  loom_model_free(model);
  loom_device_close(device);
  return status;
}

} // namespace loom::cli

namespace loom::cli {

/// `loom greedy <artifact> --weights <model> --generations generations.json`: for each
/// prompt, greedy decoding by running the whole prefix again for every new token (no
/// KV cache yet), compared token by token with the expected continuation.
int runGreedy(int argc, char **argv) {
  const char *usage =
      "usage: loom greedy <artifact> --weights <model> --generations generations.json "
      "[--device N]\n";
  std::string artifact, weights, generationsPath, error;
  int ordinal = 0;
  OptionParser parser("loom greedy", usage);
  parser.positional("the artifact", artifact, true)
      .text("--weights", weights)
      .text("--generations", generationsPath)
      .integer("--device", ordinal, 0, 1024);
  if (int code = parser.parse(argc, argv); code >= 0)
    return code;
  if (weights.empty() || generationsPath.empty())
    return parser.misuse("give --weights and --generations");
  std::string text;
  json::Value generations;
  if (!readTextFile(generationsPath, text, error) ||
      !json::parse(text, generations, error)) {
    std::fprintf(stderr, "loom greedy: %s: %s\n", generationsPath.c_str(), error.c_str());
    return 1;
  }
  auto fail = [&](loom_status_t s) {
    std::fprintf(stderr, "loom greedy: %s\n", loom_status_message(s));
    loom_status_free(s);
    return 1;
  };
  loom_device_t device = nullptr;
  loom_model_t model = nullptr;
  if (loom_status_t s = loom_device_open(ordinal, &device))
    return fail(s);
  if (loom_status_t s = loom_model_load(device, artifact.c_str(), &model))
    return fail(s);
  if (loom_status_t s = bindWeights(model, weights))
    return fail(s);
  const json::Value *list = generations.get("generations");
  int mismatches = 0;
  for (const json::Value &g : list ? list->asArray() : std::vector<json::Value>{}) {
    std::vector<int64_t> ids, expected, produced;
    for (const json::Value &id : g.get("prompt_ids")->asArray())
      ids.push_back(id.asInteger());
    for (const json::Value &id : g.get("output_ids")->asArray())
      expected.push_back(id.asInteger());
    for (size_t step = 0; step < expected.size(); ++step) {
      loom_host_tensor_t input{};
      input.name = "input_ids";
      input.dtype = "I64";
      input.rank = 2;
      input.shape[0] = 1;
      input.shape[1] = static_cast<int64_t>(ids.size());
      input.data = ids.data();
      input.bytes = ids.size() * sizeof(int64_t);
      std::vector<loom_host_tensor_t> outputs(loom_model_num_outputs(model));
      if (loom_status_t s =
              loom_model_run(model, &input, 1, outputs.data(), outputs.size()))
        return fail(s);
      const loom_host_tensor_t &logits = outputs[0];
      int64_t vocab = logits.shape[logits.rank - 1];
      const float *last =
          static_cast<const float *>(logits.data) + (ids.size() - 1) * vocab;
      int64_t best = std::max_element(last, last + vocab) - last;
      for (loom_host_tensor_t &o : outputs)
        loom_free(o.data);
      produced.push_back(best);
      ids.push_back(best);
    }
    size_t same = 0;
    while (same < expected.size() && produced[same] == expected[same])
      ++same;
    std::printf("%-28s %zu of %zu tokens match%s\n",
                ("\"" + g.get("prompt")->asString() + "\"").c_str(), same,
                expected.size(),
                same == expected.size() ? "" : " (first difference there)");
    mismatches += same != expected.size();
  }
  loom_model_free(model);
  loom_device_close(device);
  return mismatches ? 1 : 0;
}

} // namespace loom::cli
