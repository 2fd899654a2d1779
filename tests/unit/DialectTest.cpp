//===- DialectTest.cpp - Parsing, verifying and building loom IR from C++ ---===//

#include "dialects/loom/LoomDialect.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

class DialectTest : public ::testing::Test {
protected:
  DialectTest() { context.loadDialect<loom::LoomDialect>(); }

  /// Verifies `op` and returns the diagnostics it produced, joined.
  std::string verifyMessages(Operation *op) {
    std::string messages;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      messages += diag.str() + "\n";
      return success();
    });
    (void)mlir::verify(op);
    return messages;
  }

  MLIRContext context;
};

TEST_F(DialectTest, DimsEncodingParsesAndPrints) {
  Type type = parseType("tensor<?x4x?xf32, #loom.dims<batch, seq>>", &context);
  ASSERT_TRUE(type);
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  EXPECT_EQ(text, "tensor<?x4x?xf32, #loom.dims<batch, seq>>");
}

TEST_F(DialectTest, DimsEncodingMustNameEveryDynamicDimension) {
  std::string messages;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    messages += diag.str();
    return success();
  });
  EXPECT_FALSE(parseType("tensor<?x4xf32, #loom.dims<batch, seq>>", &context));
  EXPECT_NE(messages.find("names 2 dimension(s) but the tensor has 1"), std::string::npos)
      << messages;
  messages.clear();
  EXPECT_FALSE(parseType("tensor<?xf32, #loom.dims<\"9lives\">>", &context));
  EXPECT_NE(messages.find("is not an identifier"), std::string::npos) << messages;
}

TEST_F(DialectTest, BuiltOpsAreVerified) {
  OpBuilder builder(&context);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  Type f32 = builder.getF32Type();
  auto a = loom::WeightOp::create(builder, loc, RankedTensorType::get({4, 3}, f32), "a");
  auto b = loom::WeightOp::create(builder, loc, RankedTensorType::get({5}, f32), "b");
  loom::AddOp::create(builder, loc, RankedTensorType::get({4, 5}, f32), a, b);
  std::string messages = verifyMessages(module->getOperation());
  EXPECT_NE(messages.find("operands do not broadcast: dimension 1"), std::string::npos)
      << messages;
}

TEST_F(DialectTest, ModuleFromTextVerifies) {
  const char *source = R"mlir(
    %w = loom.weight "w" : tensor<8x4xf32>
    %x = loom.weight "x" : tensor<2x3x4xf32>
    %y = loom.matmul %x, %w transpose_rhs
        : (tensor<2x3x4xf32>, tensor<8x4xf32>) -> tensor<2x3x8xf32>
    %s = loom.softmax %y axis 2 : tensor<2x3x8xf32>
  )mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  ASSERT_TRUE(module);
  EXPECT_TRUE(succeeded(mlir::verify(*module)));
  auto matmul = *module->getOps<loom::MatmulOp>().begin();
  EXPECT_TRUE(matmul.getTransposeRhs());
  EXPECT_FALSE(matmul.getTransposeLhs());
}

} // namespace
