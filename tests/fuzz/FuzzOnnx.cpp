//===- FuzzOnnx.cpp - libFuzzer target: ONNX model parsing and validation --===//
//
// The input is a binary ModelProto. It is parsed as the importer parses a file and
// validated structurally (checkGraph), the gate every model passes before its nodes
// are converted.

#include "compiler/import/onnx/OnnxCheck.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream coded(data, static_cast<int>(size));
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return 0;
  std::vector<std::string> errors;
  (void)loom::onnximport::checkGraph(model.graph(), errors);
  return 0;
}
