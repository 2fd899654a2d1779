//===- Files.cpp - Checked inputs and whole-or-nothing outputs --------------===//

#include "loom/support/Files.h"
#include "loom/support/Json.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace loom {

namespace {

std::string why() { return std::strerror(errno); }

/// A name beside `path` (same folder, so a rename stays on one file system) that no
/// other writer, thread or process, picks at the same time.
std::string besideName(const std::string &path, const char *what) {
  static std::atomic<unsigned> count{0};
  size_t slash = path.find_last_of('/');
  std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return folder + "." + base + "." + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(count++);
}

/// `path` without trailing slashes ("out/" and "out" name the same folder).
std::string trimmed(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  return path;
}

/// The entries of a folder, without "." and "..".
bool listFolder(const std::string &dir, std::vector<std::string> &names) {
  std::unique_ptr<DIR, int (*)(DIR *)> handle(::opendir(dir.c_str()), &::closedir);
  if (!handle)
    return false;
  while (dirent *item = ::readdir(handle.get())) {
    std::string name = item->d_name;
    if (name != "." && name != "..")
      names.push_back(name);
  }
  return true;
}

/// Removes the files `names` of `dir`, then `dir` itself (which must then be empty).
void removeOwned(const std::string &dir, const std::vector<std::string> &names) {
  for (const std::string &name : names)
    ::unlink((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}

} // namespace

int openInputFile(const std::string &path, uint64_t &size, std::string &error) {
  // O_NONBLOCK: opening a named pipe with no writer returns at once instead of waiting.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open the file: " + why();
    return -1;
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    bool folder = S_ISDIR(info.st_mode);
    ::close(fd);
    error = path + (folder ? ": is a folder, not a file"
                           : ": is not a regular file (a pipe, device or socket); "
                             "Loom reads only regular files");
    return -1;
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0)
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  size = static_cast<uint64_t>(info.st_size);
  return fd;
}

bool readTextFile(const std::string &path, std::string &out, std::string &error,
                  uint64_t limit) {
  uint64_t size = 0;
  int fd = openInputFile(path, size, error);
  if (fd < 0)
    return false;
  if (size > limit) {
    ::close(fd);
    error = path + ": the file has " + std::to_string(size) +
            " bytes, more than the limit of " + std::to_string(limit) +
            " bytes for this kind of file";
    return false;
  }
  out.assign(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t got = ::read(fd, out.data() + done, out.size() - done);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  if (done != out.size()) {
    error = path + ": cannot read the file (it changed while being read?)";
    return false;
  }
  return true;
}

bool writeFileAtomically(const std::string &path, const std::function<bool(FILE *)> &body,
                         std::string &error) {
  struct stat info;
  if (::lstat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    error = path + (S_ISDIR(info.st_mode) ? ": is a folder; give the path of a file"
                                           : ": exists and is not a regular file; Loom "
                                             "replaces only regular files");
    return false;
  }
  std::string temporary = besideName(path, "partial");
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    error = path + ": cannot create a file beside it (" + temporary + "): " + why();
    return false;
  }
  FILE *file = ::fdopen(fd, "wb");
  if (!file) {
    ::close(fd);
    ::unlink(temporary.c_str());
    error = path + ": cannot write: " + why();
    return false;
  }
  bool ok = body(file) && std::fflush(file) == 0 && !std::ferror(file);
  int savedErrno = errno;
  ok = std::fclose(file) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    if (ok)
      savedErrno = errno;
    ::unlink(temporary.c_str());
    error = path + ": cannot write the file: " + std::strerror(savedErrno);
    return false;
  }
  return true;
}

bool writeFileAtomically(const std::string &path, std::string_view bytes,
                         std::string &error) {
  return writeFileAtomically(
      path,
      [&](FILE *file) {
        return std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
      },
      error);
}

FolderOutput::~FolderOutput() {
  if (staging_.empty() || committed_)
    return;
  std::vector<std::string> names;
  listFolder(staging_, names);
  removeOwned(staging_, names); // every entry of the staging folder is ours
}

bool FolderOutput::mayReplace(const std::string &path, const std::string &marker,
                              const std::string &format,
                              const std::vector<std::string> &ownNames,
                              std::string &error) {
  std::string dir = trimmed(path);
  struct stat info;
  if (::lstat(dir.c_str(), &info) != 0)
    return true;
  if (!S_ISDIR(info.st_mode)) {
    error = dir + ": exists and is not a folder; Loom will not replace it (give a new "
                  "path or remove it yourself)";
    return false;
  }
  std::vector<std::string> names;
  if (!listFolder(dir, names)) {
    error = dir + ": cannot list the folder: " + why();
    return false;
  }
  if (names.empty())
    return true;
  std::string text, ignored;
  json::Value root;
  const json::Value *kind = nullptr;
  if (readTextFile(dir + "/" + marker, text, ignored) && json::parse(text, root, ignored))
    kind = root.get("format");
  if (!kind || !kind->isString() || kind->asString() != format) {
    error = dir + ": is a folder that Loom did not write (no " + marker +
            " with \"format\": \"" + format +
            "\"); Loom will not replace it (give a new or empty folder)";
    return false;
  }
  for (const std::string &name : names)
    if (std::find(ownNames.begin(), ownNames.end(), name) == ownNames.end()) {
      error = dir + ": holds '" + name + "', which Loom did not write; Loom will not "
                    "replace the folder (move that file away or give a new folder)";
      return false;
    }
  return true;
}

bool FolderOutput::open(const std::string &dir, const std::string &marker,
                        const std::string &format, std::vector<std::string> ownNames,
                        std::string &error) {
  if (!mayReplace(dir, marker, format, ownNames, error))
    return false;
  dir_ = trimmed(dir);
  ownNames_ = std::move(ownNames);
  staging_ = besideName(dir_, "partial");
  if (::mkdir(staging_.c_str(), 0777) != 0) {
    error = dir_ + ": cannot create a folder beside it (" + staging_ + "): " + why();
    staging_.clear();
    return false;
  }
  return true;
}

std::string FolderOutput::staged(const std::string &name) const {
  return staging_ + "/" + name;
}

bool FolderOutput::write(const std::string &name, std::string_view bytes,
                         std::string &error) {
  return writeFileAtomically(staged(name), bytes, error);
}

bool FolderOutput::commit(std::string &error) {
  std::vector<std::string> written;
  listFolder(staging_, written);
  for (const std::string &name : written)
    if (std::find(ownNames_.begin(), ownNames_.end(), name) == ownNames_.end()) {
      error = staging_ + ": staged an unexpected file '" + name + "'";
      return false;
    }
  // Move a previous output aside first: rename() cannot replace a non-empty folder.
  std::string aside;
  struct stat info;
  if (::lstat(dir_.c_str(), &info) == 0) {
    aside = besideName(dir_, "old");
    if (std::rename(dir_.c_str(), aside.c_str()) != 0) {
      error = dir_ + ": cannot move the previous output aside: " + why();
      return false;
    }
  }
  if (std::rename(staging_.c_str(), dir_.c_str()) != 0) {
    error = dir_ + ": cannot move the new output into place: " + why();
    if (!aside.empty())
      std::rename(aside.c_str(), dir_.c_str());
    return false;
  }
  committed_ = true;
  if (!aside.empty()) {
    // Only the files this output writes; anything added since open() keeps the folder.
    removeOwned(aside, ownNames_);
  }
  return true;
}

} // namespace loom
