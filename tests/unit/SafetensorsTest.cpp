//===- SafetensorsTest.cpp - The safetensors reader on good and bad files ---===//

#include "loom/support/Checkpoint.h"
#include "loom/support/Float16.h"
#include "loom/support/Json.h"
#include "loom/support/Safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <random>
#include <unistd.h>

namespace {

/// Bytes of a safetensors file with `header` as its JSON and `dataBytes` of data.
std::string makeFile(const std::string &header, size_t dataBytes, uint64_t lengthField = ~0ull) {
  uint64_t length = lengthField == ~0ull ? header.size() : lengthField;
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i)
    file[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  file += header;
  file.append(dataBytes, '\x01');
  return file;
}

/// Parses `file`; returns "" on success or the error.
std::string parseError(const std::string &file, loom::SafetensorsHeader *out = nullptr) {
  loom::SafetensorsHeader header;
  std::string error;
  bool ok = loom::parseSafetensorsHeader(reinterpret_cast<const uint8_t *>(file.data()),
                                         file.size(), file.size(), header, error);
  if (out)
    *out = header;
  return ok ? "" : error;
}

const char *kGood = R"({"__metadata__":{"format":"pt"},)"
                    R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},)"
                    R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";

TEST(Safetensors, ParsesAWellFormedFile) {
  loom::SafetensorsHeader header;
  ASSERT_EQ(parseError(makeFile(kGood, 28), &header), "");
  ASSERT_EQ(header.tensors.size(), 2u);
  const loom::TensorInfo *b = header.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, loom::DType::BF16);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->fileBegin, 8 + std::string(kGood).size() + 16);
  EXPECT_EQ(b->numElements(), 6);
  EXPECT_EQ(header.metadata.at("format"), "pt");
}

TEST(Safetensors, RefusesTruncatedFiles) {
  EXPECT_NE(parseError("abc").find("fewer than the 8-byte header length"), std::string::npos);
  std::string file = makeFile(kGood, 28);
  EXPECT_NE(parseError(file.substr(0, 20)).find("runs past the end"), std::string::npos);
  // Header intact, data cut short: the last tensor no longer fits.
  EXPECT_NE(parseError(file.substr(0, file.size() - 4)).find("data ends at byte 28"),
            std::string::npos);
}

TEST(Safetensors, RefusesALyingHeaderLength) {
  EXPECT_NE(parseError(makeFile(kGood, 28, 1ull << 40)).find("above the 100 MiB limit"),
            std::string::npos);
  std::string error = parseError(makeFile(kGood, 28, std::string(kGood).size() + 100));
  EXPECT_NE(error.find("runs past the end"), std::string::npos) << error;
  // A length that stops inside the JSON leaves it unterminated.
  error = parseError(makeFile(kGood, 28, 30));
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
}

TEST(Safetensors, RefusesBadDTypesAndShapes) {
  auto one = [](const std::string &entry, size_t data) {
    return parseError(makeFile("{\"t\":" + entry + "}", data));
  };
  EXPECT_NE(one(R"({"dtype":"F12","shape":[1],"data_offsets":[0,4]})", 4)
                .find("unsupported dtype \"F12\""),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4)
                .find("non-negative integers"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", 4)
                .find("non-negative integers"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})", 8)
                .find("too large"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 8)
                .find("span 8 bytes but F32 with this shape needs 12"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})", 8).find("end before"),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[1]})", 4).find("needs \"dtype\""),
            std::string::npos);
  EXPECT_NE(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1})", 4)
                .find("unknown field \"x\""),
            std::string::npos);
}

TEST(Safetensors, RefusesOverlapsHolesAndSlack) {
  std::string overlap = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  EXPECT_NE(parseError(makeFile(overlap, 6)).find("'a' and 'b' overlap"), std::string::npos);
  std::string hole = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}})";
  EXPECT_NE(parseError(makeFile(hole, 10)).find("hole of 2 bytes before tensor 'b'"),
            std::string::npos);
  std::string single = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  EXPECT_NE(parseError(makeFile(single, 9)).find("5 bytes after the last tensor"),
            std::string::npos);
}

TEST(Safetensors, RefusesMalformedJson) {
  EXPECT_NE(parseError(makeFile("[1,2]", 0)).find("does not start with '{'"),
            std::string::npos);
  std::string dup = R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                    R"("a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})";
  EXPECT_NE(parseError(makeFile(dup, 0)).find("duplicate key \"a\""), std::string::npos);
  EXPECT_NE(parseError(makeFile(R"({"__metadata__":{"k":1}})", 0)).find("is not a string"),
            std::string::npos);
  EXPECT_NE(parseError(makeFile(R"({"a":3})", 0)).find("not an object"), std::string::npos);
}

