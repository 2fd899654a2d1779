//===- onnx-import.cpp - Imports every ONNX node conformance case ----------===//
//
// Usage: loom-onnx-import-conformance <onnx-node dir> [--must-pass FILE] [--write FILE]
//                                     [--verbose]
//
// Imports each case's model.onnx, prints a table by operator (imported / refused), and
// with --must-pass fails when a case listed in FILE no longer imports. --write FILE
// records the cases of the listed operators that import today. Graph inputs that feed
// shapes, axes or bounds are folded into constants from the case's data first: an
// ahead-of-time compile needs them at compile time.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdio>
#include <dirent.h>
#include <unistd.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// Operators the importers issue lists; their cases are expected to import.
const std::set<std::string> kListedOperators = {
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Tanh",
    "Erf", "Sigmoid", "Relu", "Gelu", "Softmax", "LogSoftmax", "MatMul", "Gemm",
    "ReduceMean", "ReduceSum", "ReduceMax", "LayerNormalization", "RMSNormalization",
    "RotaryEmbedding", "Attention", "Gather", "GatherElements", "GatherND", "Reshape",
    "Transpose", "Concat", "Slice", "Split", "Squeeze", "Unsqueeze", "Expand", "Where",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Not", "Cast",
    "Range", "CumSum", "Shape", "ConstantOfShape", "Constant", "Identity", "IsNaN", "Max",
    "Min", "Trilu"};

/// The operator a case tests: its node's type when it has one node, else the listed
/// operator its folder is named after ("test_layer_normalization_2d_expanded").
std::string operatorOf(const std::string &caseName, const onnx::ModelProto &model) {
  if (model.graph().node_size() == 1)
    return model.graph().node(0).op_type();
  std::string best = "(composite)";
  size_t bestLength = 0;
  for (const std::string &op : kListedOperators) {
    std::string snake;
    for (size_t i = 0; i < op.size(); ++i) {
      bool boundary = i > 0 && std::isupper(op[i]) && std::islower(op[i - 1]);
      snake += std::string(boundary ? "_" : "") + static_cast<char>(std::tolower(op[i]));
    }
    std::string prefix = "test_" + snake;
    if (caseName.compare(0, prefix.size(), prefix) == 0 &&
        (caseName.size() == prefix.size() || caseName[prefix.size()] == '_') &&
        prefix.size() > bestLength) {
      best = op;
      bestLength = prefix.size();
    }
  }
  return best;
}

/// Operand positions that an ahead-of-time compile needs as constants: shapes, axes,
/// split sizes, slice bounds, range bounds.
bool isCompileTimeOperand(const std::string &op, int index) {
  static const std::map<std::string, std::set<int>> positions = {
      {"Reshape", {1}},   {"Expand", {1}},        {"Slice", {1, 2, 3, 4}},
      {"Split", {1}},     {"Squeeze", {1}},       {"Unsqueeze", {1}},
      {"ReduceSum", {1}}, {"ReduceMean", {1}},    {"ReduceMax", {1}},
      {"CumSum", {1}},    {"Range", {0, 1, 2}},   {"ConstantOfShape", {0}},
      {"Trilu", {1}}};
  auto it = positions.find(op);
  return it != positions.end() && it->second.count(index);
}

/// Moves graph inputs that feed compile-time operands into initializers, with the values
/// of the case's first data set, as a user compiling for those values would. Returns
/// true if the model changed.
bool foldCompileTimeInputs(const std::string &caseDir, onnx::ModelProto &model) {
  std::set<std::string> needed;
  for (const onnx::NodeProto &node : model.graph().node())
    for (int i = 0; i < node.input_size(); ++i)
      if (isCompileTimeOperand(node.op_type(), i))
        needed.insert(node.input(i));
  onnx::GraphProto *graph = model.mutable_graph();
  bool changed = false;
  for (int i = graph->input_size() - 1; i >= 0; --i) {
    if (!needed.count(graph->input(i).name()))
      continue;
    std::ifstream in(caseDir + "/test_data_set_0/input_" + std::to_string(i) + ".pb",
                     std::ios::binary);
    onnx::TensorProto value;
    if (!value.ParseFromIstream(&in))
      continue;
    value.set_name(graph->input(i).name());
    *graph->add_initializer() = value;
    graph->mutable_input()->DeleteSubrange(i, 1);
    changed = true;
  }
  return changed;
}

