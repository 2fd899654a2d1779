//===- FuzzHfConfig.cpp - libFuzzer target: config.json import ------------===//
//
// The input is a config.json; the importer reads it into a model spec, collecting
// every problem, as `loom import` does before it opens the checkpoint.

#include "compiler/import/hf/HfConfig.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  loom::HfModelSpec spec;
  std::vector<std::string> errors, warnings;
  // A folder that does not exist: no quantize_config.json is read beside it.
  (void)loom::parseHfConfig(text, "/nonexistent-loom-fuzz/config.json", spec, errors,
                            warnings);
  return 0;
}
