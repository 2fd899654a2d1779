//===- Model.cpp - Running a compiled artifact ------------------------------===//
//
// Reads manifest.json, compiles kernels.cu with NVRTC for the device (in parallel
// parts), uploads weights from the memory-mapped checkpoint (converted to the compiled
// element type on the GPU), and runs the launch sequence:
// the named dimensions are bound from the inputs' shapes, every buffer is sized from
// its shape expression, and each launch's grid is evaluated from its work expression.
//
//===----------------------------------------------------------------------===//

#include "KernelCache.h"
#include "Status.h"
#include "WeightUpload.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/MemoryPlan.h"
#include "loom/support/Safetensors.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <vector>

using namespace loom;
using namespace loom::rt;

namespace {

/// Evaluates a size expression in canonical text ("2*batch*seq-1") for `sizes`.
std::optional<int64_t> evaluate(const std::string &text,
                                const std::map<std::string, int64_t> &sizes) {
  int64_t total = 0, term = 1;
  int sign = 1;
  bool any = false;
  size_t i = 0;
  auto finish = [&] {
    total += sign * term;
    term = 1;
  };
  while (i < text.size()) {
    char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      int64_t value = 0;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
        value = value * 10 + (text[i++] - '0');
      term *= value;
      any = true;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = i;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_'))
        ++end;
      auto it = sizes.find(text.substr(i, end - i));
      if (it == sizes.end())
        return std::nullopt;
      term *= it->second;
      i = end;
      any = true;
    } else if (c == '*') {
      ++i;
    } else if (c == '+' || c == '-') {
      if (any)
        finish();
      sign = c == '+' ? 1 : -1;
      ++i;
    } else {
      return std::nullopt;
    }
  }
  if (!any)
    return std::nullopt;
  finish();
  return total;
}

