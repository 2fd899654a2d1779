//===- onnx-conformance.cpp - Runs every ONNX node conformance case --------===//
//
// Usage: loom-onnx-conformance <onnx-node dir> [--must-pass FILE] [--write FILE]
//                              [--verbose] [--only PREFIX]
//
// For each case: import model.onnx, run it on the reference executor with each
// test_data_set's inputs and compare with its expected outputs (floats: |a - e| <=
// 1e-5 + 1e-3 |e|, with 1e-3 widened to two ulps for f16 and bf16; NaN matching NaN;
// integers and booleans exactly). Prints a table by
// operator (passed, failed, refused at import) and why cases were refused. With
// --must-pass, fails when a case listed in FILE does not pass; --write FILE records the
// passing cases of the listed operators. Graph inputs that feed shapes, axes or bounds
// are folded into constants from the first data set: an ahead-of-time compile needs
// them at compile time (such cases are then checked on that data set only).
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/import/onnx/OnnxTensor.h"
#include "compiler/reference/Reference.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
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
      {"Trilu", {1}},     {"Pad", {1, 3}}};
  auto it = positions.find(op);
  return it != positions.end() && it->second.count(index);
}

/// Moves graph inputs that feed compile-time operands into initializers, with the values
/// of the case's first data set, as a user compiling for those values would. Returns
/// true if the model changed; `kept` receives the data-set index of each graph input
/// that remains.
bool foldCompileTimeInputs(const std::string &caseDir, onnx::ModelProto &model,
                           std::vector<int> &kept) {
  std::set<std::string> needed;
  for (const onnx::NodeProto &node : model.graph().node())
    for (int i = 0; i < node.input_size(); ++i)
      if (isCompileTimeOperand(node.op_type(), i))
        needed.insert(node.input(i));
  onnx::GraphProto *graph = model.mutable_graph();
  std::set<std::string> initializers;
  for (const onnx::TensorProto &t : graph->initializer())
    initializers.insert(t.name());
  bool changed = false;
  kept.clear();
  std::vector<bool> keep(graph->input_size(), true);
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
    keep[i] = false;
    changed = true;
  }
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i])
      kept.push_back(static_cast<int>(i));
  return changed;
}

bool readTensorFile(const std::string &path, onnx::TensorProto &tensor) {
  std::ifstream in(path, std::ios::binary);
  return in && tensor.ParseFromIstream(&in);
}

/// Compares one output; false with a reason on the first mismatch.
bool matches(const loom::reference::Tensor &actual, const loom::reference::Tensor &expected,
             std::string &why) {
  if (actual.shape != expected.shape) {
    why = "shape " + actual.describe() + ", expected " + expected.describe();
    return false;
  }
  // 1e-3, widened to two units in the last place for 16-bit floats: their expected
  // values were computed with rounding at every step, which a different (equally
  // valid) order of operations does not reproduce to the last bit.
  double relative = expected.type == loom::reference::ElementType::BF16 ? 2.0 / 128
                    : expected.type == loom::reference::ElementType::F16 ? 2.0 / 1024
                                                                         : 1e-3;
  for (int64_t i = 0; i < expected.numElements(); ++i) {
    bool ok;
    double a = actual.asDouble(i), e = expected.asDouble(i);
    if (!expected.isFloat())
      ok = actual.ints[i] == expected.ints[i];
    else if (std::isnan(e) || std::isnan(a))
      ok = std::isnan(e) && std::isnan(a);
    else if (std::isinf(e))
      ok = a == e;
    else
      ok = std::fabs(a - e) <= 1e-5 + relative * std::fabs(e);
    if (!ok) {
      std::ostringstream text;
      text << "element " << i << " is " << a << ", expected " << e;
      why = text.str();
      return false;
    }
  }
  return true;
}

