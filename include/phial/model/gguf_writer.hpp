// phial/model/gguf_writer.hpp - writes GGUF files (version 3 by default): metadata of every value
// type, tensor infos, aligned tensor data. Used by `phial convert` and by the tests (which also use
// its low-level knobs to build deliberately broken files).
//
// Tensor data is produced on demand by a callback when the file is written, so converting a
// large model needs memory for one tensor at a time, not the whole model.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/gguf.hpp>
#include <phial/model/tensor.hpp>

namespace phial {

class GgufWriter {
 public:
  // Fills `dst` (exactly the tensor's byte size) with the tensor's data.
  using Fill = std::function<void(std::span<std::byte> dst)>;

  struct Tensor {
    std::string name;
    std::uint32_t type = 0;           // ggml type (raw, so tests can write unknown ones)
    std::vector<std::uint64_t> ne;    // ggml order, ne[0] = row length
    std::uint64_t nbytes = 0;         // bytes of data written for it
    Fill fill;                        // null: zeros
    std::optional<std::uint64_t> offset_override;  // tests: lie about the data offset
  };

  explicit GgufWriter(std::uint32_t alignment = 32) : alignment_(alignment) {}

  void set_version(std::uint32_t v) { version_ = v; }
  // Alignment of tensor data; written as general.alignment when it is not the default 32.
  std::uint32_t alignment() const noexcept { return alignment_; }

  // ---- metadata (kept in insertion order) ----
  void add(std::string key, GgufValue v) { kv_.emplace_back(std::move(key), std::move(v)); }
  void add_string(std::string key, std::string v) { add(std::move(key), GgufValue::make_string(std::move(v))); }
  void add_u32(std::string key, std::uint32_t v) { add(std::move(key), GgufValue::make_uint(GgufType::uint32, v)); }
  void add_i32(std::string key, std::int32_t v) { add(std::move(key), GgufValue::make_int(GgufType::int32, v)); }
  void add_u64(std::string key, std::uint64_t v) { add(std::move(key), GgufValue::make_uint(GgufType::uint64, v)); }
  void add_f32(std::string key, float v) { add(std::move(key), GgufValue::make_float(GgufType::float32, v)); }
  void add_bool(std::string key, bool v) { add(std::move(key), GgufValue::make_bool(v)); }
  void add_strings(std::string key, std::vector<std::string> v) { add(std::move(key), GgufValue::make_string_array(std::move(v))); }
  void add_i32s(std::string key, const std::vector<std::int32_t>& v);
  void add_f32s(std::string key, const std::vector<float>& v);

  // ---- tensors ----
  // A tensor of a known type: its byte size follows from type and shape.
  void add_tensor(std::string name, TensorType type, std::vector<std::int64_t> ne, Fill fill);
  // A tensor whose bytes are copied from `data` (must match the size implied by type and shape).
  void add_tensor_data(std::string name, TensorType type, std::vector<std::int64_t> ne, std::span<const std::byte> data);
  // Anything goes (tests).
  void add_raw_tensor(Tensor t) { tensors_.push_back(std::move(t)); }

  const std::vector<Tensor>& tensors() const noexcept { return tensors_; }

  // Progress callback: (tensors done, tensors total, name of the tensor being written).
  using Progress = std::function<void(std::size_t, std::size_t, const std::string&)>;

  // Writes the file (to `path`.tmp, then renamed into place). Throws IoError.
  void write(const std::filesystem::path& path, const Progress& progress = {}) const;
  // The whole file in memory (tests, fuzz seeds).
  std::vector<std::byte> to_bytes() const;

 private:
  template <class Sink>
  void emit(Sink&& sink, const Progress& progress) const;

  std::uint32_t version_ = 3;
  std::uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/gguf_writer.ipp>
#endif
