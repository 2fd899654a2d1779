//===- Model.cpp - Loading a compiled artifact ------------------------------===//
//
// Reads manifest.json, compiles kernels.cu with NVRTC for the device (in parallel
// parts) and uploads weights from the memory-mapped checkpoint (converted to the
// compiled element type on the GPU). Running the launch sequence is ModelRun.cpp.
//
//===----------------------------------------------------------------------===//

#include "KernelCache.h"
#include "ModelState.h"
#include "Status.h"
#include "WeightUpload.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/MemoryPlan.h"
#include "loom/support/Safetensors.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <vector>

using namespace loom;
using namespace loom::rt;

namespace loom::rt {

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

bool parseDtypeName(const std::string &text, DType &out) {
  if (text == "BOOL") {
    out = DType::Bool;
    return true;
  }
  return parseDType(text, out);
}

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

} // namespace loom::rt

ProgrammaticLaunch loom_model_s::programmaticLaunch() const {
  const char *pdl = std::getenv("LOOM_PDL");
  std::string mode = pdl ? pdl : "";
  if (profiling || mode == "0")
    return ProgrammaticLaunch::Off;
  return mode == "early" ? ProgrammaticLaunch::Marked : ProgrammaticLaunch::SmallSteps;
}

loom_status_t loom_model_s::parse(const json::Value &manifest, const std::string &path) {
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
  if (const json::Value *declared = manifest.get("bounds"); declared && declared->isObject())
    for (const auto &[name, bound] : declared->asObject())
      if (bound.isInteger())
        bounds[name] = bound.asInteger();
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
    if (const json::Value *zeroed = b.get("zeroed")) {
      if (!zeroed->isBool())
        return bad("a buffer has a malformed \"zeroed\"");
      buffer.zeroed = zeroed->asBool();
      if (buffer.zeroed)
        for (const std::string &dim : buffer.shape)
          if (!evaluate(dim, {}))
            return bad("a zeroed buffer has a dimension of no fixed size: " + dim);
    }
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
      WeightPart part;
      const json::Value *name = w.get("name");
      if (!name || !name->isString() || !bufferIndex(w, part.buffer))
        return bad("a weight lacks a name or buffer");
      part.name = name->asString();
      if (w.get("quant")) {
        if (std::string why = parseQuantizedPart(w, buffers.size(), part); !why.empty())
          return bad(why);
        for (int b : {part.buffer, part.scales, part.zeros, part.mins, part.perm})
          if (b >= 0) {
            weightBuffers += !buffers[b].weight;
            buffers[b].weight = true;
          }
        weights.push_back(std::move(part));
        continue;
      }
      if (const json::Value *offset = w.get("offset")) {
        const json::Value *shape = w.get("shape");
        if (!offset->isInteger() || offset->asInteger() < 0 || !shape ||
            !shape->isArray())
          return bad("the stacked weight part '" + part.name +
                     "' needs an offset and a shape");
        part.stacked = true;
        part.offset = offset->asInteger();
        for (const json::Value &d : shape->asArray()) {
          if (!d.isInteger() || d.asInteger() < 0)
            return bad("the stacked weight part '" + part.name +
                       "' has a malformed shape");
          part.shape.push_back(d.asInteger());
        }
      }
      weightBuffers += !buffers[part.buffer].weight;
      buffers[part.buffer].weight = true;
      weights.push_back(std::move(part));
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
    if (const json::Value *when = l.get("when")) {
      const json::Value *name = when->get("name"), *min = when->get("min"),
                        *max = when->get("max");
      if (!name || !name->isString() || !min || !min->isInteger() || !max ||
          !max->isInteger())
        return bad("launch of " + launch.kernel + " has a malformed \"when\"");
      launch.when = {name->asString(), min->asInteger(), max->asInteger()};
    }
    if (const json::Value *early = l.get("early")) {
      if (!early->isBool())
        return bad("launch of " + launch.kernel + " has a malformed \"early\"");
      launch.early = early->asBool();
    }
    for (int d = 0; d < 3; ++d) {
      const json::Value &g = grid->asArray()[d];
      const json::Value *work = g.get("work"), *per = g.get("per"), *cap = g.get("cap");
      if (!work || !work->isString() || !per || !per->isInteger() ||
          per->asInteger() <= 0 || !cap || !cap->isInteger())
        return bad("launch of " + launch.kernel + " has a malformed grid");
      launch.grid[d] = {work->asString(), per->asInteger(), cap->asInteger()};
      if (const json::Value *perSm = g.get("per_sm")) {
        if (!perSm->isInteger() || perSm->asInteger() <= 0)
          return bad("launch of " + launch.kernel + " has a malformed \"per_sm\"");
        launch.grid[d].perSm = perSm->asInteger();
      }
    }
    for (const json::Value &a : args->asArray()) {
      if (!a.isInteger() || a.asInteger() < 0 ||
          a.asInteger() >= static_cast<int64_t>(buffers.size()))
        return bad("launch of " + launch.kernel + " names a buffer that does not exist");
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

loom_status_t loom_model_s::allocateZeroed() {
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!buffers[i].zeroed)
      continue;
    int64_t elements = 1;
    for (const std::string &dim : buffers[i].shape)
      elements *= *evaluate(dim, {});
    size_t bytes = static_cast<size_t>(std::max<int64_t>(elements, 1)) *
                   static_cast<size_t>(dtypeSize(buffers[i].dtype));
    uint64_t pointer = 0;
    if (loom_status_t s = loom_device_alloc(device, bytes, &pointer))
      return s;
    zeroedMemory[static_cast<int>(i)] = pointer;
    if (loom_status_t s = loom_device_zero(device, pointer, bytes))
      return s;
  }
  return nullptr;
}

