// phial/model/safetensors.hpp - reader for Hugging Face safetensors checkpoints: one file, or the
// shards listed in `model.safetensors.index.json`.
//
// File layout: u64 little-endian N | N bytes of JSON header | tensor data. The header maps each
// tensor name to {"dtype", "shape" [outer..inner], "data_offsets" [begin, end)} (offsets relative
// to the data section), plus an optional "__metadata__" object of strings.
// Every field is validated (dtype known, shape non-negative and not overflowing, byte count equal
// to elements x dtype size, data inside the file, no two tensors overlapping). Tensor data is never
// copied: views point into the mapping. Shapes are reported in ggml order (ne[0] = innermost), so a
// Hugging Face [out, in] weight is ne {in, out} with the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
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

struct SafetensorsTensor {
  TensorView view;              // type F32/F16/BF16; ne in ggml order
  std::string dtype;            // as written in the header ("BF16", ...)
  std::vector<std::int64_t> shape;  // as written in the header (outermost first)
  std::uint64_t begin = 0, end = 0;  // data_offsets
};

// One .safetensors file.
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path, FileMemory mode = FileMemory::mmap,
                                               bool prefetch = false);
  // Parses caller-owned bytes (kept alive by the caller). `name` is used in error messages.
  static std::unique_ptr<SafetensorsFile> from_memory(std::span<const std::byte> bytes, std::string name = "<memory>");

  const std::string& name() const noexcept { return name_; }
  const std::vector<SafetensorsTensor>& tensors() const noexcept { return tensors_; }
  const SafetensorsTensor* find(std::string_view tensor_name) const noexcept;
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  std::uint64_t data_offset() const noexcept { return data_offset_; }
  const MappedFile& file() const noexcept { return file_; }

 private:
  SafetensorsFile() = default;
  void parse();

  std::string name_;
  MappedFile file_;
  std::span<const std::byte> bytes_;
  std::uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All the weights of a checkpoint: a single file, or every shard of an index.
class SafetensorsSet {
 public:
  // `path`: a directory (uses model.safetensors.index.json if present, else model.safetensors, else
  // the only *.safetensors file), an index .json file, or a single .safetensors file.
  static std::unique_ptr<SafetensorsSet> open(const std::filesystem::path& path, FileMemory mode = FileMemory::mmap,
                                              bool prefetch = false);

  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const noexcept { return files_; }
  const SafetensorsTensor* find(std::string_view tensor_name) const noexcept;
  // Every tensor of every shard, in shard order then file order.
  std::vector<const SafetensorsTensor*> tensors() const;
  const std::filesystem::path& directory() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, const SafetensorsTensor*> index_;
};

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/safetensors.ipp>
#endif
