//===- OnnxCheck.h - Structural validation of an ONNX graph -------*- C++ -*-===//
//
// What onnx.checker verifies before anything is converted: input and output counts per
// operator, attribute types, single assignment of every value name, non-negative
// dimensions and initializer data that matches its shape. Converters may then read a
// node's outputs and attributes without checking them again.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_COMPILER_IMPORT_ONNX_ONNXCHECK_H
#define LOOM_COMPILER_IMPORT_ONNX_ONNXCHECK_H

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace loom::onnximport {

/// Appends one message per problem of `graph`, each naming the node, value or
/// initializer; returns whether there was none.
bool checkGraph(const onnx::GraphProto &graph, std::vector<std::string> &errors);

} // namespace loom::onnximport

#endif // LOOM_COMPILER_IMPORT_ONNX_ONNXCHECK_H