/// Runs every data set of a case through `executor`; false with a reason on failure.
bool runCase(const std::string &caseDir, loom::reference::Executor &executor,
             const std::vector<int> &inputIndices, bool firstSetOnly, std::string &why) {
  using namespace loom;
  int sets = 0;
  for (int set = 0;; ++set) {
    std::string dir = caseDir + "/test_data_set_" + std::to_string(set);
    if (access(dir.c_str(), F_OK) != 0 || (firstSetOnly && set > 0))
      break;
    ++sets;
    std::vector<reference::Tensor> inputs;
    for (size_t k = 0; k < inputIndices.size(); ++k) {
      onnx::TensorProto proto;
      std::string file = dir + "/input_" + std::to_string(inputIndices[k]) + ".pb";
      reference::Tensor tensor;
      if (!readTensorFile(file, proto) ||
          !onnximport::decodeTensor(proto, dir, executor.inputs()[k].type, tensor, why)) {
        why = "cannot read " + file + (why.empty() ? "" : ": " + why);
        return false;
      }
      inputs.push_back(std::move(tensor));
    }
    std::vector<reference::Tensor> outputs;
    if (!executor.run(inputs, outputs, why))
      return false;
    for (size_t j = 0; j < outputs.size(); ++j) {
      onnx::TensorProto proto;
      std::string file = dir + "/output_" + std::to_string(j) + ".pb";
      reference::Tensor expected;
      reference::ElementType expectedType;
      if (!readTensorFile(file, proto)) {
        why = "cannot read " + file;
        return false;
      }
      if (onnximport::elementTypeOf(proto.data_type(), expectedType) &&
          expectedType != outputs[j].type) {
        why = "output " + std::to_string(j) + " is " +
              reference::elementTypeName(outputs[j].type) + ", expected " +
              reference::elementTypeName(expectedType);
        return false;
      }
      if (!onnximport::decodeTensor(proto, dir, outputs[j].type, expected, why)) {
        why = "cannot read " + file + (why.empty() ? "" : ": " + why);
        return false;
      }
      if (!matches(outputs[j], expected, why)) {
        why = "output " + std::to_string(j) + " of data set " + std::to_string(set) + ": " +
              why;
        return false;
      }
    }
  }
  if (sets == 0) {
    why = "no test_data_set";
    return false;
  }
  return true;
}

