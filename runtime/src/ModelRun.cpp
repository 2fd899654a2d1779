//===- ModelRun.cpp - Running a loaded artifact ----------------------------===//
//
// One run: the named dimensions are bound from the inputs' shapes, every buffer is
// sized from its shape expression and laid out in the model's arena by liveness, and
// each launch's grid is evaluated from its work expression. With profiling on, every
// launch is timed with GPU events and the run's host phases with a clock.
//
//===----------------------------------------------------------------------===//

#include "ModelState.h"
#include "Status.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace loom;
using namespace loom::rt;

loom_status_t loom::rt::launchSequence(loom_model_t model,
                                       const std::map<std::string, int64_t> &sizes,
                                       const std::map<int, uint64_t> &pinned,
                                       std::vector<uint64_t> &memory,
                                       const std::function<loom_status_t()> &beforeLaunch) {
  // Lay the buffers that are not weights out in one arena by liveness: the live ranges
  // are the model's, the sizes this run's.
  std::vector<BufferLife> lives = model->lives;
  const std::vector<bool> &used = model->used;
  std::map<std::string, int64_t> bound = sizes;
  for (size_t i = 0; i < model->buffers.size(); ++i) {
    const Buffer &b = model->buffers[i];
    if (b.weight || b.zeroed || !used[i] || pinned.count(static_cast<int>(i)))
      continue;
    std::vector<int64_t> shape;
    if (loom_status_t s =
            model->shape(b.shape, "buffer " + std::to_string(i), bound, nullptr, shape))
      return s;
    lives[i].bytes = static_cast<uint64_t>(count(shape) * dtypeSize(b.dtype));
  }
  MemoryPlan plan = planMemory(lives);
  if (plan.peak > model->arenaBytes) {
    if (model->arena)
      if (loom_status_t s = loom_device_free(model->device, model->arena))
        loom_status_free(s);
    model->arena = 0;
    model->arenaBytes = 0;
    if (loom_status_t s = loom_device_alloc(model->device, plan.peak, &model->arena))
      return s;
    model->arenaBytes = plan.peak;
  }
  memory.assign(model->buffers.size(), 0);
  for (size_t i = 0; i < model->buffers.size(); ++i) {
    const Buffer &b = model->buffers[i];
    memory[i] = b.weight   ? model->weightMemory[static_cast<int>(i)]
                : b.zeroed ? model->zeroedMemory[static_cast<int>(i)]
                           : model->arena + plan.offsets[i];
  }
  for (auto &[buffer, pointer] : pinned)
    memory[buffer] = pointer;
  if (beforeLaunch)
    if (loom_status_t s = beforeLaunch())
      return s;
  // With profiling on, an event before every launch and one after the last.
  std::vector<loom_event_t> events;
  struct EventsGuard {
    std::vector<loom_event_t> &events;
    ~EventsGuard() {
      for (loom_event_t event : events)
        loom_event_destroy(event);
    }
  } eventsGuard{events};
  if (model->profiling)
    for (size_t i = 0; i <= model->launches.size(); ++i) {
      loom_event_t event = nullptr;
      if (loom_status_t s = loom_event_create(model->device, &event))
        return s;
      events.push_back(event);
    }
  size_t step = 0;
  std::vector<bool> skipped(model->launches.size(), false);
  // Kernels marked early launch programmatically; at a step that selects an early
  // launch by an upper guard (a matrix-vector variant: a decode step of a few rows)
  // every kernel does: the step is a chain of short one-wave kernels whose launch
  // latency would otherwise add up, while at larger steps a waiting grid would hold SM
  // slots that the running kernel's later waves need (batch-64 decode was 8% slower).
  auto admitted = [&](const Launch &launch) {
    auto size = sizes.find(launch.when.name);
    int64_t value = size == sizes.end() ? -1 : size->second;
    return value >= launch.when.min && !(launch.when.max && value > launch.when.max);
  };
  const ProgrammaticLaunch policy = model->programmaticLaunch();
  const bool smallStep = policy == ProgrammaticLaunch::SmallSteps &&
                         std::any_of(model->launches.begin(), model->launches.end(),
                                     [&](const Launch &launch) {
                                       return launch.early && !launch.when.name.empty() &&
                                              launch.when.max && admitted(launch);
                                     });
  const uint32_t earlyFlags =
      policy == ProgrammaticLaunch::Off ? 0 : LOOM_LAUNCH_PROGRAMMATIC;
  for (const Launch &launch : model->launches) {
    if (!launch.when.name.empty()) {
      if (!admitted(launch)) {
        if (model->profiling && !events.empty())
          if (loom_status_t s = loom_event_record(events[step]))
            return s;
        skipped[step++] = true;
        continue;
      }
    }
    std::vector<uint64_t> pointers;
    std::vector<int64_t> values;
    for (int a : launch.args)
      pointers.push_back(memory[a]);
    for (const std::string &name : launch.sizes) {
      auto size = sizes.find(name);
      if (size == sizes.end()) {
        return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                          "kernel " + launch.kernel + " needs the size of '" + name +
                              "', which no input gives");
      }
      values.push_back(size->second);
    }
    std::vector<void *> args;
    for (uint64_t &p : pointers)
      args.push_back(&p);
    for (int64_t &v : values)
      args.push_back(&v);
    uint32_t grid[3];
    for (int d = 0; d < 3; ++d) {
      std::optional<int64_t> work = evaluate(launch.grid[d].work, sizes);
      int64_t blocks = std::max<int64_t>(
          1, ((work ? *work : 1) + launch.grid[d].per - 1) / launch.grid[d].per);
      if (launch.grid[d].cap)
        blocks = std::min(blocks, launch.grid[d].cap);
      if (launch.grid[d].perSm && model->multiprocessors > 0)
        blocks = std::min(blocks, launch.grid[d].perSm * model->multiprocessors);
      grid[d] = static_cast<uint32_t>(blocks);
    }
    if (model->profiling && !events.empty())
      if (loom_status_t s = loom_event_record(events[step]))
        return s;
    if (loom_status_t s = loom_module_launch_ex(
            launch.module, launch.kernel.c_str(), grid, launch.threads, launch.shared,
            args.data(), launch.early || smallStep ? earlyFlags : 0)) {
      return s;
    }
    ++step;
  }
  if (model->profiling && !events.empty()) {
    if (loom_status_t s = loom_event_record(events[step]))
      return s;
    float span = 0;
    if (loom_status_t s = loom_event_elapsed_ms(events.front(), events.back(), &span))
      return s;
    auto &[runs, spanTotal] = model->profile["(gpu) first launch to last kernel end"];
    ++runs;
    spanTotal += span;
    for (size_t i = 0; i < model->launches.size(); ++i) {
      if (skipped[i])
        continue;
      float ms = 0;
      if (loom_status_t s = loom_event_elapsed_ms(events[i], events[i + 1], &ms))
        return s;
      auto &[launches, total] = model->profile[model->launches[i].kernel];
      ++launches;
      total += ms;
    }
  }
  return nullptr;
}

