//===- TokenizerTest.cpp - Byte-level BPE against transformers' own output -===//

#include "loom/support/Checkpoint.h"
#include "loom/support/Json.h"
#include "loom/support/Tokenizer.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace {

std::string modelDir(const std::string &name) {
  return std::string(LOOM_SHARED_DIR) + "/models/" + name;
}

bool exists(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

/// Each generations.json prompt encodes to its prompt_ids, and output_ids decode to
/// its text: both were produced by transformers with the same tokenizer.json.
void checkGenerations(const std::string &model) {
  std::string dir = modelDir(model), error, text;
  if (!exists(dir + "/generations.json"))
    GTEST_SKIP() << dir << " is not here";
  loom::Tokenizer tokenizer;
  ASSERT_TRUE(tokenizer.load(dir + "/tokenizer.json", error)) << error;
  ASSERT_TRUE(loom::readTextFile(dir + "/generations.json", text, error)) << error;
  loom::json::Value root;
  ASSERT_TRUE(loom::json::parse(text, root, error)) << error;
  int checked = 0;
  for (const loom::json::Value &g : root.get("generations")->asArray()) {
    std::vector<int32_t> promptIds, outputIds;
    for (const loom::json::Value &id : g.get("prompt_ids")->asArray())
      promptIds.push_back(static_cast<int32_t>(id.asInteger()));
    for (const loom::json::Value &id : g.get("output_ids")->asArray())
      outputIds.push_back(static_cast<int32_t>(id.asInteger()));
    const std::string &prompt = g.get("prompt")->asString();
    EXPECT_EQ(tokenizer.encode(prompt), promptIds) << "prompt: " << prompt;
    EXPECT_EQ(tokenizer.decode(outputIds), g.get("text")->asString());
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(prompt)), prompt);
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(Tokenizer, MatchesTinyLlamaGenerations) { checkGenerations("tiny-llama"); }
TEST(Tokenizer, MatchesTinyGpt2Generations) { checkGenerations("tiny-gpt2"); }

TEST(Tokenizer, RoundTripsAwkwardText) {
  std::string path = modelDir("tiny-llama") + "/tokenizer.json", error;
  if (!exists(path))
    GTEST_SKIP() << path << " is not here";
  loom::Tokenizer tokenizer;
  ASSERT_TRUE(tokenizer.load(path, error)) << error;
  for (const std::string &text :
       {std::string("  leading spaces, trailing  \n\n\t"), std::string("it's they'll we'd"),
        std::string("x = 1234567 + 0.5e-3  # comment"), std::string("caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac"),
        std::string("\xf0\x9f\x99\x82 emoji"), std::string("bad utf8 \xff\xfe end"),
        std::string("<|bos|>def f():<|eos|><|pad|>")}) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text) << text;
  }
  // Special tokens in the text become their ids, not pieces of text.
  std::vector<int32_t> ids = tokenizer.encode("<|bos|>x<|eos|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 1);
  EXPECT_TRUE(tokenizer.isSpecial(0));
  EXPECT_EQ(tokenizer.decode(ids, /*skipSpecial=*/true), "x");
}

TEST(Tokenizer, RefusesWhatItCannotDo) {
  std::string dir = ::testing::TempDir() + "/loom-tokenizer-test";
  ::mkdir(dir.c_str(), 0755);
  std::string path = dir + "/tokenizer.json", error;
  FILE *f = std::fopen(path.c_str(), "w");
  std::fputs(R"({"model": {"type": "Unigram", "vocab": []}})", f);
  std::fclose(f);
  loom::Tokenizer tokenizer;
  EXPECT_FALSE(tokenizer.load(path, error));
  EXPECT_NE(error.find("BPE"), std::string::npos) << error;
  f = std::fopen(path.c_str(), "w");
  std::fputs("{\"model\": ", f);
  std::fclose(f);
  EXPECT_FALSE(tokenizer.load(path, error));
  EXPECT_FALSE(tokenizer.load(dir + "/missing.json", error));
}

} // namespace
