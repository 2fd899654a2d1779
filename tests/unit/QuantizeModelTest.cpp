//===- QuantizeModelTest.cpp - --quantize on a whole model ------------------===//
//
// `loom-quantize-weights` (ImportOptions::quantize) on tiny-llama must give the logits
// of the float32 model whose linear weights are replaced by their round-to-nearest
// dequantization: that model is written here as a plain checkpoint of its own and
// imported without quantization, so the pass, the #loom.quant attribute and the
// executor's quantized loading are all checked against a path that uses none of them.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compiler.h"
#include "compiler/reference/Reference.h"

#include "loom/support/Checkpoint.h"
#include "loom/support/Quantization.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sys/stat.h>

namespace {

using namespace loom;

const std::string kModel = std::string(LOOM_SHARED_DIR) + "/models/tiny-llama";

/// MiB of weights in an import summary ("...; 38 weights, 7.3 MiB; ...").
double summaryMiB(const std::string &summary) {
  std::smatch match;
  EXPECT_TRUE(std::regex_search(summary, match, std::regex("([0-9.]+) MiB"))) << summary;
  return match.empty() ? 0 : std::stod(match[1]);
}

/// Writes `folder` as tiny-llama with each decoder Linear weight replaced by the float32
/// dequantization of its round-to-nearest quantization in `encoding`.
void writeDequantizedModel(const std::string &folder, const QuantEncoding &encoding) {
  Checkpoint checkpoint;
  std::string error;
  ASSERT_TRUE(checkpoint.open(kModel, error)) << error;
  std::ifstream config(kModel + "/config.json");
  std::ofstream(folder + "/config.json") << config.rdbuf();
  std::vector<TensorBytes> tensors;
  std::regex linear(R"(model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight)");
  for (const SafetensorsHeader &shard : checkpoint.shards())
    for (const TensorInfo &info : shard.tensors) {
      std::string bytes;
      ASSERT_TRUE(readTensorBytes(shard, info, bytes, error)) << error;
      if (!std::regex_match(info.name, linear)) {
        tensors.push_back({info.name, info.dtype, info.shape, bytes});
        continue;
      }
      int64_t n = info.shape[0], k = info.shape[1];
      std::vector<float> weight(static_cast<size_t>(n * k));
      for (int64_t i = 0; i < n * k; ++i)
        weight[i] = static_cast<float>(loadElement(info.dtype, bytes.data(), i));
      QuantizedWeight quantized;
      ASSERT_TRUE(quantizeRoundToNearest(weight.data(), n, k, encoding, quantized, error))
          << error;
      std::vector<float> values = dequantize(quantized);
      std::string out(values.size() * sizeof(float), '\0');
      std::memcpy(out.data(), values.data(), out.size());
      tensors.push_back({info.name, DType::F32, info.shape, out});
    }
  ASSERT_TRUE(writeSafetensors(folder + "/model.safetensors", tensors, error)) << error;
}

/// The logits of `model` on the reference inputs.
reference::Tensor logits(const std::string &model, const ImportOptions &options,
                         std::string *summary = nullptr) {
  ImportResult imported;
  std::string error;
  EXPECT_TRUE(importModel(model, options, imported, error)) << error;
  if (summary)
    *summary = imported.summary;
  std::unique_ptr<reference::WeightSource> weights = reference::openWeights(model, error);
  EXPECT_TRUE(weights) << error;
  auto executor = reference::Executor::create(imported.ir, std::move(weights), error);
  EXPECT_TRUE(executor) << error;
  if (!executor)
    return {};
  SafetensorsHeader header;
  EXPECT_TRUE(readSafetensorsHeader(kModel + "/reference.safetensors", header, error));
  const TensorInfo *ids = header.find("input_ids");
  std::string bytes;
  EXPECT_TRUE(ids && readTensorBytes(header, *ids, bytes, error)) << error;
  reference::Tensor input;
  EXPECT_TRUE(reference::fromBytes(ids->dtype, bytes, ids->shape, reference::ElementType::I64,
                                   input, error))
      << error;
  std::vector<reference::Tensor> outputs;
  EXPECT_TRUE(executor->run({input}, outputs, error)) << error;
  return outputs.empty() ? reference::Tensor() : outputs[0];
}

struct Scheme {
  const char *option;
  QuantEncoding encoding;
};

class QuantizeModel : public testing::TestWithParam<Scheme> {};

TEST_P(QuantizeModel, MatchesTheDequantizedFloatModel) {
  struct stat info;
  if (::stat(kModel.c_str(), &info) != 0)
    GTEST_SKIP() << kModel << " is not here";
  char pattern[] = "/tmp/loom-quantize-model-XXXXXX";
  ASSERT_TRUE(::mkdtemp(pattern));
  std::string folder = pattern;
  writeDequantizedModel(folder, GetParam().encoding);

  ImportOptions quantized;
  quantized.quantize = GetParam().option;
  std::string quantizedSummary, floatSummary;
  reference::Tensor actual = logits(kModel, quantized, &quantizedSummary);
  reference::Tensor expected = logits(folder, ImportOptions(), nullptr);
  logits(kModel, ImportOptions(), &floatSummary);
  reference::TensorDifference d = reference::compareTensors(actual, expected);
  EXPECT_FALSE(d.shapeDiffers);
  EXPECT_LE(d.relative, 1e-6) << "max abs " << d.maxAbsolute;
  // Every decoder Linear is quantized (28 of them); the rest stays as the checkpoint's
  // bf16 read as f32 (the summary counts the IR's f32 element type).
  EXPECT_LT(summaryMiB(quantizedSummary), summaryMiB(floatSummary)) << quantizedSummary;
  std::remove((folder + "/model.safetensors").c_str());
  std::remove((folder + "/config.json").c_str());
  ::rmdir(folder.c_str());
}

QuantEncoding encoding(QuantElement element, int64_t group, DType scale, QuantOffset offset) {
  QuantEncoding e;
  e.element = element;
  e.groupSize = group;
  e.scaleType = scale;
  e.offset = offset;
  e.source = QuantSource::Rtn;
  return e;
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, QuantizeModel,
    testing::Values(
        Scheme{"int8", encoding(QuantElement::Int8, 0, DType::F16, QuantOffset::None)},
        Scheme{"int4:g32", encoding(QuantElement::Int4, 32, DType::F16, QuantOffset::None)},
        Scheme{"int4:g32:asym",
               encoding(QuantElement::Int4, 32, DType::F16, QuantOffset::Zero)},
        Scheme{"fp8", encoding(QuantElement::Fp8E4M3, 0, DType::F32, QuantOffset::None)}),
    [](const testing::TestParamInfo<Scheme> &info) {
      std::string name = info.param.option;
      for (char &c : name)
        if (c == ':')
          c = '_';
      return name;
    });

TEST(QuantizeModel, RefusesAnUnknownScheme) {
  ImportOptions options;
  options.quantize = "int3";
  ImportResult result;
  std::string error;
  EXPECT_FALSE(importModel(kModel, options, result, error));
  EXPECT_NE(error.find("unsupported --quantize 'int3'"), std::string::npos) << error;
}

} // namespace
