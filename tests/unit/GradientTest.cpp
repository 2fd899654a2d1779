//===- GradientTest.cpp - Every gradient rule against finite differences ----===//
//
// One case per rule (and per variant of a rule): a tiny f64 function whose weights are
// the values differentiated, with the loss sum(op(...) * r) for random r. loom-autodiff
// gives the gradients; central differences of the loss, run on the reference executor
// in f64, must agree to 1e-6 relative (max |fd - autodiff| / max |fd| per weight).
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

using loom::reference::ElementType;
using loom::reference::Shape;
using loom::reference::Tensor;

/// Weights held in memory, so that a test can perturb them between runs.
class MapWeights : public loom::reference::WeightSource {
public:
  explicit MapWeights(std::map<std::string, Tensor> weights)
      : weights_(std::move(weights)) {}
  bool load(const std::string &name, ElementType, const Shape &shape, Tensor &out,
            std::string &error) override {
    auto it = weights_.find(name);
    if (it == weights_.end() || it->second.shape != shape) {
      error = "no weight '" + name + "' of that shape";
      return false;
    }
    out = it->second;
    return true;
  }

private:
  std::map<std::string, Tensor> weights_;
};

/// One rule under test: the function's body and what feeds it.
struct Case {
  std::string name;
  /// Weights (differentiated), each uniform in [low, high].
  std::vector<std::pair<std::string, Shape>> weights;
  /// Extra inputs beside the random `r` (arguments after it, in order).
  std::vector<std::pair<std::string, Tensor>> inputs;
  /// Argument list after `%r: <out type>` and the body, which defines `%out`.
  std::string arguments, body;
  /// The type of `%out`, e.g. "tensor<3x4xf64>", and its shape.
  std::string outType;
  Shape outShape;
  double low = -1.0, high = 1.0;
  /// Step and tolerance (f64 unless the case goes through a narrower type).
  double step = 1e-5, tolerance = 1e-6;
};

/// Names a failing case by its rule instead of its bytes.
void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

std::string shapeText(const Shape &shape) {
  std::string text;
  for (int64_t d : shape)
    text += std::to_string(d) + "x";
  return text;
}

/// The function of a case: weights, the body, then sum(%out * %r).
std::string functionOf(const Case &c) {
  std::string ir = "func.func @forward(%r: " + c.outType +
                   (c.arguments.empty() ? "" : ", " + c.arguments) +
                   ") -> tensor<f64> attributes {loom.autodiff} {\n";
  for (const auto &[name, shape] : c.weights)
    ir += "  %" + name + " = loom.weight \"" + name + "\" : tensor<" + shapeText(shape) +
          "f64>\n";
  ir += c.body;
  ir += "  %p = loom.mul %out, %r : (" + c.outType + ", " + c.outType + ") -> " +
        c.outType + "\n";
  if (c.outShape.empty()) {
    ir += "  return %p : tensor<f64>\n}\n";
    return ir;
  }
  std::string axes;
  for (size_t i = 0; i < c.outShape.size(); ++i)
    axes += (i ? ", " : "") + std::to_string(i);
  ir += "  %l = loom.reduce sum %p axes [" + axes + "] : " + c.outType +
        " -> tensor<f64>\n";
  ir += "  return %l : tensor<f64>\n}\n";
  return ir;
}

Tensor randomTensor(const Shape &shape, std::mt19937 &rng, double low, double high) {
  Tensor t = Tensor::zeros(ElementType::F64, shape);
  std::uniform_real_distribution<double> uniform(low, high);
  for (double &v : t.floats)
    v = uniform(rng);
  return t;
}

Tensor ints(ElementType type, Shape shape, std::vector<int64_t> values) {
  Tensor t = Tensor::zeros(type, std::move(shape));
  t.ints = std::move(values);
  return t;
}

Tensor floats(Shape shape, std::vector<double> values) {
  Tensor t = Tensor::zeros(ElementType::F64, std::move(shape));
  t.floats = std::move(values);
  return t;
}

