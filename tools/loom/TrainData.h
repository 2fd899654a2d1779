//===- TrainData.h - Supervised fine-tuning data from JSONL ----------*- C++ -*-===//
//
// `loom train --data corpus.jsonl`: one JSON object per line, tokenized with the model's
// tokenizer.json, then cut into batches of `input_ids`, `attention_mask` and `labels`
// (int64 [rows, longest]; right padding; -100 where no loss is taken), the tensors the
// grad entry reads.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_TRAINDATA_H
#define LOOM_TOOLS_LOOM_TRAINDATA_H

#include "compiler/reference/Tensor.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom::cli {

/// One tokenized example: its ids and, per position, whether its token is a target of
/// the loss (the completion of {"prompt", "completion"}, every token of {"text"}).
struct Example {
  std::vector<int32_t> ids;
  std::vector<bool> counted;
};

/// Reads `path` (JSONL: {"text": ...} or {"prompt": ..., "completion": ...} per line;
/// blank lines skipped) with the tokenizer of `model` (its tokenizer.json), each
/// example cut to `maxTokens`. Fails naming the line for a line that is not such an
/// object, for {"messages"} (chat templates are not rendered yet), and for a file
/// with no example.
bool readJsonlExamples(const std::string &path, const std::string &model, int64_t maxTokens,
                       std::vector<Example> &examples, std::string &error);

/// The batch of `examples[order[first .. first + rows)]` (indices taken modulo the
/// order's size): input_ids (padding `pad`), attention_mask and labels.
std::map<std::string, reference::Tensor> makeBatch(const std::vector<Example> &examples,
                                                   const std::vector<size_t> &order,
                                                   size_t first, int64_t rows,
                                                   int32_t pad);

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_TRAINDATA_H
