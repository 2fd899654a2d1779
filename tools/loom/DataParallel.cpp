//===- DataParallel.cpp - The ranks of `loom launch`, over Gloo ------------===//

#include "DataParallel.h"

#include <gloo/allreduce.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <cstdlib>
#include <exception>

namespace loom::cli {

struct ProcessGroup::Impl {
  std::shared_ptr<gloo::rendezvous::Context> context;
};

ProcessGroup::ProcessGroup(int rank, int world, std::unique_ptr<Impl> impl)
    : rank_(rank), world_(world), impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::fromEnvironment(int timeoutSeconds,
                                                            std::string &error) {
  error.clear();
  const char *rankText = std::getenv("LOOM_RANK"), *worldText = std::getenv("LOOM_WORLD"),
             *folder = std::getenv("LOOM_RENDEZVOUS");
  if (!worldText)
    return nullptr;
  char *end = nullptr;
  long world = std::strtol(worldText, &end, 10);
  long rank = rankText ? std::strtol(rankText, &end, 10) : -1;
  if (!rankText || !folder || world < 1 || world > 1024 || rank < 0 || rank >= world) {
    error = "LOOM_RANK, LOOM_WORLD and LOOM_RENDEZVOUS must describe a rank of a group "
            "(run the command under `loom launch -n N --`)";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  try {
    gloo::transport::tcp::attr attr("127.0.0.1");
    auto device = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(folder);
    impl->context =
        std::make_shared<gloo::rendezvous::Context>(static_cast<int>(rank), world);
    impl->context->setTimeout(std::chrono::seconds(timeoutSeconds));
    impl->context->connectFullMesh(store, device);
  } catch (const std::exception &e) {
    error = "rank " + std::to_string(rank) + " could not join its group of " +
            std::to_string(world) + ": " + e.what();
    return nullptr;
  }
  return std::unique_ptr<ProcessGroup>(
      new ProcessGroup(static_cast<int>(rank), static_cast<int>(world), std::move(impl)));
}

namespace {

/// The sum of every rank's `data` (float or double) into each rank's.
template <typename T>
bool allReduce(const std::shared_ptr<gloo::rendezvous::Context> &context, int rank, T *data,
               size_t count, std::string &error) {
  try {
    gloo::AllreduceOptions options(context);
    options.setOutput(data, count);
    options.setReduceFunction(
        static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<T>));
    gloo::allreduce(options);
  } catch (const std::exception &e) {
    error = "all-reduce failed on rank " + std::to_string(rank) + ": " + e.what();
    return false;
  }
  return true;
}

} // namespace

bool ProcessGroup::allReduceSum(float *data, size_t count, std::string &error) {
  return allReduce(impl_->context, rank_, data, count, error);
}

bool ProcessGroup::allReduceSum(double *data, size_t count, std::string &error) {
  return allReduce(impl_->context, rank_, data, count, error);
}

bool ProcessGroup::broadcast(float *data, size_t count, int root, std::string &error) {
  try {
    gloo::BroadcastOptions options(impl_->context);
    options.setOutput(data, count);
    options.setRoot(root);
    gloo::broadcast(options);
  } catch (const std::exception &e) {
    error = "broadcast failed on rank " + std::to_string(rank_) + ": " + e.what();
    return false;
  }
  return true;
}

} // namespace loom::cli