// Random byte corruption of a good file never crashes or over-reads: each variant is
// parsed from an exactly-sized buffer and must either succeed or give a message.
TEST(Safetensors, SurvivesRandomCorruption) {
  std::string good = makeFile(kGood, 28);
  std::mt19937 rng(1234);
  int failures = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string bad = good;
    int flips = 1 + rng() % 4;
    for (int i = 0; i < flips; ++i)
      bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0)
      bad.resize(rng() % bad.size());
    std::vector<uint8_t> exact(bad.begin(), bad.end());
    loom::SafetensorsHeader header;
    std::string error;
    if (!loom::parseSafetensorsHeader(exact.data(), exact.size(), exact.size(), header,
                                      error)) {
      ++failures;
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_GT(failures, 1000);
}

TEST(Safetensors, ReadsTheSharedReferenceModels) {
  std::string path = std::string(LOOM_SHARED_DIR) + "/models/tiny-llama/model.safetensors";
  if (access(path.c_str(), R_OK) != 0)
    GTEST_SKIP() << "no " << path;
  loom::SafetensorsHeader header;
  std::string error;
  ASSERT_TRUE(loom::readSafetensorsHeader(path, header, error)) << error;
  const loom::TensorInfo *q = header.find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, loom::DType::BF16);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{256, 256}));
}

TEST(Json, ParsesAndRefuses) {
  loom::json::Value value;
  std::string error;
  ASSERT_TRUE(loom::json::parse(R"( {"a": [1, -2.5e3, true, null, "x\u00e9\ud83d\ude00"]} )",
                                value, error))
      << error;
  const auto &array = value.get("a")->asArray();
  EXPECT_TRUE(array[0].isInteger());
  EXPECT_EQ(array[0].asInteger(), 1);
  EXPECT_DOUBLE_EQ(array[1].asNumber(), -2500.0);
  EXPECT_FALSE(array[1].isInteger());
  EXPECT_EQ(array[4].asString(), "x\xc3\xa9\xf0\x9f\x98\x80");
  for (const char *bad : {"{\"a\":1,}", "[1 2]", "01", "\"\\x\"", "{\"a\":1}{", "nul",
                          "\"\\ud800\"", "1.", "[1,]", "{\"a\" 1}"}) {
    EXPECT_FALSE(loom::json::parse(bad, value, error)) << bad;
    EXPECT_EQ(error.rfind("at byte ", 0), 0u) << error;
  }
  std::string deep(200, '[');
  EXPECT_FALSE(loom::json::parse(deep, value, error));
  EXPECT_NE(error.find("nesting deeper"), std::string::npos);
}

/// A scratch folder removed at the end of the test.
struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/loom-test-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() {
    if (std::system(("rm -rf '" + path + "'").c_str()) != 0)
      std::fprintf(stderr, "could not remove %s\n", path.c_str());
  }
  void write(const std::string &name, const std::string &bytes) const {
    std::ofstream(path + "/" + name, std::ios::binary) << bytes;
  }
  std::string path;
};

