//===- FuzzTokenizer.cpp - libFuzzer target: tokenizer.json and encoding --===//
//
// The input is a tokenizer.json; one that loads encodes and decodes a fixed text
// with every kind of piece (letters, digits, spaces, punctuation, multi-byte UTF-8)
// and decodes every id up to the table's size plus a few out of range.

#include "loom/support/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  loom::Tokenizer tokenizer;
  std::string error;
  if (!tokenizer.parse(text, "fuzz.json", error))
    return 0;
  std::vector<int32_t> ids =
      tokenizer.encode("Hello, world! It's 2026 -- naïve café 東京 <|eos|>  \n\t x");
  (void)tokenizer.decode(ids, true);
  std::vector<int32_t> all;
  for (int32_t id = -3; id < static_cast<int32_t>(tokenizer.vocabSize()) + 3 && id < 4096; ++id)
    all.push_back(id);
  (void)tokenizer.decode(all, false);
  return 0;
}