std::vector<std::string> listCases(const std::string &root) {
  std::vector<std::string> cases;
  if (DIR *dir = opendir(root.c_str())) {
    while (dirent *entry = readdir(dir))
      if (std::string(entry->d_name).rfind("test_", 0) == 0)
        cases.push_back(entry->d_name);
    closedir(dir);
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::set<std::string> readList(const std::string &path) {
  std::set<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#')
      names.insert(line);
  return names;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <onnx-node dir> [--must-pass FILE] [--write FILE] "
                         "[--verbose]\n", argv[0]);
    return 2;
  }
  std::string root = argv[1], mustPassPath, writePath;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--must-pass" && i + 1 < argc)
      mustPassPath = argv[++i];
    else if (arg == "--write" && i + 1 < argc)
      writePath = argv[++i];
    else if (arg == "--verbose")
      verbose = true;
  }
  std::vector<std::string> cases = listCases(root);
  if (cases.empty()) {
    std::fprintf(stderr, "no test_* cases under %s\n", root.c_str());
    return 1;
  }
  char scratchPattern[] = "/tmp/loom-onnx-conformance-XXXXXX";
  std::string scratch = mkdtemp(scratchPattern) ? scratchPattern : "/tmp";
  struct Row {
    int imported = 0, refused = 0;
  };
  std::map<std::string, Row> table;
  std::set<std::string> imported, listedImported;
  std::map<std::string, std::string> reasons;
  for (const std::string &name : cases) {
    std::string path = root + "/" + name + "/model.onnx";
    onnx::ModelProto model;
    std::ifstream in(path, std::ios::binary);
    if (!model.ParseFromIstream(&in))
      continue;
    std::string op = operatorOf(name, model);
    std::string importPath = path;
    if (foldCompileTimeInputs(root + "/" + name, model)) {
      importPath = scratch + "/" + name + ".onnx";
      std::ofstream out(importPath, std::ios::binary);
      model.SerializeToOstream(&out);
    }
    loom::ImportResult result;
    std::string error;
    bool ok = loom::importModel(importPath, loom::ImportOptions(), result, error);
    if (importPath != path)
      std::remove(importPath.c_str());
    Row &row = table[op];
    if (ok) {
      ++row.imported;
      imported.insert(name);
      if (kListedOperators.count(op))
        listedImported.insert(name);
    } else {
      ++row.refused;
      reasons[name] = error.substr(0, error.find('\n', error.find('\n') + 1));
      if (verbose)
        std::printf("refused %s: %s\n", name.c_str(), error.c_str());
    }
  }
  rmdir(scratch.c_str());
  int listedCases = 0, listedOk = 0;
  std::printf("%-26s %8s %8s\n", "operator", "imported", "refused");
  for (const auto &[op, row] : table) {
    bool listed = kListedOperators.count(op);
    if (listed) {
      listedCases += row.imported + row.refused;
      listedOk += row.imported;
    }
    std::printf("%-26s %8d %8d%s\n", op.c_str(), row.imported, row.refused,
                listed ? "" : "   (not a listed operator)");
  }
  std::printf("\nall cases: %zu imported of %zu; cases of listed operators: %d imported of "
              "%d\n", imported.size(), cases.size(), listedOk, listedCases);

  if (!writePath.empty()) {
    std::ofstream out(writePath);
    out << "# ONNX node cases that must import (regenerate with --write).\n";
    for (const std::string &name : listedImported)
      out << name << "\n";
  }
  if (!mustPassPath.empty()) {
    int regressions = 0;
    for (const std::string &name : readList(mustPassPath)) {
      if (!imported.count(name)) {
        std::printf("REGRESSION: %s no longer imports: %s\n", name.c_str(),
                    reasons.count(name) ? reasons[name].c_str() : "case missing");
        ++regressions;
      }
    }
    if (regressions) {
      std::printf("%d must-pass case(s) failed to import\n", regressions);
      return 1;
    }
  }
  return 0;
}
