//===- Status.cpp - The status object of the C API --------------------------===//

#include "Status.h"

#include <new>

namespace {
/// Returned when even the status cannot be allocated; loom_status_free ignores it.
loom_status_s outOfMemoryStatus{LOOM_STATUS_OUT_OF_MEMORY,
                                "out of host memory while reporting an error"};
} // namespace

loom_status_t loom::rt::makeStatus(loom_status_code_t code, std::string message) {
  auto *status = new (std::nothrow) loom_status_s{code, std::move(message)};
  return status ? status : &outOfMemoryStatus;
}

extern "C" {

const char *loom_version(void) { return LOOM_VERSION_STRING; }

loom_status_code_t loom_status_code(loom_status_t status) {
  return status ? status->code : LOOM_STATUS_OK;
}

const char *loom_status_message(loom_status_t status) {
  return status ? status->message.c_str() : "OK";
}

void loom_status_free(loom_status_t status) {
  if (status != &outOfMemoryStatus)
    delete status;
}

} // extern "C"
