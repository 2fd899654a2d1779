//===- TrainData.cpp - Supervised fine-tuning data from JSONL --------------===//

#include "TrainData.h"

#include "loom/support/Files.h"
#include "loom/support/Json.h"
#include "loom/support/Tokenizer.h"

#include <algorithm>

namespace loom::cli {

using reference::ElementType;
using reference::Tensor;

namespace {

/// A JSONL corpus may be large; 1 GiB is more than CPU training will read.
constexpr uint64_t kCorpusLimit = uint64_t(1) << 30;

/// The string member `key` of `object`, or null.
const std::string *stringMember(const json::Value &object, const char *key) {
  const json::Value *v = object.get(key);
  return v && v->isString() ? &v->asString() : nullptr;
}

} // namespace

bool readJsonlExamples(const std::string &path, const std::string &model, int64_t maxTokens,
                       std::vector<Example> &examples, std::string &error) {
  Tokenizer tokenizer;
  if (!tokenizer.load(model + "/tokenizer.json", error))
    return false;
  std::string text;
  if (!readTextFile(path, text, error, kCorpusLimit))
    return false;
  examples.clear();
  size_t lineNumber = 0;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    ++lineNumber;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    std::string where = path + ":" + std::to_string(lineNumber) + ": ";
    json::Value record;
    std::string why;
    if (!json::parse(line, record, why)) {
      error = where + why;
      return false;
    }
    if (!record.isObject()) {
      error = where + "each line must be a JSON object";
      return false;
    }
    Example example;
    const std::string *plain = stringMember(record, "text"),
                      *prompt = stringMember(record, "prompt"),
                      *completion = stringMember(record, "completion");
    if (plain) {
      example.ids = tokenizer.encode(*plain);
      example.counted.assign(example.ids.size(), true);
    } else if (prompt && completion) {
      // The loss is taken on the completion: the tokens of the whole text past those
      // of the prompt alone (its trailing special tokens, if any, left out).
      example.ids = tokenizer.encode(*prompt + *completion);
      std::vector<int32_t> head = tokenizer.encode(*prompt);
      while (!head.empty() && tokenizer.isSpecial(head.back()))
        head.pop_back();
      example.counted.assign(example.ids.size(), false);
      for (size_t i = head.size(); i < example.ids.size(); ++i)
        example.counted[i] = !tokenizer.isSpecial(example.ids[i]);
    } else if (record.get("messages")) {
      error = where + "{\"messages\"} needs the model's chat template, which Loom does not "
                      "render yet; give {\"text\"} or {\"prompt\", \"completion\"}";
      return false;
    } else {
      error = where + "a line needs a string \"text\", or strings \"prompt\" and "
                      "\"completion\"";
      return false;
    }
    if (static_cast<int64_t>(example.ids.size()) > maxTokens) {
      example.ids.resize(maxTokens);
      example.counted.resize(maxTokens);
    }
    if (example.ids.size() < 2) {
      error = where + "the example has fewer than two tokens (nothing to predict)";
      return false;
    }
    examples.push_back(std::move(example));
  }
  if (examples.empty()) {
    error = path + " holds no example";
    return false;
  }
  return true;
}

std::map<std::string, Tensor> makeBatch(const std::vector<Example> &examples,
                                        const std::vector<size_t> &order, size_t first,
                                        int64_t rows, int32_t pad) {
  std::vector<const Example *> chosen;
  size_t longest = 0;
  for (int64_t r = 0; r < rows; ++r) {
    chosen.push_back(&examples[order[(first + r) % order.size()]]);
    longest = std::max(longest, chosen.back()->ids.size());
  }
  int64_t width = static_cast<int64_t>(longest);
  std::map<std::string, Tensor> batch;
  for (const char *name : {"input_ids", "attention_mask", "labels"})
    batch[name] = Tensor::zeros(ElementType::I64, {rows, width});
  for (int64_t r = 0; r < rows; ++r) {
    const Example &e = *chosen[r];
    for (int64_t t = 0; t < width; ++t) {
      bool inside = t < static_cast<int64_t>(e.ids.size());
      int64_t at = r * width + t;
      batch["input_ids"].ints[at] = inside ? e.ids[t] : pad;
      batch["attention_mask"].ints[at] = inside ? 1 : 0;
      batch["labels"].ints[at] = inside && e.counted[t] ? e.ids[t] : -100;
    }
  }
  return batch;
}

} // namespace loom::cli
