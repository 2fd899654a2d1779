//===- Files.h - Every file Loom reads or writes goes through here -*- C++ -*-===//
//
// Inputs are opened non-blocking (a named pipe never hangs Loom), must be regular files
// (a link to /dev/zero is refused) and are read up to a limit that suits their kind.
// Outputs are written beside their target and renamed into place, so a failure never
// leaves a half-written output, and Loom never removes a path it did not create.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_FILES_H
#define LOOM_SUPPORT_FILES_H

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

/// Limits on what Loom reads into memory whole, by kind of file.
constexpr uint64_t kJsonFileLimit = 256ull << 20;   // config, tokenizer, manifests
constexpr uint64_t kSourceFileLimit = 1ull << 30;   // IR text, CUDA source

/// Opens `path` for reading without blocking and checks that it is a regular file.
/// Returns the descriptor (blocking again) and its size, or -1 with `error` set.
int openInputFile(const std::string &path, uint64_t &size, std::string &error);

/// Reads the whole of a regular file of at most `limit` bytes into `out`.
bool readTextFile(const std::string &path, std::string &out, std::string &error,
                  uint64_t limit = kJsonFileLimit);

/// Writes `path` whole or not at all: `body` writes into a new file beside it, which
/// then replaces `path` by a rename. `path` must be absent or a regular file.
bool writeFileAtomically(const std::string &path,
                         const std::function<bool(FILE *)> &body, std::string &error);
/// writeFileAtomically() of a byte string.
bool writeFileAtomically(const std::string &path, std::string_view bytes,
                         std::string &error);

/// An output folder that appears whole or not at all. Files are written into a staging
/// folder beside the destination; commit() moves it into place. The destination must be
/// absent, an empty folder, or a folder this kind of output made before: its `marker`
/// file is JSON whose "format" is `format`, and every entry it holds is one of
/// `ownNames`. Anything else is refused with a message naming the path, so user data is
/// never removed. Without commit(), the destructor removes what was staged.
class FolderOutput {
public:
  FolderOutput() = default;
  FolderOutput(const FolderOutput &) = delete;
  FolderOutput &operator=(const FolderOutput &) = delete;
  ~FolderOutput();

  bool open(const std::string &dir, const std::string &marker, const std::string &format,
            std::vector<std::string> ownNames, std::string &error);
  /// What open() checks, without creating anything: lets a command refuse a bad
  /// destination before it spends time on the output.
  static bool mayReplace(const std::string &dir, const std::string &marker,
                         const std::string &format,
                         const std::vector<std::string> &ownNames, std::string &error);
  /// Where a file called `name` is staged (for writers that take a path).
  std::string staged(const std::string &name) const;
  /// Stages `bytes` as the file `name`.
  bool write(const std::string &name, std::string_view bytes, std::string &error);
  /// Moves the staged folder into place, replacing the previous output if any.
  bool commit(std::string &error);

private:
  std::string dir_, staging_;
  std::vector<std::string> ownNames_;
  bool committed_ = false;
};

} // namespace loom

#endif // LOOM_SUPPORT_FILES_H
