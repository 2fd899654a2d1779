//===- Safetensors.cpp - Strict reader of safetensors headers --------------===//

#include "loom/support/Safetensors.h"

#include "loom/support/Files.h"
#include "loom/support/Float16.h"
#include "loom/support/Quantization.h"
#include "loom/support/Json.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unistd.h>

namespace loom {

namespace {

struct DTypeEntry {
  DType dtype;
  const char *name;
  int64_t size;
  bool isFloat;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8, true},        {DType::F32, "F32", 4, true},
    {DType::F16, "F16", 2, true},        {DType::BF16, "BF16", 2, true},
    {DType::F8E4M3, "F8_E4M3", 1, true}, {DType::F8E5M2, "F8_E5M2", 1, true},
    {DType::I64, "I64", 8, false},       {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},       {DType::I8, "I8", 1, false},
    {DType::U64, "U64", 8, false},       {DType::U32, "U32", 4, false},
    {DType::U16, "U16", 2, false},       {DType::U8, "U8", 1, false},
    {DType::Bool, "BOOL", 1, false},
};

const DTypeEntry &entry(DType dtype) {
  for (const DTypeEntry &e : kDTypes)
    if (e.dtype == dtype)
      return e;
  return kDTypes[0];
}

/// Headers above this size are refused rather than read (the format's own limit).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
/// No tensor is allowed more bytes than this (far above any real file, far below
/// overflow of the arithmetic that follows).
constexpr uint64_t kMaxTensorBytes = 1ull << 50;

bool parseTensor(const std::string &name, const json::Value &value, uint64_t dataOffset,
                 uint64_t bufferSize, TensorInfo &out, std::string &error) {
  auto bad = [&](const std::string &why) {
    error = "tensor '" + name + "': " + why;
    return false;
  };
  if (!value.isObject())
    return bad(std::string("entry is ") + value.kindName() + ", not an object");
  for (const auto &[key, unused] : value.asObject())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return bad("unknown field \"" + key + "\"");
  const json::Value *dtype = value.get("dtype"), *shape = value.get("shape"),
                    *offsets = value.get("data_offsets");
  if (!dtype || !shape || !offsets)
    return bad("needs \"dtype\", \"shape\" and \"data_offsets\"");
  if (!dtype->isString() || !parseDType(dtype->asString(), out.dtype))
    return bad("unsupported dtype " + (dtype->isString()
                                           ? "\"" + dtype->asString() + "\""
                                           : std::string("(not a string)")));
  if (!shape->isArray())
    return bad("\"shape\" is not an array");
  uint64_t bytes = static_cast<uint64_t>(dtypeSize(out.dtype));
  for (const json::Value &dim : shape->asArray()) {
    if (!dim.isInteger() || dim.asInteger() < 0)
      return bad("shape entries must be non-negative integers");
    uint64_t size = static_cast<uint64_t>(dim.asInteger());
    if (size != 0 && bytes > kMaxTensorBytes / size)
      return bad("shape is too large (more than 2^50 bytes)");
    bytes *= size;
    out.shape.push_back(dim.asInteger());
  }
  if (!offsets->isArray() || offsets->asArray().size() != 2 ||
      !offsets->asArray()[0].isInteger() || !offsets->asArray()[1].isInteger() ||
      offsets->asArray()[0].asInteger() < 0 || offsets->asArray()[1].asInteger() < 0)
    return bad("\"data_offsets\" must be two non-negative integers");
  uint64_t begin = offsets->asArray()[0].asInteger(),
           end = offsets->asArray()[1].asInteger();
  if (begin > end)
    return bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
               "] end before they begin");
  if (end - begin != bytes)
    return bad("data_offsets span " + std::to_string(end - begin) + " bytes but " +
               dtypeName(out.dtype) + " with this shape needs " + std::to_string(bytes));
  if (end > bufferSize)
    return bad("data ends at byte " + std::to_string(end) + " of a data buffer of " +
               std::to_string(bufferSize) + " bytes (file truncated or header lying)");
  out.name = name;
  out.fileBegin = dataOffset + begin;
  out.fileEnd = dataOffset + end;
  return true;
}

} // namespace

const char *dtypeName(DType dtype) { return entry(dtype).name; }
int64_t dtypeSize(DType dtype) { return entry(dtype).size; }
bool dtypeIsFloat(DType dtype) { return entry(dtype).isFloat; }

bool parseDType(std::string_view name, DType &out) {
  for (const DTypeEntry &e : kDTypes)
    if (name == e.name) {
      out = e.dtype;
      return true;
    }
  return false;
}

