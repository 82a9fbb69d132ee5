// phial/backend/simd.hpp - what SIMD kernels need to be compiled into a baseline x86-64 build.
//
// Kernels are marked PHIAL_TARGET_AVX2 (compiled for AVX2+FMA+F16C whatever the build's -march) and
// are only called after cpu_features() reported those extensions (see backend/cpu.hpp).
#pragma once
#include <phial/backend/cpu.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define PHIAL_X86 1
#  define PHIAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#  define PHIAL_X86 0
#  define PHIAL_TARGET_AVX2
#endif

namespace phial::detail {

// True when the AVX2 kernels may run (the CPU has them and PHIAL_SIMD did not turn them off).
inline bool use_avx2() noexcept {
#if PHIAL_X86
  return cpu_features().has_avx2_fma_f16c();
#else
  return false;
#endif
}

}  // namespace phial::detail

#if PHIAL_X86
namespace phial::detail::avx2 {

// Sum of the 8 floats of v.
PHIAL_TARGET_AVX2 inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace phial::detail::avx2
#endif
