// phial/model/impl/gguf.ipp - GGUF parsing. Every read goes through ByteCursor, which checks the
// remaining length first, so a malformed file can only ever produce a FormatError.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <phial/model/gguf.hpp>

namespace phial {

PHIAL_INLINE std::string_view gguf_type_name(GgufType t) noexcept {
  switch (t) {
    case GgufType::uint8: return "uint8";
    case GgufType::int8: return "int8";
    case GgufType::uint16: return "uint16";
    case GgufType::int16: return "int16";
    case GgufType::uint32: return "uint32";
    case GgufType::int32: return "int32";
    case GgufType::float32: return "float32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::uint64: return "uint64";
    case GgufType::int64: return "int64";
    case GgufType::float64: return "float64";
  }
  return "unknown";
}

// ---------------------------------------------------------------- GgufValue

namespace detail {
[[noreturn]] inline void gguf_value_mismatch(const char* expected, GgufType got) {
  throw FormatError(std::string("expected ") + expected + ", got " + std::string(gguf_type_name(got)));
}
}  // namespace detail

PHIAL_INLINE std::int64_t GgufValue::as_int() const {
  if (is_signed()) return static_cast<std::int64_t>(u_);
  if (is_unsigned()) {
    if (u_ > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw FormatError("integer " + std::to_string(u_) + " does not fit in int64");
    return static_cast<std::int64_t>(u_);
  }
  detail::gguf_value_mismatch("an integer", type_);
}

PHIAL_INLINE std::uint64_t GgufValue::as_uint() const {
  if (is_unsigned()) return u_;
  if (is_signed()) {
    const auto i = static_cast<std::int64_t>(u_);
    if (i < 0) throw FormatError("expected a non-negative integer, got " + std::to_string(i));
    return u_;
  }
  detail::gguf_value_mismatch("an unsigned integer", type_);
}

PHIAL_INLINE double GgufValue::as_float() const {
  if (is_float()) return f_;
  if (is_signed()) return static_cast<double>(static_cast<std::int64_t>(u_));
  if (is_unsigned()) return static_cast<double>(u_);
  detail::gguf_value_mismatch("a number", type_);
}

PHIAL_INLINE bool GgufValue::as_bool() const {
  if (is_bool()) return u_ != 0;
  detail::gguf_value_mismatch("a bool", type_);
}

PHIAL_INLINE const std::string& GgufValue::as_string() const {
  if (is_string()) return s_;
  detail::gguf_value_mismatch("a string", type_);
}

namespace detail {
inline std::size_t gguf_scalar_size(GgufType t) noexcept {
  switch (t) {
    case GgufType::uint8: case GgufType::int8: case GgufType::boolean: return 1;
    case GgufType::uint16: case GgufType::int16: return 2;
    case GgufType::uint32: case GgufType::int32: case GgufType::float32: return 4;
    case GgufType::uint64: case GgufType::int64: case GgufType::float64: return 8;
    default: return 0;
  }
}

// Decodes one little-endian scalar of type t.
inline GgufValue gguf_decode_scalar(GgufType t, const std::byte* p) {
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (t) {
    case GgufType::uint8: return GgufValue::make_uint(t, load(std::uint8_t{}));
    case GgufType::int8: return GgufValue::make_int(t, load(std::int8_t{}));
    case GgufType::uint16: return GgufValue::make_uint(t, load(std::uint16_t{}));
    case GgufType::int16: return GgufValue::make_int(t, load(std::int16_t{}));
    case GgufType::uint32: return GgufValue::make_uint(t, load(std::uint32_t{}));
    case GgufType::int32: return GgufValue::make_int(t, load(std::int32_t{}));
    case GgufType::uint64: return GgufValue::make_uint(t, load(std::uint64_t{}));
    case GgufType::int64: return GgufValue::make_int(t, load(std::int64_t{}));
    case GgufType::float32: return GgufValue::make_float(t, load(float{}));
    case GgufType::float64: return GgufValue::make_float(t, load(double{}));
    case GgufType::boolean: return GgufValue::make_bool(load(std::uint8_t{}) != 0);
    default: throw FormatError("internal: not a scalar type");
  }
}
}  // namespace detail

PHIAL_INLINE GgufValue GgufValue::at(std::size_t i) const {
  if (!is_array()) detail::gguf_value_mismatch("an array", type_);
  if (i >= n_) throw FormatError("array index " + std::to_string(i) + " out of range (size " + std::to_string(n_) + ")");
  if (elem_ == GgufType::string) return make_string(strs_[i]);
  if (elem_ == GgufType::array) return nested_[i];
  return detail::gguf_decode_scalar(elem_, raw_.data() + i * detail::gguf_scalar_size(elem_));
}

PHIAL_INLINE const std::vector<std::string>& GgufValue::as_strings() const {
  if (!is_array() || elem_ != GgufType::string) {
    if (is_array()) throw FormatError("expected an array of strings, got an array of " + std::string(gguf_type_name(elem_)));
    detail::gguf_value_mismatch("an array of strings", type_);
  }
  return strs_;
}

namespace detail {
// Element i of a raw little-endian scalar array, as int64 / double (no GgufValue per element:
// token_type arrays have 200k entries).
inline bool gguf_raw_int(GgufType t, const std::byte* p, std::int64_t* out) noexcept {
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (t) {
    case GgufType::uint8: *out = load(std::uint8_t{}); return true;
    case GgufType::int8: *out = load(std::int8_t{}); return true;
    case GgufType::uint16: *out = load(std::uint16_t{}); return true;
    case GgufType::int16: *out = load(std::int16_t{}); return true;
    case GgufType::uint32: *out = load(std::uint32_t{}); return true;
    case GgufType::int32: *out = load(std::int32_t{}); return true;
    case GgufType::int64: *out = load(std::int64_t{}); return true;
    case GgufType::uint64: {
      const auto v = load(std::uint64_t{});
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
      *out = static_cast<std::int64_t>(v);
      return true;
    }
    default: return false;
  }
}
}  // namespace detail

PHIAL_INLINE std::vector<std::int64_t> GgufValue::as_ints() const {
  if (!is_array()) detail::gguf_value_mismatch("an array of integers", type_);
  std::vector<std::int64_t> out(n_);
  const std::size_t sz = detail::gguf_scalar_size(elem_);
  for (std::size_t i = 0; i < n_; ++i)
    if (sz == 0 || !detail::gguf_raw_int(elem_, raw_.data() + i * sz, &out[i]))
      throw FormatError("expected an array of integers, got an array of " + std::string(gguf_type_name(elem_)) +
                        (sz ? " with a value that does not fit int64" : ""));
  return out;
}

PHIAL_INLINE std::vector<double> GgufValue::as_floats() const {
  if (!is_array()) detail::gguf_value_mismatch("an array of numbers", type_);
  std::vector<double> out;
  out.reserve(n_);
  if (elem_ == GgufType::float32 || elem_ == GgufType::float64) {
    for (std::size_t i = 0; i < n_; ++i) {
      if (elem_ == GgufType::float32) {
        float f;
        std::memcpy(&f, raw_.data() + i * 4, 4);
        out.push_back(f);
      } else {
        double d;
        std::memcpy(&d, raw_.data() + i * 8, 8);
        out.push_back(d);
      }
    }
    return out;
  }
  for (std::size_t i = 0; i < n_; ++i) out.push_back(at(i).as_float());
  return out;
}

PHIAL_INLINE std::string GgufValue::to_string(std::size_t max_items) const {
  switch (type_) {
    case GgufType::string: {
      std::string s = s_.size() > 64 ? s_.substr(0, 61) + "..." : s_;
      for (auto& ch : s)
        if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
      return "\"" + s + "\"";
    }
    case GgufType::boolean: return u_ ? "true" : "false";
    case GgufType::float32:
    case GgufType::float64: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", f_);
      return buf;
    }
    case GgufType::array: {
      std::string s = "[" + std::string(gguf_type_name(elem_)) + " x " + std::to_string(n_) + ":";
      for (std::size_t k = 0; k < n_ && k < max_items; ++k) s += " " + at(k).to_string(max_items);
      if (n_ > max_items) s += " ...";
      return s + "]";
    }
    default: return is_signed() ? std::to_string(static_cast<std::int64_t>(u_)) : std::to_string(u_);
  }
}

// ---------------------------------------------------------------- parsing

namespace detail {

// A bounds-checked little-endian reader over a byte range.
class ByteCursor {
 public:
  ByteCursor(std::span<const std::byte> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(file_ + ": " + what + " (at byte " + std::to_string(pos_) + " of " + std::to_string(bytes_.size()) + ")");
  }

