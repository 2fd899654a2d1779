//===- OptimizeTest.cpp - optimizeModule, the MLIR-free pipeline entry -----===//

#include "compiler/Compiler.h"

#include <gtest/gtest.h>

namespace {

const char *kModule = R"(
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %s = loom.sigmoid %x : tensor<4xf32>
  %y = loom.mul %x, %s : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
})";

// Embedding programs call the API many times in one process; named pipelines must not
// be registered again on each call.
TEST(Optimize, RunsAGivenPipelineRepeatedly) {
  for (int i = 0; i < 3; ++i) {
    loom::OptimizeOptions options;
    options.pipeline = "loom-raise-activations,loom-canonicalize";
    options.verifyEachPass = true;
    loom::OptimizeResult result;
    std::string error;
    ASSERT_TRUE(loom::optimizeModule(kModule, options, result, error)) << error;
    EXPECT_NE(result.ir.find("loom.silu"), std::string::npos) << result.ir;
    ASSERT_EQ(result.passes.size(), 2u);
    EXPECT_EQ(result.passes[0].name, "loom-raise-activations");
    EXPECT_GE(result.passes[0].relativeError, 0.0);
    EXPECT_LE(result.passes[0].relativeError, 1e-6);
  }
}

TEST(Optimize, NamesABadPipeline) {
  loom::OptimizeOptions options;
  options.pipeline = "no-such-pass";
  loom::OptimizeResult result;
  std::string error;
  EXPECT_FALSE(loom::optimizeModule(kModule, options, result, error));
  EXPECT_NE(error.find("bad pipeline 'no-such-pass'"), std::string::npos) << error;
}

} // namespace
