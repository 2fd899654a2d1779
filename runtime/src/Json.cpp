//===- Json.cpp - A small strict JSON reader --------------------------------===//

#include "loom/support/Json.h"
#include "loom/support/Utf8.h"

#include <cerrno>
#include <cstdlib>
#include <set>

namespace loom::json {

const Value *Value::get(std::string_view key) const {
  for (const auto &[name, value] : object_)
    if (name == key)
      return &value;
  return nullptr;
}

const char *Value::kindName() const {
  switch (kind_) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "a boolean";
  case Kind::Number:
    return "a number";
  case Kind::String:
    return "a string";
  case Kind::Array:
    return "an array";
  case Kind::Object:
    return "an object";
  }
  return "?";
}

/// Recursive descent over the text; the first error stops it.
class Parser {
public:
  explicit Parser(std::string_view text) : text_(text) {}

  bool parseDocument(Value &out, std::string &error) {
    skipSpace();
    bool ok = parseValue(out, 0) && (skipSpace(), pos_ == text_.size() ||
                                                      fail("unexpected text after the value"));
    if (!ok)
      error = "at byte " + std::to_string(errorPos_) + ": " + error_;
    return ok;
  }

private:
  static constexpr int kMaxDepth = 128;

  bool fail(std::string message) {
    error_ = std::move(message);
    errorPos_ = pos_;
    return false;
  }
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void skipSpace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word)
      return false;
    pos_ += word.size();
    return true;
  }

  bool parseValue(Value &out, int depth) {
    if (depth > kMaxDepth)
      return fail("nesting deeper than " + std::to_string(kMaxDepth));
    if (atEnd())
      return fail("unexpected end of text, expected a value");
    switch (peek()) {
    case '{':
      return parseObject(out, depth);
    case '[':
      return parseArray(out, depth);
    case '"':
      out.kind_ = Value::Kind::String;
      return parseString(out.string_);
    case 't':
    case 'f':
      out.kind_ = Value::Kind::Bool;
      out.boolean_ = peek() == 't';
      return consume(out.boolean_ ? "true" : "false") || fail("invalid literal");
    case 'n':
      out.kind_ = Value::Kind::Null;
      return consume("null") || fail("invalid literal");
    default:
      return parseNumber(out);
    }
  }

  bool parseObject(Value &out, int depth) {
    out.kind_ = Value::Kind::Object;
    ++pos_; // '{'
    skipSpace();
    if (!atEnd() && peek() == '}')
      return ++pos_, true;
    std::set<std::string, std::less<>> keys;
    while (true) {
      skipSpace();
      if (atEnd() || peek() != '"')
        return fail("expected a string key");
      size_t keyPos = pos_;
      std::string key;
      if (!parseString(key))
        return false;
      if (!keys.insert(key).second) {
        pos_ = keyPos;
        return fail("duplicate key \"" + key + "\"");
      }
      skipSpace();
      if (atEnd() || peek() != ':')
        return fail("expected ':' after a key");
      ++pos_;
      skipSpace();
      Value value;
      if (!parseValue(value, depth + 1))
        return false;
      out.object_.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (!atEnd() && peek() == ',') {
        ++pos_;
        continue;
      }
      if (!atEnd() && peek() == '}')
        return ++pos_, true;
      return fail("expected ',' or '}' in an object");
    }
  }

  bool parseArray(Value &out, int depth) {
    out.kind_ = Value::Kind::Array;
    ++pos_; // '['
    skipSpace();
    if (!atEnd() && peek() == ']')
      return ++pos_, true;
    while (true) {
      skipSpace();
      Value element;
      if (!parseValue(element, depth + 1))
        return false;
      out.array_.push_back(std::move(element));
      skipSpace();
      if (!atEnd() && peek() == ',') {
        ++pos_;
        continue;
      }
      if (!atEnd() && peek() == ']')
        return ++pos_, true;
      return fail("expected ',' or ']' in an array");
    }
  }

  bool parseHex4(uint32_t &code) {
    code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (atEnd())
        return fail("unexpected end of text in a \\u escape");
      char c = peek();
      uint32_t digit = c >= '0' && c <= '9'   ? c - '0'
                       : c >= 'a' && c <= 'f' ? c - 'a' + 10
                       : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : 16;
      if (digit == 16)
        return fail("invalid hex digit in a \\u escape");
      code = code * 16 + digit;
    }
    return true;
  }


  bool parseString(std::string &out) {
    ++pos_; // '"'
    while (true) {
      if (atEnd())
        return fail("unterminated string");
      char c = peek();
      if (c == '"')
        return ++pos_, true;
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character in a string");
      if (c != '\\') {
        // JSON text is UTF-8 (RFC 8259); a malformed byte would reach names and vocab.
        size_t length = utf8::validSequence(text_.substr(pos_));
        if (!length)
          return fail("invalid UTF-8 in a string");
        out.append(text_.substr(pos_, length));
        pos_ += length;
        continue;
      }
      ++pos_;
      if (atEnd())
        return fail("unterminated escape");
      char e = peek();
      ++pos_;
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t code;
        if (!parseHex4(code))
          return false;
        if (code >= 0xD800 && code <= 0xDBFF) {
          uint32_t low;
          if (!consume("\\u") || !parseHex4(low) || low < 0xDC00 || low > 0xDFFF)
            return fail("unpaired UTF-16 surrogate in a \\u escape");
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        } else if (code >= 0xDC00 && code <= 0xDFFF) {
          return fail("unpaired UTF-16 surrogate in a \\u escape");
        }
        utf8::append(out, code);
        break;
      }
      default:
        --pos_;
        return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  bool parseNumber(Value &out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (!atEnd() && peek() >= '0' && peek() <= '9')
        ++pos_;
      return pos_ - from;
    };
    if (!atEnd() && peek() == '-')
      ++pos_;
    if (atEnd() || !(peek() >= '0' && peek() <= '9'))
      return fail("invalid value");
    if (peek() == '0')
      ++pos_;
    else
      digits();
    bool integral = true;
    if (!atEnd() && peek() == '.') {
      ++pos_;
      integral = false;
      if (!digits())
        return fail("expected digits after '.'");
    }
    if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      integral = false;
      if (!atEnd() && (peek() == '+' || peek() == '-'))
        ++pos_;
      if (!digits())
        return fail("expected digits in an exponent");
    }
    std::string token(text_.substr(start, pos_ - start));
    out.kind_ = Value::Kind::Number;
    out.number_ = std::strtod(token.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long value = std::strtoll(token.c_str(), nullptr, 10);
      out.integral_ = errno != ERANGE;
      out.integer_ = value;
    }
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
  size_t errorPos_ = 0;
};

bool parse(std::string_view text, Value &out, std::string &error) {
  out = Value();
  return Parser(text).parseDocument(out, error);
}

} // namespace loom::json