  void need(std::uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail("truncated: " + what + " needs " + std::to_string(n) + " bytes, only " + std::to_string(remaining()) + " left");
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::span<const std::byte> read_bytes(std::uint64_t n, const std::string& what) {
    need(n, what);
    std::span<const std::byte> out(bytes_.data() + pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }

  std::string read_string(const std::string& what) { return read_string(what.c_str(), nullptr, 0); }

  // Hot path (hundreds of thousands of vocabulary strings): the error context is only
  // formatted when something is wrong. `key`/`index` name an array element when given.
  std::string read_string(const char* what, const std::string* key, std::uint64_t index) {
    auto context = [&] { return key ? std::string(what) + " " + std::to_string(index) + " of key '" + *key + "'" : std::string(what); };
    if (remaining() < 8) need(8, context());
    std::uint64_t len = 0;
    std::memcpy(&len, bytes_.data() + pos_, 8);
    if (len > remaining() - 8)
      fail("truncated: " + context() + " needs " + std::to_string(len) + " bytes, only " + std::to_string(remaining() - 8) + " left");
    pos_ += 8;
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

// Smallest encoding of one value of a type, to reject absurd array lengths before allocating.
inline std::uint64_t gguf_min_value_bytes(GgufType t) noexcept {
  switch (t) {
    case GgufType::uint8:
    case GgufType::int8:
    case GgufType::boolean: return 1;
    case GgufType::uint16:
    case GgufType::int16: return 2;
    case GgufType::uint32:
    case GgufType::int32:
    case GgufType::float32: return 4;
    case GgufType::uint64:
    case GgufType::int64:
    case GgufType::float64:
    case GgufType::string: return 8;   // u64 length
    case GgufType::array: return 12;   // u32 type + u64 count
  }
  return 1;
}

inline bool gguf_type_valid(std::uint32_t t) noexcept { return t <= static_cast<std::uint32_t>(GgufType::float64); }

constexpr int kGgufMaxArrayDepth = 4;  // llama.cpp writes no nested arrays at all; bounded to keep recursion shallow

inline GgufValue gguf_read_value(ByteCursor& c, GgufType t, const std::string& key, int depth) {
  switch (t) {
    case GgufType::uint8: return GgufValue::make_uint(t, c.read<std::uint8_t>(key.c_str()));
    case GgufType::int8: return GgufValue::make_int(t, c.read<std::int8_t>(key.c_str()));
    case GgufType::uint16: return GgufValue::make_uint(t, c.read<std::uint16_t>(key.c_str()));
    case GgufType::int16: return GgufValue::make_int(t, c.read<std::int16_t>(key.c_str()));
    case GgufType::uint32: return GgufValue::make_uint(t, c.read<std::uint32_t>(key.c_str()));
    case GgufType::int32: return GgufValue::make_int(t, c.read<std::int32_t>(key.c_str()));
    case GgufType::uint64: return GgufValue::make_uint(t, c.read<std::uint64_t>(key.c_str()));
    case GgufType::int64: return GgufValue::make_int(t, c.read<std::int64_t>(key.c_str()));
    case GgufType::float32: return GgufValue::make_float(t, c.read<float>(key.c_str()));
    case GgufType::float64: return GgufValue::make_float(t, c.read<double>(key.c_str()));
    case GgufType::boolean: {
      const auto b = c.read<std::uint8_t>(key.c_str());
      if (b > 1) c.fail("key '" + key + "': bool value must be 0 or 1, got " + std::to_string(b));
      return GgufValue::make_bool(b != 0);
    }
    case GgufType::string: return GgufValue::make_string(c.read_string("string value of key '" + key + "'"));
    case GgufType::array: {
      const auto et = c.read<std::uint32_t>(key.c_str());
      if (!gguf_type_valid(et)) c.fail("key '" + key + "': unknown array element type " + std::to_string(et));
      const auto elem = static_cast<GgufType>(et);
      const auto n = c.read<std::uint64_t>(key.c_str());
      if (elem == GgufType::array && depth + 1 >= kGgufMaxArrayDepth)
        c.fail("key '" + key + "': arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels");
      const auto min_bytes = gguf_min_value_bytes(elem);
      if (n > c.remaining() / min_bytes)
        c.fail("key '" + key + "': array of " + std::to_string(n) + " " + std::string(gguf_type_name(elem)) +
               " values cannot fit in the " + std::to_string(c.remaining()) + " bytes left");
      if (elem == GgufType::string) {
        std::vector<std::string> v;
        v.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t k = 0; k < n; ++k) v.push_back(c.read_string("string", &key, k));
        return GgufValue::make_string_array(std::move(v));
      }
      if (elem == GgufType::array) {
        std::vector<GgufValue> v;
        v.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t k = 0; k < n; ++k) v.push_back(gguf_read_value(c, elem, key, depth + 1));
        return GgufValue::make_nested_array(std::move(v));
      }
      const std::size_t sz = gguf_scalar_size(elem);
      const auto span = c.read_bytes(n * sz, key);
      std::vector<std::byte> raw(span.begin(), span.end());
      if (elem == GgufType::boolean)
        for (auto b : raw)
          if (static_cast<unsigned>(b) > 1) c.fail("key '" + key + "': bool array element must be 0 or 1");
      return GgufValue::make_scalar_array(elem, std::move(raw), static_cast<std::size_t>(n));
    }
  }
  c.fail("key '" + key + "': unknown value type " + std::to_string(static_cast<std::uint32_t>(t)));
}

// a * b with overflow detection (both non-negative).
inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t limit, std::uint64_t* out) noexcept {
  if (a != 0 && b > limit / a) return true;
  *out = a * b;
  return false;
}

}  // namespace detail

PHIAL_INLINE std::unique_ptr<GgufFile> GgufFile::open(const std::filesystem::path& path, FileMemory mode, bool prefetch) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path.string();
  f->file_ = MappedFile::open(path, mode, prefetch);
  f->bytes_ = f->file_.bytes();
  f->parse();
  return f;
}

PHIAL_INLINE std::unique_ptr<GgufFile> GgufFile::from_memory(std::span<const std::byte> bytes, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = std::move(name);
  // Tensor views point into `bytes`; kernels read their fp16/f32 fields in place.
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 != 0)
    throw InvalidArgument(f->name_ + ": GgufFile::from_memory needs an 8-byte-aligned buffer");
  f->bytes_ = bytes;
  f->parse();
  return f;
}

