//===- OnnxImport.cpp - ONNX models into loom IR ---------------------------===//
//
// Loading, initializers, graph inputs and outputs, and the driver. The converters of
// individual operators are in OnnxOps.cpp and OnnxShapeOps.cpp.
//
//===----------------------------------------------------------------------===//

#include "compiler/import/onnx/OnnxImport.h"
#include "compiler/import/onnx/OnnxCheck.h"
#include "compiler/import/onnx/OnnxImporter.h"
#include "compiler/import/onnx/OnnxTensor.h"
#include "loom/support/Checkpoint.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <set>

using namespace mlir;

namespace loom::onnximport {

/// Tensors of at most this many elements become loom.constant (so passes can read
/// values such as the 2 of x^2); larger ones stay loom.weight, bound by name.
constexpr int64_t kInlineFloatElements = 16;
/// Integer tensors are usually indices or shapes: inline them up to this size.
constexpr int64_t kInlineIntElements = 4096;
/// The newest default-domain opset whose operator set Loom has checked its converters
/// against (ONNX 1.23).
constexpr int64_t kNewestOpset = 28;

bool Importer::fail(const onnx::NodeProto &node, const std::string &message) {
  errors.push_back(node.op_type() + " node '" + node.name() + "': " + message);
  return false;
}

size_t Importer::numInputs(const onnx::NodeProto &node) const { return node.input_size(); }

bool Importer::hasInput(const onnx::NodeProto &node, int i) const {
  return i < node.input_size() && !node.input(i).empty();
}

std::optional<Shape> Importer::contents(const onnx::NodeProto &node, int i) {
  if (!hasInput(node, i))
    return std::nullopt;
  auto it = slots.find(node.input(i));
  return it == slots.end() ? std::nullopt : it->second.contents;
}

std::optional<std::vector<int64_t>> Importer::staticInts(const onnx::NodeProto &node, int i) {
  std::optional<Shape> known = contents(node, i);
  if (!known)
    return std::nullopt;
  std::vector<int64_t> values;
  for (const Dim &dim : *known) {
    if (!dim.isStatic())
      return std::nullopt;
    values.push_back(dim.size);
  }
  return values;
}

Value Importer::intConstant(ArrayRef<int64_t> values, bool scalar, Type type) {
  SmallVector<int64_t> shape;
  if (!scalar)
    shape.push_back(values.size());
  auto tensorType = RankedTensorType::get(shape, type);
  SmallVector<APInt> elements;
  for (int64_t v : values)
    elements.push_back(APInt(type.getIntOrFloatBitWidth(), v, /*isSigned=*/true));
  return ConstantOp::create(g.builder(), g.builder().getUnknownLoc(),
                            DenseElementsAttr::get(tensorType, elements));
}

Value Importer::input(const onnx::NodeProto &node, int i) {
  if (!hasInput(node, i))
    return {};
  auto it = slots.find(node.input(i));
  if (it == slots.end())
    return {};
  std::string why;
  Value value = materialize(it->second, why);
  if (!value)
    fail(node, "input '" + node.input(i) + "' " + why);
  return value;
}

Value Importer::materialize(Slot &slot, std::string &why) {
  if (!slot.value && slot.contents) {
    std::vector<int64_t> values;
    for (const Dim &dim : *slot.contents) {
      if (!dim.isStatic()) {
        why = "holds the size of dimension '" + toString(dim) +
              "' as data; computing with sizes of dynamic dimensions is not supported";
        return {};
      }
      values.push_back(dim.size);
    }
    slot.value = intConstant(values, slot.scalar, g.builder().getI64Type());
  }
  if (!slot.value)
    why = "has no value";
  return slot.value;
}

void Importer::define(const onnx::NodeProto &node, int i, Value value,
                      std::optional<Shape> contents, bool scalar) {
  if (i >= node.output_size() || node.output(i).empty())
    return;
  slots[node.output(i)] = Slot{value, std::move(contents), scalar};
}

bool Importer::normalizeAxis(const onnx::NodeProto &node, int64_t &axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return fail(node, "axis " + std::to_string(axis) + " is out of range for rank " +
                          std::to_string(rank));
  if (axis < 0)
    axis += rank;
  return true;
}

const onnx::AttributeProto *Importer::attr(const onnx::NodeProto &node,
                                           const std::string &name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::attrInt(const onnx::NodeProto &node, const std::string &name,
                          int64_t fallback) const {
  const onnx::AttributeProto *a = attr(node, name);
  return a ? a->i() : fallback;
}

float Importer::attrFloat(const onnx::NodeProto &node, const std::string &name,
                          float fallback) const {
  const onnx::AttributeProto *a = attr(node, name);
  return a ? a->f() : fallback;
}

std::optional<std::vector<int64_t>> Importer::attrInts(const onnx::NodeProto &node,
                                                       const std::string &name) const {
  const onnx::AttributeProto *a = attr(node, name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::string Importer::attrString(const onnx::NodeProto &node, const std::string &name,
                                 const std::string &fallback) const {
  const onnx::AttributeProto *a = attr(node, name);
  return a ? a->s() : fallback;
}

Type Importer::elementType(int32_t onnxType) const {
  Builder &b = g.builder();
  switch (onnxType) {
  case onnx::TensorProto_DataType_FLOAT:
    return g.floatType();
  case onnx::TensorProto_DataType_FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto_DataType_BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto_DataType_DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto_DataType_INT8:
    return b.getIntegerType(8);
  case onnx::TensorProto_DataType_INT16:
    return b.getIntegerType(16);
  case onnx::TensorProto_DataType_INT32:
    return b.getI32Type();
  case onnx::TensorProto_DataType_INT64:
    return b.getI64Type();
  case onnx::TensorProto_DataType_BOOL:
    return b.getI1Type();
  default:
    return {};
  }
}

bool Importer::materializeTensor(const onnx::TensorProto &tensor, Slot &out,
                                 std::string &error) {
  Type type = elementType(tensor.data_type());
  if (!type) {
    error = "tensor '" + tensor.name() + "' has element type " +
            onnxTypeName(tensor.data_type()) + ", which Loom does not support";
    return false;
  }
  SmallVector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  for (int64_t d : shape)
    if (d < 0) {
      error = "tensor '" + tensor.name() + "' has a negative dimension";
      return false;
    }
  auto tensorType = RankedTensorType::get(shape, type);
  int64_t count = tensorType.getNumElements();
  OpBuilder &b = g.builder();
  Location loc = b.getUnknownLoc();
  if (llvm::isa<IntegerType>(type)) {
    if (count > kInlineIntElements) {
      out.value = WeightOp::create(b, loc, tensorType, tensor.name());
      return true;
    }
    reference::Tensor decoded;
    if (!decodeTensor(tensor, folder, reference::ElementType::I64, decoded, error))
      return false;
    const std::vector<int64_t> &values = decoded.ints;
    SmallVector<APInt> elements;
    for (int64_t v : values)
      elements.push_back(APInt(type.getIntOrFloatBitWidth(), v, /*isSigned=*/true));
    out.value = ConstantOp::create(b, loc, DenseElementsAttr::get(tensorType, elements));
    if (shape.size() <= 1) {
      Shape dims;
      for (int64_t v : values)
        dims.push_back(contentDim(v));
      out.contents = dims;
      out.scalar = shape.empty();
    }
    return true;
  }
  if (count > kInlineFloatElements) {
    if (tensor.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
      std::string path;
      uint64_t offset, length;
      if (!externalLocation(folder, tensor, path, offset, length, error))
        return false;
    }
    out.value = WeightOp::create(b, loc, tensorType, tensor.name());
    return true;
  }
  reference::Tensor decoded;
  if (!decodeTensor(tensor, folder, reference::ElementType::F64, decoded, error))
    return false;
  out.value =
      ConstantOp::create(b, loc, GraphBuilder::floatElements(decoded.floats, tensorType));
  return true;
}

/// A dim_param made into a dimension name (an identifier).
static std::string dimName(const std::string &param) {
  std::string name;
  for (char c : param)
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
    name = "d_" + name;
  return name;
}

} // namespace loom::onnximport

namespace loom {

using namespace onnximport;

bool importOnnxFile(const std::string &path, ModuleOp module, Type floatType,
                    std::vector<std::string> &errors, std::vector<std::string> &warnings) {
  onnx::ModelProto model;
  std::string error;
  if (!loadModel(path, model, error)) {
    errors.push_back(error);
    return false;
  }
  int64_t opset = -1;
  for (const onnx::OperatorSetIdProto &id : model.opset_import())
    if (id.domain().empty() || id.domain() == "ai.onnx")
      opset = id.version();
  if (opset < 1 || opset > kNewestOpset) {
    errors.push_back(path + ": default-domain opset " + std::to_string(opset) +
                     " is outside the range Loom knows (1 to " + std::to_string(kNewestOpset) +
                     ")");
    return false;
  }
  const onnx::GraphProto &graph = model.graph();

  // Every unsupported operator, with its nodes, before converting anything: unknown
  // operators, operators at an opset older than their converter, and attributes that
  // no converter reads (a newer opset's additions among them).
  std::map<std::string, std::vector<std::string>> unsupported;
  for (const onnx::NodeProto &node : graph.node()) {
    std::string domain = node.domain().empty() || node.domain() == "ai.onnx" ? "" : node.domain();
    auto it = converters().find(node.op_type());
    std::string key = (domain.empty() ? "" : domain + "::") + node.op_type() + " (opset " +
                      std::to_string(opset) + ")";
    if (domain.empty() && it != converters().end() && opset < it->second.sinceOpset)
      key += ", converted from opset " + std::to_string(it->second.sinceOpset) + " on";
    bool known = domain.empty() && it != converters().end() && opset >= it->second.sinceOpset;
    if (known) {
      std::string attributes = std::string(" ") + it->second.attributes + " ";
      for (const onnx::AttributeProto &attribute : node.attribute())
        if (attributes.find(" " + attribute.name() + " ") == std::string::npos) {
          key += " with attribute '" + attribute.name() + "'";
          known = false;
          break;
        }
    }
    if (!known && domain.empty() &&
        (node.op_type() == "Loop" || node.op_type() == "If" || node.op_type() == "Scan"))
      key += " [control flow: Loom compiles dataflow graphs whose shapes follow from the "
             "inputs' shapes]";
    if (!known)
      unsupported[key].push_back(node.name().empty() ? "<unnamed>" : node.name());
  }
  if (!unsupported.empty()) {
    std::string message = path + ": " + std::to_string(unsupported.size()) +
                          " unsupported operator(s):";
    for (const auto &[op, nodes] : unsupported) {
      message += "\n  " + op + ": " + std::to_string(nodes.size()) + " node(s): ";
      for (size_t i = 0; i < nodes.size() && i < 5; ++i)
        message += (i ? ", " : "") + nodes[i];
      if (nodes.size() > 5)
        message += ", ...";
    }
    errors.push_back(message);
    return false;
  }
  // Structure as onnx.checker checks it: converters rely on it (output counts,
  // attribute types, data sizes).
  if (!onnximport::checkGraph(graph, errors)) {
    for (std::string &message : errors)
      message = path + ": " + message;
    return false;
  }

  MLIRContext *context = module.getContext();
  OpBuilder builder(context);
  builder.setInsertionPointToEnd(module.getBody());
  Location loc = FileLineColLoc::get(context, path, 0, 0);
  std::string folder = path.substr(0, path.find_last_of('/') == std::string::npos
                                          ? 0
                                          : path.find_last_of('/'));
  if (folder.empty())
    folder = ".";

  std::set<std::string> initializerNames;
  for (const onnx::TensorProto &tensor : graph.initializer())
    initializerNames.insert(tensor.name());

  // Graph inputs: their dim_params become named dimensions.
  SmallVector<Type> inputTypes;
  SmallVector<std::string> inputNames;
  GraphBuilder g(builder, loc, floatType);
  Importer importer(g, folder, opset, errors);
  for (const onnx::ValueInfoProto &info : graph.input()) {
    if (initializerNames.count(info.name()))
      continue;
    const onnx::TypeProto_Tensor &tensorType = info.type().tensor_type();
    Type element = importer.elementType(tensorType.elem_type());
    if (!info.type().has_tensor_type() || !element || !tensorType.has_shape()) {
      errors.push_back("graph input '" + info.name() +
                       "' is not a ranked tensor of a supported element type (" +
                       onnxTypeName(tensorType.elem_type()) + ")");
      continue;
    }
    Shape shape;
    for (const onnx::TensorShapeProto_Dimension &dim : tensorType.shape().dim()) {
      if (dim.has_dim_value())
        shape.push_back(Dim::fixed(dim.dim_value()));
      else if (dim.has_dim_param() && !dim.dim_param().empty())
        shape.push_back(g.dim(dimName(dim.dim_param())));
      else
        shape.push_back(Dim::anonymous());
    }
    inputTypes.push_back(makeTensorType(shape, element));
    inputNames.push_back(info.name());
  }
  if (!errors.empty())
    return false;

  auto func = func::FuncOp::create(builder, loc, "forward",
                                   builder.getFunctionType(inputTypes, {}));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToEnd(body);
  for (auto [i, name] : llvm::enumerate(inputNames)) {
    Value argument = body->getArgument(i);
    importer.slots[name] = Slot{argument, std::nullopt, false};
    for (auto [axis, dim] : llvm::enumerate(GraphBuilder::shape(argument)))
      if (dim.isNamed())
        importer.dimSources.emplace(dim.name.str(), std::make_pair(argument, axis));
  }
  for (const onnx::TensorProto &tensor : graph.initializer()) {
    Slot slot;
    if (!importer.materializeTensor(tensor, slot, error)) {
      errors.push_back(error);
      return false;
    }
    importer.slots[tensor.name()] = slot;
  }
  for (const onnx::NodeProto &node : graph.node()) {
    for (int i = 0; i < node.input_size(); ++i)
      if (!node.input(i).empty() && !importer.slots.count(node.input(i)))
        return importer.fail(node, "input '" + node.input(i) + "' is not defined before use");
    if (!converters().at(node.op_type()).convert(importer, node))
      return false;
  }

  SmallVector<Value> outputs;
  SmallVector<Type> outputTypes;
  for (const onnx::ValueInfoProto &info : graph.output()) {
    auto it = importer.slots.find(info.name());
    if (it == importer.slots.end()) {
      errors.push_back("graph output '" + info.name() + "' is never computed");
      return false;
    }
    std::string why;
    Value value = importer.materialize(it->second, why);
    if (!value) {
      errors.push_back("graph output '" + info.name() + "' " + why);
      return false;
    }
    if (elementOf(value) == floatType)
      value = g.cast(value, builder.getF32Type());
    outputs.push_back(value);
    outputTypes.push_back(value.getType());
  }
  func::ReturnOp::create(builder, loc, outputs);
  func.setType(builder.getFunctionType(inputTypes, outputTypes));
  for (auto [i, name] : llvm::enumerate(inputNames))
    func.setArgAttr(i, "loom.name", builder.getStringAttr(name));
  for (int i = 0; i < graph.output_size(); ++i)
    func.setResultAttr(i, "loom.name", builder.getStringAttr(graph.output(i).name()));
  module->setAttr("loom.source", builder.getStringAttr("onnx"));
  (void)warnings;
  return errors.empty();
}

} // namespace loom
