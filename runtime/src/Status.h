//===- Status.h - Building loom_status_t values inside the runtime -*- C++ -*-===//

#ifndef LOOM_RUNTIME_STATUS_H
#define LOOM_RUNTIME_STATUS_H

#include "loom/runtime.h"

#include <string>

struct loom_status_s {
  loom_status_code_t code;
  std::string message;
};

namespace loom::rt {

/// A new failure status owned by the caller (never null, even when memory is short).
loom_status_t makeStatus(loom_status_code_t code, std::string message);

} // namespace loom::rt

#endif // LOOM_RUNTIME_STATUS_H
