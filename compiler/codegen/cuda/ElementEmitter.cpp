//===- ElementEmitter.cpp - CUDA code for one element of a value ----------===//

#include "compiler/codegen/cuda/ElementEmitter.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cmath>
#include <cstring>

using namespace mlir;

namespace loom::cuda {

namespace {

bool isFloat(Type t) { return llvm::isa<FloatType>(t); }
/// True for computations in float (f32, and f16/bf16 widened).
bool isSingle(Type t) { return isFloat(t) && !t.isF64(); }

std::string join(const Index &index) {
  std::string text;
  for (const std::string &i : index)
    text += i + ",";
  return text;
}

/// `name(x)` in float or double flavour.
std::string math(Type t, const char *name, const std::string &x) {
  return std::string(name) + (isSingle(t) ? "f(" : "(") + x + ")";
}

/// A C++ literal of `value` in compute type `t`.
std::string floatLiteral(Type t, double value) {
  bool single = isSingle(t);
  if (std::isnan(value))
    return single ? "__int_as_float(0x7fffffff)"
                  : "__longlong_as_double(0x7ff8000000000000LL)";
  if (std::isinf(value)) {
    if (single)
      return value > 0 ? "__int_as_float(0x7f800000)" : "__int_as_float(0xff800000)";
    return value > 0 ? "__longlong_as_double(0x7ff0000000000000LL)"
                     : "__longlong_as_double(0xfff0000000000000LL)";
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::format(single ? "%.9e" : "%.17e", value) << (single ? "f" : "");
  return text;
}

std::string literal(Type t, double floatValue, int64_t intValue) {
  if (isFloat(t))
    return floatLiteral(t, floatValue);
  if (t.isInteger(1))
    return intValue ? "true" : "false";
  return std::to_string(intValue) + "LL";
}

} // namespace

Type elementOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType()).getElementType();
}

std::string storageType(Type t) {
  if (t.isF32())
    return "float";
  if (t.isF64())
    return "double";
  if (t.isF16())
    return "__half";
  if (t.isBF16())
    return "__nv_bfloat16";
  if (t.isInteger(1))
    return "bool";
  if (t.isInteger(8))
    return "signed char";
  if (t.isInteger(16))
    return "short";
  if (t.isInteger(32))
    return "int";
  if (llvm::isa<mlir::Float8E4M3FNType>(t))
    return "unsigned char"; // e4m3fn bits (a KV cache's codes)
  return "long long";
}

std::string computeType(Type t) {
  if (t.isF16() || t.isBF16())
    return "float";
  return storageType(t);
}

std::string sizeExpr(const Dim &dim) {
  if (dim.isStatic())
    return std::to_string(dim.size) + "LL";
  if (!dim.isNamed())
    return "";
  // The canonical text of a size expression is C++ once each name is a parameter.
  std::string text = "(";
  StringRef name = dim.name.getValue();
  for (size_t i = 0; i < name.size();) {
    if (std::isalpha(static_cast<unsigned char>(name[i])) || name[i] == '_') {
      size_t end = i;
      while (end < name.size() &&
             (std::isalnum(static_cast<unsigned char>(name[end])) || name[end] == '_'))
        ++end;
      text += "s_" + name.substr(i, end - i).str();
      i = end;
    } else {
      text += name[i++];
    }
  }
  return text + ")";
}