namespace {

/// An input or output of a run, on the host or on the device.
struct Tensor {
  const char *name = nullptr, *dtype = nullptr;
  int32_t rank = 0;
  const int64_t *shape = nullptr;
  size_t bytes = 0;
  const void *host = nullptr;
  uint64_t device = 0;
};

/// One run of the launch sequence. Host inputs are converted to the compiled types and
/// uploaded; device inputs must have them and are read in place. Outputs go to
/// `hostOutputs` (malloc'd) or `deviceOutputs` (device memory the caller frees).
loom_status_t runModel(loom_model_t model, const std::vector<Tensor> &inputs,
                       loom_host_tensor_t *hostOutputs,
                       loom_device_tensor_t *deviceOutputs, size_t num_outputs) {
  if (num_outputs != model->outputs.size() || (!hostOutputs && !deviceOutputs))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_run: the model has " +
                          std::to_string(model ? model->outputs.size() : 0) +
                          " outputs; pass that many output slots");
  if (model->weightMemory.size() != model->weightBuffers)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_run: bind the weights first (loom_model_bind_weights)");
  // With profiling on, host time per phase of the run is added to the profile too.
  auto last = std::chrono::steady_clock::now();
  auto phase = [&](const char *name) {
    if (!model->profiling)
      return;
    auto now = std::chrono::steady_clock::now();
    auto &[count, total] = model->profile[name];
    ++count;
    total += std::chrono::duration<double, std::milli>(now - last).count();
    last = now;
  };
  std::map<std::string, int64_t> sizes;
  std::map<int, std::string> uploads;
  std::map<int, uint64_t> inPlace;
  // Bind the dimensions from the inputs that were given, then fill the others.
  for (const Port &port : model->inputs) {
    const Tensor *given = nullptr;
    for (const Tensor &input : inputs)
      if (input.name && port.name == input.name)
        given = &input;
    if (!given)
      continue;
    DType dtype;
    if (!given->dtype || !parseDtypeName(given->dtype, dtype) ||
        given->rank != static_cast<int32_t>(port.shape.size()))
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "input '" + port.name + "' needs rank " +
                            std::to_string(port.shape.size()) + " and a known dtype");
    std::vector<int64_t> shape;
    if (loom_status_t s = model->shape(port.shape, "input '" + port.name + "'", sizes,
                                       given->shape, shape))
      return s;
    if (given->bytes != static_cast<size_t>(count(shape) * dtypeSize(dtype)))
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "input '" + port.name + "' has " +
                                                          std::to_string(given->bytes) +
                                                          " bytes for its shape");
    if (dtypeIsFloat(dtype) != dtypeIsFloat(port.dtype))
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "input '" + port.name + "' is " + dtypeName(dtype) +
                            "; the model takes " + dtypeName(port.dtype));
    if (!given->host) {
      if (dtype != port.dtype)
        return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                          "device input '" + port.name + "' is " + dtypeName(dtype) +
                              "; on the device it must be " + dtypeName(port.dtype));
      inPlace[port.buffer] = given->device;
      continue;
    }
    uploads[port.buffer] =
        convert(std::string(static_cast<const char *>(given->host), given->bytes), dtype,
                port.dtype);
  }
  for (const Port &port : model->inputs) {
    if (uploads.count(port.buffer) || inPlace.count(port.buffer))
      continue;
    if (!port.fill)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "input '" + port.name + "' is missing");
    std::vector<int64_t> shape;
    if (loom_status_t s =
            model->shape(port.shape, "input '" + port.name + "'", sizes, nullptr, shape))
      return s;
    std::string bytes(count(shape) * dtypeSize(port.dtype), '\0');
    for (int64_t i = 0; i < count(shape); ++i)
      storeElement(port.dtype, bytes.data(), i, static_cast<double>(*port.fill));
    uploads[port.buffer] = bytes;
  }

  phase("(host) inputs: bind sizes, convert");
  std::vector<uint64_t> memory;
  if (loom_status_t s = launchSequence(model, sizes, inPlace, memory, [&]() -> loom_status_t {
        phase("(host) memory plan");
        for (auto &[buffer, bytes] : uploads)
          if (loom_status_t s = loom_device_upload(model->device, memory[buffer],
                                                   bytes.data(), bytes.size()))
            return s;
        phase("(host) upload inputs");
        return nullptr;
      }))
    return s;
  phase("(host) launch kernels");
  if (loom_status_t s = loom_device_synchronize(model->device)) {
    return s;
  }
  phase("(host) wait for the GPU");
  for (size_t i = 0; i < model->outputs.size(); ++i) {
    const Port &port = model->outputs[i];
    std::vector<int64_t> shape;
    loom_status_t s =
        model->shape(port.shape, "output '" + port.name + "'", sizes, nullptr, shape);
    if (s)
      return s;
    size_t bytes = count(shape) * dtypeSize(port.dtype);
    // Name, element type and shape, the same for host and device outputs.
    auto describe = [&](auto &out) {
      out.name = port.name.c_str();
      out.dtype = dtypeName(port.dtype);
      out.rank = static_cast<int32_t>(shape.size());
      for (size_t d = 0; d < shape.size() && d < 8; ++d)
        out.shape[d] = shape[d];
    };
    if (deviceOutputs) {
      loom_device_tensor_t &out = deviceOutputs[i];
      out = loom_device_tensor_t{};
      if (auto updated = inPlace.find(port.buffer); updated != inPlace.end()) {
        // The run updated this device input in place (a KV cache): it is the output.
        out.pointer = updated->second;
        out.bytes = bytes;
        describe(out);
        continue;
      }
      if ((s = loom_device_alloc(model->device, bytes, &out.pointer)))
        return s;
      out.bytes = bytes;
      if ((s = loom_device_copy(model->device, out.pointer, memory[port.buffer],
                                bytes))) {
        if (loom_status_t f = loom_device_free(model->device, out.pointer))
          loom_status_free(f);
        out.pointer = 0;
        return s;
      }
      describe(out);
      continue;
    }
    loom_host_tensor_t &out = hostOutputs[i];
    out = loom_host_tensor_t{};
    out.bytes = bytes;
    out.data = std::malloc(out.bytes ? out.bytes : 1);
    if ((s = loom_device_download(model->device, out.data, memory[port.buffer],
                                  out.bytes)))
      return s;
    describe(out);
  }
  phase("(host) download outputs");
  return nullptr;
}

} // namespace

