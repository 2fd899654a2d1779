//===- LaunchCommand.cpp - `loom launch`: one process per rank ---------------===//
//
// `loom launch -n N [--timeout S] -- <command ...>` starts the command N times, rank i
// with LOOM_RANK=i, LOOM_WORLD=N and LOOM_RENDEZVOUS=<a fresh folder> in its
// environment (ProcessGroup, DataParallel.h, meets there), and waits for all of them.
// When a rank fails (a non-zero exit or a signal), the others are ended at once, so a
// group never waits for a rank that is gone; the launcher exits 1 naming the rank.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Options.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace loom::cli {

namespace {

/// "exited with 3", "was killed by signal 9".
std::string describeStatus(int status) {
  if (WIFEXITED(status))
    return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

} // namespace

int runLaunch(int argc, char **argv) {
  const char *usage =
      "usage: loom launch -n N [--timeout SECONDS] -- <command> [arguments...]\n"
      "Runs the command as N processes, rank i with LOOM_RANK=i, LOOM_WORLD=N and\n"
      "LOOM_RENDEZVOUS (a fresh folder where the ranks meet) set, and waits for all of\n"
      "them. When one fails, the others are ended and the launcher exits 1 naming it;\n"
      "after --timeout seconds (default: none) every rank is ended.\n";
  int separator = -1;
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      separator = i;
      break;
    }
  int64_t ranks = 0, timeout = 0;
  OptionParser parser("loom launch", usage);
  parser.integer("-n", ranks, 1, 1024).integer("--timeout", timeout, 0, 1 << 30);
  if (int code = parser.parse(separator < 0 ? argc : separator, argv); code >= 0)
    return code;
  if (ranks < 1)
    return parser.misuse("give the number of ranks with -n");
  if (separator < 0 || separator + 1 >= argc)
    return parser.misuse("give the command after --");

  char folder[] = "/tmp/loom-rendezvous-XXXXXX";
  if (!mkdtemp(folder)) {
    std::fprintf(stderr, "loom launch: cannot make a rendezvous folder: %s\n",
                 std::strerror(errno));
    return 1;
  }
  std::vector<pid_t> children;
  for (int64_t rank = 0; rank < ranks; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "loom launch: cannot start rank %lld: %s\n",
                   static_cast<long long>(rank), std::strerror(errno));
      for (pid_t child : children)
        kill(child, SIGKILL);
      break;
    }
    if (pid == 0) {
      setenv("LOOM_RANK", std::to_string(rank).c_str(), 1);
      setenv("LOOM_WORLD", std::to_string(ranks).c_str(), 1);
      setenv("LOOM_RENDEZVOUS", folder, 1);
      execvp(argv[separator + 1], argv + separator + 1);
      std::fprintf(stderr, "loom launch: cannot run %s: %s\n", argv[separator + 1],
                   std::strerror(errno));
      _exit(127);
    }
    children.push_back(pid);
  }
  // Wait; the first failure ends the others.
  int result = children.size() == static_cast<size_t>(ranks) ? 0 : 1;
  size_t running = children.size();
  auto start = std::chrono::steady_clock::now();
  bool ending = result != 0;
  while (running > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0)
      break;
    if (pid == 0) {
      if (timeout > 0 && !ending &&
          std::chrono::steady_clock::now() - start > std::chrono::seconds(timeout)) {
        std::fprintf(stderr, "loom launch: the ranks ran past %lld s; ending them\n",
                     static_cast<long long>(timeout));
        for (pid_t child : children)
          kill(child, SIGTERM);
        ending = true;
        result = 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    --running;
    size_t rank = 0;
    while (rank < children.size() && children[rank] != pid)
      ++rank;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && !ending) {
      std::fprintf(stderr, "loom launch: rank %zu %s; ending the other ranks\n", rank,
                   describeStatus(status).c_str());
      for (pid_t child : children)
        if (child != pid)
          kill(child, SIGTERM);
      ending = true;
      result = 1;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
  return result;
}

} // namespace loom::cli