/// Runs `ir` with `weights` and `inputs`; the outputs by name.
std::map<std::string, Tensor> run(const std::string &ir,
                                  const std::map<std::string, Tensor> &weights,
                                  const std::map<std::string, Tensor> &inputs) {
  std::string error;
  auto executor =
      loom::reference::Executor::create(ir, std::make_unique<MapWeights>(weights), error);
  EXPECT_TRUE(executor) << error << "\n" << ir;
  std::vector<Tensor> outputs;
  std::map<std::string, Tensor> named;
  if (!executor)
    return named;
  EXPECT_TRUE(executor->run(inputs, outputs, error)) << error << "\n" << ir;
  for (size_t i = 0; i < outputs.size(); ++i)
    named[executor->outputs()[i].name] = outputs[i];
  return named;
}

class Gradient : public testing::TestWithParam<Case> {};

TEST_P(Gradient, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  std::mt19937 rng(1234);
  std::map<std::string, Tensor> weights, inputs;
  for (const auto &[name, shape] : c.weights)
    weights[name] = randomTensor(shape, rng, c.low, c.high);
  inputs["r"] = randomTensor(c.outShape, rng, -1.0, 1.0);
  for (const auto &[name, tensor] : c.inputs)
    inputs[name] = tensor;
  // The function's arguments are named by position: %r, then the case's own.
  std::string forward = functionOf(c);

  loom::OptimizeOptions options;
  options.pipeline = "loom-autodiff";
  loom::OptimizeResult differentiated;
  std::string error;
  ASSERT_TRUE(loom::optimizeModule(forward, options, differentiated, error))
      << error << "\n"
      << forward;
  std::map<std::string, Tensor> argInputs;
  argInputs["arg0"] = inputs["r"];
  for (size_t i = 0; i < c.inputs.size(); ++i)
    argInputs["arg" + std::to_string(i + 1)] = c.inputs[i].second;
  std::map<std::string, Tensor> outputs = run(differentiated.ir, weights, argInputs);
  ASSERT_FALSE(outputs.empty());

  auto loss = [&](const std::map<std::string, Tensor> &w) {
    std::map<std::string, Tensor> out = run(forward, w, argInputs);
    return out.empty() ? NAN : out.begin()->second.floats[0];
  };
  for (const auto &[name, shape] : c.weights) {
    auto it = outputs.find("grad." + name);
    ASSERT_NE(it, outputs.end()) << "no gradient of " << name << "\n"
                                 << differentiated.ir;
    const Tensor &grad = it->second;
    ASSERT_EQ(grad.shape, shape);
    double worst = 0, largest = 0;
    for (int64_t i = 0; i < grad.numElements(); ++i) {
      std::map<std::string, Tensor> plus = weights, minus = weights;
      plus[name].floats[i] += c.step;
      minus[name].floats[i] -= c.step;
      double fd = (loss(plus) - loss(minus)) / (2 * c.step);
      worst = std::max(worst, std::abs(fd - grad.floats[i]));
      largest = std::max(largest, std::abs(fd));
    }
    EXPECT_GT(largest, 0.0) << name << ": the loss does not depend on it";
    EXPECT_LE(worst / largest, c.tolerance) << name << ": max |fd - autodiff| = " << worst
                                            << ", max |fd| = " << largest << "\n"
                                            << differentiated.ir;
  }
}

/// `%out = <op> %x : <type>` for a unary op on [3, 4].
Case unary(const std::string &op, double low = -1.0, double high = 1.0) {
  Case c{op,
         {{"x", {3, 4}}},
         {},
         "",
         "  %out = loom." + op + " %x : tensor<3x4xf64>\n",
         "tensor<3x4xf64>",
         {3, 4}};
  c.low = low;
  c.high = high;
  return c;
}

