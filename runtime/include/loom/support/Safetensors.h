//===- Safetensors.h - Strict reader of safetensors headers -------*- C++ -*-===//
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
// (`{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"k": "v"}}`), then the data buffer. The reader checks everything it
// can before anyone touches the data: the header lies inside the file, every dtype is
// known, shapes are non-negative and their byte sizes do not overflow, each tensor's
// offsets match its size, lie inside the buffer, and tensors neither overlap nor leave
// holes. It never reads past what the file holds.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_SAFETENSORS_H
#define LOOM_SUPPORT_SAFETENSORS_H

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

/// Element types a safetensors file may hold.
enum class DType { F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8, U64, U32, U16, U8, Bool };

/// The safetensors spelling ("BF16", ...).
const char *dtypeName(DType dtype);
/// Bytes per element.
int64_t dtypeSize(DType dtype);
bool dtypeIsFloat(DType dtype);
/// Parses a safetensors dtype string; false if unknown.
bool parseDType(std::string_view name, DType &out);

/// Element `index` of little-endian data of `dtype` as a double (integers exactly up to
/// 2^53; e4m3 decoded; NaN for e5m2 and unsigned 64-bit types).
double loadElement(DType dtype, const char *data, int64_t index);
/// Stores `value` as element `index` of `dtype` (floats rounded to nearest even,
/// integers truncated toward zero, bool as value != 0).
void storeElement(DType dtype, char *data, int64_t index, double value);

/// One tensor of a safetensors file.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Byte offsets of the data from the start of the file (not of the buffer).
  uint64_t fileBegin = 0, fileEnd = 0;

  int64_t numElements() const;
};

/// The header of one safetensors file.
struct SafetensorsHeader {
  std::string path;
  uint64_t fileSize = 0;
  /// Where the data buffer starts: 8 + header length.
  uint64_t dataOffset = 0;
  /// In header order.
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;

  const TensorInfo *find(std::string_view name) const;
};

/// Parses a header from the first `available` bytes of a file of `fileSize` bytes.
/// `available` must cover the header (8 + N bytes) for success; fewer is reported as
/// a truncated file. On failure returns false with the reason in `error`.
bool parseSafetensorsHeader(const uint8_t *bytes, uint64_t available, uint64_t fileSize,
                            SafetensorsHeader &out, std::string &error);

/// Reads and parses the header of the file at `path`, reading only the header bytes.
bool readSafetensorsHeader(const std::string &path, SafetensorsHeader &out,
                           std::string &error);

/// Reads the bytes of one tensor of `header`'s file.
bool readTensorBytes(const SafetensorsHeader &header, const TensorInfo &tensor,
                     std::string &bytes, std::string &error);

/// A tensor to write: its bytes are little-endian elements of `dtype`, row-major.
struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::string bytes;
};

/// Writes a safetensors file with the tensors in the order given. The file appears
/// whole or not at all (written beside it, then renamed).
bool writeSafetensors(const std::string &path, const std::vector<TensorBytes> &tensors,
                      std::string &error);

} // namespace loom

#endif // LOOM_SUPPORT_SAFETENSORS_H
