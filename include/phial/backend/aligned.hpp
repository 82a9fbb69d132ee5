// phial/backend/aligned.hpp - buffers that start on a cache line.
//
// Kernels load activations with full-width unaligned loads (64 bytes for AVX-512), and AMX loads
// tiles in 64-byte rows. On a buffer that is only 16-byte aligned, as operator new gives, every such
// load spans two cache lines. Measured on a Sapphire Rapids VM, 2 threads: decode GEMVs over Q8_0
// matrices 30.4-30.6 GB/s with the activations 16 bytes off a line against 31.2-31.4 aligned; pp512
// of Phi-4-mini F16 76.3-76.7 tok/s against 98.2-99.7 with the AMX buffers aligned.
#pragma once
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace phial::detail {

inline constexpr std::size_t kCacheLine = 64;

template <class T, std::size_t Align = kCacheLine>
struct AlignedAllocator {
  static_assert(Align >= alignof(T) && (Align & (Align - 1)) == 0, "alignment must be a power of two");
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Align}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Align}); }

  template <class U>
  bool operator==(const AlignedAllocator<U, Align>&) const noexcept {
    return true;
  }
};

// A vector whose data() starts on a cache line.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

// An uninitialised array on a cache line (its pages stay untouched until written: the KV cache
// relies on that to cost only what a conversation uses).
struct AlignedDelete {
  void operator()(void* p) const noexcept { ::operator delete(p, std::align_val_t{kCacheLine}); }
};
template <class T>
using AlignedArray = std::unique_ptr<T[], AlignedDelete>;

template <class T>
AlignedArray<T> make_aligned_array(std::size_t n) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  return AlignedArray<T>(AlignedAllocator<T>().allocate(n));
}

}  // namespace phial::detail
