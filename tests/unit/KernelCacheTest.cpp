//===- KernelCacheTest.cpp - The on-disk cache of NVRTC output --------------===//
//
// NVRTC runs without a GPU, so these run in CI. They are skipped where NVRTC is not
// installed.

#include "KernelCache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

const char *kSource = R"(extern "C" __global__ void twice(float *x, long long n) {
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i < n) x[i] *= 2.0f;
}
)";

class KernelCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    if (loom::rt::nvrtcVersion(error).empty())
      GTEST_SKIP() << "no NVRTC here: " << error;
    char pattern[] = "/tmp/loom-cache-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    setenv("LOOM_CACHE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("LOOM_CACHE_DIR");
    if (!dir_.empty())
      std::system(("rm -rf " + dir_).c_str());
  }
  /// The one entry in the cache directory.
  std::string entry() {
    std::string listing = dir_ + "/list.txt";
    std::system(("ls " + dir_ + " | grep cubin > " + listing).c_str());
    std::ifstream in(listing);
    std::string name;
    std::getline(in, name);
    return name.empty() ? "" : dir_ + "/" + name;
  }
  std::string dir_;
};

TEST_F(KernelCacheTest, SecondCompileIsAHit) {
  loom::rt::CachedCompile first, second;
  std::string error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", first, error))
      << error;
  EXPECT_FALSE(first.hit);
  EXPECT_FALSE(entry().empty());
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", second, error))
      << error;
  EXPECT_TRUE(second.hit);
  EXPECT_EQ(first.binary, second.binary);
}

TEST_F(KernelCacheTest, ArchitectureAndSourceAreInTheKey) {
  loom::rt::CachedCompile a, b, c;
  std::string error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", a, error)) << error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_90a", b, error)) << error;
  EXPECT_FALSE(b.hit);
  ASSERT_TRUE(loom::rt::compileCached(std::string(kSource) + "\n// changed\n", "twice.cu",
                                      "sm_80", c, error))
      << error;
  EXPECT_FALSE(c.hit);
}

TEST_F(KernelCacheTest, CorruptEntryIsRebuilt) {
  loom::rt::CachedCompile first, second, third;
  std::string error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", first, error))
      << error;
  std::string path = entry();
  ASSERT_FALSE(path.empty());
  {
    // Flip one byte of the payload.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x5a');
  }
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", second, error))
      << error;
  EXPECT_FALSE(second.hit);
  EXPECT_NE(second.note.find("corrupt"), std::string::npos) << second.note;
  EXPECT_EQ(second.binary, first.binary);
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", third, error))
      << error;
  EXPECT_TRUE(third.hit);
}

TEST_F(KernelCacheTest, OffBypassesTheCache) {
  setenv("LOOM_CACHE_DIR", "off", 1);
  loom::rt::CachedCompile first, second;
  std::string error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", first, error))
      << error;
  ASSERT_TRUE(loom::rt::compileCached(kSource, "twice.cu", "sm_80", second, error))
      << error;
  EXPECT_FALSE(second.hit);
  EXPECT_EQ(second.note, "the kernel cache is off");
}

TEST_F(KernelCacheTest, ABadSourceFailsWithTheLog) {
  loom::rt::CachedCompile out;
  std::string error;
  EXPECT_FALSE(loom::rt::compileCached("__global__ void broken( {", "broken.cu", "sm_80",
                                       out, error));
  EXPECT_NE(error.find("broken.cu does not compile for sm_80"), std::string::npos)
      << error;
}

} // namespace
