//===- QuantizedUpload.cpp - Quantized weights into the kernels' layout ----===//
//
// A quantized weight part is read from the checkpoint in its own format (GPTQ, AWQ,
// compressed-tensors) or quantized from its float weight (`rtn`), unpacked and checked
// by loom/support/Quantization.h, repacked into the layout Loom's kernels read
// (codes, scales, zeros or mins, permutation) and uploaded at its rows of each buffer.
// Kernels never read a checkpoint's own packing.
//
//===----------------------------------------------------------------------===//

#include "ModelState.h"
#include "Status.h"

namespace loom::rt {

std::string parseQuantizedPart(const json::Value &entry, size_t buffers, WeightPart &part) {
  const json::Value *quant = entry.get("quant");
  QuantEncoding e;
  auto text = [&](const char *key) -> std::string {
    const json::Value *v = quant->get(key);
    return v && v->isString() ? v->asString() : std::string();
  };
  const json::Value *group = quant->get("group");
  const json::Value *permuted = quant->get("permuted");
  if (!quant->isObject() || !parseQuantElement(text("code"), e.element) ||
      !parseQuantOffset(text("offset"), e.offset) ||
      !parseQuantSource(text("source"), e.source) ||
      !parseDType(text("scale"), e.scaleType) || !group || !group->isInteger() ||
      (permuted && !permuted->isBool()))
    return "the quantized weight '" + part.name + "' has a malformed encoding";
  e.groupSize = group->asInteger();
  e.permuted = permuted && permuted->asBool();
  const json::Value *shape = entry.get("shape");
  const json::Value *row = entry.get("row");
  if (!shape || !shape->isArray() || shape->asArray().size() != 2 || !row ||
      !row->isInteger() || row->asInteger() < 0)
    return "the quantized weight '" + part.name + "' needs a row and a [rows, K] shape";
  for (const json::Value &d : shape->asArray()) {
    if (!d.isInteger() || d.asInteger() <= 0)
      return "the quantized weight '" + part.name + "' has a malformed shape";
    part.shape.push_back(d.asInteger());
  }
  if (std::string why = checkQuantEncoding(e, part.shape[1]); !why.empty())
    return "the quantized weight '" + part.name + "': " + why;
  part.row = row->asInteger();
  part.quant = e;
  struct Role {
    const char *key;
    int *buffer;
    bool wanted;
  } roles[] = {{"scales", &part.scales, true},
               {"zeros", &part.zeros, e.offset == QuantOffset::Zero},
               {"mins", &part.mins, e.offset == QuantOffset::Min},
               {"perm", &part.perm, e.permuted}};
  for (const Role &role : roles) {
    const json::Value *b = entry.get(role.key);
    if (!role.wanted)
      continue;
    if (!b || !b->isInteger() || b->asInteger() < 0 ||
        b->asInteger() >= static_cast<int64_t>(buffers))
      return "the quantized weight '" + part.name + "' lacks its " + role.key + " buffer";
    *role.buffer = static_cast<int>(b->asInteger());
  }
  return {};
}

} // namespace loom::rt

using namespace loom;
using namespace loom::rt;

loom_status_t loom_model_s::bindQuantized(const WeightPart &part, const TensorReader &reader) {
  QuantizedWeight weight;
  std::string error;
  if (!loadQuantizedWeight(reader, part.name, *part.quant, part.shape[0], part.shape[1],
                           weight, error))
    return makeStatus(LOOM_STATUS_INVALID_ARGUMENT, error);
  KernelWeightLayout layout = repackForKernels(weight);
  const std::pair<int, const std::string *> pieces[] = {{part.buffer, &layout.codes},
                                                        {part.scales, &layout.scales},
                                                        {part.zeros, &layout.zeros},
                                                        {part.mins, &layout.mins},
                                                        {part.perm, &layout.perm}};
  for (auto [buffer, bytes] : pieces) {
    if (buffer < 0)
      continue;
    const Buffer &b = buffers[buffer];
    std::map<std::string, int64_t> none;
    std::vector<int64_t> dims;
    if (loom_status_t s = shape(b.shape, "weight '" + part.name + "'", none, nullptr, dims))
      return s;
    uint64_t total = static_cast<uint64_t>(count(dims)) * dtypeSize(b.dtype);
    // Each buffer holds the rows of every part stacked into it; the permutation has
    // one row, so it belongs to an unstacked weight.
    uint64_t rowBytes = buffer == part.perm ? total : total / static_cast<uint64_t>(dims[0]);
    uint64_t at = buffer == part.perm ? 0 : static_cast<uint64_t>(part.row) * rowBytes;
    if (at + bytes->size() > total)
      return makeStatus(LOOM_STATUS_INVALID_ARGUMENT,
                        "weight '" + part.name + "' does not fit the buffers it was compiled "
                        "for (" + std::to_string(bytes->size()) + " bytes at " +
                            std::to_string(at) + " of " + std::to_string(total) + ")");
    uint64_t base = 0;
    if (auto it = weightMemory.find(buffer); it != weightMemory.end())
      base = it->second;
    else if (loom_status_t s = loom_device_alloc(device, total, &base))
      return s;
    weightMemory[buffer] = base;
    if (loom_status_t s = loom_device_upload(device, base + at, bytes->data(), bytes->size()))
      return s;
  }
  return nullptr;
}
