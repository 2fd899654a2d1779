//===- OnnxImporter.h - State of one ONNX import -------------------*- C++ -*-===//
//
// Internal to the ONNX importer. Each ONNX value maps to a Slot: a loom value and,
// for the small integer tensors that exporters use to compute shapes, the contents as
// dimensions (static numbers or named sizes). Shape arithmetic runs on those contents
// at import time, so Reshape, Expand, Range and friends get shapes the verifiers can
// check, and the data-carrying graph keeps only real tensor work.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H
#define LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H

#include "compiler/import/GraphBuilder.h"

#include <onnx/onnx_pb.h>

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loom::onnximport {

/// What is known about one ONNX value.
struct Slot {
  mlir::Value value;
  /// For integer (or boolean) tensors of rank 0 or 1 whose elements are known at import
  /// time: one Dim per element (a static number or a named size). Booleans are 0/1.
  std::optional<Shape> contents;
  /// Rank 0 (a scalar) rather than 1 when contents are known.
  bool scalar = false;
};

/// A known integer as contents. INT64_MIN is MLIR's marker of a dynamic size, so it is
/// stored as INT64_MIN + 1, which every use (slice bounds, mostly) reads the same way.
inline Dim contentDim(int64_t value) {
  return Dim::fixed(value == std::numeric_limits<int64_t>::min() ? value + 1 : value);
}

class Importer;
/// Converts one node; returns false after recording an error.
using Converter = bool (*)(Importer &, const onnx::NodeProto &);

/// Converters by op type. A node converts when the model's opset is at least
/// `sinceOpset` (the first version of the operator whose meaning the converter
/// implements; later versions only added element types or the attributes listed) and
/// it has no attribute outside `attributes` (space-separated), so that an attribute a
/// newer opset adds is refused by name rather than ignored.
struct OpInfo {
  Converter convert;
  int64_t sinceOpset = 13;
  const char *attributes = "";
};
const std::map<std::string, OpInfo> &converters();

class Importer {
public:
  Importer(GraphBuilder &g, std::string folder, int64_t opset, std::vector<std::string> &errors)
      : g(g), folder(std::move(folder)), opset(opset), errors(errors) {}

  GraphBuilder &g;
  std::string folder;
  int64_t opset;
  std::vector<std::string> &errors;
  std::map<std::string, Slot> slots;
  /// Where each named dimension comes from: a graph input and an axis (for iota).
  std::map<std::string, std::pair<mlir::Value, int64_t>> dimSources;

  /// Records an error about `node` and returns false.
  bool fail(const onnx::NodeProto &node, const std::string &message);

  // Inputs of a node.
  size_t numInputs(const onnx::NodeProto &node) const;
  bool hasInput(const onnx::NodeProto &node, int i) const;
  /// The tensor of input `i`, materializing known contents as a constant if needed.
  mlir::Value input(const onnx::NodeProto &node, int i);
  /// The slot's value, made a constant from its contents when those are static; null
  /// (with `why`) when they hold sizes of dynamic dimensions.
  mlir::Value materialize(Slot &slot, std::string &why);
  /// Known contents of input `i`, or nullopt.
  std::optional<Shape> contents(const onnx::NodeProto &node, int i);
  /// Known static integer contents of input `i` (every element a number).
  std::optional<std::vector<int64_t>> staticInts(const onnx::NodeProto &node, int i);
  /// Defines output `i`.
  void define(const onnx::NodeProto &node, int i, mlir::Value value,
              std::optional<Shape> contents = std::nullopt, bool scalar = false);

  // Attributes.
  const onnx::AttributeProto *attr(const onnx::NodeProto &node, const std::string &name) const;
  int64_t attrInt(const onnx::NodeProto &node, const std::string &name, int64_t fallback) const;
  float attrFloat(const onnx::NodeProto &node, const std::string &name, float fallback) const;
  std::optional<std::vector<int64_t>> attrInts(const onnx::NodeProto &node,
                                               const std::string &name) const;
  std::string attrString(const onnx::NodeProto &node, const std::string &name,
                         const std::string &fallback) const;

  /// Loom element type of an ONNX TensorProto data type; null if unsupported.
  mlir::Type elementType(int32_t onnxType) const;
  /// A tensor (initializer or Constant value) as a loom value: small ones become
  /// constants (and get contents when integer), large ones named weights.
  bool materializeTensor(const onnx::TensorProto &tensor, Slot &out, std::string &error);

  /// A constant integer tensor from static contents.
  mlir::Value intConstant(llvm::ArrayRef<int64_t> values, bool scalar, mlir::Type type);
  /// Normalizes a possibly negative axis; records an error if out of range.
  bool normalizeAxis(const onnx::NodeProto &node, int64_t &axis, int64_t rank);
};

/// Rank of a value's tensor type.
inline int64_t rankOf(mlir::Value value) {
  return llvm::cast<mlir::RankedTensorType>(value.getType()).getRank();
}
inline mlir::Type elementOf(mlir::Value value) {
  return llvm::cast<mlir::RankedTensorType>(value.getType()).getElementType();
}

} // namespace loom::onnximport

#endif // LOOM_COMPILER_IMPORT_ONNX_ONNXIMPORTER_H
