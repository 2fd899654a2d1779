//===- Weights.cpp - Weight sources of the reference executor --------------===//

#include "compiler/import/onnx/OnnxTensor.h"
#include "compiler/reference/Kernels.h"
#include "compiler/reference/Reference.h"

#include "loom/support/Checkpoint.h"

#include <sys/stat.h>

namespace loom::reference {

WeightSource::~WeightSource() = default;

bool WeightSource::loadQuantized(const std::string &name, const QuantEncoding &encoding,
                                 int64_t n, int64_t k, QuantizedWeight &out,
                                 std::string &error) {
  if (encoding.source != QuantSource::Rtn) {
    error = "weight '" + name + "' is stored as " + quantSourceName(encoding.source) +
            ", which only a safetensors checkpoint holds";
    return false;
  }
  Tensor weight;
  if (!load(name, ElementType::F32, Shape{n, k}, weight, error))
    return false;
  std::vector<float> values(weight.floats.begin(), weight.floats.end());
  if (!quantizeRoundToNearest(values.data(), n, k, encoding, out, error)) {
    error = "weight '" + name + "': " + error;
    return false;
  }
  return true;
}

namespace {

std::string shapeText(const Shape &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// Weights from safetensors files: one file, or a folder's (possibly sharded) checkpoint.
class SafetensorsWeights : public WeightSource {
public:
  bool open(const std::string &path, bool isFolder, std::string &error) {
    if (isFolder)
      return checkpoint_.open(path, error);
    SafetensorsHeader header;
    if (!readSafetensorsHeader(path, header, error))
      return false;
    single_ = std::move(header);
    return true;
  }

  bool load(const std::string &name, ElementType type, const Shape &shape, Tensor &out,
            std::string &error) override {
    const TensorInfo *info = single_.path.empty() ? checkpoint_.find(name) : single_.find(name);
    if (!info) {
      error = "weight '" + name + "' is not in the checkpoint";
      return false;
    }
    if (info->shape != shape) {
      error = "weight '" + name + "' has shape " + shapeText(info->shape) +
              " in the checkpoint, the IR expects " + shapeText(shape);
      return false;
    }
    const SafetensorsHeader &file = single_.path.empty() ? checkpoint_.shardOf(*info) : single_;
    std::string bytes, why;
    if (!readTensorBytes(file, *info, bytes, error))
      return false;
    if (!fromBytes(info->dtype, bytes, shape, type, out, why)) {
      error = "weight '" + name + "': " + why;
      return false;
    }
    return true;
  }

  bool loadQuantized(const std::string &name, const QuantEncoding &encoding, int64_t n,
                     int64_t k, QuantizedWeight &out, std::string &error) override {
    if (!single_.path.empty())
      return loadQuantizedWeight(SafetensorsFileReader(single_), name, encoding, n, k, out,
                                 error);
    return loadQuantizedWeight(CheckpointReader(checkpoint_), name, encoding, n, k, out,
                               error);
  }

private:
  Checkpoint checkpoint_;
  SafetensorsHeader single_;
};

/// Named tensors in memory before a fallback source.
class MemoryWeights : public WeightSource {
public:
  MemoryWeights(const std::map<std::string, Tensor> &tensors,
                std::unique_ptr<WeightSource> fallback)
      : tensors_(tensors), fallback_(std::move(fallback)) {}

  bool load(const std::string &name, ElementType type, const Shape &shape, Tensor &out,
            std::string &error) override {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      if (fallback_)
        return fallback_->load(name, type, shape, out, error);
      error = "weight '" + name + "' is not among the tensors in memory";
      return false;
    }
    if (it->second.shape != shape) {
      error = "weight '" + name + "' has shape " + shapeText(it->second.shape) +
              " in memory, the IR expects " + shapeText(shape);
      return false;
    }
    out = it->second.type == type ? it->second : cast(it->second, type);
    return true;
  }

  bool loadQuantized(const std::string &name, const QuantEncoding &encoding, int64_t n,
                     int64_t k, QuantizedWeight &out, std::string &error) override {
    if (!tensors_.count(name) && fallback_)
      return fallback_->loadQuantized(name, encoding, n, k, out, error);
    return WeightSource::loadQuantized(name, encoding, n, k, out, error);
  }

private:
  const std::map<std::string, Tensor> &tensors_;
  std::unique_ptr<WeightSource> fallback_;
};

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::unique_ptr<WeightSource>
memoryWeights(const std::map<std::string, Tensor> &tensors,
              std::unique_ptr<WeightSource> fallback) {
  return std::make_unique<MemoryWeights>(tensors, std::move(fallback));
}

std::unique_ptr<WeightSource> openWeights(const std::string &path, std::string &error) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    error = path + ": no such file or folder";
    return nullptr;
  }
  if (endsWith(path, ".onnx"))
    return onnximport::openOnnxWeights(path, error);
  bool isFolder = S_ISDIR(info.st_mode);
  if (!isFolder && !endsWith(path, ".safetensors")) {
    error = path + ": weights come from a Hugging Face folder, a .safetensors file or an "
                   ".onnx file";
    return nullptr;
  }
  auto source = std::make_unique<SafetensorsWeights>();
  if (!source->open(path, isFolder, error))
    return nullptr;
  return source;
}

} // namespace loom::reference
