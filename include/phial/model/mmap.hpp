// phial/model/mmap.hpp - the bytes of a model file: a read-only memory mapping (the default: no copy
// of the weights, pages come from the page cache on first touch), or the whole file read into
// ordinary memory, optionally locked with mlock so that it can never be paged out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <phial/config.hpp>
#include <phial/error.hpp>

namespace phial {

// How a model file's bytes get into the process.
enum class FileMemory {
  mmap,         // read-only shared mapping (default): load is O(metadata), weights are paged in lazily
  read,         // read() the whole file into anonymous memory
  read_locked,  // as `read`, then mlock() it (fails with IoError if RLIMIT_MEMLOCK is too small)
};

class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept { swap(o); }
  MappedFile& operator=(MappedFile&& o) noexcept {
    MappedFile tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { release(); }

  // Opens `path` with the given strategy. `prefetch` asks the kernel to read the mapping ahead
  // (MADV_WILLNEED); it does not block. Throws IoError naming the file and the errno text.
  static MappedFile open(const std::filesystem::path& path, FileMemory mode = FileMemory::mmap, bool prefetch = false);

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  const std::filesystem::path& path() const noexcept { return path_; }
  FileMemory mode() const noexcept { return mode_; }

 private:
  void swap(MappedFile& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(alloc_size_, o.alloc_size_);
    std::swap(mode_, o.mode_);
    std::swap(locked_, o.locked_);
    path_.swap(o.path_);
  }
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t alloc_size_ = 0;  // bytes mapped / allocated (0 for an empty file)
  FileMemory mode_ = FileMemory::mmap;
  bool locked_ = false;
  std::filesystem::path path_;
};

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/mmap.ipp>
#endif