PHIAL_INLINE void GgufFile::parse() {
  detail::ByteCursor c(bytes_, name_);
  // ---- header ----
  if (bytes_.size() < 4) c.fail("not a GGUF file: " + std::to_string(bytes_.size()) + " bytes, too short for the magic");
  if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    if (bytes_.size() >= 8 && std::memcmp(bytes_.data(), "GGML", 4) == 0)
      c.fail("old GGML/GGJT file: convert it to GGUF with llama.cpp first");
    c.fail("not a GGUF file: expected magic \"GGUF\" at the start");
  }
  c.read<std::uint32_t>("magic");
  version_ = c.read<std::uint32_t>("version");
  if (version_ == 1) c.fail("GGUF version 1 is not supported (expected 2 or 3): re-convert the model");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffffu) == 0 && version_ != 0) c.fail("big-endian GGUF files are not supported (version field " + std::to_string(version_) + ")");
    c.fail("unsupported GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
  }
  const auto n_tensors = c.read<std::uint64_t>("tensor count");
  const auto n_kv = c.read<std::uint64_t>("metadata count");
  // Smallest tensor info: empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8) = 32.
  if (n_tensors > c.remaining() / 32)
    c.fail("tensor count " + std::to_string(n_tensors) + " is impossible: the file has only " + std::to_string(c.remaining()) + " bytes left");
  // Smallest key/value: empty key (8) + type (4) + one byte = 13.
  if (n_kv > c.remaining() / 13)
    c.fail("metadata count " + std::to_string(n_kv) + " is impossible: the file has only " + std::to_string(c.remaining()) + " bytes left");

  // ---- metadata ----
  kv_.reserve(static_cast<std::size_t>(n_kv));
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("key of metadata entry " + std::to_string(k));
    const auto t = c.read<std::uint32_t>("value type");
    if (!detail::gguf_type_valid(t)) c.fail("key '" + key + "': unknown value type " + std::to_string(t));
    GgufValue v = detail::gguf_read_value(c, static_cast<GgufType>(t), key, 0);
    if (kv_index_.count(key)) c.fail("duplicate metadata key '" + key + "'");
    kv_index_.emplace(key, kv_.size());
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type() != GgufType::uint32) c.fail("key 'general.alignment': expected uint32, got " + std::string(gguf_type_name(a->type())));
    const auto al = a->as_uint();
    // The GGUF spec requires a multiple of 8; below that, block structs (fp16 scales) and f32 rows
    // could sit at misaligned addresses.
    if (al < 8 || (al & (al - 1)) != 0)
      c.fail("key 'general.alignment': expected a power of two that is at least 8, got " + std::to_string(al));
    alignment_ = al;
  }

  // ---- tensor infos ----
  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo info;
    TensorView& tv = info.view;
    tv.name = c.read_string("name of tensor " + std::to_string(k));
    const std::string what = "tensor '" + tv.name + "'";
    const auto n_dims = c.read<std::uint32_t>("n_dims");
    if (n_dims < 1 || n_dims > 4) c.fail(what + ": n_dims " + std::to_string(n_dims) + " (expected 1..4)");
    tv.n_dims = static_cast<int>(n_dims);
    // Both the element count and the row count (ne[1..3], which TensorView::rows() multiplies) must
    // fit in int64: with ne[0] == 0 the element count is 0 however large the other dimensions are.
    constexpr auto kMaxDim = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t elements = 1, rows = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.read<std::uint64_t>("dimension");
      if (ne > kMaxDim || detail::mul_overflows(elements, ne, kMaxDim, &elements) ||
          (d > 0 && detail::mul_overflows(rows, ne, kMaxDim, &rows)))
        c.fail(what + ": dimensions overflow (ne[" + std::to_string(d) + "] = " + std::to_string(ne) + ")");
      tv.ne[d] = static_cast<std::int64_t>(ne);
    }
    const auto type = c.read<std::uint32_t>("tensor type");
    if (!is_known_tensor_type(type)) c.fail(what + ": unknown tensor type " + std::to_string(type));
    tv.type = static_cast<TensorType>(type);
    const auto ti = tensor_type_info(tv.type);
    if (tv.ne[0] % ti.block_elems != 0)
      c.fail(what + ": row length " + std::to_string(tv.ne[0]) + " is not a multiple of the " + std::string(ti.name) +
             " block size " + std::to_string(ti.block_elems));
    info.offset = c.read<std::uint64_t>("tensor offset");
    // nbytes = rows * (blocks per row * block bytes); block_bytes can exceed block_elems (f32), so
    // check each product
    std::uint64_t row_nbytes = 0, nbytes = 0;
    const auto blocks = static_cast<std::uint64_t>(tv.ne[0] / ti.block_elems);
    constexpr std::uint64_t kMaxBytes = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (detail::mul_overflows(blocks, static_cast<std::uint64_t>(ti.block_bytes), kMaxBytes, &row_nbytes) ||
        detail::mul_overflows(static_cast<std::uint64_t>(tv.rows()), row_nbytes, kMaxBytes, &nbytes))
      c.fail(what + ": byte size overflows");
    tv.nbytes = static_cast<std::size_t>(nbytes);
    if (tensor_index_.count(tv.name)) c.fail("duplicate tensor name '" + tv.name + "'");
    tensor_index_.emplace(tv.name, tensors_.size());
    tensors_.push_back(std::move(info));
  }

  // ---- data section: aligned after the header; every tensor inside it, aligned, no overlaps ----
  const std::uint64_t header_end = c.pos();
  data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > bytes_.size())
    c.fail("truncated: the data section would start at byte " + std::to_string(data_offset_));
  const std::uint64_t data_size = data_offset_ <= bytes_.size() ? bytes_.size() - data_offset_ : 0;
  for (auto& t : tensors_) {
    const std::string what = "tensor '" + t.view.name + "'";
    if (t.offset % alignment_ != 0)
      c.fail(what + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment_));
    if (t.offset > data_size || t.view.nbytes > data_size - t.offset)
      c.fail(what + ": data [" + std::to_string(t.offset) + ", +" + std::to_string(t.view.nbytes) + ") runs past the end of the data section (" +
             std::to_string(data_size) + " bytes): file truncated?");
    t.view.data = bytes_.data() + data_offset_ + t.offset;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t k = 1; k < by_offset.size(); ++k) {
    const auto* prev = by_offset[k - 1];
    if (prev->offset + prev->view.nbytes > by_offset[k]->offset)
      c.fail("tensors '" + prev->view.name + "' and '" + by_offset[k]->view.name + "' overlap (data offsets " + std::to_string(prev->offset) +
             " +" + std::to_string(prev->view.nbytes) + " and " + std::to_string(by_offset[k]->offset) + ")");
  }
}