void collectSymbols(Type type, std::set<std::string> &names) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return;
  for (const Dim &dim : getShape(tensor)) {
    if (!dim.isNamed())
      continue;
    StringRef text = dim.name.getValue();
    for (size_t i = 0; i < text.size();) {
      if (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '_') {
        size_t end = i;
        while (end < text.size() &&
               (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_'))
          ++end;
        names.insert(text.substr(i, end - i).str());
        i = end;
      } else {
        ++i;
      }
    }
  }
}

ElementEmitter::ElementEmitter(ArrayRef<Value> inputs, ArrayRef<std::string> inputNames) {
  for (auto [value, name] : llvm::zip(inputs, inputNames))
    inputs_[value] = name;
  scopes_.emplace_back();
}

void ElementEmitter::line(const std::string &text) {
  code_ += std::string(2 * indent_, ' ') + text + "\n";
}

void ElementEmitter::open(const std::string &header) {
  line(header.empty() ? "{" : header + " {");
  ++indent_;
  scopes_.emplace_back();
}

void ElementEmitter::close(const std::string &after) {
  scopes_.pop_back();
  --indent_;
  line("}" + after);
}

std::string ElementEmitter::fresh(const std::string &stem) {
  return stem + std::to_string(counter_++);
}

std::string ElementEmitter::fail(Operation *op, const std::string &why) {
  if (error_.empty()) {
    llvm::raw_string_ostream os(error_);
    os << "'" << op->getName() << "': " << why;
  }
  return "0";
}

std::string ElementEmitter::linearize(const Index &index, ArrayRef<Dim> shape) {
  if (index.empty())
    return "0LL";
  // Composite index expressions are parenthesized where they are made.
  std::string offset = index[0];
  for (size_t i = 1; i < index.size(); ++i)
    offset = "(" + offset + ") * " + sizeExpr(shape[i]) + " + " + index[i];
  return offset;
}

void ElementEmitter::alias(const Index &index, ArrayRef<Dim> shape,
                           const std::string &offset) {
  scopes_.back().delinearized[{offset, toString(shape)}] = index;
  scopes_.back().origin[join(index)] = {offset, toString(shape)};
}

Index ElementEmitter::delinearize(const std::string &offset, ArrayRef<Dim> shape) {
  if (const Index *known =
          lookup(&Scope::delinearized, std::pair(offset, toString(shape))))
    return *known;
  Index index(shape.size());
  if (shape.empty())
    return index;
  std::string rest = fresh("r");
  line("long long " + rest + " = " + offset + ";");
  for (size_t i = shape.size(); i-- > 1;) {
    // A static 1 is index 0, spelled as broadcasts spell it, so values match up.
    if (shape[i].isOne()) {
      index[i] = "0LL";
      continue;
    }
    index[i] = fresh("i");
    line("const long long " + index[i] + " = " + rest + " % " + sizeExpr(shape[i]) +
         "; " + rest + " /= " + sizeExpr(shape[i]) + ";");
  }
  index[0] = shape[0].isOne() ? "0LL" : rest;
  alias(index, shape, offset);
  return index;
}

void ElementEmitter::define(Value value, const Index &index, const std::string &name) {
  scopes_.back().values[{value.getAsOpaquePointer(), join(index)}] = name;
}

std::string ElementEmitter::at(Value value, const Index &index) {
  std::pair<void *, std::string> key{value.getAsOpaquePointer(), join(index)};
  if (const std::string *known = lookup(&Scope::values, key))
    return *known;
  std::string name;
  Type element = elementOf(value);
  if (auto input = inputs_.find(value); input != inputs_.end()) {
    name = fresh();
    std::string load = input->second + "[" + linearize(index, shapeOf(value)) + "]";
    if (element.isF16())
      load = "__half2float(" + load + ")";
    else if (element.isBF16())
      load = "__bfloat162float(" + load + ")";
    line("const " + computeType(element) + " " + name + " = " + load + ";");
  } else if (Operation *op = value.getDefiningOp()) {
    name = compute(op, index);
  } else {
    return fail(value.getParentBlock()->getParentOp(),
                "reads a value that is not an input");
  }
  scopes_.back().values[key] = name;
  return name;
}

bool ElementEmitter::isContiguousSource(Value value) const {
  if (inputs_.count(value))
    return true;
  if (auto t = value.getDefiningOp<TransposeOp>()) {
    ArrayRef<int64_t> permutation = t.getPermutation();
    return !permutation.empty() &&
           permutation.back() == static_cast<int64_t>(permutation.size()) - 1 &&
           isContiguousSource(t.getOperand());
  }
  if (auto r = value.getDefiningOp<ReshapeOp>())
    return isContiguousSource(r.getOperand());
  return false;
}

std::optional<std::pair<std::string, std::string>>
ElementEmitter::contiguousSource(Value value, const Index &index) {
  if (!isContiguousSource(value))
    return std::nullopt;
  if (auto input = inputs_.find(value); input != inputs_.end())
    return std::pair(input->second, linearize(index, shapeOf(value)));
  if (auto t = value.getDefiningOp<TransposeOp>()) {
    ArrayRef<int64_t> permutation = t.getPermutation();
    if (permutation.empty() ||
        permutation.back() != static_cast<int64_t>(permutation.size()) - 1)
      return std::nullopt;
    Index source(index.size());
    for (auto [j, p] : llvm::enumerate(permutation))
      source[p] = index[j];
    return contiguousSource(t.getOperand(), source);
  }
  if (auto r = value.getDefiningOp<ReshapeOp>()) {
    // Row-major order is what a reshape keeps, so consecutive stays consecutive.
    Shape from = shapeOf(r.getOperand());
    return contiguousSource(r.getOperand(),
                            delinearize(linearize(index, shapeOf(r)), from));
  }
  return std::nullopt;
}

Index ElementEmitter::broadcastIndex(Value operand, const Index &index) {
  Shape shape = shapeOf(operand);
  size_t lead = index.size() - shape.size();
  Index result;
  for (size_t i = 0; i < shape.size(); ++i)
    result.push_back(shape[i].isOne() ? "0LL" : index[lead + i]);
  return result;
}

std::string ElementEmitter::elementwise(Operation *op, const Index &index) {
  SmallVector<std::string, 3> x;
  for (Value operand : op->getOperands())
    x.push_back(at(operand, broadcastIndex(operand, index)));
  Type in = elementOf(op->getOperand(0)), out = elementOf(op->getResult(0));
  bool single = isSingle(in), fl = isFloat(in);
  std::string one = fl ? floatLiteral(in, 1.0) : "1", half = floatLiteral(in, 0.5);
  const std::string &a = x[0];
  std::string b = x.size() > 1 ? x[1] : "";
  std::string expr =
      llvm::TypeSwitch<Operation *, std::string>(op)
          .Case([&](NegOp) { return "-" + a; })
          .Case([&](ReluOp) {
            return fl ? "(" + a + " > 0 || " + a + " != " + a + " ? " + a + " : " +
                            floatLiteral(in, 0.0) + ")"
                      : "(" + a + " > 0 ? " + a + " : 0)";
          })
          .Case([&](ExpOp) { return math(in, "exp", a); })
          .Case([&](LogOp) { return math(in, "log", a); })
          .Case([&](SqrtOp) { return math(in, "sqrt", a); })
          .Case([&](RsqrtOp) { return one + " / " + math(in, "sqrt", a); })
          .Case([&](ReciprocalOp) { return one + " / " + a; })
          .Case([&](TanhOp) { return math(in, "tanh", a); })
          .Case([&](CosOp) { return math(in, "cos", a); })
          .Case([&](SinOp) { return math(in, "sin", a); })
          .Case([&](ErfOp) { return math(in, "erf", a); })
          .Case([&](SigmoidOp) {
            return one + " / (" + one + " + " + math(in, "exp", "-" + a) + ")";
          })
          .Case([&](SiluOp) {
            return a + " / (" + one + " + " + math(in, "exp", "-" + a) + ")";
          })
          .Case([&](NotOp) { return "!" + a; })
          .Case([&](GeluOp g) {
            if (g.getApproximation() == GeluApproximation::Erf)
              return half + " * " + a + " * (" + one + " + " +
                     math(in, "erf", a + " * " + floatLiteral(in, M_SQRT1_2)) + ")";
            return half + " * " + a + " * (" + one + " + " +
                   math(in, "tanh",
                        floatLiteral(in, std::sqrt(2.0 / M_PI)) + " * (" + a + " + " +
                            floatLiteral(in, 0.044715) + " * " + a + " * " + a + " * " +
                            a + ")") +
                   ")";
          })
          .Case([&](AddOp) { return a + " + " + b; })
          .Case([&](SubOp) { return a + " - " + b; })
          .Case([&](MulOp) { return a + " * " + b; })
          .Case([&](DivOp) {
            return fl ? a + " / " + b
                      : "(" + b + " == -1 ? -" + a + " : " + a + " / " + b + ")";
          })
          .Case([&](PowOp) {
            return single ? "powf(" + a + ", " + b + ")" : "pow(" + a + ", " + b + ")";
          })
          .Case([&](MaxOp) {
            return fl ? "(" + a + " != " + a + " || " + b + " != " + b + " ? " + a +
                            " + " + b + " : " + math(in, "fmax", a + ", " + b) + ")"
                      : "(" + a + " > " + b + " ? " + a + " : " + b + ")";
          })
          .Case([&](MinOp) {
            return fl ? "(" + a + " != " + a + " || " + b + " != " + b + " ? " + a +
                            " + " + b + " : " + math(in, "fmin", a + ", " + b) + ")"
                      : "(" + a + " < " + b + " ? " + a + " : " + b + ")";
          })
          .Case([&](AndOp) { return "(" + a + " && " + b + ")"; })
          .Case([&](OrOp) { return "(" + a + " || " + b + ")"; })
          .Case([&](CompareOp c) {
            const char *sign[] = {" == ", " != ", " < ", " <= ", " > ", " >= "};
            return "(" + a + sign[static_cast<int>(c.getPredicate())] + b + ")";
          })
          .Case([&](SelectOp) { return "(" + a + " ? " + b + " : " + x[2] + ")"; })
          .Case([&](CastOp) {
            if (out.isInteger(1))
              return "(" + a + " != 0)";
            std::string converted = "(" + computeType(out) + ")(" + a + ")";
            if (out.isF16())
              return "__half2float(__float2half_rn(" + a + "))";
            if (out.isBF16())
              return "__bfloat162float(__float2bfloat16_rn(" + a + "))";
            return converted;
          })
          .Default([&](Operation *) { return fail(op, "is not elementwise"); });
  std::string name = fresh();
  line("const " + computeType(out) + " " + name + " = " + expr + ";");
  return name;
}

std::string ElementEmitter::constant(ConstantOp op, const Index &index) {
  auto dense = llvm::dyn_cast<DenseElementsAttr>(op.getValue());
  if (!dense)
    return fail(op, "only dense constants can be written");
  Type element = dense.getElementType();
  auto valueAt = [&](int64_t i) {
    if (isFloat(element)) {
      APFloat v = dense.getValues<APFloat>()[i];
      bool lost;
      v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
      return literal(element, v.convertToDouble(), 0);
    }
    APInt v = dense.getValues<APInt>()[i];
    return literal(element, 0,
                   element.isInteger(1) ? v.getZExtValue() : v.getSExtValue());
  };
  std::string name = fresh("c");
  std::string type = computeType(element);
  if (dense.isSplat()) {
    line("const " + type + " " + name + " = " + valueAt(0) + ";");
    return name;
  }
  std::string table = fresh("table");
  std::string values;
  for (int64_t i = 0; i < dense.getNumElements(); ++i)
    values += (i ? ", " : "") + valueAt(i);
  line("const " + type + " " + table + "[] = {" + values + "};");
  line("const " + type + " " + name + " = " + table + "[" +
       linearize(index, shapeOf(op)) + "];");
  return name;
}

std::string ElementEmitter::sliceValue(SliceOp op, const Index &index) {
  Shape shape = shapeOf(op.getOperand());
  Index source = index;
  for (auto [i, axis] : llvm::enumerate(op.getAxes())) {
    int64_t start = op.getStarts()[i], step = op.getSteps()[i];
    std::string dim = sizeExpr(shape[axis]), first;
    // Python's clamping of the start, as the reference executor does it.
    if (step > 0)
      first = start < 0 ? "loom_max(" + dim + " + (" + std::to_string(start) + "LL), 0LL)"
                        : "loom_min(" + std::to_string(start) + "LL, " + dim + ")";
    else
      first = start < 0
                  ? "loom_max(" + dim + " + (" + std::to_string(start) + "LL), -1LL)"
                  : "loom_min(" + std::to_string(start) + "LL, " + dim + " - 1)";
    source[axis] =
        "(" + first + " + " + index[axis] + " * (" + std::to_string(step) + "LL))";
  }
  return at(op.getOperand(), source);
}

std::string ElementEmitter::concatValue(ConcatOp op, const Index &index) {
  int64_t axis = op.getAxis();
  Type element = elementOf(op);
  std::string name = fresh();
  line(computeType(element) + " " + name + ";");
  std::string offset = "0LL";
  auto inputs = op.getInputs();
  for (auto [i, input] : llvm::enumerate(inputs)) {
    std::string end = "(" + offset + " + " + sizeExpr(shapeOf(input)[axis]) + ")";
    if (i == 0)
      open("if (" + index[axis] + " < " + end + ")");
    else if (i + 1 < inputs.size())
      open("else if (" + index[axis] + " < " + end + ")");
    else
      open("else");
    Index part = index;
    part[axis] = "(" + index[axis] + " - " + offset + ")";
    line(name + " = " + at(input, part) + ";");
    close();
    offset = end;
  }
  return name;
}

std::string ElementEmitter::ropeValue(RopeOp op, const Index &index) {
  Value x = op.getInput();
  Shape table = shapeOf(op.getCos());
  int64_t half = table.back().size, rotated = 2 * half;
  const std::string &j = index.back();
  // The tables' index: the input's leading indices (broadcast) and a column.
  auto tableIndex = [&](const std::string &column) {
    Index full = index;
    full.back() = column;
    Index t = broadcastIndex(op.getCos(), full);
    return t;
  };
  auto xAt = [&](const std::string &column) {
    Index i = index;
    i.back() = column;
    return at(x, i);
  };
  std::string name = fresh();
  std::string h = std::to_string(half) + "LL", r = std::to_string(rotated) + "LL";
  line(computeType(elementOf(op)) + " " + name + ";");
  auto branch = [&](const std::string &header, auto body) {
    open(header);
    line(name + " = " + body() + ";");
    close();
  };
  if (!op.getInterleaved()) {
    branch("if (" + j + " < " + h + ")", [&] {
      Index t = tableIndex(j);
      return xAt(j) + " * " + at(op.getCos(), t) + " - " +
             xAt("(" + j + " + " + h + ")") + " * " + at(op.getSin(), t);
    });
    branch("else if (" + j + " < " + r + ")", [&] {
      Index t = tableIndex("(" + j + " - " + h + ")");
      return xAt(j) + " * " + at(op.getCos(), t) + " + " +
             xAt("(" + j + " - " + h + ")") + " * " + at(op.getSin(), t);
    });
  } else {
    branch("if (" + j + " < " + r + " && " + j + " % 2 == 0)", [&] {
      Index t = tableIndex("(" + j + " / 2)");
      return xAt(j) + " * " + at(op.getCos(), t) + " - " + xAt("(" + j + " + 1)") +
             " * " + at(op.getSin(), t);
    });
    branch("else if (" + j + " < " + r + ")", [&] {
      Index t = tableIndex("(" + j + " / 2)");
      return xAt(j) + " * " + at(op.getCos(), t) + " + " + xAt("(" + j + " - 1)") +
             " * " + at(op.getSin(), t);
    });
  }
  branch("else", [&] { return xAt(j); });
  return name;
}

std::string ElementEmitter::compute(Operation *op, const Index &index) {
  if (op->getNumOperands() > 0 && op->getNumResults() == 1 &&
      (llvm::isa<NegOp, ReluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, ReciprocalOp, TanhOp,
                 CosOp, SinOp, ErfOp, SigmoidOp, SiluOp, NotOp, GeluOp, AddOp, SubOp,
                 MulOp, DivOp, PowOp, MaxOp, MinOp, AndOp, OrOp, CompareOp, SelectOp,
                 CastOp>(op)))
    return elementwise(op, index);
  return llvm::TypeSwitch<Operation *, std::string>(op)
      .Case([&](ConstantOp c) { return constant(c, index); })
      .Case([&](BroadcastOp b) {
        return at(b.getOperand(), broadcastIndex(b.getOperand(), index));
      })
      .Case([&](TransposeOp t) {
        Index source(index.size());
        for (auto [j, p] : llvm::enumerate(t.getPermutation()))
          source[p] = index[j];
        return at(t.getOperand(), source);
      })
      .Case([&](ReshapeOp r) {
        Shape from = shapeOf(r.getOperand()), to = shapeOf(r);
        if (from == to)
          return at(r.getOperand(), index);
        // An index that came from a linear offset goes back through that offset.
        const auto *origin = lookup(&Scope::origin, join(index));
        std::string offset = origin && origin->second == toString(to)
                                 ? origin->first
                                 : linearize(index, to);
        return at(r.getOperand(), delinearize(offset, from));
      })
      .Case([&](SliceOp s) { return sliceValue(s, index); })
      .Case([&](ConcatOp c) { return concatValue(c, index); })
      .Case([&](RopeOp r) { return ropeValue(r, index); })
      .Case([&](GatherOp g) {
        int64_t axis = g.getAxis();
        size_t rank = shapeOf(g.getIndices()).size();
        Index where(index.begin() + axis, index.begin() + axis + rank);
        std::string position = at(g.getIndices(), where);
        std::string wrapped = fresh("g");
        std::string dim = sizeExpr(shapeOf(g.getData())[axis]);
        line("const long long " + wrapped + " = (long long)" + position +
             " < 0 ? (long long)" + position + " + " + dim + " : (long long)" + position +
             ";");
        Index source(index.begin(), index.begin() + axis);
        source.push_back(wrapped);
        source.insert(source.end(), index.begin() + axis + rank, index.end());
        return at(g.getData(), source);
      })
      .Case([&](IotaOp i) {
        std::string name = fresh();
        line("const " + computeType(elementOf(i)) + " " + name + " = (" +
             computeType(elementOf(i)) + ")" + index[0] + ";");
        return name;
      })
      .Default([&](Operation *) {
        return fail(op, "the CUDA emitter cannot write this op yet");
      });
}

} // namespace loom::cuda