TEST(Checkpoint, ReadsShardsThroughTheIndex) {
  TempDir dir;
  dir.write("a.safetensors", makeFile(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  dir.write("b.safetensors", makeFile(R"({"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8));
  dir.write("model.safetensors.index.json",
            R"({"metadata":{},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})");
  loom::Checkpoint checkpoint;
  std::string error;
  ASSERT_TRUE(checkpoint.open(dir.path, error)) << error;
  EXPECT_EQ(checkpoint.numTensors(), 2u);
  EXPECT_EQ(checkpoint.totalBytes(), 16u);
  ASSERT_NE(checkpoint.find("y"), nullptr);
  EXPECT_NE(checkpoint.shardOf(*checkpoint.find("y")).path.find("b.safetensors"),
            std::string::npos);
}

TEST(Checkpoint, RefusesPathsLeavingTheFolder) {
  TempDir dir, outside;
  outside.write("evil.safetensors", makeFile("{}", 0));
  loom::Checkpoint checkpoint;
  std::string error;
  dir.write("model.safetensors.index.json", R"({"weight_map":{"x":"../evil.safetensors"}})");
  EXPECT_FALSE(checkpoint.open(dir.path, error));
  EXPECT_NE(error.find("'..' leads out of the model folder"), std::string::npos) << error;
  dir.write("model.safetensors.index.json",
            R"({"weight_map":{"x":")" + outside.path + R"(/evil.safetensors"}})");
  EXPECT_FALSE(checkpoint.open(dir.path, error));
  EXPECT_NE(error.find("absolute paths are not allowed"), std::string::npos) << error;
  ASSERT_EQ(symlink((outside.path + "/evil.safetensors").c_str(),
                    (dir.path + "/link.safetensors").c_str()),
            0);
  dir.write("model.safetensors.index.json", R"({"weight_map":{"x":"link.safetensors"}})");
  EXPECT_FALSE(checkpoint.open(dir.path, error));
  EXPECT_NE(error.find("outside the model folder"), std::string::npos) << error;
}

TEST(Checkpoint, RefusesPickleAndMissingTensors) {
  TempDir dir;
  dir.write("pytorch_model.bin", "not read");
  loom::Checkpoint checkpoint;
  std::string error;
  EXPECT_FALSE(checkpoint.open(dir.path, error));
  EXPECT_NE(error.find("loading a pickle can run arbitrary code"), std::string::npos) << error;
  dir.write("a.safetensors", makeFile("{}", 0));
  dir.write("model.safetensors.index.json", R"({"weight_map":{"x":"a.safetensors"}})");
  EXPECT_FALSE(checkpoint.open(dir.path, error));
  EXPECT_NE(error.find("lists 'x' in a.safetensors, but no shard holds it"), std::string::npos)
      << error;
}

} // namespace

TEST(Float16, EveryHalfAndBfloat16RoundTrips) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    float h = loom::halfToFloat(static_cast<uint16_t>(bits));
    float b = loom::bfloat16ToFloat(static_cast<uint16_t>(bits));
    if (!std::isnan(h))
      EXPECT_EQ(loom::floatToHalf(h), bits) << bits;
    if (!std::isnan(b))
      EXPECT_EQ(loom::floatToBfloat16(b), bits) << bits;
  }
}

TEST(Float16, RoundsToNearestEven) {
  EXPECT_EQ(loom::roundToHalf(1.0f + 1.0f / 2048), 1.0f);               // tie, to even
  EXPECT_EQ(loom::roundToHalf(1.0f + 3.0f / 2048), 1.0f + 2.0f / 1024); // tie, to even
  EXPECT_EQ(loom::roundToHalf(65520.0f), INFINITY);
  EXPECT_EQ(loom::roundToHalf(65519.0f), 65504.0f);
  EXPECT_EQ(loom::roundToHalf(std::ldexp(1.0f, -25)), 0.0f);              // tie below min
  EXPECT_EQ(loom::roundToHalf(std::ldexp(3.0f, -26)), std::ldexp(1.0f, -24));
  EXPECT_EQ(loom::roundToBfloat16(1.0f + 1.0f / 256), 1.0f);
  EXPECT_EQ(loom::roundToBfloat16(1.0f + 3.0f / 256), 1.0f + 2.0f / 128);
  EXPECT_TRUE(std::isnan(loom::roundToBfloat16(NAN)));
  EXPECT_TRUE(std::isnan(loom::roundToHalf(NAN)));
}

TEST(Safetensors, WritesWhatItReads) {
  std::string path = ::testing::TempDir() + "/loom-written.safetensors", error;
  std::string floats(6 * 4, '\0'), ids(2 * 8, '\x01');
  for (int i = 0; i < 6; ++i) {
    float f = 0.5f * i;
    std::memcpy(&floats[4 * i], &f, 4);
  }
  ASSERT_TRUE(loom::writeSafetensors(
      path, {{"logits", loom::DType::F32, {2, 3}, floats}, {"odd \"name\"", loom::DType::I64, {2}, ids}},
      error)) << error;
  loom::SafetensorsHeader header;
  ASSERT_TRUE(loom::readSafetensorsHeader(path, header, error)) << error;
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.dataOffset % 8, 0u);
  std::string bytes;
  ASSERT_TRUE(loom::readTensorBytes(header, *header.find("logits"), bytes, error));
  EXPECT_EQ(bytes, floats);
  ASSERT_NE(header.find("odd \"name\""), nullptr);
  // A tensor whose bytes do not match its shape is refused and nothing is written.
  std::string other = ::testing::TempDir() + "/loom-not-written.safetensors";
  EXPECT_FALSE(loom::writeSafetensors(other, {{"x", loom::DType::F32, {3}, "abc"}}, error));
  EXPECT_NE(access(other.c_str(), F_OK), 0);
}
