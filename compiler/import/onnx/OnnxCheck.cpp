//===- OnnxCheck.cpp - Structural validation of an ONNX graph --------------===//

#include "compiler/import/onnx/OnnxCheck.h"

#include <limits>
#include <map>
#include <set>

namespace loom::onnximport {

namespace {

constexpr int kMany = std::numeric_limits<int>::max();

/// How many inputs and outputs an operator takes (ONNX's schemas, for the operators
/// Loom converts); optional trailing ones may be left out or named "".
struct Arity {
  int minInputs, maxInputs, minOutputs, maxOutputs;
};

const std::map<std::string, Arity> &arities() {
  static const std::map<std::string, Arity> table = {
      {"Add", {2, 2, 1, 1}},          {"And", {2, 2, 1, 1}},
      {"Attention", {3, 7, 1, 4}},    {"Cast", {1, 1, 1, 1}},
      {"CastLike", {2, 2, 1, 1}},     {"Concat", {1, kMany, 1, 1}},
      {"Constant", {0, 0, 1, 1}},     {"ConstantOfShape", {1, 1, 1, 1}},
      {"Cos", {1, 1, 1, 1}},          {"CumSum", {2, 2, 1, 1}},
      {"Div", {2, 2, 1, 1}},          {"Equal", {2, 2, 1, 1}},
      {"Erf", {1, 1, 1, 1}},          {"Exp", {1, 1, 1, 1}},
      {"Expand", {2, 2, 1, 1}},       {"Flatten", {1, 1, 1, 1}},
      {"Gather", {2, 2, 1, 1}},       {"GatherElements", {2, 2, 1, 1}},
      {"GatherND", {2, 2, 1, 1}},     {"Gelu", {1, 1, 1, 1}},
      {"Gemm", {2, 3, 1, 1}},         {"Greater", {2, 2, 1, 1}},
      {"GreaterOrEqual", {2, 2, 1, 1}}, {"Identity", {1, 1, 1, 1}},
      {"IsNaN", {1, 1, 1, 1}},        {"LayerNormalization", {2, 3, 1, 3}},
      {"LogSoftmax", {1, 1, 1, 1}},   {"Less", {2, 2, 1, 1}},
      {"LessOrEqual", {2, 2, 1, 1}},  {"Log", {1, 1, 1, 1}},
      {"MatMul", {2, 2, 1, 1}},       {"Max", {1, kMany, 1, 1}},
      {"Min", {1, kMany, 1, 1}},      {"Mod", {2, 2, 1, 1}},
      {"Mul", {2, 2, 1, 1}},          {"Neg", {1, 1, 1, 1}},
      {"Not", {1, 1, 1, 1}},          {"Or", {2, 2, 1, 1}},
      {"Pad", {2, 4, 1, 1}},          {"Pow", {2, 2, 1, 1}},
      {"Range", {3, 3, 1, 1}},        {"Reciprocal", {1, 1, 1, 1}},
      {"ReduceMax", {1, 2, 1, 1}},    {"ReduceMean", {1, 2, 1, 1}},
      {"ReduceSum", {1, 2, 1, 1}},    {"Relu", {1, 1, 1, 1}},
      {"Reshape", {2, 2, 1, 1}},      {"RotaryEmbedding", {3, 4, 1, 1}},
      {"RMSNormalization", {2, 2, 1, 1}}, {"Shape", {1, 1, 1, 1}},
      {"Sigmoid", {1, 1, 1, 1}},      {"Sin", {1, 1, 1, 1}},
      {"Slice", {3, 5, 1, 1}},        {"Softmax", {1, 1, 1, 1}},
      {"Split", {1, 2, 1, kMany}},    {"Size", {1, 1, 1, 1}},
      {"Sqrt", {1, 1, 1, 1}},         {"Squeeze", {1, 2, 1, 1}},
      {"Sub", {2, 2, 1, 1}},          {"Sum", {1, kMany, 1, 1}},
      {"Tanh", {1, 1, 1, 1}},         {"Transpose", {1, 1, 1, 1}},
      {"Trilu", {1, 2, 1, 1}},        {"Unsqueeze", {2, 2, 1, 1}},
      {"Where", {3, 3, 1, 1}},
  };
  return table;
}

/// The type each attribute Loom reads must have. ONNX uses each of these names with
/// one type across the operators Loom converts.
const std::map<std::string, onnx::AttributeProto::AttributeType> &attributeTypes() {
  using A = onnx::AttributeProto;
  static const std::map<std::string, A::AttributeType> table = {
      {"allowzero", A::INT},    {"alpha", A::FLOAT},
      {"approximate", A::STRING}, {"axes", A::INTS},
      {"axis", A::INT},
      {"batch_dims", A::INT},   {"beta", A::FLOAT},
      {"end", A::INT},          {"epsilon", A::FLOAT},
      {"exclusive", A::INT},    {"fmod", A::INT},
      {"interleaved", A::INT},  {"is_causal", A::INT},
      {"keepdims", A::INT},     {"kv_num_heads", A::INT},
      {"left_window_size", A::INT}, {"mode", A::STRING},
      {"noop_with_empty_axes", A::INT}, {"num_heads", A::INT},
      {"num_outputs", A::INT},  {"perm", A::INTS},
      {"q_num_heads", A::INT},  {"qk_matmul_output_mode", A::INT},
      {"reverse", A::INT},      {"right_window_size", A::INT},
      {"rotary_embedding_dim", A::INT}, {"round_mode", A::STRING},
      {"saturate", A::INT},     {"scale", A::FLOAT},
      {"softcap", A::FLOAT},    {"softmax_precision", A::INT},
      {"start", A::INT},        {"stash_type", A::INT},
      {"to", A::INT},           {"transA", A::INT},
      {"transB", A::INT},       {"upper", A::INT},
      {"value", A::TENSOR},     {"value_float", A::FLOAT},
      {"value_floats", A::FLOATS}, {"value_int", A::INT},
      {"value_ints", A::INTS},
  };
  return table;
}

std::string typeName(onnx::AttributeProto::AttributeType type) {
  return onnx::AttributeProto::AttributeType_IsValid(type)
             ? onnx::AttributeProto::AttributeType_Name(type)
             : "type " + std::to_string(static_cast<int>(type));
}

/// Bytes per element of raw data, 0 for types without a fixed byte size.
int64_t elementBytes(int32_t type) {
  using T = onnx::TensorProto;
  switch (type) {
  case T::DOUBLE: case T::INT64: case T::UINT64: case T::COMPLEX64:
    return 8;
  case T::FLOAT: case T::INT32: case T::UINT32:
    return 4;
  case T::FLOAT16: case T::BFLOAT16: case T::INT16: case T::UINT16:
    return 2;
  case T::INT8: case T::UINT8: case T::BOOL:
    return 1;
  case 17: case 18: case 19: case 20: // the float8 types (newer than this onnx.proto)
    return 1;
  case T::COMPLEX128:
    return 16;
  default:
    return 0;
  }
}

/// How many values the typed field of `tensor`'s data type holds per element, and
/// how many it holds in all.
int64_t typedCount(const onnx::TensorProto &t, int64_t &perElement) {
  using T = onnx::TensorProto;
  perElement = 1;
  switch (t.data_type()) {
  case T::FLOAT:
    return t.float_data_size();
  case T::COMPLEX64:
    perElement = 2;
    return t.float_data_size();
  case T::INT64:
    return t.int64_data_size();
  case T::DOUBLE:
    return t.double_data_size();
  case T::COMPLEX128:
    perElement = 2;
    return t.double_data_size();
  case T::UINT32: case T::UINT64:
    return t.uint64_data_size();
  case T::STRING:
    return t.string_data_size();
  default:
    return t.int32_data_size();
  }
}

class Checker {
public:
  explicit Checker(std::vector<std::string> &errors) : errors_(errors) {}

