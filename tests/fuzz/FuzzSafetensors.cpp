//===- FuzzSafetensors.cpp - libFuzzer target: safetensors headers ---------===//
//
// The input is a whole file: the 8-byte length, the JSON header and the data.

#include "loom/support/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  loom::SafetensorsHeader header;
  std::string error;
  if (loom::parseSafetensorsHeader(data, size, size, header, error))
    for (const loom::TensorInfo &tensor : header.tensors)
      (void)tensor.numElements();
  return 0;
}