int64_t TensorInfo::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

const TensorInfo *SafetensorsHeader::find(std::string_view name) const {
  for (const TensorInfo &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

bool parseSafetensorsHeader(const uint8_t *bytes, uint64_t available, uint64_t fileSize,
                            SafetensorsHeader &out, std::string &error) {
  out.tensors.clear();
  out.metadata.clear();
  out.fileSize = fileSize;
  if (available > fileSize)
    available = fileSize;
  if (fileSize < 8 || available < 8) {
    error = "file has " + std::to_string(fileSize) +
            " bytes, fewer than the 8-byte header length";
    return false;
  }
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | bytes[i];
  if (headerSize > kMaxHeaderBytes) {
    error = "header length " + std::to_string(headerSize) +
            " is above the 100 MiB limit (not a safetensors file?)";
    return false;
  }
  if (8 + headerSize > fileSize) {
    error = "header length " + std::to_string(headerSize) + " runs past the end of the " +
            std::to_string(fileSize) + "-byte file";
    return false;
  }
  if (8 + headerSize > available) {
    error = "header is truncated";
    return false;
  }
  std::string_view text(reinterpret_cast<const char *>(bytes + 8), headerSize);
  if (text.empty() || text.front() != '{') {
    error = "header does not start with '{' (not a safetensors file?)";
    return false;
  }
  json::Value root;
  std::string jsonError;
  if (!json::parse(text, root, jsonError)) {
    error = "header is not valid JSON: " + jsonError;
    return false;
  }
  if (!root.isObject()) {
    error = "header is not a JSON object";
    return false;
  }
  out.dataOffset = 8 + headerSize;
  uint64_t bufferSize = fileSize - out.dataOffset;
  for (const auto &[name, value] : root.asObject()) {
    if (name == "__metadata__") {
      if (!value.isObject()) {
        error = "__metadata__ is not an object";
        return false;
      }
      for (const auto &[key, item] : value.asObject()) {
        if (!item.isString()) {
          error = "__metadata__ value for \"" + key + "\" is not a string";
          return false;
        }
        out.metadata[key] = item.asString();
      }
      continue;
    }
    if (name.empty()) {
      error = "a tensor has an empty name";
      return false;
    }
    TensorInfo tensor;
    if (!parseTensor(name, value, out.dataOffset, bufferSize, tensor, error))
      return false;
    out.tensors.push_back(std::move(tensor));
  }
  // Tensors tile the buffer: sorted by offset, each starts where the previous ended.
  std::vector<const TensorInfo *> sorted;
  for (const TensorInfo &tensor : out.tensors)
    sorted.push_back(&tensor);
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo *a, const TensorInfo *b) {
    return a->fileBegin != b->fileBegin ? a->fileBegin < b->fileBegin
                                        : a->fileEnd < b->fileEnd;
  });
  uint64_t cursor = out.dataOffset;
  const TensorInfo *previous = nullptr;
  for (const TensorInfo *tensor : sorted) {
    if (tensor->fileBegin < cursor) {
      error = "tensors '" + previous->name + "' and '" + tensor->name + "' overlap";
      return false;
    }
    if (tensor->fileBegin > cursor) {
      error = "data buffer has a hole of " + std::to_string(tensor->fileBegin - cursor) +
              " bytes before tensor '" + tensor->name + "'";
      return false;
    }
    cursor = tensor->fileEnd;
    previous = tensor;
  }
  if (cursor != fileSize) {
    error = "data buffer has " + std::to_string(fileSize - cursor) +
            " bytes after the last tensor that no tensor covers";
    return false;
  }
  return true;
}

bool readSafetensorsHeader(const std::string &path, SafetensorsHeader &out,
                           std::string &error) {
  out.path = path;
  uint64_t fileSize = 0;
  std::string why;
  int fd = openInputFile(path, fileSize, why);
  if (fd < 0) {
    error = why;
    return false;
  }
  std::unique_ptr<FILE, int (*)(FILE *)> file(::fdopen(fd, "rb"), &std::fclose);
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  if (!file) {
    ::close(fd);
    return fail("cannot open the file");
  }
  uint64_t size = fileSize;
  uint8_t prefix[8] = {};
  size_t got = std::fread(prefix, 1, 8, file.get());
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | prefix[i];
  std::vector<uint8_t> bytes(prefix, prefix + got);
  // Read the header only when the length is plausible; the parser reports the rest.
  if (got == 8 && headerSize <= kMaxHeaderBytes && 8 + headerSize <= size) {
    bytes.resize(8 + headerSize);
    if (std::fread(bytes.data() + 8, 1, headerSize, file.get()) != headerSize)
      return fail("cannot read the header");
  }
  if (!parseSafetensorsHeader(bytes.data(), bytes.size(), size,
                              out, why))
    return fail(why);
  out.path = path;
  return true;
}

