//===- Checkpoint.cpp - The tensors of a Hugging Face model folder ---------===//

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <map>
#include <memory>
#include <sys/stat.h>

namespace loom {

namespace {

/// Whether `path` names anything; reading it then says what is wrong if it is not a
/// regular file (a pipe or a device in place of a shard).
bool fileExists(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

/// Files of `folder` whose names end with one of `suffixes`.
std::vector<std::string> filesEndingWith(const std::string &folder,
                                         std::initializer_list<std::string_view> suffixes) {
  std::vector<std::string> found;
  std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(folder.c_str()), &::closedir);
  if (!dir)
    return found;
  while (dirent *item = ::readdir(dir.get())) {
    std::string_view name(item->d_name);
    for (std::string_view suffix : suffixes)
      if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix)
        found.emplace_back(name);
  }
  return found;
}

std::string realPath(const std::string &path) {
  char buffer[PATH_MAX];
  return ::realpath(path.c_str(), buffer) ? std::string(buffer) : std::string();
}

} // namespace

bool resolveInside(const std::string &folder, const std::string &relative,
                   std::string_view what, std::string &resolved, std::string &error) {
  auto refuse = [&](const std::string &why) {
    error = std::string(what) + " '" + relative + "' is refused: " + why;
    return false;
  };
  if (relative.empty())
    return refuse("the name is empty");
  if (relative.front() == '/')
    return refuse("absolute paths are not allowed; files must lie inside the model folder");
  size_t start = 0;
  while (start <= relative.size()) {
    size_t end = relative.find('/', start);
    if (end == std::string::npos)
      end = relative.size();
    if (relative.compare(start, end - start, "..") == 0)
      return refuse("'..' leads out of the model folder");
    start = end + 1;
  }
  std::string root = realPath(folder);
  std::string target = realPath(folder + "/" + relative);
  if (root.empty())
    return refuse("the model folder '" + folder + "' does not exist");
  if (target.empty())
    return refuse("no such file in " + folder);
  if (target.compare(0, root.size() + 1, root + "/") != 0)
    return refuse("it is a link to '" + target + "', outside the model folder");
  resolved = target;
  return true;
}

bool Checkpoint::open(const std::string &folder, std::string &error) {
  shards_.clear();
  std::vector<std::string> shardNames;
  std::map<std::string, std::string> weightMap;
  const std::string indexPath = folder + "/model.safetensors.index.json";
  if (fileExists(indexPath)) {
    std::string text, why;
    json::Value index;
    if (!readTextFile(indexPath, text, error))
      return false;
    if (!json::parse(text, index, why)) {
      error = indexPath + ": not valid JSON: " + why;
      return false;
    }
    const json::Value *map = index.get("weight_map");
    if (!map || !map->isObject()) {
      error = indexPath + ": needs a \"weight_map\" object";
      return false;
    }
    for (const auto &[name, file] : map->asObject()) {
      if (!file.isString()) {
        error = indexPath + ": weight_map entry '" + name + "' is not a file name";
        return false;
      }
      weightMap[name] = file.asString();
      bool known = false;
      for (const std::string &shard : shardNames)
        known |= shard == file.asString();
      if (!known)
        shardNames.push_back(file.asString());
    }
  } else if (fileExists(folder + "/model.safetensors")) {
    shardNames.push_back("model.safetensors");
  } else {
    std::vector<std::string> pickles = filesEndingWith(folder, {".bin", ".pt", ".pth"});
    if (!pickles.empty()) {
      error = folder + " holds only pickle checkpoints (" + pickles.front() +
              "); Loom never reads them because loading a pickle can run arbitrary code. "
              "Convert the model to safetensors, e.g. in Python: "
              "AutoModel.from_pretrained(path).save_pretrained(out, safe_serialization=True)";
    } else {
      error = folder + " has no model.safetensors or model.safetensors.index.json";
    }
    return false;
  }
  for (const std::string &name : shardNames) {
    std::string path;
    if (!resolveInside(folder, name, "checkpoint shard", path, error))
      return false;
    SafetensorsHeader header;
    if (!readSafetensorsHeader(path, header, error))
      return false;
    shards_.push_back(std::move(header));
  }
  // Every tensor lives in exactly one shard, and where the index says it does.
  std::map<std::string, std::string> owner;
  for (const SafetensorsHeader &shard : shards_) {
    for (const TensorInfo &tensor : shard.tensors) {
      auto [it, inserted] = owner.emplace(tensor.name, shard.path);
      if (!inserted) {
        error = "tensor '" + tensor.name + "' appears in two shards: " + it->second +
                " and " + shard.path;
        return false;
      }
    }
  }
  for (const auto &[name, file] : weightMap) {
    if (!owner.count(name)) {
      error = "model.safetensors.index.json lists '" + name + "' in " + file +
              ", but no shard holds it";
      return false;
    }
  }
  return true;
}

const TensorInfo *Checkpoint::find(std::string_view name) const {
  for (const SafetensorsHeader &shard : shards_)
    if (const TensorInfo *tensor = shard.find(name))
      return tensor;
  return nullptr;
}

const SafetensorsHeader &Checkpoint::shardOf(const TensorInfo &tensor) const {
  for (const SafetensorsHeader &shard : shards_)
    if (&tensor >= shard.tensors.data() && &tensor < shard.tensors.data() + shard.tensors.size())
      return shard;
  return shards_.front();
}

size_t Checkpoint::numTensors() const {
  size_t count = 0;
  for (const SafetensorsHeader &shard : shards_)
    count += shard.tensors.size();
  return count;
}

uint64_t Checkpoint::totalBytes() const {
  uint64_t bytes = 0;
  for (const SafetensorsHeader &shard : shards_)
    for (const TensorInfo &tensor : shard.tensors)
      bytes += tensor.fileEnd - tensor.fileBegin;
  return bytes;
}

} // namespace loom
