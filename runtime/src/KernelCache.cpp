//===- KernelCache.cpp - Compiled kernels on disk ---------------------------===//

#include "KernelCache.h"

#include "Status.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace loom::rt {

namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'C', 'B', 'N', '1'};

/// FNV-1a over `text`, from `seed`.
uint64_t fnv(const std::string &text, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

/// The cache directory, or "" when the cache is off or no home is known.
std::string cacheDir() {
  if (const char *dir = std::getenv("LOOM_CACHE_DIR"); dir && *dir)
    return std::string(dir) == "off" ? "" : dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/loom";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/loom";
  return "";
}

bool makeDirs(const std::string &path) {
  for (size_t at = 1; at <= path.size(); ++at)
    if (at == path.size() || path[at] == '/') {
      std::string prefix = path.substr(0, at);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
        return false;
    }
  return true;
}

/// The payload of a valid entry; false if absent or corrupt (`corrupt` says which).
bool readEntry(const std::string &path, std::string &payload, bool &corrupt) {
  corrupt = false;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string data = buffer.str();
  corrupt = true;
  if (data.size() < 24 || std::memcmp(data.data(), kMagic, 8) != 0)
    return false;
  uint64_t length, checksum;
  std::memcpy(&length, data.data() + 8, 8);
  std::memcpy(&checksum, data.data() + 16, 8);
  if (length != data.size() - 24)
    return false;
  payload = data.substr(24);
  if (fnv(payload, 14695981039346656037ULL) != checksum)
    return false;
  corrupt = false;
  return true;
}

bool writeEntry(const std::string &path, const std::string &payload) {
  // Unique per process and per write, so threads writing entries never share one.
  static std::atomic<unsigned> writes{0};
  std::string temporary =
      path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(writes++);
  {
    std::ofstream out(temporary, std::ios::binary);
    uint64_t length = payload.size(), checksum = fnv(payload, 14695981039346656037ULL);
    out.write(kMagic, 8);
    out.write(reinterpret_cast<const char *>(&length), 8);
    out.write(reinterpret_cast<const char *>(&checksum), 8);
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    if (!out) {
      std::remove(temporary.c_str());
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

} // namespace

bool compileCached(const std::string &source, const std::string &name,
                   const std::string &arch, CachedCompile &result, std::string &error) {
  result = CachedCompile{};
  std::string version = nvrtcVersion(error);
  if (version.empty())
    return false;
  std::string dir = cacheDir(), path;
  if (!dir.empty()) {
    // Two independent 64-bit hashes of everything the output depends on.
    std::string key = arch + "\n" + version + "\n" + nvrtcOptionsKey() + "\n" + source;
    path = dir + "/" + hex(fnv(key, 14695981039346656037ULL)) +
           hex(fnv(key, 0x9e3779b97f4a7c15ULL)) + "." + arch + ".cubin";
    bool corrupt = false;
    if (readEntry(path, result.binary, corrupt)) {
      result.hit = true;
      return true;
    }
    if (corrupt) {
      std::remove(path.c_str());
      result.note = "a corrupt cache entry was removed and rebuilt: " + path;
    }
  } else {
    result.note = "the kernel cache is off";
  }
  NvrtcOutput output;
  if (!compileCuda(source, name, arch, output, error))
    return false;
  result.binary = std::move(output.binary);
  if (!path.empty() && (!makeDirs(dir) || !writeEntry(path, result.binary)))
    result.note = "cannot write the kernel cache in " + dir;
  return true;
}

loom_status_t loadRuntimeKernels(loom_device_t device, const std::string &source,
                                 const std::string &name, const std::string &arch,
                                 const std::string &what, loom_module_t *module) {
  CachedCompile compiled;
  std::string error;
  if (!compileCached(source, name, arch, compiled, error))
    return makeStatus(LOOM_STATUS_INTERNAL, what + ": " + error);
  return loom_module_load(device, compiled.binary.data(), compiled.binary.size(), module);
}

} // namespace loom::rt
