//===- Checkpoint.h - The tensors of a Hugging Face model folder --*- C++ -*-===//
//
// A folder holds `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"weight_map": {"name": "shard file"}}). Shard names
// must stay inside the folder. Pickle checkpoints (`*.bin`, `*.pt`) are never read.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_CHECKPOINT_H
#define LOOM_SUPPORT_CHECKPOINT_H

#include "loom/support/Files.h"
#include "loom/support/Safetensors.h"

#include <string>
#include <string_view>
#include <vector>

namespace loom {

/// Every tensor of a model folder, with the shard that holds it.
class Checkpoint {
public:
  /// Opens the checkpoint of `folder`, reading every shard's header (not its data).
  bool open(const std::string &folder, std::string &error);

  /// The tensor called `name`, or null.
  const TensorInfo *find(std::string_view name) const;
  /// The shard holding a tensor returned by find().
  const SafetensorsHeader &shardOf(const TensorInfo &tensor) const;

  const std::vector<SafetensorsHeader> &shards() const { return shards_; }
  size_t numTensors() const;
  /// Sum of the tensors' bytes.
  uint64_t totalBytes() const;

private:
  std::vector<SafetensorsHeader> shards_;
};

/// Resolves `relative` inside `folder` and refuses anything that leaves it: absolute
/// paths, `..` components and symbolic links pointing outside. `what` names the file in
/// messages.
bool resolveInside(const std::string &folder, const std::string &relative,
                   std::string_view what, std::string &resolved, std::string &error);

} // namespace loom

#endif // LOOM_SUPPORT_CHECKPOINT_H
