//===- SplitCompile.cpp - kernels.cu as parallel NVRTC programs ------------===//
//
// NVRTC compiles one program on one thread, and a model's kernels are independent, so
// a cold load cuts the source at the emitter's marker lines and compiles the parts at
// once. Each part carries the prelude (headers and helpers), so more parts cost more
// total work; the split stops at the number of threads.
//
//===----------------------------------------------------------------------===//

#include "KernelCache.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace loom::rt {

namespace {

constexpr const char *kMarker = "\n//@loom-kernel ";

unsigned defaultThreads() {
  if (const char *env = std::getenv("LOOM_COMPILE_THREADS"))
    if (int n = std::atoi(env); n > 0)
      return static_cast<unsigned>(n);
  return std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
}

} // namespace

bool compileSplit(const std::string &source, const std::string &name, const std::string &arch,
                  unsigned threads, std::vector<CompiledPart> &parts, std::string &error) {
  parts.clear();
  // The prelude, then (kernel name, section text) in source order.
  size_t first = source.find(kMarker);
  std::string prelude = source.substr(0, first);
  std::vector<std::pair<std::string, std::string>> sections;
  for (size_t at = first; at != std::string::npos;) {
    size_t nameBegin = at + std::char_traits<char>::length(kMarker);
    size_t nameEnd = source.find('\n', nameBegin);
    size_t next = source.find(kMarker, nameBegin);
    sections.emplace_back(source.substr(nameBegin, nameEnd - nameBegin),
                          source.substr(at, next == std::string::npos ? next : next - at));
    at = next;
  }
  if (threads == 0)
    threads = defaultThreads();
  size_t count = std::max<size_t>(1, std::min<size_t>(threads, sections.size()));
  parts.resize(count);
  std::vector<std::string> sources(count, prelude);
  for (size_t i = 0; i < sections.size(); ++i) {
    parts[i % count].kernels.push_back(sections[i].first);
    sources[i % count] += sections[i].second;
  }
  std::vector<std::string> errors(count);
  std::vector<char> ok(count, 0);
  auto compile = [&](size_t i) {
    std::string part = count == 1 ? name : name + " (part " + std::to_string(i + 1) + ")";
    ok[i] = compileCached(sources[i], part, arch, parts[i].compiled, errors[i]);
  };
  if (count == 1) {
    compile(0);
  } else {
    std::vector<std::thread> workers;
    for (size_t i = 0; i < count; ++i)
      workers.emplace_back(compile, i);
    for (std::thread &worker : workers)
      worker.join();
  }
  for (size_t i = 0; i < count; ++i)
    if (!ok[i]) {
      error = errors[i];
      return false;
    }
  return true;
}

} // namespace loom::rt