/// A short category for why a case was refused at import.
std::string refusalCategory(const std::string &error) {
  if (error.find("outside the range Loom knows") != std::string::npos)
    return "opset newer than Loom knows";
  if (error.find(" with attribute '") != std::string::npos)
    return "attribute not supported";
  if (error.find("converted from opset") != std::string::npos)
    return "opset older than the converter";
  if (error.find("element type") != std::string::npos ||
      error.find("not a ranked tensor of a supported element type") != std::string::npos)
    return "element type Loom does not support";
  if (error.find("[control flow") != std::string::npos)
    return "control flow (Loop/If/Scan) not supported";
  if (error.find("unsupported operator") != std::string::npos)
    return "operator not supported";
  return "attributes or inputs not supported";
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
                         "[--verbose] [--only PREFIX]\n", argv[0]);
    return 2;
  }
  std::string root = argv[1], mustPassPath, writePath, only;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--must-pass" && i + 1 < argc)
      mustPassPath = argv[++i];
    else if (arg == "--write" && i + 1 < argc)
      writePath = argv[++i];
    else if (arg == "--only" && i + 1 < argc)
      only = argv[++i];
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
    int passed = 0, failed = 0, refused = 0;
  };
  std::map<std::string, Row> table;
  std::set<std::string> passed, listedPassed;
  std::map<std::string, std::string> reasons;
  std::map<std::string, std::vector<std::string>> listedRefusals; // category -> cases
  for (const std::string &name : cases) {
    if (!only.empty() && name.rfind(only, 0) != 0)
      continue;
    std::string caseDir = root + "/" + name, path = caseDir + "/model.onnx";
    onnx::ModelProto model;
    std::ifstream in(path, std::ios::binary);
    if (!model.ParseFromIstream(&in))
      continue;
    std::string op = operatorOf(name, model);
    bool listed = kListedOperators.count(op);
    std::string importPath = path;
    std::vector<int> inputIndices;
    bool folded = foldCompileTimeInputs(caseDir, model, inputIndices);
    if (folded) {
      importPath = scratch + "/" + name + ".onnx";
      std::ofstream out(importPath, std::ios::binary);
      model.SerializeToOstream(&out);
    }
    loom::ImportResult result;
    std::string error;
    bool imported = loom::importModel(importPath, loom::ImportOptions(), result, error);
    Row &row = table[op];
    if (!imported) {
      if (importPath != path)
        std::remove(importPath.c_str());
      ++row.refused;
      reasons[name] = "refused: " + error.substr(0, error.find('\n', error.find('\n') + 1));
      if (listed)
        listedRefusals[refusalCategory(error)].push_back(name);
      if (verbose) {
        std::string flat = error;
        std::replace(flat.begin(), flat.end(), '\n', ' ');
        std::printf("refused %s [%s%s; %s]: %s\n", name.c_str(), op.c_str(),
                    listed ? ", listed" : "", refusalCategory(error).c_str(), flat.c_str());
      }
      continue;
    }
    // Weights are the initializers of the file that was imported (the folded copy,
    // which is removed once the case has run).
    std::unique_ptr<loom::reference::WeightSource> weights =
        loom::reference::openWeights(importPath, error);
    std::unique_ptr<loom::reference::Executor> executor =
        weights ? loom::reference::Executor::create(result.ir, std::move(weights), error)
                : nullptr;
    std::string why;
    bool ok = executor && runCase(caseDir, *executor, inputIndices, folded, why);
    if (importPath != path)
      std::remove(importPath.c_str());
    if (!executor)
      why = error;
    if (ok) {
      ++row.passed;
      passed.insert(name);
      if (listed)
        listedPassed.insert(name);
    } else {
      ++row.failed;
      reasons[name] = "failed: " + why;
      if (verbose)
        std::printf("failed %s: %s\n", name.c_str(), why.c_str());
    }
  }
  rmdir(scratch.c_str());
  Row all, listedRow;
  std::printf("%-28s %7s %7s %7s\n", "operator", "passed", "failed", "refused");
  for (const auto &[op, row] : table) {
    bool listed = kListedOperators.count(op);
    for (Row *sum : {&all, listed ? &listedRow : nullptr})
      if (sum) {
        sum->passed += row.passed;
        sum->failed += row.failed;
        sum->refused += row.refused;
      }
    std::printf("%-28s %7d %7d %7d%s\n", op.c_str(), row.passed, row.failed, row.refused,
                listed ? "" : "   (not a listed operator)");
  }
  std::printf("\nall cases: %d passed, %d failed, %d refused\n", all.passed, all.failed,
              all.refused);
  std::printf("cases of the listed operators: %d passed, %d failed, %d refused\n",
              listedRow.passed, listedRow.failed, listedRow.refused);
  for (const auto &[category, names] : listedRefusals) {
    std::printf("  refused (listed operators), %s: %zu\n", category.c_str(), names.size());
    // The few refusals that are not about element types are named one by one.
    if (category != "element type Loom does not support")
      for (const std::string &name : names)
        std::printf("    %s\n", name.c_str());
  }

  if (!writePath.empty()) {
    std::ofstream out(writePath);
    out << "# ONNX node cases that must pass on the reference executor (regenerate with\n"
           "# loom-onnx-conformance <onnx-node dir> --write FILE).\n";
    for (const std::string &name : listedPassed)
      out << name << "\n";
  }
  if (!mustPassPath.empty()) {
    int regressions = 0;
    for (const std::string &name : readList(mustPassPath)) {
      if (!only.empty() && name.rfind(only, 0) != 0)
        continue;
      if (!passed.count(name)) {
        std::printf("REGRESSION: %s: %s\n", name.c_str(),
                    reasons.count(name) ? reasons[name].c_str() : "case missing");
        ++regressions;
      }
    }
    if (regressions) {
      std::printf("%d must-pass case(s) no longer pass\n", regressions);
      return 1;
    }
  }
  return 0;
}
