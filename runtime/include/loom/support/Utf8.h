//===- Utf8.h - Encoding and decoding UTF-8 -------------------------*- C++ -*-===//

#ifndef LOOM_SUPPORT_UTF8_H
#define LOOM_SUPPORT_UTF8_H

#include <cstdint>
#include <string>

namespace loom::utf8 {

/// Appends the UTF-8 encoding of code point `cp`.
inline void append(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
    return;
  }
  int continuation = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
  static const unsigned char lead[] = {0, 0xc0, 0xe0, 0xf0};
  out += static_cast<char>(lead[continuation] | (cp >> (6 * continuation)));
  for (int k = continuation - 1; k >= 0; --k)
    out += static_cast<char>(0x80 | ((cp >> (6 * k)) & 0x3f));
}

/// The length a sequence starting with lead byte `c` has (1 for a stray byte).
inline size_t sequenceLength(unsigned char c) {
  return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}

/// Length of the longest prefix of `bytes` that does not end inside a sequence, so
/// that streamed output never splits a character.
inline size_t completePrefix(const std::string &bytes) {
  size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xc0) == 0x80)
      continue; // a continuation byte: the lead byte is further back
    return sequenceLength(c) > back ? n - back : n;
  }
  return n;
}

} // namespace loom::utf8

#endif // LOOM_SUPPORT_UTF8_H