/// `%out = <op> %x, %y` with x [3, 1] and y [4] broadcasting to [3, 4].
Case binary(const std::string &op, double low = -1.0, double high = 1.0) {
  Case c{op,
         {{"x", {3, 1}}, {"y", {4}}},
         {},
         "",
         "  %out = loom." + op +
             " %x, %y : (tensor<3x1xf64>, tensor<4xf64>) -> tensor<3x4xf64>\n",
         "tensor<3x4xf64>",
         {3, 4}};
  c.low = low;
  c.high = high;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char *op :
       {"neg", "relu", "exp", "tanh", "cos", "sin", "erf", "sigmoid", "silu"})
    all.push_back(unary(op));
  for (const char *op : {"log", "sqrt", "rsqrt", "reciprocal"})
    all.push_back(unary(op, 0.5, 2.0));
  for (const char *op : {"add", "sub", "mul", "max", "min"})
    all.push_back(binary(op));
  all.push_back(binary("div", 0.5, 2.0));
  all.push_back(binary("pow", 0.5, 2.0));

  all.push_back(
      {"select",
       {{"x", {3, 4}}, {"y", {4}}},
       {{"c", ints(ElementType::I1, {3, 4}, {1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1})}},
       "%c: tensor<3x4xi1>",
       "  %out = loom.select %c, %x, %y : (tensor<3x4xi1>, tensor<3x4xf64>, "
       "tensor<4xf64>) -> tensor<3x4xf64>\n",
       "tensor<3x4xf64>",
       {3, 4}});
  Case cast{"cast",
            {{"x", {3, 4}}},
            {},
            "",
            "  %h = loom.cast %x : tensor<3x4xf64> to tensor<3x4xf32>\n"
            "  %out = loom.cast %h : tensor<3x4xf32> to tensor<3x4xf64>\n",
            "tensor<3x4xf64>",
            {3, 4}};
  cast.step = 1e-2; // through f32: differences of rounded values
  cast.tolerance = 1e-4;
  all.push_back(cast);

  all.push_back({"matmul",
                 {{"x", {3, 4}}, {"y", {4, 5}}},
                 {},
                 "",
                 "  %out = loom.matmul %x, %y : (tensor<3x4xf64>, tensor<4x5xf64>) -> "
                 "tensor<3x5xf64>\n",
                 "tensor<3x5xf64>",
                 {3, 5}});
  all.push_back({"matmul_transposed_batched",
                 {{"x", {2, 4, 3}}, {"y", {5, 4}}},
                 {},
                 "",
                 "  %out = loom.matmul %x, %y transpose_lhs transpose_rhs : "
                 "(tensor<2x4x3xf64>, tensor<5x4xf64>) -> tensor<2x3x5xf64>\n",
                 "tensor<2x3x5xf64>",
                 {2, 3, 5}});
  all.push_back({"matmul_weight_rows",
                 {{"x", {2, 3, 4}}, {"y", {5, 4}}},
                 {},
                 "",
                 "  %out = loom.matmul %x, %y transpose_rhs : (tensor<2x3x4xf64>, "
                 "tensor<5x4xf64>) -> tensor<2x3x5xf64>\n",
                 "tensor<2x3x5xf64>",
                 {2, 3, 5}});
  all.push_back(
      {"matmul_batch_broadcast",
       {{"x", {2, 1, 3, 4}}, {"y", {3, 4, 2}}},
       {},
       "",
       "  %out = loom.matmul %x, %y : (tensor<2x1x3x4xf64>, tensor<3x4x2xf64>) -> "
       "tensor<2x3x3x2xf64>\n",
       "tensor<2x3x3x2xf64>",
       {2, 3, 3, 2}});
  all.push_back(
      {"linear",
       {{"x", {2, 3, 4}}, {"w", {5, 4}}, {"b", {5}}},
       {},
       "",
       "  %out = loom.linear %x, %w bias %b transpose_weight : (tensor<2x3x4xf64>, "
       "tensor<5x4xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>\n",
       "tensor<2x3x5xf64>",
       {2, 3, 5}});
  all.push_back({"linear_kn",
                 {{"x", {3, 4}}, {"w", {4, 5}}},
                 {},
                 "",
                 "  %out = loom.linear %x, %w : (tensor<3x4xf64>, tensor<4x5xf64>) -> "
                 "tensor<3x5xf64>\n",
                 "tensor<3x5xf64>",
                 {3, 5}});

  for (const char *kind : {"sum", "mean", "max", "min"}) {
    all.push_back({std::string("reduce_") + kind,
                   {{"x", {2, 3, 4}}},
                   {},
                   "",
                   std::string("  %out = loom.reduce ") + kind +
                       " %x axes [0, 2] : tensor<2x3x4xf64> -> tensor<3xf64>\n",
                   "tensor<3xf64>",
                   {3}});
    all.push_back(
        {std::string("reduce_") + kind + "_keep",
         {{"x", {2, 3, 4}}},
         {},
         "",
         std::string("  %out = loom.reduce ") + kind +
             " %x axes [1] keep_dims : tensor<2x3x4xf64> -> tensor<2x1x4xf64>\n",
         "tensor<2x1x4xf64>",
         {2, 1, 4}});
  }
  all.push_back({"cumsum",
                 {{"x", {3, 4}}},
                 {},
                 "",
                 "  %out = loom.cumsum %x axis 1 : tensor<3x4xf64>\n",
                 "tensor<3x4xf64>",
                 {3, 4}});
  all.push_back({"cumsum_exclusive_reverse",
                 {{"x", {3, 4}}},
                 {},
                 "",
                 "  %out = loom.cumsum %x axis 0 exclusive reverse : tensor<3x4xf64>\n",
                 "tensor<3x4xf64>",
                 {3, 4}});
  all.push_back({"softmax",
                 {{"x", {3, 4}}},
                 {},
                 "",
                 "  %out = loom.softmax %x axis 1 : tensor<3x4xf64>\n",
                 "tensor<3x4xf64>",
                 {3, 4}});
  all.push_back(
      {"rms_norm",
       {{"x", {3, 4}}, {"w", {4}}},
       {},
       "",
       "  %out = loom.rms_norm %x, %w axis 1 epsilon 1.0e-05 : (tensor<3x4xf64>, "
       "tensor<4xf64>) -> tensor<3x4xf64>\n",
       "tensor<3x4xf64>",
       {3, 4}});
  all.push_back(
      {"rms_norm_two_axes",
       {{"x", {2, 3, 4}}, {"w", {3, 4}}},
       {},
       "",
       "  %out = loom.rms_norm %x, %w axis 1 epsilon 1.0e-05 : (tensor<2x3x4xf64>, "
       "tensor<3x4xf64>) -> tensor<2x3x4xf64>\n",
       "tensor<2x3x4xf64>",
       {2, 3, 4}});

  all.push_back(
      {"gather",
       {{"x", {6, 4}}},
       {{"ids", ints(ElementType::I64, {2, 3}, {1, 4, 1, -1, 0, 1})}},
       "%ids: tensor<2x3xi64>",
       "  %out = loom.gather %x, %ids axis 0 : (tensor<6x4xf64>, tensor<2x3xi64>) -> "
       "tensor<2x3x4xf64>\n",
       "tensor<2x3x4xf64>",
       {2, 3, 4}});
  all.push_back(
      {"gather_inner_axis",
       {{"x", {3, 5}}},
       {{"ids", ints(ElementType::I64, {4}, {4, 0, 4, 2})}},
       "%ids: tensor<4xi64>",
       "  %out = loom.gather %x, %ids axis 1 : (tensor<3x5xf64>, tensor<4xi64>) -> "
       "tensor<3x4xf64>\n",
       "tensor<3x4xf64>",
       {3, 4}});
  all.push_back(
      {"scatter_add",
       {{"x", {3, 4}}},
       {{"ids", ints(ElementType::I64, {3}, {2, 0, 2})}},
       "%ids: tensor<3xi64>",
       "  %out = loom.scatter_add %x, %ids axis 0 : (tensor<3x4xf64>, tensor<3xi64>) "
       "-> tensor<5x4xf64>\n",
       "tensor<5x4xf64>",
       {5, 4}});
  all.push_back({"reshape",
                 {{"x", {2, 6}}},
                 {},
                 "",
                 "  %out = loom.reshape %x : tensor<2x6xf64> -> tensor<3x4xf64>\n",
                 "tensor<3x4xf64>",
                 {3, 4}});
  all.push_back({"transpose",
                 {{"x", {2, 3, 4}}},
                 {},
                 "",
                 "  %out = loom.transpose %x [2, 0, 1] : tensor<2x3x4xf64> -> "
                 "tensor<4x2x3xf64>\n",
                 "tensor<4x2x3xf64>",
                 {4, 2, 3}});
  all.push_back({"broadcast",
                 {{"x", {3, 1}}},
                 {},
                 "",
                 "  %out = loom.broadcast %x : tensor<3x1xf64> -> tensor<2x3x4xf64>\n",
                 "tensor<2x3x4xf64>",
                 {2, 3, 4}});
  all.push_back(
      {"concat",
       {{"x", {3, 2}}, {"y", {3, 1}}, {"z", {3, 3}}},
       {},
       "",
       "  %out = loom.concat %x, %y, %z axis 1 : (tensor<3x2xf64>, tensor<3x1xf64>, "
       "tensor<3x3xf64>) -> tensor<3x6xf64>\n",
       "tensor<3x6xf64>",
       {3, 6}});
  all.push_back(
      {"slice",
       {{"x", {4, 6}}},
       {},
       "",
       "  %out = loom.slice %x axes [0, 1] starts [1, -4] ends [3, "
       "9223372036854775807] steps [1, 1] : tensor<4x6xf64> -> tensor<2x4xf64>\n",
       "tensor<2x4xf64>",
       {2, 4}});

  std::mt19937 tables(7);
  Tensor cos = randomTensor({3, 4}, tables, -1, 1),
         sin = randomTensor({3, 4}, tables, -1, 1);
  for (const char *variant : {"", " interleaved"})
    all.push_back({std::string("rope") + (*variant ? "_interleaved" : ""),
                   {{"x", {1, 2, 3, 10}}},
                   {{"cos", cos}, {"sin", sin}},
                   "%cos: tensor<3x4xf64>, %sin: tensor<3x4xf64>",
                   std::string("  %out = loom.rope %x, %cos, %sin") + variant +
                       " : (tensor<1x2x3x10xf64>, tensor<3x4xf64>, tensor<3x4xf64>) -> "
                       "tensor<1x2x3x10xf64>\n",
                   "tensor<1x2x3x10xf64>",
                   {1, 2, 3, 10}});

  // Attention: GQA (4 query heads over 2 KV heads), causal over longer keys, and a mask
  // that blocks one key of the second batch row.
  std::vector<double> blocked(2 * 5, 0.0);
  blocked[5 + 3] = -1e30;
  const char *operands = "(tensor<2x4x3x8xf64>, tensor<2x2x5x8xf64>, tensor<2x2x5x6xf64>";
  std::vector<std::pair<std::string, Shape>> qkv = {
      {"q", {2, 4, 3, 8}}, {"k", {2, 2, 5, 8}}, {"v", {2, 2, 5, 6}}};
  all.push_back({"attention_causal",
                 qkv,
                 {},
                 "",
                 std::string("  %out = loom.attention %q, %k, %v causal : ") + operands +
                     ") -> tensor<2x4x3x6xf64>\n",
                 "tensor<2x4x3x6xf64>",
                 {2, 4, 3, 6}});
  all.push_back(
      {"attention_mask_scale_softcap",
       qkv,
       {{"m", floats({2, 1, 1, 5}, blocked)}},
       "%m: tensor<2x1x1x5xf64>",
       std::string("  %out = loom.attention %q, %k, %v mask %m causal scale 0.5 "
                   "softcap 2.0 : ") +
           operands + ", tensor<2x1x1x5xf64>) -> tensor<2x4x3x6xf64>\n",
       "tensor<2x4x3x6xf64>",
       {2, 4, 3, 6}});

  all.push_back(
      {"cross_entropy_shifted",
       {{"x", {2, 5, 7}}},
       {{"t", ints(ElementType::I64, {2, 5}, {3, 6, -100, 0, 2, 1, -100, 5, 5, 4})}},
       "%t: tensor<2x5xi64>",
       "  %out = loom.cross_entropy %x, %t shift_labels ignore_index -100 : "
       "(tensor<2x5x7xf64>, tensor<2x5xi64>) -> tensor<f64>\n",
       "tensor<f64>",
       {}});
  all.push_back({"cross_entropy",
                 {{"x", {4, 7}}},
                 {{"t", ints(ElementType::I32, {4}, {3, 0, 6, 0})}},
                 "%t: tensor<4xi32>",
                 "  %out = loom.cross_entropy %x, %t ignore_index 0 : (tensor<4x7xf64>, "
                 "tensor<4xi32>) -> tensor<f64>\n",
                 "tensor<f64>",
                 {}});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Rules, Gradient, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case> &info) {
                           return info.param.name;
                         });

} // namespace
