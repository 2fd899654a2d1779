//===- DeviceLibrary.cpp - CUDA files placed into kernels.cu --------------===//
//
// The embedded device files and the set a module's kernels require (see the header).
//
//===----------------------------------------------------------------------===//

#include "compiler/codegen/cuda/DeviceLibrary.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace loom::cuda {

const std::vector<DeviceFile> &deviceFiles() {
  static const std::vector<DeviceFile> files = {
#include "compiler/codegen/cuda/DeviceFiles.inc"
  };
  return files;
}

const DeviceFile *findDeviceFile(std::string_view name) {
  for (const DeviceFile &file : deviceFiles())
    if (file.name == name)
      return &file;
  return nullptr;
}

std::string_view deviceSource(std::string_view name) {
  const DeviceFile *file = findDeviceFile(name);
  return file ? file->text : std::string_view();
}

bool placedBare(const DeviceFile &file) {
  return file.name == "prelude.cuh" || file.name == "tensor_core.cuh" ||
         file.name == "wgmma.cuh";
}

void DeviceFileSet::require(std::string_view name) {
  const std::vector<DeviceFile> &files = deviceFiles();
  for (size_t i = 0; i < files.size(); ++i)
    if (files[i].name == name) {
      required_.resize(files.size());
      required_[i] = true;
      return;
    }
  // A writer asking for a file the build did not embed is a bug in the compiler.
  std::fprintf(stderr, "loom: no device file '%.*s' (LOOM_DEVICE_FILES)\n",
               static_cast<int>(name.size()), name.data());
  std::abort();
}

void DeviceFileSet::merge(const DeviceFileSet &other) {
  required_.resize(std::max(required_.size(), other.required_.size()));
  for (size_t i = 0; i < other.required_.size(); ++i)
    if (other.required_[i])
      required_[i] = true;
}

bool DeviceFileSet::contains(std::string_view name) const {
  const std::vector<DeviceFile> &files = deviceFiles();
  for (size_t i = 0; i < required_.size(); ++i)
    if (required_[i] && files[i].name == name)
      return true;
  return false;
}

bool DeviceFileSet::needsFloat16Headers() const {
  const std::vector<DeviceFile> &files = deviceFiles();
  for (size_t i = 0; i < required_.size(); ++i)
    if (required_[i] && files[i].name != "prelude.cuh")
      return true;
  return false;
}

void DeviceFileSet::write(std::string &out) const {
  const std::vector<DeviceFile> &files = deviceFiles();
  for (size_t i = 0; i < required_.size(); ++i) {
    if (!required_[i])
      continue;
    const DeviceFile &file = files[i];
    if (placedBare(file)) {
      out += file.text;
      continue;
    }
    // NVRTC's errors in the file name its lines in device/; the lines after it are
    // kernels.cu's again (numbered as in the whole file: a part of a split compile
    // shares this prelude, so its numbers hold up to the part's first kernel).
    out += "#line " + std::to_string(file.firstLine) +
           " \"compiler/codegen/cuda/device/" + std::string(file.name) + "\"\n";
    out += file.text;
    if (!out.empty() && out.back() != '\n')
      out += '\n';
    size_t lines = std::count(out.begin(), out.end(), '\n');
    out += "#line " + std::to_string(lines + 2) + " \"kernels.cu\"\n";
  }
}

} // namespace loom::cuda
