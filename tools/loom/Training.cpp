//===- Training.cpp - What `loom grad` and `loom train` share --------------===//

#include "Training.h"
#include "Commands.h"
#include "compiler/reference/Kernels.h"

#include "loom/support/Safetensors.h"

namespace loom::cli {

using reference::ElementType;
using reference::Tensor;

std::unique_ptr<reference::Executor>
openGradEntry(const std::string &model, ImportOptions options,
              const std::map<std::string, Tensor> &memory, std::string &error) {
  options.entry = "grad";
  ImportResult imported;
  if (!importModel(model, options, imported, error))
    return nullptr;
  std::unique_ptr<reference::WeightSource> checkpoint =
      reference::openWeights(model, error);
  if (!checkpoint)
    return nullptr;
  return reference::Executor::create(
      imported.ir, reference::memoryWeights(memory, std::move(checkpoint)), error);
}

bool readAdapter(const std::string &folder, LoraConfig &config,
                 std::map<std::string, Tensor> &tensors, std::string &error) {
  return readLoraConfig(folder, config, error) &&
         readAllTensors(folder + "/adapter_model.safetensors", tensors, error);
}

bool writeAdapter(FolderOutput &folder, const LoraConfig &config,
                  const std::string &baseModel,
                  const std::vector<std::pair<std::string, const Tensor *>> &tensors,
                  std::string &error) {
  return writeTensors(folder.staged("adapter_model.safetensors"), tensors, error) &&
         folder.write("adapter_config.json", loraConfigJson(config, baseModel), error);
}

bool readAllTensors(const std::string &path, std::map<std::string, Tensor> &out,
                    std::string &error) {
  SafetensorsHeader header;
  if (!readSafetensorsHeader(path, header, error))
    return false;
  std::map<std::string, ElementType> wanted;
  for (const TensorInfo &info : header.tensors)
    wanted[info.name] = dtypeIsFloat(info.dtype) ? ElementType::F32 : ElementType::I64;
  return readNamedTensors(path, wanted, out, error);
}

bool readBatch(const std::vector<std::string> &paths, const reference::Executor &executor,
               std::map<std::string, Tensor> &batch, std::string &error) {
  std::map<std::string, ElementType> types;
  for (const reference::Port &port : executor.inputs())
    types[port.name] = port.type;
  for (const std::string &path : paths)
    if (!readNamedTensors(path, types, batch, error))
      return false;
  return true;
}

bool writeTensors(const std::string &path,
                  const std::vector<std::pair<std::string, const Tensor *>> &tensors,
                  std::string &error) {
  std::vector<TensorBytes> written;
  for (const auto &[name, tensor] : tensors) {
    Tensor out = tensor->isFloat() ? reference::cast(*tensor, ElementType::F32)
                                   : reference::cast(*tensor, ElementType::I64);
    written.push_back(
        {name, reference::safetensorsType(out.type), out.shape, reference::toBytes(out)});
  }
  return writeSafetensors(path, written, error);
}

int64_t countedTokens(const Tensor &labels, int64_t begin, int64_t end) {
  int64_t seq = labels.shape.size() == 2 ? labels.shape[1] : 0, count = 0;
  for (int64_t b = begin; b < end; ++b)
    for (int64_t t = 1; t < seq; ++t)
      count += labels.ints[b * seq + t] != -100;
  return count;
}

Tensor sliceRows(const Tensor &x, int64_t begin, int64_t end) {
  reference::Shape shape = x.shape;
  int64_t row = x.numElements() / shape[0];
  shape[0] = end - begin;
  Tensor out = Tensor::zeros(x.type, shape);
  if (x.isFloat())
    std::copy(x.floats.begin() + begin * row, x.floats.begin() + end * row,
              out.floats.begin());
  else
    std::copy(x.ints.begin() + begin * row, x.ints.begin() + end * row, out.ints.begin());
  return out;
}


namespace {

} // namespace

bool runGradients(reference::Executor &executor,
                  const std::map<std::string, Tensor> &batch, int microBatches,
                  std::vector<Tensor> &outputs, std::string &error) {
  if (microBatches <= 1)
    return executor.run(batch, outputs, error);
  auto labels = batch.find("labels");
  if (labels == batch.end() || labels->second.shape.size() != 2) {
    error = "micro-batches split a batch by its `labels` [batch, seq], which it lacks";
    return false;
  }
  int64_t rows = labels->second.shape[0];
  if (microBatches > rows) {
    error = std::to_string(microBatches) + " micro-batches of a batch of " +
            std::to_string(rows) + " rows";
    return false;
  }
  int64_t total = countedTokens(labels->second, 0, rows);
  if (total == 0) {
    error = "the batch has no counted label";
    return false;
  }
  std::vector<Tensor> sums;
  int64_t begin = 0;
  for (int part = 0; part < microBatches; ++part) {
    int64_t end = begin + rows / microBatches + (part < rows % microBatches ? 1 : 0);
    int64_t counted = countedTokens(labels->second, begin, end);
    if (counted > 0) { // a part without labels adds nothing (its own mean is 0/0)
      std::map<std::string, Tensor> slice;
      for (const auto &[name, tensor] : batch)
        slice[name] = sliceRows(tensor, begin, end);
      std::vector<Tensor> part;
      if (!executor.run(slice, part, error))
        return false;
      double weight = static_cast<double>(counted) / static_cast<double>(total);
      if (sums.empty()) {
        sums = part;
        for (Tensor &t : sums)
          std::fill(t.floats.begin(), t.floats.end(), 0.0);
      }
      for (size_t i = 0; i < part.size(); ++i)
        for (size_t j = 0; j < part[i].floats.size(); ++j)
          sums[i].floats[j] = reference::roundTo(
              ElementType::F32, sums[i].floats[j] + weight * part[i].floats[j]);
    }
    begin = end;
  }
  outputs = std::move(sums);
  return true;
}

} // namespace loom::cli