  void graph(const onnx::GraphProto &graph) {
    for (const onnx::ValueInfoProto &info : graph.input())
      valueInfo(info, "graph input");
    for (const onnx::TensorProto &tensor : graph.initializer())
      initializer(tensor);
    // Initializers may repeat graph inputs (their defaults); anything else is defined once.
    std::set<std::string> inputNames;
    for (const onnx::ValueInfoProto &info : graph.input()) {
      if (!inputNames.insert(info.name()).second)
        errors_.push_back("graph input '" + info.name() + "' is declared twice");
      defined_.insert(info.name());
    }
    for (const onnx::TensorProto &tensor : graph.initializer())
      if (!initializers_.insert(tensor.name()).second)
        errors_.push_back("initializer '" + tensor.name() + "' is defined twice");
    defined_.insert(initializers_.begin(), initializers_.end());
    for (int n = 0; n < graph.node_size(); ++n)
      node(graph.node(n), n);
    for (const onnx::ValueInfoProto &info : graph.output())
      valueInfo(info, "graph output");
  }

private:
  void dims(const onnx::TensorShapeProto &shape, const std::string &what) {
    for (int i = 0; i < shape.dim_size(); ++i)
      if (shape.dim(i).has_dim_value() && shape.dim(i).dim_value() < 0)
        errors_.push_back(what + " has a negative dimension (" +
                          std::to_string(shape.dim(i).dim_value()) + " at axis " +
                          std::to_string(i) + ")");
  }

  void valueInfo(const onnx::ValueInfoProto &info, const std::string &kind) {
    std::string what = kind + " '" + info.name() + "'";
    if (info.name().empty())
      errors_.push_back(kind + " without a name");
    if (info.type().has_tensor_type() && info.type().tensor_type().has_shape())
      dims(info.type().tensor_type().shape(), what);
  }

