//===- GraphBuilder.h - Builds loom ops with inferred result types -*- C++ -*-===//
//
// The importers describe a model as calls like `matmul(x, w, /*transposeRhs=*/true)`;
// this class creates the ops and derives each result type, dimension names included,
// from the operands with the same rules the verifiers check.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_IMPORT_GRAPHBUILDER_H
#define LOOM_COMPILER_IMPORT_GRAPHBUILDER_H

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "mlir/IR/Builders.h"

namespace loom {

class GraphBuilder {
public:
  /// Ops are inserted at `builder`'s insertion point; float values use `floatType`.
  GraphBuilder(mlir::OpBuilder &builder, mlir::Location loc, mlir::Type floatType);

  mlir::OpBuilder &builder() { return builder_; }
  mlir::Location loc() const { return loc_; }
  /// The location of the ops built from now on (a layer's name, say).
  void setLoc(mlir::Location loc) { loc_ = loc; }
  mlir::Type floatType() const { return floatType_; }
  mlir::StringAttr name(llvm::StringRef text) { return builder_.getStringAttr(text); }
  Dim dim(llvm::StringRef name) { return Dim::named(this->name(name)); }
  static Shape shape(mlir::Value value);
  /// `values` rounded to nearest-even into the float element type of `type`.
  static mlir::DenseElementsAttr floatElements(llvm::ArrayRef<double> values,
                                               mlir::RankedTensorType type);

  // Sources.
  mlir::Value weight(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);
  /// A float constant of floatType with `shape` (empty for a scalar).
  mlir::Value constant(llvm::ArrayRef<float> values, llvm::ArrayRef<int64_t> shape = {});
  mlir::Value iota(mlir::Value shapeSource, int64_t dim, mlir::Type elementType);

  // Elementwise.
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value div(mlir::Value a, mlir::Value b);
  template <typename OpTy> mlir::Value unary(mlir::Value x) {
    return OpTy::create(builder_, loc_, x);
  }
  mlir::Value gelu(mlir::Value x, GeluApproximation approximation);
  mlir::Value maximum(mlir::Value a, mlir::Value b);
  mlir::Value minimum(mlir::Value a, mlir::Value b);
  mlir::Value pow(mlir::Value a, mlir::Value b);
  mlir::Value logicalAnd(mlir::Value a, mlir::Value b);
  mlir::Value logicalOr(mlir::Value a, mlir::Value b);
  mlir::Value compare(CompareKind kind, mlir::Value a, mlir::Value b);
  mlir::Value select(mlir::Value condition, mlir::Value a, mlir::Value b);
  mlir::Value cast(mlir::Value x, mlir::Type elementType);

  // Contractions and normalizations.
  mlir::Value matmul(mlir::Value a, mlir::Value b, bool transposeRhs,
                     bool transposeLhs = false);
  mlir::Value reduce(ReduceKind kind, mlir::Value x, llvm::ArrayRef<int64_t> axes,
                     bool keepDims);
  mlir::Value softmax(mlir::Value x, int64_t axis);
  mlir::Value rmsNorm(mlir::Value x, mlir::Value scale, float epsilon);
  mlir::Value layerNorm(mlir::Value x, mlir::Value scale, mlir::Value bias, float epsilon);

  // Layout.
  mlir::Value gather(mlir::Value table, mlir::Value indices, int64_t axis = 0);
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<Dim> shape);
  mlir::Value transpose(mlir::Value x, llvm::ArrayRef<int64_t> permutation);
  /// Broadcasts `x` to `shape`; returns `x` itself when the shapes already agree.
  mlir::Value broadcastTo(mlir::Value x, llvm::ArrayRef<Dim> shape);
  mlir::Value concat(mlir::ValueRange inputs, int64_t axis);
  /// A strided slice along several axes (Python clamping, negative bounds from the end).
  mlir::Value slice(mlir::Value x, llvm::ArrayRef<int64_t> axes, llvm::ArrayRef<int64_t> starts,
                    llvm::ArrayRef<int64_t> ends, llvm::ArrayRef<int64_t> steps);
  /// x[..., start:end, ...] along `axis` with step 1.
  mlir::Value slice(mlir::Value x, int64_t axis, int64_t start, int64_t end);

  /// [batch, seq, heads * dim] -> [batch, heads, seq, dim] (reshape + transpose); the
  /// last dimension is static and a multiple of `heads`.
  mlir::Value splitHeads(mlir::Value x, int64_t heads);
  /// [batch, heads, seq, dim] -> [batch, seq, heads * dim], the inverse of splitHeads.
  mlir::Value mergeHeads(mlir::Value x);

  // Transformer blocks.
  mlir::Value rope(mlir::Value x, mlir::Value cos, mlir::Value sin);
  mlir::Value attention(mlir::Value q, mlir::Value k, mlir::Value v, mlir::Value mask,
                        bool causal, std::optional<float> scale,
                        std::optional<float> softcap = std::nullopt);

private:
  template <typename OpTy> mlir::Value binary(mlir::Value a, mlir::Value b);
  mlir::RankedTensorType typeOf(llvm::ArrayRef<Dim> shape, mlir::Type elementType) {
    return makeTensorType(shape, elementType);
  }

  mlir::OpBuilder &builder_;
  mlir::Location loc_;
  mlir::Type floatType_;
};

} // namespace loom

#endif // LOOM_COMPILER_IMPORT_GRAPHBUILDER_H
