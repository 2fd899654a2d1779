//===- ShapeTest.cpp - Shape rules with named dynamic dimensions ------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <limits>

using namespace mlir;
using loom::Dim;
using loom::Shape;

namespace {

class ShapeTest : public ::testing::Test {
protected:
  ShapeTest() { context.loadDialect<loom::LoomDialect>(); }
  Dim named(StringRef name) { return Dim::named(StringAttr::get(&context, name)); }
  std::string broadcast(Shape a, Shape b) {
    Shape out;
    std::string why;
    if (!loom::broadcastShapes(a, b, out, why))
      return "error: " + why;
    return loom::toString(out);
  }
  MLIRContext context;
};

TEST_F(ShapeTest, StaticBroadcastFollowsNumpy) {
  EXPECT_EQ(broadcast({Dim::fixed(4), Dim::fixed(1)}, {Dim::fixed(3)}), "[4, 3]");
  EXPECT_EQ(broadcast({}, {Dim::fixed(2), Dim::fixed(5)}), "[2, 5]");
  EXPECT_EQ(broadcast({Dim::fixed(1)}, {Dim::fixed(1)}), "[1]");
  EXPECT_EQ(broadcast({Dim::fixed(0)}, {Dim::fixed(1)}), "[0]");
  EXPECT_NE(broadcast({Dim::fixed(4)}, {Dim::fixed(3)}).find("error: dimension 0"),
            std::string::npos);
}

TEST_F(ShapeTest, NamedDimensionsOnlyMeetThemselvesOrOne) {
  EXPECT_EQ(broadcast({named("batch"), named("seq")}, {named("seq")}), "[batch, seq]");
  EXPECT_EQ(broadcast({named("seq"), Dim::fixed(1)}, {Dim::fixed(1), named("seq")}),
            "[seq, seq]");
  std::string mismatch = broadcast({named("seq")}, {Dim::fixed(4)});
  EXPECT_NE(mismatch.find("a named dimension only broadcasts"), std::string::npos)
      << mismatch;
  EXPECT_NE(broadcast({named("batch")}, {named("seq")}).find("error"), std::string::npos);
}

TEST_F(ShapeTest, AnonymousDimensionsDeferToTheOtherSide) {
  EXPECT_EQ(broadcast({Dim::anonymous()}, {Dim::fixed(5)}), "[5]");
  EXPECT_EQ(broadcast({Dim::anonymous()}, {named("seq")}), "[seq]");
  EXPECT_EQ(broadcast({Dim::anonymous()}, {Dim::fixed(1)}), "[?]");
  EXPECT_TRUE(loom::areCompatible(Dim::anonymous(), Dim::fixed(3)));
  EXPECT_FALSE(loom::areCompatible(named("seq"), Dim::fixed(3)));
}

TEST_F(ShapeTest, TensorTypesRoundTripNames) {
  Type f32 = Float32Type::get(&context);
  Shape shape{named("batch"), Dim::fixed(8), named("seq")};
  RankedTensorType type = loom::makeTensorType(shape, f32);
  EXPECT_TRUE(llvm::isa<loom::DimsAttr>(type.getEncoding()));
  EXPECT_EQ(loom::getShape(type), shape);

  // Without names there is no encoding; unknown sizes beside names keep the names.
  EXPECT_FALSE(loom::makeTensorType({Dim::fixed(2)}, f32).getEncoding());
  EXPECT_FALSE(loom::makeTensorType({Dim::anonymous()}, f32).getEncoding());
  RankedTensorType mixed = loom::makeTensorType({named("seq"), Dim::anonymous()}, f32);
  EXPECT_TRUE(mixed.getEncoding());
  EXPECT_EQ(loom::toString(loom::getShape(mixed)), "[seq, ?]");
}

TEST_F(ShapeTest, StaticSlicesMatchPython) {
  constexpr int64_t end = std::numeric_limits<int64_t>::max();
  auto len = [](int64_t size, int64_t start, int64_t stop, int64_t step) {
    return loom::sliceDim(Dim::fixed(size), start, stop, step).size;
  };
  EXPECT_EQ(len(10, 0, end, 1), 10);  // x[0:]
  EXPECT_EQ(len(10, 2, 8, 3), 2);     // x[2:8:3] -> 2, 5
  EXPECT_EQ(len(10, -3, end, 1), 3);  // x[-3:]
  EXPECT_EQ(len(10, -100, 4, 1), 4);  // x[-100:4]
  EXPECT_EQ(len(10, 7, 3, 1), 0);     // x[7:3]
  EXPECT_EQ(len(10, -1, std::numeric_limits<int64_t>::min(), -1), 10); // x[::-1]
  EXPECT_EQ(len(10, 8, 1, -3), 3);    // x[8:1:-3] -> 8, 5, 2
  EXPECT_EQ(len(0, 0, end, 1), 0);
}

TEST_F(ShapeTest, DynamicSlicesKnowWhatTheyCan) {
  constexpr int64_t end = std::numeric_limits<int64_t>::max();
  Dim seq = named("seq");
  EXPECT_EQ(loom::sliceDim(seq, 0, end, 1), seq);            // whole axis
  EXPECT_EQ(loom::sliceDim(seq, -1, end, 1), Dim::fixed(1)); // last element
  EXPECT_EQ(loom::sliceDim(seq, -4, -1, 2), Dim::fixed(2));
  EXPECT_EQ(loom::toString(loom::sliceDim(seq, 1, end, 1)), "seq-1"); // x[1:]
  EXPECT_EQ(loom::toString(loom::sliceDim(seq, 0, -1, 1)), "seq-1"); // x[:-1]
  EXPECT_EQ(loom::toString(loom::sliceDim(seq, 2, -3, 1)), "seq-5"); // x[2:-3]
  EXPECT_TRUE(loom::sliceDim(seq, 2, -3, 2).isAnonymous());
  EXPECT_EQ(loom::sliceDim(seq, 0, 4, 1), Dim::fixed(4)); // assumes seq >= 4
  EXPECT_TRUE(loom::sliceDim(seq, 0, 4, -1).isAnonymous());
}

TEST_F(ShapeTest, SizeExpressionsAreCanonical) {
  using loom::SizeExpr;
  SizeExpr seq = SizeExpr::symbol("seq"), batch = SizeExpr::symbol("batch");
  EXPECT_EQ((seq + SizeExpr::constant(1)).str(), "seq+1");
  EXPECT_EQ((SizeExpr::constant(1) + seq).str(), "seq+1");
  EXPECT_EQ((seq * batch).str(), "batch*seq");
  EXPECT_EQ((seq * SizeExpr::constant(2) - SizeExpr::constant(1)).str(), "2*seq-1");
  EXPECT_EQ((seq + SizeExpr::constant(1) - SizeExpr::constant(1)), seq);
  EXPECT_TRUE((seq - seq).isConstant());
  EXPECT_EQ(SizeExpr::parse("seq*batch+3*seq")->str(), "batch*seq+3*seq");
  EXPECT_FALSE(SizeExpr::parse("seq+"));
  EXPECT_FALSE(SizeExpr::parse("seq**2"));
  EXPECT_EQ((seq * batch * SizeExpr::constant(8)).divide(batch * SizeExpr::constant(4))->str(),
            "2*seq");
  EXPECT_FALSE((seq + SizeExpr::constant(1)).divide(seq));
}

TEST_F(ShapeTest, ExpressionDimensionsFlowThroughTypes) {
  Type f32 = Float32Type::get(&context);
  Dim plusOne = loom::fromExpr(*loom::toExpr(named("seq")) + loom::SizeExpr::constant(1),
                               &context);
  EXPECT_EQ(loom::toString(plusOne), "seq+1");
  RankedTensorType type = loom::makeTensorType({named("batch"), plusOne}, f32);
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  EXPECT_EQ(text, "tensor<?x?xf32, #loom.dims<batch, \"seq+1\">>");
}

} // namespace