  void initializer(const onnx::TensorProto &tensor) {
    if (tensor.name().empty())
      errors_.push_back("an initializer has no name");
    tensorData(tensor, "initializer '" + tensor.name() + "'");
  }

  void tensorData(const onnx::TensorProto &tensor, const std::string &what) {
    int64_t count = 1;
    bool overflow = false;
    for (int64_t d : tensor.dims()) {
      if (d < 0) {
        errors_.push_back(what + " has a negative dimension (" + std::to_string(d) + ")");
        return;
      }
      overflow |= __builtin_mul_overflow(count, d, &count);
    }
    if (overflow) {
      errors_.push_back(what + ": the element count of its shape overflows");
      return;
    }
    using T = onnx::TensorProto;
    int32_t type = tensor.data_type();
    // External data is checked against its file when read; UINT4, INT4 and FLOAT4E2M1
    // (21 to 23) pack two elements per value.
    if (tensor.data_location() == T::EXTERNAL || (type >= 21 && type <= 23))
      return;
    int64_t bytes = elementBytes(tensor.data_type()), perElement = 1;
    int64_t typed = typedCount(tensor, perElement);
    if (tensor.has_raw_data()) {
      int64_t needed = 0;
      if (bytes && (__builtin_mul_overflow(count, bytes, &needed) ||
                    static_cast<uint64_t>(needed) != tensor.raw_data().size()))
        errors_.push_back(what + " has " + std::to_string(tensor.raw_data().size()) +
                          " bytes of data; its shape needs " +
                          std::to_string(count) + " elements of " +
                          std::to_string(bytes) + " bytes");
      if (typed)
        errors_.push_back(what + " has both raw_data and typed data");
    } else if (typed != count * perElement) {
      errors_.push_back(what + " holds " + std::to_string(typed / perElement) +
                        " elements; its shape needs " + std::to_string(count));
    }
  }

  void node(const onnx::NodeProto &node, int index) {
    std::string what = "node '" +
                       (node.name().empty() ? "#" + std::to_string(index) : node.name()) +
                       "' (" + node.op_type() + ")";
    auto arity = arities().find(node.op_type());
    bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
    if (defaultDomain && arity != arities().end()) {
      const Arity &a = arity->second;
      count(what, "inputs", node.input_size(), a.minInputs, a.maxInputs);
      count(what, "outputs", node.output_size(), a.minOutputs, a.maxOutputs);
      for (int i = 0; i < std::min(node.input_size(), a.minInputs); ++i)
        if (node.input(i).empty())
          errors_.push_back(what + ": required input " + std::to_string(i) +
                            " has no name");
      for (int i = 0; i < std::min(node.output_size(), a.minOutputs); ++i)
        if (node.output(i).empty())
          errors_.push_back(what + ": required output " + std::to_string(i) +
                            " has no name");
    }
    std::set<std::string> seen;
    for (const onnx::AttributeProto &attribute : node.attribute()) {
      if (!seen.insert(attribute.name()).second)
        errors_.push_back(what + ": attribute '" + attribute.name() + "' is given twice");
      auto expected = attributeTypes().find(attribute.name());
      if (defaultDomain && expected != attributeTypes().end() &&
          attribute.type() != expected->second)
        errors_.push_back(what + ": attribute '" + attribute.name() + "' is " +
                          typeName(attribute.type()) + "; it must be " +
                          typeName(expected->second));
      else if (attribute.type() == onnx::AttributeProto::TENSOR)
        tensorData(attribute.t(), what + ": attribute '" + attribute.name() + "'");
    }
    for (const std::string &input : node.input())
      if (!input.empty() && !defined_.count(input))
        errors_.push_back(what + ": input '" + input + "' is not defined before use");
    for (const std::string &output : node.output()) {
      if (output.empty())
        continue;
      if (!defined_.insert(output).second)
        errors_.push_back(what + ": output '" + output +
                          "' is already defined (every value has one producer)");
    }
  }

  void count(const std::string &what, const char *kind, int actual, int min, int max) {
    if (actual >= min && actual <= max)
      return;
    std::string range = min == max     ? std::to_string(min)
                        : max == kMany ? "at least " + std::to_string(min)
                                       : std::to_string(min) + " to " + std::to_string(max);
    errors_.push_back(what + " has " + std::to_string(actual) + " " + kind +
                      "; the operator takes " + range);
  }

  std::vector<std::string> &errors_;
  std::set<std::string> defined_, initializers_;
};

} // namespace

bool checkGraph(const onnx::GraphProto &graph, std::vector<std::string> &errors) {
  size_t before = errors.size();
  Checker(errors).graph(graph);
  return errors.size() == before;
}

} // namespace loom::onnximport
