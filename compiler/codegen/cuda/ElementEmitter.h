//===- ElementEmitter.h - CUDA code for one element of a value -----*- C++ -*-===//
//
// The CUDA emitter writes kernels by asking for values at indices: "x at [i0, i1, i2]".
// For a kernel input that is a load; for a pointwise op it is the op applied to its
// operands at the indices the op maps to (broadcasts drop or zero indices, transposes
// permute them, reshapes re-linearize, slices offset and stride, gathers load the index
// first). Each request becomes a few lines of C++ in the current block of code; a value
// already computed at the same indices in an enclosing block is reused.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_CODEGEN_CUDA_ELEMENTEMITTER_H
#define LOOM_COMPILER_CODEGEN_CUDA_ELEMENTEMITTER_H

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/Shape.h"

#include "llvm/ADT/DenseMap.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace loom::cuda {

/// C++ expressions of `long long` type, one per dimension.
using Index = std::vector<std::string>;

/// The element type of a tensor value.
mlir::Type elementOf(mlir::Value value);

/// The C++ type a loom element type is stored as, and the type it is computed in
/// (16-bit floats compute in float).
std::string storageType(mlir::Type element);
std::string computeType(mlir::Type element);

/// The C++ expression of a dimension's size: a literal, or the size expression over
/// the kernel's `s_<name>` parameters. Fails (returns "") for an anonymous dimension.
std::string sizeExpr(const Dim &dim);
/// The dimension names a type's sizes mention, in `names`.
void collectSymbols(mlir::Type type, std::set<std::string> &names);

class ElementEmitter {
public:
  /// `inputs[i]` is read from the kernel parameter named `inputNames[i]`.
  ElementEmitter(llvm::ArrayRef<mlir::Value> inputs,
                 llvm::ArrayRef<std::string> inputNames);

  /// The name of a compute-typed C++ variable holding `value` at `index`, emitting the
  /// code that computes it. Fails (sets error()) for ops it cannot write.
  std::string at(mlir::Value value, const Index &index);
  /// When `value` is a kernel input seen through transposes and reshapes that keep its
  /// innermost dimension innermost, the input's name and the linear offset of `index`
  /// in it (consecutive innermost indices are then consecutive in memory); nullopt
  /// otherwise.
  std::optional<std::pair<std::string, std::string>> contiguousSource(mlir::Value value,
                                                                      const Index &index);
  /// Whether contiguousSource succeeds for `value` (emits nothing).
  bool isContiguousSource(mlir::Value value) const;
  /// Makes `name` the value of `value` at `index` (an anchor's result computed by the
  /// kernel's own code).
  void define(mlir::Value value, const Index &index, const std::string &name);

  /// Opens a nested C++ block (values computed inside are not reused outside it).
  void open(const std::string &header);
  /// Closes the block, `after` following its brace ("};" ends a lambda).
  void close(const std::string &after = "");
  /// Appends a line at the current nesting.
  void line(const std::string &text);
  /// A fresh variable name.
  std::string fresh(const std::string &stem = "v");

  /// The code written so far.
  const std::string &code() const { return code_; }
  const std::string &error() const { return error_; }
  bool failed() const { return !error_.empty(); }

  /// The linear offset of `index` in a row-major tensor of `shape`.
  static std::string linearize(const Index &index, llvm::ArrayRef<Dim> shape);
  /// The indices in `shape` of a linear offset (the same variables when asked twice).
  Index delinearize(const std::string &offset, llvm::ArrayRef<Dim> shape);
  /// Records that `index` in `shape` is at linear offset `offset`, so that a reshape
  /// reading it back through that offset finds the same index (and the values defined
  /// at it).
  void alias(const Index &index, llvm::ArrayRef<Dim> shape, const std::string &offset);

private:
  std::string compute(mlir::Operation *op, const Index &index);
  std::string elementwise(mlir::Operation *op, const Index &index);
  /// `index` of a broadcast result as an index of `operand` (dropped leading dims,
  /// 0 where the operand has a static 1).
  Index broadcastIndex(mlir::Value operand, const Index &index);
  std::string constant(ConstantOp op, const Index &index);
  std::string sliceValue(SliceOp op, const Index &index);
  std::string concatValue(ConcatOp op, const Index &index);
  std::string ropeValue(RopeOp op, const Index &index);
  std::string fail(mlir::Operation *op, const std::string &why);

  /// What an open C++ block knows; inner blocks see their enclosing blocks' entries.
  struct Scope {
    /// (value, index text) -> the variable holding it.
    std::map<std::pair<void *, std::string>, std::string> values;
    /// (offset, shape) -> the index delinearized from it, and back.
    std::map<std::pair<std::string, std::string>, Index> delinearized;
    std::map<std::string, std::pair<std::string, std::string>> origin;
  };
  template <typename Map, typename Key>
  const typename Map::mapped_type *lookup(Map Scope::*map, const Key &key) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto found = ((*it).*map).find(key); found != ((*it).*map).end())
        return &found->second;
    return nullptr;
  }

  llvm::DenseMap<mlir::Value, std::string> inputs_;
  std::vector<Scope> scopes_;
  std::string code_;
  std::string error_;
  int indent_ = 1;
  int counter_ = 0;
};

} // namespace loom::cuda

#endif // LOOM_COMPILER_CODEGEN_CUDA_ELEMENTEMITTER_H
