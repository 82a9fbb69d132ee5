// phial/model/gguf.hpp - reader for GGUF files (versions 2 and 3), llama.cpp's model format.
//
// Layout (all little-endian):
//   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x   { string key | u32 value_type | value }         string = u64 length + bytes (no NUL)
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (offsets are relative to here)
//
// Everything read from the file is bounds-checked before use: counts are checked against the
// bytes that remain, strings and arrays against the end of the file, tensors against the data
// section and each other. Errors throw FormatError naming the file, the key or tensor, and what
// was expected. Tensor data is never copied: views point into the mapping (or caller memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/mmap.hpp>
#include <phial/model/tensor.hpp>

namespace phial {

// GGUF metadata value types (gguf_type).
enum class GgufType : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

std::string_view gguf_type_name(GgufType t) noexcept;

// One metadata value: a scalar, a string, or an array. Arrays of numbers keep the file's raw
// little-endian bytes (4 bytes per int32 in memory, not a value object each), arrays of strings are
// strings, arrays of arrays (legal, never written by llama.cpp) are nested values.
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue make_uint(GgufType t, std::uint64_t v) { GgufValue x; x.type_ = t; x.u_ = v; return x; }
  static GgufValue make_int(GgufType t, std::int64_t v) { GgufValue x; x.type_ = t; x.u_ = static_cast<std::uint64_t>(v); return x; }
  static GgufValue make_float(GgufType t, double v) { GgufValue x; x.type_ = t; x.f_ = v; return x; }
  static GgufValue make_bool(bool v) { GgufValue x; x.type_ = GgufType::boolean; x.u_ = v ? 1 : 0; return x; }
  static GgufValue make_string(std::string v) { GgufValue x; x.type_ = GgufType::string; x.s_ = std::move(v); return x; }
  // Array of scalars: `raw` holds n little-endian values of type `elem`.
  static GgufValue make_scalar_array(GgufType elem, std::vector<std::byte> raw, std::size_t n) {
    GgufValue x; x.type_ = GgufType::array; x.elem_ = elem; x.raw_ = std::move(raw); x.n_ = n; return x;
  }
  static GgufValue make_string_array(std::vector<std::string> v) {
    GgufValue x; x.type_ = GgufType::array; x.elem_ = GgufType::string; x.n_ = v.size(); x.strs_ = std::move(v); return x;
  }
  static GgufValue make_nested_array(std::vector<GgufValue> v) {
    GgufValue x; x.type_ = GgufType::array; x.elem_ = GgufType::array; x.n_ = v.size(); x.nested_ = std::move(v); return x;
  }

  GgufType type() const noexcept { return type_; }
  GgufType array_type() const noexcept { return elem_; }  // element type when type() == array
  std::size_t array_size() const noexcept { return n_; }  // 0 unless an array

  bool is_unsigned() const noexcept {
    return type_ == GgufType::uint8 || type_ == GgufType::uint16 || type_ == GgufType::uint32 || type_ == GgufType::uint64;
  }
  bool is_signed() const noexcept {
    return type_ == GgufType::int8 || type_ == GgufType::int16 || type_ == GgufType::int32 || type_ == GgufType::int64;
  }
  bool is_integer() const noexcept { return is_unsigned() || is_signed(); }
  bool is_float() const noexcept { return type_ == GgufType::float32 || type_ == GgufType::float64; }
  bool is_bool() const noexcept { return type_ == GgufType::boolean; }
  bool is_string() const noexcept { return type_ == GgufType::string; }
  bool is_array() const noexcept { return type_ == GgufType::array; }

  // Typed access; throw FormatError("expected ..., got <type>") on a type mismatch or a value that
  // does not fit. as_int accepts any integer type, as_float any integer or float type.
  std::int64_t as_int() const;
  std::uint64_t as_uint() const;
  double as_float() const;
  bool as_bool() const;
  const std::string& as_string() const;
  // Element i of an array, as a value (FormatError if not an array or out of range).
  GgufValue at(std::size_t i) const;
  // Whole arrays, converted element-wise (same rules as above).
  const std::vector<std::string>& as_strings() const;  // array of strings only
  std::vector<std::int64_t> as_ints() const;
  std::vector<double> as_floats() const;

  // Short human-readable rendering (arrays abbreviated), for `phial info` and error messages.
  std::string to_string(std::size_t max_items = 8) const;

 private:
  GgufType type_ = GgufType::uint8;
  GgufType elem_ = GgufType::uint8;
  std::uint64_t u_ = 0;  // unsigned, signed (two's complement) and bool scalars
  double f_ = 0;
  std::size_t n_ = 0;
  std::string s_;
  std::vector<std::byte> raw_;
  std::vector<std::string> strs_;
  std::vector<GgufValue> nested_;
};

struct GgufTensorInfo {
  TensorView view;          // name, type, n_dims, ne, data (into the file), nbytes
  std::uint64_t offset = 0;  // relative to the start of the data section
};

class GgufFile {
 public:
  // Parses a file from disk (memory-mapped by default). Throws IoError / FormatError.
  static std::unique_ptr<GgufFile> open(const std::filesystem::path& path, FileMemory mode = FileMemory::mmap,
                                        bool prefetch = false);
  // Parses bytes the caller keeps alive for the lifetime of the result (fuzzing, embedded models).
  // `name` is used in error messages. The buffer must be 8-byte aligned (InvalidArgument otherwise):
  // tensor views point into it and kernels read their f16/f32 fields in place.
  static std::unique_ptr<GgufFile> from_memory(std::span<const std::byte> bytes, std::string name = "<memory>");

  const std::string& name() const noexcept { return name_; }  // the path, for messages
  std::uint32_t version() const noexcept { return version_; }
  std::uint64_t alignment() const noexcept { return alignment_; }
  std::uint64_t data_offset() const noexcept { return data_offset_; }  // file offset of the data section
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  const MappedFile& file() const noexcept { return file_; }

  // Metadata in file order, and lookup by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const noexcept { return kv_; }
  const GgufValue* find(std::string_view key) const noexcept;
  const GgufValue& require(std::string_view key) const;  // FormatError "missing key" if absent
  // Typed getters whose errors name the file and key.
  std::int64_t get_int(std::string_view key) const;
  std::optional<std::int64_t> find_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  std::vector<std::string> get_strings(std::string_view key) const;
  std::vector<std::int64_t> get_ints(std::string_view key) const;
  std::vector<double> get_floats(std::string_view key) const;

  // Tensors in file order, and lookup by name.
  const std::vector<GgufTensorInfo>& tensors() const noexcept { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const noexcept;

  // `general.architecture` (empty if absent).
  std::string architecture() const { return find_string("general.architecture").value_or(""); }

 private:
  GgufFile() = default;
  void parse();

  std::string name_;
  MappedFile file_;  // empty for from_memory
  std::span<const std::byte> bytes_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::unordered_map<std::string, std::size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/gguf.ipp>
#endif
