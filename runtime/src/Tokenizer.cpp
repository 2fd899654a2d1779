//===- Tokenizer.cpp - Byte-level BPE from a tokenizer.json ----------------===//

#include "loom/support/Tokenizer.h"
#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Utf8.h"

#include <algorithm>
#include <climits>
#include <clocale>
#include <cwctype>
#include <locale.h>

namespace loom {

namespace {

/// Ids at or above this are refused: the token table is sized by the largest id.
constexpr int64_t kMaxTokenId = int64_t(1) << 22;


/// One code point of `text` at `i` and its length in bytes; invalid UTF-8 is taken a
/// byte at a time (as U+FFFD-like stand-ins that keep their byte).
struct CodePoint {
  uint32_t value;
  size_t length;
};
CodePoint decodeAt(const std::string &text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  size_t length = utf8::sequenceLength(c);
  if ((c >= 0x80 && length == 1) || i + length > text.size())
    return {0xfffd, 1};
  uint32_t value = length == 1 ? c : c & (0x7f >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80)
      return {0xfffd, 1};
    value = value << 6 | (byte(i + k) & 0x3f);
  }
  return {value, length};
}

locale_t utf8Locale() {
  static locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return locale;
}

enum class CharClass { Space, Letter, Number, Other };

CharClass classify(uint32_t cp) {
  if (cp < 0x80) {
    if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
      return CharClass::Space;
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
      return CharClass::Letter;
    if (cp >= '0' && cp <= '9')
      return CharClass::Number;
    return CharClass::Other;
  }
  locale_t locale = utf8Locale();
  wint_t w = static_cast<wint_t>(cp);
  if (cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
      cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
    return CharClass::Space;
  if (locale && iswalpha_l(w, locale))
    return CharClass::Letter;
  if (locale && iswdigit_l(w, locale))
    return CharClass::Number;
  return CharClass::Other;
}

/// Splits text into pieces by the GPT-2 pattern
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
std::vector<std::string> splitPieces(const std::string &text) {
  std::vector<CodePoint> cps;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < text.size();) {
    CodePoint cp = decodeAt(text, i);
    cps.push_back(cp);
    offsets.push_back(i);
    i += cp.length;
  }
  offsets.push_back(text.size());
  size_t n = cps.size();
  auto cls = [&](size_t k) { return classify(cps[k].value); };
  std::vector<std::string> pieces;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    // Contractions.
    for (const char *c : {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"}) {
      std::string_view suffix(c);
      if (text.compare(offsets[i], suffix.size(), suffix) == 0) {
        end = i + suffix.size(); // ASCII: one code point per byte
        break;
      }
    }
    if (end == i) {
      // One optional space, then a run of one class (letters, numbers or other).
      size_t start = cps[i].value == ' ' && i + 1 < n && cls(i + 1) != CharClass::Space ? i + 1 : i;
      CharClass run = cls(start);
      if (run != CharClass::Space) {
        end = start;
        while (end < n && cls(end) == run)
          ++end;
      } else {
        // Whitespace: the run, minus its last character when a non-space follows and
        // the run is longer than one.
        end = i;
        while (end < n && cls(end) == CharClass::Space)
          ++end;
        if (end < n && end - i > 1)
          --end;
      }
    }
    pieces.push_back(text.substr(offsets[i], offsets[end] - offsets[i]));
    i = end;
  }
  return pieces;
}

} // namespace

bool Tokenizer::load(const std::string &path, std::string &error) {
  std::string text;
  return readTextFile(path, text, error) && parse(text, path, error);
}

