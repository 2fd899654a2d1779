//===- ParallelTest.cpp - The reference executor's collectives ---------------===//
//
// The in-process communicator's semantics (sums in the group's order, gathers and
// scatters along an axis, broadcast, point to point, aborts and mismatches), and a
// two-rank program on the parallel executor.
//
//===----------------------------------------------------------------------===//

#include "compiler/reference/Parallel.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

using namespace loom::reference;

namespace {

Tensor floats(Shape shape, std::vector<double> values) {
  Tensor t = Tensor::zeros(ElementType::F32, std::move(shape));
  t.floats = std::move(values);
  return t;
}

/// Runs `body(rank)` on `world` threads; each returns whether its calls succeeded.
std::vector<char> onRanks(int64_t world, const std::function<bool(int64_t)> &body) {
  std::vector<char> ok(world);
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < world; ++r)
    threads.emplace_back([&, r] { ok[r] = body(r); });
  for (std::thread &t : threads)
    t.join();
  return ok;
}

TEST(Communicator, AllReduceSumsOnEveryRank) {
  Communicator comm(3);
  std::vector<Tensor> out(3);
  std::vector<std::string> errors(3);
  auto ok = onRanks(3, [&](int64_t r) {
    Tensor in = floats({2}, {double(r), 10.0 * r});
    return comm.allReduce(r, {0, 1, 2}, in, out[r], errors[r]);
  });
  for (int64_t r = 0; r < 3; ++r) {
    ASSERT_TRUE(ok[r]) << errors[r];
    EXPECT_EQ(out[r].floats, (std::vector<double>{3, 30}));
  }
}

TEST(Communicator, AllGatherConcatenatesInGroupOrder) {
  Communicator comm(2);
  std::vector<Tensor> out(2);
  std::vector<std::string> errors(2);
  // The group lists rank 1 first, so its part comes first.
  auto ok = onRanks(2, [&](int64_t r) {
    Tensor in = floats({2, 1}, {double(r), double(r) + 0.5});
    return comm.allGather(r, {1, 0}, 1, in, out[r], errors[r]);
  });
  for (int64_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(ok[r]) << errors[r];
    EXPECT_EQ(out[r].shape, (Shape{2, 2}));
    EXPECT_EQ(out[r].floats, (std::vector<double>{1, 0, 1.5, 0.5}));
  }
}

TEST(Communicator, ReduceScatterKeepsEachRanksPart) {
  Communicator comm(2);
  std::vector<Tensor> out(2);
  std::vector<std::string> errors(2);
  auto ok = onRanks(2, [&](int64_t r) {
    Tensor in = floats({4}, {1, 2, 3, 4});
    return comm.reduceScatter(r, {0, 1}, 0, in, out[r], errors[r]);
  });
  ASSERT_TRUE(ok[0] && ok[1]) << errors[0] << errors[1];
  EXPECT_EQ(out[0].floats, (std::vector<double>{2, 4}));
  EXPECT_EQ(out[1].floats, (std::vector<double>{6, 8}));
}

TEST(Communicator, BroadcastFromRoot) {
  Communicator comm(3);
  std::vector<Tensor> out(3);
  std::vector<std::string> errors(3);
  auto ok = onRanks(3, [&](int64_t r) {
    Tensor in = floats({1}, {double(r)});
    return comm.broadcastFrom(r, {0, 1, 2}, 2, in, out[r], errors[r]);
  });
  for (int64_t r = 0; r < 3; ++r) {
    ASSERT_TRUE(ok[r]) << errors[r];
    EXPECT_EQ(out[r].floats, (std::vector<double>{2}));
  }
}

TEST(Communicator, SendAndRecvMatchByPeerAndTag) {
  Communicator comm(2);
  Tensor a, b;
  std::string e0, e1;
  auto ok = onRanks(2, [&](int64_t r) {
    if (r == 0)
      return comm.send(0, 1, 7, floats({1}, {7}), e0) && comm.send(0, 1, 3, floats({1}, {3}), e0);
    // Received in the other order than sent: tags keep them apart.
    return comm.recv(1, 0, 3, a, e1) && comm.recv(1, 0, 7, b, e1);
  });
  ASSERT_TRUE(ok[0] && ok[1]) << e0 << e1;
  EXPECT_EQ(a.floats, (std::vector<double>{3}));
  EXPECT_EQ(b.floats, (std::vector<double>{7}));
}

TEST(Communicator, MismatchedCollectivesFail) {
  Communicator comm(2, std::chrono::milliseconds(2000));
  std::vector<std::string> errors(2);
  auto ok = onRanks(2, [&](int64_t r) {
    Tensor out, in = floats({2}, {1, 2});
    bool done = r == 0 ? comm.allReduce(r, {0, 1}, in, out, errors[r])
                       : comm.allGather(r, {0, 1}, 0, in, out, errors[r]);
    if (!done)
      comm.abort(r, errors[r]);
    return done;
  });
  EXPECT_FALSE(ok[0] && ok[1]);
  EXPECT_NE((errors[0] + errors[1]).find("where another rank"), std::string::npos);
}

TEST(Communicator, MissingRankTimesOutNamingIt) {
  Communicator comm(2, std::chrono::milliseconds(50));
  Tensor out;
  std::string error;
  EXPECT_FALSE(comm.allReduce(0, {0, 1}, floats({1}, {1}), out, error));
  EXPECT_NE(error.find("timed out waiting for rank(s) 1"), std::string::npos) << error;
}

TEST(Communicator, AbortEndsWaits) {
  Communicator comm(2);
  std::string error;
  std::thread failing([&] { comm.abort(1, "boom"); });
  Tensor out;
  EXPECT_FALSE(comm.recv(0, 1, 0, out, error));
  failing.join();
  EXPECT_NE(error.find("rank 1 failed: boom"), std::string::npos) << error;
}

TEST(ParallelExecutor, RunsRowParallelProgram) {
  // Each rank scales its half of x and the halves are summed: the same as x * 3 summed.
  const char *ir = R"(
    func.func @forward_rank0(%x: tensor<2xf32>) -> tensor<2xf32> attributes {loom.rank = 0 : i64, loom.world = 2 : i64} {
      %c = loom.constant dense<1.0> : tensor<2xf32>
      %y = loom.mul %x, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
      %s = loom.all_reduce %y group [0, 1] : tensor<2xf32>
      return %s : tensor<2xf32>
    }
    func.func @forward_rank1(%x: tensor<2xf32>) -> tensor<2xf32> attributes {loom.rank = 1 : i64, loom.world = 2 : i64} {
      %c = loom.constant dense<2.0> : tensor<2xf32>
      %y = loom.mul %x, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
      %s = loom.all_reduce %y group [0, 1] : tensor<2xf32>
      return %s : tensor<2xf32>
    })";
  std::string error;
  auto parallel = ParallelExecutor::create(ir, nullptr, "forward", error);
  ASSERT_TRUE(parallel) << error;
  EXPECT_EQ(parallel->world(), 2);
  std::vector<std::vector<Tensor>> outputs;
  ASSERT_TRUE(parallel->run({{"arg0", floats({2}, {1, 2})}}, outputs, error)) << error;
  for (const auto &rank : outputs)
    EXPECT_EQ(rank.front().floats, (std::vector<double>{3, 6}));
}

} // namespace