extern "C" {

loom_status_t loom_model_run(loom_model_t model, const loom_host_tensor_t *inputs,
                             size_t num_inputs, loom_host_tensor_t *outputs,
                             size_t num_outputs) {
  if (!model || (num_inputs && !inputs) || !outputs)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_run: model, inputs and output slots are required");
  std::vector<Tensor> given;
  for (size_t i = 0; i < num_inputs; ++i)
    given.push_back(Tensor{inputs[i].name, inputs[i].dtype, inputs[i].rank,
                           inputs[i].shape, inputs[i].bytes,
                           inputs[i].data ? inputs[i].data : "", 0});
  return runModel(model, given, outputs, nullptr, num_outputs);
}

loom_status_t loom_model_run_device(loom_model_t model,
                                    const loom_device_tensor_t *inputs, size_t num_inputs,
                                    loom_device_tensor_t *outputs, size_t num_outputs) {
  if (!model || (num_inputs && !inputs) || !outputs)
    return makeStatus(
        LOOM_STATUS_INVALID_ARGUMENT,
        "loom_model_run_device: model, inputs and output slots are required");
  std::vector<Tensor> given;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!inputs[i].pointer)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        std::string("device input '") +
                            (inputs[i].name ? inputs[i].name : "?") + "' has no pointer");
    given.push_back(Tensor{inputs[i].name, inputs[i].dtype, inputs[i].rank,
                           inputs[i].shape, inputs[i].bytes, nullptr, inputs[i].pointer});
  }
  return runModel(model, given, nullptr, outputs, num_outputs);
}

