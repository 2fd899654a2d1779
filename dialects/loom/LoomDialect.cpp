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
#include "dialects/loom/LoomInterfaces.cpp.inc"

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

//===----------------------------------------------------------------------===//
// #loom.quant
//===----------------------------------------------------------------------===//

int QuantAttr::bits() const { return getCode() == QuantCode::Int4 ? 4 : 8; }

int64_t QuantAttr::groups(int64_t k) const { return getGroup() ? k / getGroup() : 1; }

LogicalResult QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError, QuantCode code,
                                int64_t group, Type scale, QuantOffsetKind offset,
                                bool permuted, QuantLayout source) {
  if (group != 0 && group != 16 && group != 32 && group != 64 && group != 128 && group != 256)
    return emitError() << "#loom.quant group " << group
                       << " is not one of 16, 32, 64, 128, 256, or 0 (one group per channel)";
  if (!scale.isF16() && !scale.isBF16() && !scale.isF32())
    return emitError() << "#loom.quant scale type " << scale << " is not f16, bf16 or f32";
  bool fp8 = code == QuantCode::Fp8E4M3;
  if (fp8 && offset != QuantOffsetKind::None)
    return emitError() << "#loom.quant fp8e4m3 codes take no offset (offset "
                       << stringifyQuantOffsetKind(offset) << ")";
  if (fp8 && group != 0)
    return emitError() << "#loom.quant fp8e4m3 codes have one scale per channel (group 0), "
                          "not groups of "
                       << group;
  if (permuted && group == 0)
    return emitError() << "#loom.quant is permuted but has one group per channel; act-order "
                          "needs groups";
  // What each checkpoint layout can store.
  auto refuse = [&](StringRef why) {
    return emitError() << "#loom.quant source " << stringifyQuantLayout(source) << " " << why;
  };
  switch (source) {
  case QuantLayout::Rtn:
    if (permuted)
      return refuse("is never permuted");
    if (offset == QuantOffsetKind::Min)
      return refuse("has no mins");
    break;
  case QuantLayout::Gptq:
  case QuantLayout::GptqV2:
    if (fp8 || offset == QuantOffsetKind::Min || !scale.isF16())
      return refuse("stores int4 or int8 codes with f16 scales and no mins");
    break;
  case QuantLayout::Awq:
    if (code != QuantCode::Int4 || offset == QuantOffsetKind::Min || permuted || group == 0 ||
        !scale.isF16())
      return refuse("stores int4 codes in groups with f16 scales, never permuted");
    break;
  case QuantLayout::CtPacked:
    if (fp8 || offset == QuantOffsetKind::Min || permuted)
      return refuse("stores int4 or int8 codes, never permuted, with no mins");
    break;
  case QuantLayout::CtFloat:
    if (!fp8)
      return refuse("stores fp8e4m3 codes");
    break;
  }
  return success();
}

QuantEncoding QuantAttr::getEncoding() const {
  QuantEncoding encoding;
  switch (getCode()) {
  case QuantCode::Int4:
    encoding.element = QuantElement::Int4;
    break;
  case QuantCode::Int8:
    encoding.element = QuantElement::Int8;
    break;
  case QuantCode::Fp8E4M3:
    encoding.element = QuantElement::Fp8E4M3;
    break;
  }
  encoding.groupSize = getGroup();
  encoding.scaleType =
      getScale().isF32() ? DType::F32 : getScale().isBF16() ? DType::BF16 : DType::F16;
  encoding.offset = static_cast<QuantOffset>(static_cast<int>(getOffset()));
  encoding.permuted = getPermuted();
  encoding.source = static_cast<QuantSource>(static_cast<int>(getSource()));
  return encoding;
}

QuantAttr QuantAttr::get(MLIRContext *context, const QuantEncoding &encoding) {
  QuantCode code = encoding.element == QuantElement::Int4   ? QuantCode::Int4
                   : encoding.element == QuantElement::Int8 ? QuantCode::Int8
                                                            : QuantCode::Fp8E4M3;
  Builder b(context);
  Type scale = encoding.scaleType == DType::F32    ? Type(b.getF32Type())
               : encoding.scaleType == DType::BF16 ? Type(b.getBF16Type())
                                                   : Type(b.getF16Type());
  return QuantAttr::get(context, code, encoding.groupSize, scale,
                        static_cast<QuantOffsetKind>(static_cast<int>(encoding.offset)),
                        encoding.permuted,
                        static_cast<QuantLayout>(static_cast<int>(encoding.source)));
}

// The conversions above cast between the ODS enums and the support enums.
static_assert(static_cast<int>(QuantOffset::Min) == static_cast<int>(QuantOffsetKind::Min) &&
                  static_cast<int>(QuantOffset::Zero) == static_cast<int>(QuantOffsetKind::Zero),
              "QuantOffset and QuantOffsetKind list the offsets in the same order");
static_assert(static_cast<int>(QuantSource::CtFloat) == static_cast<int>(QuantLayout::CtFloat) &&
                  static_cast<int>(QuantSource::Awq) == static_cast<int>(QuantLayout::Awq) &&
                  static_cast<int>(QuantSource::GptqV2) == static_cast<int>(QuantLayout::GptqV2),
              "QuantSource and QuantLayout list the layouts in the same order");