bool isName(const std::string &text) {
  return !text.empty() &&
         (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_') &&
         std::all_of(text.begin(), text.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

/// `bytes` of `from` as `to` (a copy when equal; integers move exactly, int64 ids
/// included, through int64 rather than double).
std::string convert(const std::string &bytes, DType from, DType to) {
  if (from == to)
    return bytes;
  int64_t count = static_cast<int64_t>(bytes.size()) / dtypeSize(from);
  std::string out(count * dtypeSize(to), '\0');
  bool integers = !dtypeIsFloat(from) && !dtypeIsFloat(to);
  for (int64_t i = 0; i < count; ++i) {
    if (integers && from == DType::I64 && to == DType::I32) {
      int64_t n;
      std::memcpy(&n, bytes.data() + i * 8, 8);
      int32_t m = static_cast<int32_t>(n);
      std::memcpy(out.data() + i * 4, &m, 4);
    } else {
      storeElement(to, out.data(), i, loadElement(from, bytes.data(), i));
    }
  }
  return out;
}

struct Buffer {
  DType dtype = DType::F32;
  std::vector<std::string> shape;
  bool weight = false;
};

struct Launch {
  std::string kernel;
  /// The module (NVRTC program) that defines the kernel.
  loom_module_t module = nullptr;
  uint32_t threads = 256;
  /// Bytes of dynamic shared memory per block.
  uint32_t shared = 0;
  struct Grid {
    std::string work;
    int64_t per = 1, cap = 0;
  } grid[3];
  std::vector<int> args;
  std::vector<std::string> sizes;
};

struct Port {
  std::string name;
  int buffer = 0;
  std::optional<int64_t> fill;
  std::vector<std::string> shape;
  DType dtype = DType::F32;
};

bool parseDtypeName(const std::string &text, DType &out) {
  if (text == "BOOL") {
    out = DType::Bool;
    return true;
  }
  return parseDType(text, out);
}

} // namespace

struct loom_model_s {
  loom_device_t device = nullptr;
  /// The GPU architecture the kernels were compiled for ("sm_90a").
  std::string arch;
  std::vector<loom_module_t> modules;
  std::vector<Buffer> buffers;
  std::vector<Port> inputs, outputs;
  std::vector<std::pair<std::string, int>> weights;
  std::vector<Launch> launches;
  /// Whether the kernels came from the on-disk cache, and what went wrong with it.
  bool cacheHit = false;
  std::string cacheNote;
  /// Live ranges of the buffers over the launch sequence (sizes filled per run), and
  /// whether each buffer is touched at all.
  std::vector<BufferLife> lives;
  std::vector<bool> used;
  /// The arena that runs lay their buffers out in (grown when a run needs more).
  uint64_t arena = 0, arenaBytes = 0;
  /// Device memory of the bound weights, by buffer.
  std::map<int, uint64_t> weightMemory;
  /// Profiling: per-kernel launch counts and milliseconds, and the last report.
  bool profiling = false;
  std::map<std::string, std::pair<int64_t, double>> profile;
  std::string profileText;

  ~loom_model_s() {
    if (arena)
      if (loom_status_t s = loom_device_free(device, arena))
        loom_status_free(s);
    for (auto &[buffer, pointer] : weightMemory)
      if (loom_status_t s = loom_device_free(device, pointer))
        loom_status_free(s);
    for (loom_module_t module : modules)
      loom_module_unload(module);
  }

  loom_status_t parse(const json::Value &manifest, const std::string &path) {
    auto bad = [&](const std::string &why) {
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, path + ": " + why);
    };
    const json::Value *format = manifest.get("format");
    const json::Value *version = manifest.get("version");
    if (!format || !format->isString() || format->asString() != "loom-artifact")
      return bad("not a Loom artifact manifest");
    if (!version || !version->isInteger() || version->asInteger() != 1)
      return bad("manifest version is not 1 (this runtime reads version 1)");
    auto shapeOf = [](const json::Value *v, std::vector<std::string> &out) {
      if (!v || !v->isArray())
        return false;
      for (const json::Value &d : v->asArray()) {
        if (!d.isString())
          return false;
        out.push_back(d.asString());
      }
      return true;
    };
    const json::Value *list = manifest.get("buffers");
    if (!list || !list->isArray())
      return bad("no buffers");
    for (const json::Value &b : list->asArray()) {
      Buffer buffer;
      const json::Value *dtype = b.get("dtype");
      if (!dtype || !dtype->isString() ||
          !parseDtypeName(dtype->asString(), buffer.dtype) ||
          !shapeOf(b.get("shape"), buffer.shape))
        return bad("a buffer has no valid dtype and shape");
      buffers.push_back(buffer);
    }
    auto bufferIndex = [&](const json::Value &entry, int &out) {
      const json::Value *b = entry.get("buffer");
      if (!b || !b->isInteger() || b->asInteger() < 0 ||
          b->asInteger() >= static_cast<int64_t>(buffers.size()))
        return false;
      out = static_cast<int>(b->asInteger());
      return true;
    };
    for (const char *key : {"inputs", "outputs"}) {
      const json::Value *ports = manifest.get(key);
      if (!ports || !ports->isArray())
        return bad(std::string("no ") + key);
      for (const json::Value &p : ports->asArray()) {
        Port port;
        const json::Value *name = p.get("name");
        if (!name || !name->isString() || !bufferIndex(p, port.buffer))
          return bad(std::string("an entry of ") + key + " lacks a name or buffer");
        port.name = name->asString();
        if (const json::Value *fill = p.get("default"); fill && fill->isInteger())
          port.fill = fill->asInteger();
        port.shape = buffers[port.buffer].shape;
        port.dtype = buffers[port.buffer].dtype;
        if (const json::Value *shape = p.get("shape")) {
          port.shape.clear();
          if (!shapeOf(shape, port.shape))
            return bad("an output has a malformed shape");
        }
        (std::string(key) == "inputs" ? inputs : outputs).push_back(port);
      }
    }
    if (const json::Value *ws = manifest.get("weights"); ws && ws->isArray())
      for (const json::Value &w : ws->asArray()) {
        int buffer = 0;
        const json::Value *name = w.get("name");
        if (!name || !name->isString() || !bufferIndex(w, buffer))
          return bad("a weight lacks a name or buffer");
        buffers[buffer].weight = true;
        weights.emplace_back(name->asString(), buffer);
      }
    const json::Value *ls = manifest.get("launches");
    if (!ls || !ls->isArray())
      return bad("no launches");
    for (const json::Value &l : ls->asArray()) {
      Launch launch;
      const json::Value *kernel = l.get("kernel"), *threads = l.get("threads");
      const json::Value *grid = l.get("grid"), *args = l.get("args"),
                        *sizes = l.get("sizes");
      if (!kernel || !kernel->isString() || !threads || !threads->isInteger() || !grid ||
          !grid->isArray() || grid->asArray().size() != 3 || !args || !args->isArray() ||
          !sizes || !sizes->isArray())
        return bad("a launch is malformed");
      launch.kernel = kernel->asString();
      launch.threads = static_cast<uint32_t>(threads->asInteger());
      if (const json::Value *shared = l.get("shared")) {
        if (!shared->isInteger() || shared->asInteger() < 0)
          return bad("launch of " + launch.kernel + " has a malformed shared size");
        launch.shared = static_cast<uint32_t>(shared->asInteger());
      }
      for (int d = 0; d < 3; ++d) {
        const json::Value &g = grid->asArray()[d];
        const json::Value *work = g.get("work"), *per = g.get("per"), *cap = g.get("cap");
        if (!work || !work->isString() || !per || !per->isInteger() ||
            per->asInteger() <= 0 || !cap || !cap->isInteger())
          return bad("launch of " + launch.kernel + " has a malformed grid");
        launch.grid[d] = {work->asString(), per->asInteger(), cap->asInteger()};
      }
      for (const json::Value &a : args->asArray()) {
        if (!a.isInteger() || a.asInteger() < 0 ||
            a.asInteger() >= static_cast<int64_t>(buffers.size()))
          return bad("launch of " + launch.kernel +
                     " names a buffer that does not exist");
        launch.args.push_back(static_cast<int>(a.asInteger()));
      }
      for (const json::Value &n : sizes->asArray())
        launch.sizes.push_back(n.asString());
      launches.push_back(launch);
    }
    std::vector<std::vector<int>> steps;
    std::vector<int> in, out;
    for (const Launch &launch : launches)
      steps.push_back(launch.args);
    for (const Port &port : inputs)
      in.push_back(port.buffer);
    for (const Port &port : outputs)
      out.push_back(port.buffer);
    lives = bufferLives(buffers.size(), steps, in, out, used);
    return nullptr;
  }

  /// The shape of `dims` for `sizes`; binds plain names from `given` when provided.
  loom_status_t shape(const std::vector<std::string> &dims, const std::string &what,
                      std::map<std::string, int64_t> &sizes, const int64_t *given,
                      std::vector<int64_t> &out) {
    out.clear();
    for (size_t i = 0; i < dims.size(); ++i) {
      std::optional<int64_t> size = evaluate(dims[i], sizes);
      if (!size && given && isName(dims[i])) {
        sizes[dims[i]] = given[i];
        size = given[i];
      }
      if (!size)
        return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, what +
                                                            ": the size of dimension '" +
                                                            dims[i] + "' is not known");
      if (given && *size != given[i])
        return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                          what + ": dimension " + std::to_string(i) + " is " +
                              std::to_string(given[i]) + " but '" + dims[i] + "' is " +
                              std::to_string(*size));
      out.push_back(*size);
    }
    return nullptr;
  }
};

