//===- FuzzJson.cpp - libFuzzer target: the JSON reader ---------------------===//

#include "loom/support/Json.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  loom::json::Value root;
  std::string error;
  if (loom::json::parse(text, root, error) && root.isObject())
    for (const auto &[key, value] : root.asObject())
      (void)value.kindName(); // walk the members the way readers do
  return 0;
}