loom_status_t loom_model_set_profiling(loom_model_t model, int on) {
  if (!model)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_set_profiling: model is null");
  model->profiling = on != 0;
  model->profile.clear();
  return nullptr;
}

const char *loom_model_profile(loom_model_t model) {
  if (!model)
    return "";
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> rows(
      model->profile.begin(), model->profile.end());
  std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second.second > b.second.second;
  });
  // Kernel rows share the GPU total; host phases ("(host) ...") are listed apart.
  auto isHost = [](const std::string &name) { return !name.empty() && name[0] == '('; };
  std::stable_partition(rows.begin(), rows.end(),
                        [&](const auto &row) { return !isHost(row.first); });
  double total = 0;
  for (const auto &row : rows)
    if (!isHost(row.first))
      total += row.second.second;
  std::string &text = model->profileText;
  text.clear();
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %9s %11s %11s %7s\n", "kernel", "launches",
                "total ms", "mean us", "share");
  text += line;
  bool hostRows = false;
  for (const auto &[kernel, entry] : rows) {
    if (isHost(kernel) && !hostRows) {
      std::snprintf(line, sizeof line, "%-36s %9s %11.3f\n", "all kernels", "", total);
      text += line;
      hostRows = true;
    }
    std::snprintf(line, sizeof line, "%-36s %9lld %11.3f %11.1f", kernel.c_str(),
                  static_cast<long long>(entry.first), entry.second,
                  1000.0 * entry.second / std::max<int64_t>(1, entry.first));
    text += line;
    if (!isHost(kernel)) {
      std::snprintf(line, sizeof line, " %6.1f%%",
                    total > 0 ? 100.0 * entry.second / total : 0.0);
      text += line;
    }
    text += "\n";
  }
  if (!hostRows) {
    std::snprintf(line, sizeof line, "%-36s %9s %11.3f\n", "all kernels", "", total);
    text += line;
  }
  return text.c_str();
}

} // extern "C"
