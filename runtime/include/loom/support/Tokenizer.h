//===- Tokenizer.h - Byte-level BPE from a tokenizer.json -----------*- C++ -*-===//
//
// Encodes and decodes text the way the Hugging Face `tokenizers` library does for
// byte-level BPE models (GPT-2, the shared tiny models, and most code models):
//   - added tokens (special or not) are matched in the text first, longest first;
//   - the rest is split by the GPT-2 pre-tokenizer pattern (contractions, letters,
//     numbers, other symbols, each with one optional leading space; whitespace runs);
//   - each piece's bytes are mapped to printable characters and merged by BPE rank.
// Letters and digits outside ASCII are classified by the C library's "C.UTF-8"
// locale, which puts a few rare characters (non-Latin digits) in other classes than
// Unicode's \p{L} / \p{N} do.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_TOKENIZER_H
#define LOOM_SUPPORT_TOKENIZER_H

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace loom {

class Tokenizer {
public:
  /// Reads `path` (a tokenizer.json). Fails, naming the field, for models other than
  /// byte-level BPE.
  bool load(const std::string &path, std::string &error);
  /// load() of the file's text; `where` names it in messages.
  bool parse(const std::string &text, const std::string &where, std::string &error);

  /// Token ids of `text`, with the post-processor's special tokens (if any) around it.
  std::vector<int32_t> encode(const std::string &text) const;
  /// The text of `ids`; special tokens are left out when `skipSpecial`.
  std::string decode(const std::vector<int32_t> &ids, bool skipSpecial = false) const;
  /// The bytes one token stands for (special tokens: their text).
  std::string tokenBytes(int32_t id) const;

  /// The id of a token's text, or -1.
  int32_t find(const std::string &token) const;
  bool isSpecial(int32_t id) const;
  size_t vocabSize() const { return tokens_.size(); }

private:
  void encodePiece(const std::string &piece, std::vector<int32_t> &out) const;

  std::unordered_map<std::string, int32_t> vocab_;
  /// Token text by id (the byte-mapped form for BPE tokens).
  std::vector<std::string> tokens_;
  /// "left\x01right" -> rank.
  std::unordered_map<std::string, int32_t> mergeRanks_;
  /// Added tokens by text, longest matched first.
  std::map<std::string, int32_t> added_;
  std::vector<bool> special_;
  /// Token ids the post-processor puts before and after a single sequence.
  std::vector<int32_t> prefix_, suffix_;
  bool addPrefixSpace_ = false;
  /// Byte -> the UTF-8 of its printable stand-in, and back.
  std::string byteToText_[256];
  std::unordered_map<uint32_t, uint8_t> codepointToByte_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

} // namespace loom

#endif // LOOM_SUPPORT_TOKENIZER_H