namespace {

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

} // namespace

extern "C" {

loom_status_t loom_model_load(loom_device_t device, const char *artifact,
                              loom_model_t *out_model) {
  if (!device || !artifact || !out_model)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_load: device, artifact and out_model are required");
  *out_model = nullptr;
  std::string dir = artifact, manifestText, source, error;
  if (!readTextFile(dir + "/manifest.json", manifestText, error) ||
      !readTextFile(dir + "/kernels.cu", source, error))
    return makeStatus(LOOM_STATUS_NOT_FOUND,
                      dir + " is not an artifact (no manifest.json or kernels.cu)");
  json::Value manifest;
  if (!json::parse(manifestText, manifest, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, dir + "/manifest.json: " + error);
  auto model = std::make_unique<loom_model_s>();
  model->device = device;
  if (loom_status_t status = model->parse(manifest, dir + "/manifest.json"))
    return status;
  // Compile for this device.
  loom_device_info_t info;
  if (loom_status_t status = loom_device_info(loom_device_ordinal(device), &info))
    return status;
  std::string arch = "sm_" + std::to_string(info.compute_capability_major) +
                     std::to_string(info.compute_capability_minor) +
                     (info.compute_capability_major == 9 ? "a" : "");
  model->arch = arch;
  std::vector<CompiledPart> parts;
  if (!compileSplit(source, dir + "/kernels.cu", arch, 0, parts, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, error);
  model->cacheHit = true;
  std::map<std::string, loom_module_t> moduleOf;
  for (CompiledPart &part : parts) {
    model->cacheHit &= part.compiled.hit;
    if (!part.compiled.note.empty() && model->cacheNote.find(part.compiled.note) ==
                                           std::string::npos)
      model->cacheNote += (model->cacheNote.empty() ? "" : "; ") + part.compiled.note;
    loom_module_t module = nullptr;
    if (loom_status_t status = loom_module_load(device, part.compiled.binary.data(),
                                                part.compiled.binary.size(), &module))
      return status;
    model->modules.push_back(module);
    for (const std::string &kernel : part.kernels)
      moduleOf[kernel] = module;
  }
  for (Launch &launch : model->launches) {
    auto found = moduleOf.find(launch.kernel);
    // A source without markers is one program that defines every kernel.
    launch.module = found != moduleOf.end() ? found->second : model->modules.front();
  }
  *out_model = model.release();
  return nullptr;
}

void loom_model_free(loom_model_t model) { delete model; }

size_t loom_model_num_outputs(loom_model_t model) {
  return model ? model->outputs.size() : 0;
}

int loom_model_kernels_cached(loom_model_t model) {
  return model && model->cacheHit ? 1 : 0;
}

const char *loom_model_cache_note(loom_model_t model) {
  return model ? model->cacheNote.c_str() : "";
}

loom_status_t loom_model_bind_weights(loom_model_t model, const char *path) {
  return loom_model_bind_weights_with_progress(model, path, nullptr, nullptr);
}

loom_status_t loom_model_bind_weights_with_progress(loom_model_t model, const char *path,
                                                    loom_progress_fn progress,
                                                    void *user) {
  if (!model || !path)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_bind_weights: model and path are required");
  std::string error;
  Checkpoint checkpoint;
  SafetensorsHeader single;
  struct stat info;
  bool folder = stat(path, &info) == 0 && S_ISDIR(info.st_mode);
  if (folder ? !checkpoint.open(path, error)
             : !readSafetensorsHeader(path, single, error))
    return makeStatus(LOOM_STATUS_NOT_FOUND, error);
  uint64_t doneBytes = 0, totalBytes = 0;
  for (const auto &[name, buffer] : model->weights)
    if (const TensorInfo *t = folder ? checkpoint.find(name) : single.find(name))
      totalBytes += t->fileEnd - t->fileBegin;
  size_t done = 0;
  std::map<std::string, MappedFile> maps;
  DeviceConverter converter(model->device, model->arch);
  for (const auto &[name, buffer] : model->weights) {
    const TensorInfo *tensor = folder ? checkpoint.find(name) : single.find(name);
    if (!tensor)
      return makeStatus(LOOM_STATUS_NOT_FOUND,
                        std::string(path) + " has no weight '" + name + "'");
    const Buffer &b = model->buffers[buffer];
    std::map<std::string, int64_t> none;
    std::vector<int64_t> shape;
    if (loom_status_t s =
            model->shape(b.shape, "weight '" + name + "'", none, nullptr, shape))
      return s;
    if (shape != tensor->shape)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "weight '" + name + "' has another shape in " + path +
                            " than the model was compiled for");
    if (dtypeIsFloat(tensor->dtype) != dtypeIsFloat(b.dtype))
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "weight '" + name + "' is " + dtypeName(tensor->dtype) +
                            "; the model needs " + dtypeName(b.dtype));
    // Upload from the mapped file; convert floats on the GPU, others on the host.
    const SafetensorsHeader &file = folder ? checkpoint.shardOf(*tensor) : single;
    MappedFile &map = maps[file.path];
    if (!map.data() && !map.open(file.path, error))
      return makeStatus(LOOM_STATUS_NOT_FOUND, error);
    if (tensor->fileEnd > map.size() || tensor->fileBegin > tensor->fileEnd)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        file.path + ": the data of '" + name + "' lies past the file's end");
    const char *stored = map.data() + tensor->fileBegin;
    size_t storedBytes = tensor->fileEnd - tensor->fileBegin;
    size_t count = storedBytes / static_cast<size_t>(dtypeSize(tensor->dtype));
    size_t bytes = count * static_cast<size_t>(dtypeSize(b.dtype));
    uint64_t pointer = 0;
    if (auto it = model->weightMemory.find(buffer); it != model->weightMemory.end())
      pointer = it->second;
    else if (loom_status_t s = loom_device_alloc(model->device, bytes, &pointer))
      return s;
    model->weightMemory[buffer] = pointer;
    loom_status_t uploaded = nullptr;
    if (tensor->dtype == b.dtype) {
      uploaded = loom_device_upload(model->device, pointer, stored, bytes);
    } else if (DeviceConverter::handles(tensor->dtype, b.dtype)) {
      uploaded = converter.convert(stored, count, tensor->dtype, b.dtype, pointer);
    } else {
      std::string converted =
          convert(std::string(stored, storedBytes), tensor->dtype, b.dtype);
      uploaded = loom_device_upload(model->device, pointer, converted.data(), bytes);
    }
    if (uploaded)
      return uploaded;
    doneBytes += tensor->fileEnd - tensor->fileBegin;
    if (progress)
      progress(user, ++done, model->weights.size(), doneBytes, totalBytes);
  }
  return nullptr;
}

} // extern "C"

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
                       loom_host_tensor_t *hostOutputs, loom_device_tensor_t *deviceOutputs,
                       size_t num_outputs) {
  if (num_outputs != model->outputs.size() || (!hostOutputs && !deviceOutputs))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_run: the model has " +
                          std::to_string(model ? model->outputs.size() : 0) +
                          " outputs; pass that many output slots");
  if (model->weightMemory.size() != model->weights.size())
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
  // Lay the buffers that are not weights out in one arena by liveness: the live ranges
  // are the model's, the sizes this run's.
  std::vector<BufferLife> lives = model->lives;
  const std::vector<bool> &used = model->used;
  for (size_t i = 0; i < model->buffers.size(); ++i) {
    const Buffer &b = model->buffers[i];
    if (b.weight || !used[i])
      continue;
    std::vector<int64_t> shape;
    if (loom_status_t s =
            model->shape(b.shape, "buffer " + std::to_string(i), sizes, nullptr, shape))
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
  std::vector<uint64_t> memory(model->buffers.size(), 0);
  for (size_t i = 0; i < model->buffers.size(); ++i)
    memory[i] = model->buffers[i].weight ? model->weightMemory[static_cast<int>(i)]
                                         : model->arena + plan.offsets[i];
  for (auto &[buffer, pointer] : inPlace)
    memory[buffer] = pointer;
  phase("(host) memory plan");
  for (auto &[buffer, bytes] : uploads)
    if (loom_status_t s =
            loom_device_upload(model->device, memory[buffer], bytes.data(), bytes.size()))
      return s;
  phase("(host) upload inputs");
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
  for (const Launch &launch : model->launches) {
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
      grid[d] = static_cast<uint32_t>(blocks);
    }
    if (model->profiling && !events.empty())
      if (loom_status_t s = loom_event_record(events[step]))
        return s;
    if (loom_status_t s =
            loom_module_launch_shared(launch.module, launch.kernel.c_str(), grid,
                                      launch.threads, launch.shared, args.data())) {
      return s;
    }
    ++step;
  }
  phase("(host) launch kernels");
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
      float ms = 0;
      if (loom_status_t s = loom_event_elapsed_ms(events[i], events[i + 1], &ms))
        return s;
      auto &[launches, total] = model->profile[model->launches[i].kernel];
      ++launches;
      total += ms;
    }
  }
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
      if ((s = loom_device_alloc(model->device, bytes, &out.pointer)))
        return s;
      out.bytes = bytes;
      if ((s = loom_device_copy(model->device, out.pointer, memory[port.buffer], bytes))) {
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
    if ((s = loom_device_download(model->device, out.data, memory[port.buffer], out.bytes)))
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
    given.push_back(Tensor{inputs[i].name, inputs[i].dtype, inputs[i].rank, inputs[i].shape,
                           inputs[i].bytes, inputs[i].data ? inputs[i].data : "", 0});
  return runModel(model, given, outputs, nullptr, num_outputs);
}