bool Tokenizer::parse(const std::string &text, const std::string &path,
                      std::string &error) {
  json::Value root;
  if (!json::parse(text, root, error)) {
    error = path + ": " + error;
    return false;
  }
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  const json::Value *model = root.get("model");
  const json::Value *type = model ? model->get("type") : nullptr;
  if (!type || !type->isString() || type->asString() != "BPE")
    return fail("model.type must be \"BPE\" (only byte-level BPE tokenizers are supported)");
  const json::Value *pre = root.get("pre_tokenizer");
  const json::Value *preType = pre ? pre->get("type") : nullptr;
  if (!preType || !preType->isString() || preType->asString() != "ByteLevel")
    return fail("pre_tokenizer must be ByteLevel (other pre-tokenizers are not supported)");
  if (const json::Value *regex = pre->get("use_regex"))
    if (regex->isBool() && !regex->asBool())
      return fail("pre_tokenizer.use_regex false is not supported");
  if (const json::Value *prefix = pre->get("add_prefix_space"))
    addPrefixSpace_ = prefix->isBool() && prefix->asBool();
  if (const json::Value *normalizer = root.get("normalizer"); normalizer && !normalizer->isNull())
    return fail("normalizers are not supported");
  for (const char *key : {"byte_fallback", "continuing_subword_prefix", "end_of_word_suffix"})
    if (const json::Value *v = model->get(key);
        v && !v->isNull() && !(v->isBool() && !v->asBool()) && !(v->isString() && v->asString().empty()))
      return fail(std::string("model.") + key + " is not supported");

  // The byte <-> printable character table of byte-level BPE: printable Latin-1
  // bytes stand for themselves, the others for U+0100 onwards in byte order.
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    uint32_t cp = printable ? b : next++;
    utf8::append(byteToText_[b], cp);
    codepointToByte_[cp] = static_cast<uint8_t>(b);
  }

  const json::Value *vocab = model->get("vocab");
  if (!vocab || !vocab->isObject())
    return fail("model.vocab must be an object");
  // The token table is indexed by id, so ids are bounded before anything is sized
  // from them (the largest vocabularies in use have about a million tokens).
  auto validId = [](const json::Value &id) {
    return id.isInteger() && id.asInteger() >= 0 && id.asInteger() < kMaxTokenId;
  };
  const std::string range = " (ids must be integers from 0 to " +
                            std::to_string(kMaxTokenId - 1) + ")";
  for (const auto &[token, id] : vocab->asObject()) {
    if (!validId(id))
      return fail("model.vocab[\"" + token + "\"] is not a valid id" + range);
    vocab_[token] = static_cast<int32_t>(id.asInteger());
  }
  const json::Value *merges = model->get("merges");
  if (!merges || !merges->isArray())
    return fail("model.merges must be an array");
  int32_t rank = 0;
  for (const json::Value &merge : merges->asArray()) {
    std::string left, right;
    if (merge.isString() && merge.asString().find(' ') != std::string::npos) {
      left = merge.asString().substr(0, merge.asString().find(' '));
      right = merge.asString().substr(merge.asString().find(' ') + 1);
    } else if (merge.isArray() && merge.asArray().size() == 2 &&
               merge.asArray()[0].isString() && merge.asArray()[1].isString()) {
      left = merge.asArray()[0].asString();
      right = merge.asArray()[1].asString();
    } else {
      return fail("model.merges[" + std::to_string(rank) + "] is not a pair");
    }
    mergeRanks_.emplace(left + '\x01' + right, rank++);
  }
  if (const json::Value *added = root.get("added_tokens"); added && added->isArray()) {
    for (const json::Value &token : added->asArray()) {
      const json::Value *id = token.get("id"), *content = token.get("content");
      if (!id || !id->isInteger() || !content || !content->isString() ||
          content->asString().empty())
        return fail("added_tokens entries need an integer id and a non-empty content");
      if (!validId(*id))
        return fail("added_tokens entry \"" + content->asString() + "\" has id " +
                    std::to_string(id->asInteger()) + ", out of range" + range);
      added_[content->asString()] = static_cast<int32_t>(id->asInteger());
      vocab_[content->asString()] = static_cast<int32_t>(id->asInteger());
    }
  }
  int32_t maxId = -1;
  for (const auto &[token, id] : vocab_)
    maxId = std::max(maxId, id);
  tokens_.assign(maxId + 1, "");
  special_.assign(maxId + 1, false);
  for (const auto &[token, id] : vocab_)
    tokens_[id] = token;
  if (const json::Value *added = root.get("added_tokens"); added && added->isArray())
    for (const json::Value &token : added->asArray())
      if (const json::Value *special = token.get("special"); special && special->isBool())
        special_[token.get("id")->asInteger()] = special->asBool();

  // Post-processor: the special tokens a single sequence gets around it.
  if (const json::Value *post = root.get("post_processor"); post && !post->isNull()) {
    const json::Value *postType = post->get("type");
    std::string kind = postType && postType->isString() ? postType->asString() : "";
    if (kind == "TemplateProcessing") {
      const json::Value *single = post->get("single");
      bool seenSequence = false;
      for (const json::Value &piece : single && single->isArray() ? single->asArray()
                                                                  : std::vector<json::Value>{}) {
        if (piece.get("Sequence")) {
          seenSequence = true;
        } else if (const json::Value *special = piece.get("SpecialToken")) {
          const json::Value *name = special->get("id");
          int32_t id = name && name->isString() ? find(name->asString()) : -1;
          if (id < 0)
            return fail("post_processor names an unknown special token");
          (seenSequence ? suffix_ : prefix_).push_back(id);
        }
      }
    } else if (kind != "ByteLevel") {
      return fail("post_processor \"" + kind + "\" is not supported");
    }
  }
  return true;
}

