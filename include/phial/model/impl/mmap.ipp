// phial/model/impl/mmap.ipp - POSIX implementation of MappedFile.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <phial/model/mmap.hpp>

namespace phial {

namespace detail {
inline std::string errno_text(int err) { return std::strerror(err); }

// Closes a file descriptor on scope exit.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace detail

PHIAL_INLINE MappedFile MappedFile::open(const std::filesystem::path& path, FileMemory mode, bool prefetch) {
  MappedFile f;
  f.path_ = path;
  f.mode_ = mode;
  detail::FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) throw IoError(path.string() + ": cannot open: " + detail::errno_text(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw IoError(path.string() + ": cannot stat: " + detail::errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw IoError(path.string() + ": is a directory, expected a file");
  if (!S_ISREG(st.st_mode)) throw IoError(path.string() + ": not a regular file");
  const auto size = static_cast<std::size_t>(st.st_size);
  f.size_ = size;
  if (size == 0) return f;  // nothing to map; readers report the empty file

  if (mode == FileMemory::mmap) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.fd, 0);
    if (p == MAP_FAILED) throw IoError(path.string() + ": mmap of " + std::to_string(size) + " bytes failed: " + detail::errno_text(errno));
    f.data_ = static_cast<const std::byte*>(p);
    f.alloc_size_ = size;
#ifdef MADV_HUGEPAGE
    // Where the kernel can cache files in 2 MiB folios (Linux 6.x, ext4/xfs large folios), this makes
    // a page fault read the whole 2 MiB around it into one folio, mapped by one TLB entry, whatever
    // the access pattern. Without it, decode's interleaved faults from several threads got 4 KiB
    // pages for most of a cold file, and weights in 4 KiB page-cache pages stream at ~2/3 the speed
    // (docs/performance.md). Advice only; ignored where unsupported.
    ::madvise(p, size, MADV_HUGEPAGE);
#endif
    if (prefetch) ::madvise(p, size, MADV_WILLNEED);
    return f;
  }

  // Ordinary memory: an anonymous private mapping (page aligned, zero-filled, returned to the OS on release).
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw IoError(path.string() + ": cannot allocate " + std::to_string(size) + " bytes: " + detail::errno_text(errno));
  f.data_ = static_cast<const std::byte*>(p);
  f.alloc_size_ = size;
#ifdef MADV_HUGEPAGE
  // 2 MiB pages where the kernel has them: a decode step streams every weight byte, and with 4 KiB
  // pages a 4 GB model is a million TLB entries. Advice only; no error if refused.
  ::madvise(p, size, MADV_HUGEPAGE);
#endif
  auto* dst = static_cast<char*>(p);
  std::size_t done = 0;
  while (done < size) {
    const std::size_t chunk = std::min<std::size_t>(size - done, std::size_t{1} << 30);
    const ssize_t n = ::pread(fd.fd, dst + done, chunk, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(path.string() + ": read failed at byte " + std::to_string(done) + ": " + detail::errno_text(errno));
    }
    if (n == 0) throw IoError(path.string() + ": file shrank while reading (got " + std::to_string(done) + " of " + std::to_string(size) + " bytes)");
    done += static_cast<std::size_t>(n);
  }
  ::mprotect(p, size, PROT_READ);  // weights are read-only from here on
  if (mode == FileMemory::read_locked) {
    if (::mlock(p, size) != 0)
      throw IoError(path.string() + ": mlock of " + std::to_string(size) + " bytes failed: " + detail::errno_text(errno) +
                    " (raise the memlock limit, e.g. `ulimit -l unlimited`, or load without locking)");
    f.locked_ = true;
  }
  return f;
}

PHIAL_INLINE void MappedFile::release() noexcept {
  if (data_ != nullptr && alloc_size_ != 0) {
    void* p = const_cast<std::byte*>(data_);
    if (locked_) ::munlock(p, alloc_size_);
    ::munmap(p, alloc_size_);
  }
  data_ = nullptr;
  size_ = alloc_size_ = 0;
  locked_ = false;
}

}  // namespace phial