bool readTensorBytes(const SafetensorsHeader &header, const TensorInfo &tensor,
                     std::string &bytes, std::string &error) {
  uint64_t size = tensor.fileEnd - tensor.fileBegin, fileSize = 0;
  std::string why;
  int fd = openInputFile(header.path, fileSize, why);
  if (fd < 0) {
    error = why;
    return false;
  }
  bytes.resize(size);
  uint64_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, bytes.data() + done, size - done,
                          static_cast<off_t>(tensor.fileBegin + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  if (done != size) {
    error = header.path + ": cannot read the data of tensor '" + tensor.name +
            "' (the file is shorter than its header says?)";
    return false;
  }
  return true;
}

namespace {

/// `text` as a JSON string literal.
std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

} // namespace

bool writeSafetensors(const std::string &path, const std::vector<TensorBytes> &tensors,
                      std::string &error) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const TensorBytes &t : tensors) {
    int64_t count = 1;
    std::string shape;
    for (int64_t d : t.shape) {
      count *= d;
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    }
    if (static_cast<uint64_t>(count * dtypeSize(t.dtype)) != t.bytes.size()) {
      error = "tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
              " bytes for " + std::to_string(count) + " elements of " +
              dtypeName(t.dtype);
      return false;
    }
    header += (header.size() > 1 ? "," : "") + jsonString(t.name) + ":{\"dtype\":\"" +
              dtypeName(t.dtype) + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) +
              "]}";
    offset += t.bytes.size();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' '); // keep the data 8-byte aligned

  uint8_t prefix[8];
  for (int i = 0; i < 8; ++i)
    prefix[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  return writeFileAtomically(
      path,
      [&](FILE *file) {
        bool ok = std::fwrite(prefix, 1, 8, file) == 8 &&
                  std::fwrite(header.data(), 1, header.size(), file) == header.size();
        for (const TensorBytes &t : tensors)
          ok = ok && std::fwrite(t.bytes.data(), 1, t.bytes.size(), file) == t.bytes.size();
        return ok;
      },
      error);
}

double loadElement(DType dtype, const char *data, int64_t index) {
  const char *at = data + index * dtypeSize(dtype);
  auto get = [at](auto value) {
    std::memcpy(&value, at, sizeof value);
    return value;
  };
  switch (dtype) {
  case DType::F64:
    return get(double());
  case DType::F32:
    return get(float());
  case DType::F16:
    return halfToFloat(get(uint16_t()));
  case DType::BF16:
    return bfloat16ToFloat(get(uint16_t()));
  case DType::F8E4M3:
    return fp8e4m3ToFloat(get(uint8_t()));
  case DType::I64:
    return static_cast<double>(get(int64_t()));
  case DType::I32:
    return get(int32_t());
  case DType::I16:
    return get(int16_t());
  case DType::I8:
    return get(int8_t());
  case DType::U32:
    return get(uint32_t());
  case DType::U16:
    return get(uint16_t());
  case DType::U8:
    return get(uint8_t());
  case DType::Bool:
    return *at ? 1 : 0;
  default:
    return std::nan("");
  }
}

void storeElement(DType dtype, char *data, int64_t index, double value) {
  char *at = data + index * dtypeSize(dtype);
  auto put = [at](auto v) { std::memcpy(at, &v, sizeof v); };
  switch (dtype) {
  case DType::F64:
    put(value);
    break;
  case DType::F32:
    put(static_cast<float>(value));
    break;
  case DType::F16:
    put(floatToHalf(static_cast<float>(value)));
    break;
  case DType::BF16:
    put(floatToBfloat16(static_cast<float>(value)));
    break;
  case DType::I64:
    put(static_cast<int64_t>(value));
    break;
  case DType::I32:
    put(static_cast<int32_t>(value));
    break;
  case DType::I16:
    put(static_cast<int16_t>(value));
    break;
  case DType::I8:
    put(static_cast<int8_t>(value));
    break;
  case DType::U32:
    put(static_cast<uint32_t>(value));
    break;
  case DType::U16:
    put(static_cast<uint16_t>(value));
    break;
  case DType::U8:
    put(static_cast<uint8_t>(value));
    break;
  case DType::Bool:
    *at = value != 0;
    break;
  default:
    break;
  }
}

} // namespace loom
