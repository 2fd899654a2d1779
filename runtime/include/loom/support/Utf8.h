//===- Utf8.h - Encoding and decoding UTF-8 -------------------------*- C++ -*-===//

#ifndef LOOM_SUPPORT_UTF8_H
#define LOOM_SUPPORT_UTF8_H

#include <cstdint>
#include <string>
#include <string_view>

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

/// Length of the well-formed UTF-8 sequence at the start of `bytes` (1 to 4), or 0 if
/// it is malformed: a stray continuation byte, a truncated or overlong sequence, a
/// surrogate or a code point above U+10FFFF.
inline size_t validSequence(std::string_view bytes) {
  if (bytes.empty())
    return 0;
  unsigned char lead = static_cast<unsigned char>(bytes[0]);
  size_t length = sequenceLength(lead);
  if (lead < 0x80)
    return 1;
  if (length == 1 || bytes.size() < length)
    return 0;
  uint32_t cp = lead & (0x7f >> length);
  for (size_t k = 1; k < length; ++k) {
    unsigned char c = static_cast<unsigned char>(bytes[k]);
    if ((c & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (c & 0x3f);
  }
  static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < smallest[length] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return length;
}

/// Offset of the first malformed byte of `bytes`, or npos if it is all valid UTF-8.
inline size_t firstInvalid(std::string_view bytes) {
  for (size_t at = 0; at < bytes.size();) {
    size_t length = validSequence(bytes.substr(at));
    if (!length)
      return at;
    at += length;
  }
  return std::string_view::npos;
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