// ---------------------------------------------------------------- lookup

PHIAL_INLINE const GgufValue* GgufFile::find(std::string_view key) const noexcept {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

PHIAL_INLINE const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) throw FormatError(name_ + ": missing metadata key '" + std::string(key) + "'");
  return *v;
}

namespace detail {
template <class F>
auto gguf_typed(const std::string& file, std::string_view key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const FormatError& e) {
    throw FormatError(file + ": metadata key '" + std::string(key) + "': " + e.what());
  }
}
}  // namespace detail

PHIAL_INLINE std::int64_t GgufFile::get_int(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_int(); });
}
PHIAL_INLINE std::optional<std::int64_t> GgufFile::find_int(std::string_view key) const {
  if (!find(key)) return std::nullopt;
  return get_int(key);
}
PHIAL_INLINE double GgufFile::get_float(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_float(); });
}
PHIAL_INLINE std::optional<double> GgufFile::find_float(std::string_view key) const {
  if (!find(key)) return std::nullopt;
  return get_float(key);
}
PHIAL_INLINE std::string GgufFile::get_string(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_string(); });
}
PHIAL_INLINE std::optional<std::string> GgufFile::find_string(std::string_view key) const {
  if (!find(key)) return std::nullopt;
  return get_string(key);
}
PHIAL_INLINE std::optional<bool> GgufFile::find_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  return detail::gguf_typed(name_, key, [&] { return v->as_bool(); });
}
PHIAL_INLINE std::vector<std::string> GgufFile::get_strings(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_strings(); });
}
PHIAL_INLINE std::vector<std::int64_t> GgufFile::get_ints(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_ints(); });
}
PHIAL_INLINE std::vector<double> GgufFile::get_floats(std::string_view key) const {
  const auto& v = require(key);
  return detail::gguf_typed(name_, key, [&] { return v.as_floats(); });
}

PHIAL_INLINE const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const noexcept {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace phial
