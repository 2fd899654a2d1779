//===- DeviceLibrary.h - CUDA files placed into kernels.cu --------*- C++ -*-===//
//
// Device code that does not depend on the IR lives in real CUDA files,
// compiler/codegen/cuda/device/*.cuh: the helpers every kernel may use and the kernel
// skeletons (templates a kernel instantiates in its `extern "C"` wrapper). The build
// embeds them (EmbedDeviceFiles.cmake writes DeviceFiles.inc), and kernels.cu holds the
// text of each file its kernels require once, ahead of the kernels, so NVRTC compiles
// an artifact with nothing else and the kernel cache's key (the source's bytes) covers
// every template edit. MLIR-free.
//
// A new skeleton: add device/<name>.cuh (a `//===-` header block, then the code) to
// LOOM_DEVICE_FILES in compiler/CMakeLists.txt after the files it uses, call
// `require("<name>.cuh")` in the KernelWriter method that uses it, and have the kernel's
// code call the template with its parameters (docs/codegen.md, "Kernel skeletons").
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_DEVICELIBRARY_H
#define LOOM_COMPILER_CODEGEN_CUDA_DEVICELIBRARY_H

#include <string>
#include <string_view>
#include <vector>

namespace loom::cuda {

/// One file of compiler/codegen/cuda/device/, embedded at build time.
struct DeviceFile {
  /// Its name in device/ ("prelude.cuh").
  std::string_view name;
  /// The line of the .cuh that `text` starts on.
  int firstLine;
  /// What kernels.cu holds of it: the file less its header block (which documents it
  /// for the reader).
  std::string_view text;
};

/// Every device file, in the order kernels.cu places them (LOOM_DEVICE_FILES: a file
/// comes after those it uses).
const std::vector<DeviceFile> &deviceFiles();

/// The device file `name` ("wgmma.cuh"); nullptr if there is none.
const DeviceFile *findDeviceFile(std::string_view name);

/// The text kernels.cu holds of device file `name`; empty if there is none.
std::string_view deviceSource(std::string_view name);

/// Whether kernels.cu places `file` as it did before device/ existed: its bare text,
/// without the #line directives that point NVRTC's errors at the .cuh. True for the
/// helpers that moved there from the emitter's strings (prelude.cuh, tensor_core.cuh,
/// wgmma.cuh), whose text artifacts pin byte for byte until their kernels move with a
/// GPU run; every other file is marked.
bool placedBare(const DeviceFile &file);

/// The device files a module's kernels require, each placed once.
class DeviceFileSet {
public:
  /// Adds device file `name`; a name LOOM_DEVICE_FILES does not list is a bug in the
  /// compiler, which aborts with a message.
  void require(std::string_view name);
  /// Adds every file `other` requires.
  void merge(const DeviceFileSet &other);
  bool contains(std::string_view name) const;
  /// Whether a file other than prelude.cuh is required: those may use __half and
  /// __nv_bfloat16, so kernels.cu then includes cuda_fp16.h and cuda_bf16.h first.
  bool needsFloat16Headers() const;
  /// Appends the text of each required file to `out`, in deviceFiles() order. `out`
  /// holds kernels.cu so far (whole lines), which the `#line` directive after a marked
  /// file needs to number the line after it as kernels.cu's.
  void write(std::string &out) const;

private:
  /// Indexed like deviceFiles().
  std::vector<bool> required_;
};

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_DEVICELIBRARY_H