int32_t Tokenizer::find(const std::string &token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

bool Tokenizer::isSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
}

void Tokenizer::encodePiece(const std::string &piece, std::vector<int32_t> &out) const {
  auto cached = cache_.find(piece);
  if (cached != cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  std::vector<std::string> symbols;
  for (unsigned char byte : piece)
    symbols.push_back(byteToText_[byte]);
  // Merge the adjacent pair of lowest rank (leftmost on ties) until none is mergeable.
  while (symbols.size() > 1) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = mergeRanks_.find(symbols[i] + '\x01' + symbols[i + 1]);
      if (it != mergeRanks_.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT32_MAX)
      break;
    symbols[at] += symbols[at + 1];
    symbols.erase(symbols.begin() + at + 1);
  }
  std::vector<int32_t> ids;
  for (const std::string &symbol : symbols) {
    int32_t id = find(symbol);
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    // Not in the vocabulary (an incomplete vocabulary): fall back to its characters.
    for (size_t i = 0; i < symbol.size();) {
      CodePoint cp = decodeAt(symbol, i);
      int32_t single = find(symbol.substr(i, cp.length));
      if (single >= 0)
        ids.push_back(single);
      i += cp.length;
    }
  }
  out.insert(out.end(), ids.begin(), ids.end());
  cache_.emplace(piece, std::move(ids));
}

std::vector<int32_t> Tokenizer::encode(const std::string &text) const {
  std::vector<int32_t> ids = prefix_;
  // Split out added tokens, longest match first, then pre-tokenize what lies between.
  auto encodeSpan = [&](const std::string &span, bool first) {
    std::string input = addPrefixSpace_ && first && !span.empty() && span[0] != ' '
                            ? " " + span
                            : span;
    for (const std::string &piece : splitPieces(input))
      encodePiece(piece, ids);
  };
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const std::pair<const std::string, int32_t> *match = nullptr;
    for (const auto &entry : added_)
      if (text.compare(i, entry.first.size(), entry.first) == 0 &&
          (!match || entry.first.size() > match->first.size()))
        match = &entry;
    if (!match) {
      ++i;
      continue;
    }
    encodeSpan(text.substr(start, i - start), start == 0);
    ids.push_back(match->second);
    i += match->first.size();
    start = i;
  }
  encodeSpan(text.substr(start), start == 0);
  ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  return ids;
}

std::string Tokenizer::tokenBytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size())
    return "";
  const std::string &token = tokens_[id];
  if (added_.count(token))
    return token;
  std::string bytes;
  for (size_t i = 0; i < token.size();) {
    CodePoint cp = decodeAt(token, i);
    auto it = codepointToByte_.find(cp.value);
    if (it != codepointToByte_.end())
      bytes += static_cast<char>(it->second);
    else
      bytes += token.substr(i, cp.length);
    i += cp.length;
  }
  return bytes;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecial) const {
  std::string text;
  for (int32_t id : ids)
    if (!(skipSpecial && isSpecial(id)))
      text += tokenBytes(id);
  return text;
}

} // namespace loom
