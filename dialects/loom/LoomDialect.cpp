//===- LoomDialect.cpp - The loom dialect and its attributes ---------------===//

#include "dialects/loom/LoomDialect.h"
#include "dialects/loom/SizeExpr.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace loom;

#include "dialects/loom/LoomDialect.cpp.inc"
#include "dialects/loom/LoomEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/loom/LoomAttrs.cpp.inc"

void LoomDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/loom/LoomAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/loom/LoomOps.cpp.inc"
      >();
}

Operation *LoomDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                            Location loc) {
  auto elements = llvm::dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

//===----------------------------------------------------------------------===//
// DimsAttr
//===----------------------------------------------------------------------===//

/// A dimension name is an identifier or a size expression of identifiers in canonical
/// form (`seq+1`, `batch*seq`), so that equal sizes have equal names.
static bool isDimName(StringRef name) {
  if (name == "?")
    return true; // a size nobody knows, kept so that the other names survive
  std::optional<SizeExpr> expr = SizeExpr::parse(name);
  return expr && !expr->isConstant() && expr->str() == name;
}

Attribute DimsAttr::parse(AsmParser &parser, Type) {
  SmallVector<StringAttr> names;
  auto parseName = [&]() -> ParseResult {
    std::string name;
    if (parser.parseKeywordOrString(&name))
      return failure();
    names.push_back(StringAttr::get(parser.getContext(), name));
    return success();
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::LessGreater, parseName))
    return {};
  return DimsAttr::getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                              parser.getContext(), names);
}

void DimsAttr::print(AsmPrinter &printer) const {
  printer << '<';
  llvm::interleaveComma(getNames(), printer,
                        [&](StringAttr name) { printer.printKeywordOrString(name); });
  printer << '>';
}

LogicalResult DimsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               ArrayRef<StringAttr> names) {
  if (names.empty())
    return emitError() << "#loom.dims needs at least one name; a tensor without dynamic "
                          "dimensions carries no encoding";
  if (llvm::all_of(names, [](StringAttr name) { return name.getValue() == "?"; }))
    return emitError() << "#loom.dims names no dimension; a tensor whose dynamic "
                          "dimensions are all unknown carries no encoding";
  for (StringAttr name : names)
    if (!isDimName(name.getValue()))
      return emitError() << "dimension name '" << name.getValue()
                         << "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*) or a size "
                            "expression in canonical form (such as seq+1 or batch*seq)";
  return success();
}

LogicalResult DimsAttr::verifyEncoding(ArrayRef<int64_t> shape, Type,
                                       function_ref<InFlightDiagnostic()> emitError) const {
  size_t dynamic = llvm::count_if(shape, ShapedType::isDynamic);
  if (dynamic != getNames().size())
    return emitError() << "#loom.dims names " << getNames().size()
                       << " dimension(s) but the tensor has " << dynamic
                       << " dynamic dimension(s); it must name each '?' exactly once";
  return success();
}
