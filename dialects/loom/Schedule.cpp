//===- Schedule.cpp - The schedule attribute of loom.kernel ----------------===//

#include "dialects/loom/Schedule.h"

#include "mlir/IR/Builders.h"

#include <utility>
#include <vector>

using namespace mlir;

namespace loom {

namespace {

/// A key of the schedule dictionary and the field it fills.
struct Field {
  const char *key;
  int64_t KernelSchedule::*size; // null for the tensor_cores flag
};

std::vector<Field> fieldsOf(KernelKind kind) {
  using S = KernelSchedule;
  switch (kind) {
  case KernelKind::Matmul:
    return {{"tile_m", &S::tileM}, {"tile_n", &S::tileN},   {"tile_k", &S::tileK},
            {"warps", &S::warps},  {"stages", &S::stages}, {"tensor_cores", nullptr}};
  case KernelKind::Attention:
    return {{"tile_q", &S::tileQ},
            {"tile_kv", &S::tileKv},
            {"warps", &S::warps},
            {"shared_kib", &S::sharedKib},
            {"tensor_cores", nullptr}};
  case KernelKind::Pointwise:
    return {{"threads", &S::threads}, {"vector", &S::vector}};
  default:
    return {{"threads", &S::threads}};
  }
}

} // namespace

DictionaryAttr KernelSchedule::toAttr(MLIRContext *context, KernelKind kind) const {
  Builder b(context);
  SmallVector<NamedAttribute> entries;
  for (const Field &f : fieldsOf(kind))
    entries.push_back(b.getNamedAttr(
        f.key, f.size ? Attribute(b.getI64IntegerAttr(this->*f.size))
                      : Attribute(b.getBoolAttr(tensorCores))));
  return b.getDictionaryAttr(entries);
}

std::optional<KernelSchedule> KernelSchedule::fromAttr(DictionaryAttr attr,
                                                       KernelKind kind, std::string &why) {
  KernelSchedule schedule;
  std::vector<Field> fields = fieldsOf(kind);
  for (NamedAttribute entry : attr) {
    bool known = false;
    for (const Field &f : fields)
      known |= entry.getName() == f.key;
    if (!known) {
      why = "a " + stringifyKernelKind(kind).str() + " schedule has no key '" +
            entry.getName().str() + "'";
      return std::nullopt;
    }
  }
  for (const Field &f : fields) {
    Attribute value = attr.get(f.key);
    if (!value) {
      why = "schedule lacks '" + std::string(f.key) + "'";
      return std::nullopt;
    }
    if (!f.size) {
      auto flag = llvm::dyn_cast<BoolAttr>(value);
      if (!flag) {
        why = "schedule key 'tensor_cores' must be a bool";
        return std::nullopt;
      }
      schedule.tensorCores = flag.getValue();
      continue;
    }
    auto size = llvm::dyn_cast<IntegerAttr>(value);
    if (!size || size.getType().isInteger(1) || size.getInt() <= 0) {
      why = "schedule key '" + std::string(f.key) + "' must be a positive integer";
      return std::nullopt;
    }
    schedule.*f.size = size.getInt();
  }
  return schedule;
}

} // namespace loom