loom_status_t loom_model_run_device(loom_model_t model, const loom_device_tensor_t *inputs,
                                    size_t num_inputs, loom_device_tensor_t *outputs,
                                    size_t num_outputs) {
  if (!model || (num_inputs && !inputs) || !outputs)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_run_device: model, inputs and output slots are required");
  std::vector<Tensor> given;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!inputs[i].pointer)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        std::string("device input '") +
                            (inputs[i].name ? inputs[i].name : "?") + "' has no pointer");
    given.push_back(Tensor{inputs[i].name, inputs[i].dtype, inputs[i].rank, inputs[i].shape,
                           inputs[i].bytes, nullptr, inputs[i].pointer});
  }
  return runModel(model, given, nullptr, outputs, num_outputs);
}

loom_status_t loom_model_set_profiling(loom_model_t model, int on) {
  if (!model)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, "loom_model_set_profiling: model is null");
  model->profiling = on != 0;
  model->profile.clear();
  return nullptr;
}

const char *loom_model_profile(loom_model_t model) {
  if (!model)
    return "";
  std::vector<std::pair<std::string, std::pair<int64_t, double>>> rows(
      model->profile.begin(), model->profile.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto &a, const auto &b) { return a.second.second > b.second.second; });
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
      std::snprintf(line, sizeof line, " %6.1f%%", total > 0 ? 100.0 * entry.second / total : 0.0);
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
