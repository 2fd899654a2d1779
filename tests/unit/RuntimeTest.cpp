//===- RuntimeTest.cpp - The runtime's C API and its C++ wrapper ------------===//

#include "loom/runtime.h"
#include "loom/runtime.hpp"
#include "loom/support/MemoryPlan.h"

#include <gtest/gtest.h>

#include <cstring>

namespace {

TEST(RuntimeStatus, NullIsSuccess) {
  EXPECT_EQ(loom_status_code(nullptr), LOOM_STATUS_OK);
  EXPECT_STREQ(loom_status_message(nullptr), "OK");
  loom_status_free(nullptr); // must be a no-op
  loom::Status ok;
  EXPECT_TRUE(ok.ok());
}

TEST(RuntimeStatus, NullOutParameterIsInvalidArgument) {
  loom::Status status(loom_device_count(nullptr));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), LOOM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("out_count"), std::string::npos) << status.message();

  loom::Status info(loom_device_info(0, nullptr));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.code(), LOOM_STATUS_INVALID_ARGUMENT);
}

TEST(RuntimeVersion, IsSemantic) {
  const char *version = loom_version();
  ASSERT_NE(version, nullptr);
  int major = -1, minor = -1, patch = -1;
  EXPECT_EQ(std::sscanf(version, "%d.%d.%d", &major, &minor, &patch), 3) << version;
}

// Without a GPU the driver probe fails cleanly and names the library; with one it
// lists devices whose properties are plausible. Either way nothing crashes.
TEST(RuntimeDevices, ProbeIsCleanWithOrWithoutDriver) {
  std::vector<loom_device_info_t> devices;
  loom::Status status = loom::listDevices(devices);
  if (!status.ok()) {
    EXPECT_EQ(status.code(), LOOM_STATUS_UNAVAILABLE) << status.message();
    EXPECT_NE(status.message().find("libcuda"), std::string::npos) << status.message();
    EXPECT_TRUE(devices.empty());
    return;
  }
  for (const loom_device_info_t &d : devices) {
    EXPECT_GT(std::strlen(d.name), 0u);
    EXPECT_GE(d.compute_capability_major, 3);
    EXPECT_GT(d.total_memory_bytes, 0u);
  }
}

TEST(RuntimeDevices, OrdinalOutOfRangeIsNotFound) {
  int32_t count = 0;
  loom::Status countStatus(loom_device_count(&count));
  loom_device_info_t info;
  loom::Status status(loom_device_info(count + 5, &info));
  ASSERT_FALSE(status.ok());
  // No driver gives UNAVAILABLE before the ordinal is looked at.
  EXPECT_EQ(status.code(), countStatus.ok() ? LOOM_STATUS_NOT_FOUND : LOOM_STATUS_UNAVAILABLE)
      << status.message();
}

} // namespace

// Without a driver, loading a model fails with the reason and leaves nothing behind.
TEST(RuntimeTest, ModelLoadWithoutDriverSaysWhy) {
  setenv("LOOM_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  loom::Model model;
  loom::Status status = model.load("/nonexistent/artifact");
  unsetenv("LOOM_CUDA_DRIVER");
  if (status.ok())
    GTEST_SKIP() << "a driver was already loaded in this process";
  EXPECT_EQ(model.handle(), nullptr);
  EXPECT_FALSE(status.message().empty());
}

// Buffers whose lifetimes do not overlap share memory; overlapping ones never do.
TEST(MemoryPlan, ReusesMemoryOfDeadBuffers) {
  std::vector<loom::BufferLife> buffers = {
      {1000, 0, 1}, // a: steps 0-1
      {1000, 1, 2}, // b: overlaps a at step 1
      {1000, 2, 3}, // c: overlaps b, not a: may take a's place
      {100, 0, 3},  // d: alive throughout
  };
  loom::MemoryPlan plan = loom::planMemory(buffers, 256);
  for (size_t i = 0; i < buffers.size(); ++i)
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      bool alive = buffers[i].first <= buffers[j].last && buffers[j].first <= buffers[i].last;
      bool apart = plan.offsets[i] + buffers[i].bytes <= plan.offsets[j] ||
                   plan.offsets[j] + buffers[j].bytes <= plan.offsets[i];
      EXPECT_TRUE(!alive || apart) << "buffers " << i << " and " << j << " overlap";
    }
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_LT(plan.peak, 3000u);
  for (uint64_t offset : plan.offsets)
    EXPECT_EQ(offset % 256, 0u);
}
