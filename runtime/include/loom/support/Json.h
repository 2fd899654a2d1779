//===- Json.h - A small strict JSON reader -------------------------*- C++ -*-===//
//
// RFC 8259 JSON with no extensions: no comments, no trailing commas, no NaN, no
// duplicate keys, nesting at most 128 deep. Never throws; errors carry the byte offset.
// Used for safetensors headers, config.json and tokenizer.json.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_JSON_H
#define LOOM_SUPPORT_JSON_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loom::json {

/// One JSON value. Objects keep their keys in file order.
class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }
  /// A number written without fraction or exponent that fits in int64.
  bool isInteger() const { return kind_ == Kind::Number && integral_; }

  bool asBool() const { return boolean_; }
  double asNumber() const { return number_; }
  int64_t asInteger() const { return integer_; }
  const std::string &asString() const { return string_; }
  const std::vector<Value> &asArray() const { return array_; }
  const std::vector<std::pair<std::string, Value>> &asObject() const { return object_; }

  /// The member `key` of an object, or null if absent or not an object.
  const Value *get(std::string_view key) const;

  /// "null", "a boolean", "a number", "a string", "an array" or "an object".
  const char *kindName() const;

private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool boolean_ = false;
  bool integral_ = false;
  double number_ = 0.0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

/// Parses `text` as one JSON document. On failure returns false and sets `error` to
/// "at byte N: what was wrong".
bool parse(std::string_view text, Value &out, std::string &error);

} // namespace loom::json

#endif // LOOM_SUPPORT_JSON_H