loom_status_t loom_model_s::shape(const std::vector<std::string> &dims,
                                  const std::string &what,
                                  std::map<std::string, int64_t> &sizes,
                                  const int64_t *given, std::vector<int64_t> &out) {
  out.clear();
  for (size_t i = 0; i < dims.size(); ++i) {
    std::optional<int64_t> size = evaluate(dims[i], sizes);
    if (!size && given && isName(dims[i])) {
      sizes[dims[i]] = given[i];
      size = given[i];
    }
    if (!size)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        what + ": the size of dimension '" + dims[i] + "' is not known");
    if (given && *size != given[i])
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        what + ": dimension " + std::to_string(i) + " is " +
                            std::to_string(given[i]) + " but '" + dims[i] + "' is " +
                            std::to_string(*size));
    out.push_back(*size);
  }
  return nullptr;
}

extern "C" {

loom_status_t loom_model_load(loom_device_t device, const char *artifact,
                              loom_model_t *out_model) {
  if (!device || !artifact || !out_model)
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                      "loom_model_load: device, artifact and out_model are required");
  *out_model = nullptr;
  std::string dir = artifact, manifestText, source, error;
  if (!readTextFile(dir + "/manifest.json", manifestText, error) ||
      !readTextFile(dir + "/kernels.cu", source, error, kSourceFileLimit))
    return makeStatus(LOOM_STATUS_NOT_FOUND,
                      dir + " is not an artifact (no manifest.json or kernels.cu)");
  json::Value manifest;
  if (!json::parse(manifestText, manifest, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, dir + "/manifest.json: " + error);
  auto model = std::make_unique<loom_model_s>();
  model->device = device;
  if (loom_status_t status = model->parse(manifest, dir + "/manifest.json"))
    return status;
  if (loom_status_t status = model->allocateZeroed())
    return status;
  // Compile for this device.
  loom_device_info_t info;
  if (loom_status_t status = loom_device_info(loom_device_ordinal(device), &info))
    return status;
  std::string arch = "sm_" + std::to_string(info.compute_capability_major) +
                     std::to_string(info.compute_capability_minor) +
                     (info.compute_capability_major == 9 ? "a" : "");
  model->arch = arch;
  model->multiprocessors = info.multiprocessor_count;
  std::vector<CompiledPart> parts;
  if (!compileSplit(source, dir + "/kernels.cu", arch, 0, parts, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, error);
  model->cacheHit = true;
  std::map<std::string, loom_module_t> moduleOf;
  for (CompiledPart &part : parts) {
    model->cacheHit &= part.compiled.hit;
    if (!part.compiled.note.empty() &&
        model->cacheNote.find(part.compiled.note) == std::string::npos)
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
  CheckpointReader folderReader(checkpoint);
  SafetensorsFileReader fileReader(single);
  const TensorReader &reader =
      folder ? static_cast<const TensorReader &>(folderReader) : fileReader;
  // What a part reads: its tensor, or a quantized part's packed tensors.
  auto partBytes = [&](const WeightPart &part) {
    uint64_t bytes = 0;
    for (const std::string &name : part.quant ? quantTensorNames(part.name, *part.quant)
                                              : std::vector<std::string>{part.name})
      if (const TensorInfo *t = reader.find(name))
        bytes += t->fileEnd - t->fileBegin;
    return bytes;
  };
  for (const WeightPart &part : model->weights)
    totalBytes += partBytes(part);
  size_t done = 0;
  std::map<std::string, MappedFile> maps;
  DeviceConverter converter(model->device, model->arch);
  for (const WeightPart &part : model->weights) {
    if (part.quant) {
      if (loom_status_t s = model->bindQuantized(part, reader))
        return s;
      doneBytes += partBytes(part);
      if (progress)
        progress(user, ++done, model->weights.size(), doneBytes, totalBytes);
      continue;
    }
    const std::string &name = part.name;
    const int buffer = part.buffer;
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
    // A stacked part must match its own shape and lie inside its buffer.
    int64_t bufferElements = loom::rt::count(shape);
    if (part.stacked && (part.offset + loom::rt::count(part.shape) > bufferElements ||
                         part.shape.empty()))
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "weight '" + name + "' lies outside its stacked buffer");
    if ((part.stacked ? part.shape : shape) != tensor->shape)
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
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, file.path + ": the data of '" +
                                                          name +
                                                          "' lies past the file's end");
    const char *stored = map.data() + tensor->fileBegin;
    size_t storedBytes = tensor->fileEnd - tensor->fileBegin;
    size_t count = storedBytes / static_cast<size_t>(dtypeSize(tensor->dtype));
    size_t elementSize = static_cast<size_t>(dtypeSize(b.dtype));
    size_t bytes = count * elementSize;
    uint64_t base = 0;
    if (auto it = model->weightMemory.find(buffer); it != model->weightMemory.end())
      base = it->second;
    else if (loom_status_t s = loom_device_alloc(
                 model->device, static_cast<size_t>(bufferElements) * elementSize, &base))
      return s;
    model->weightMemory[buffer] = base;
    uint64_t pointer = base + static_cast<uint64_t>(part.offset) * elementSize;
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
