// phial/backend/simd.hpp - what SIMD kernels need to be compiled into a baseline x86-64 build.
//
// Kernels are marked PHIAL_TARGET_AVX2 (compiled for AVX2+FMA+F16C whatever the build's -march),
// PHIAL_TARGET_AVX512 (that plus AVX-512 F/BW/VL/VNNI) or PHIAL_TARGET_AVX512_VBMI (plus VBMI and
// GFNI), and are only called after cpu_features() reported those extensions (see backend/cpu.hpp).
#pragma once
#include <phial/backend/cpu.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define PHIAL_X86 1
#  define PHIAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#  define PHIAL_TARGET_AVX512 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#  define PHIAL_TARGET_AVX512_VBMI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,gfni")))
#else
#  define PHIAL_X86 0
#  define PHIAL_TARGET_AVX2
#  define PHIAL_TARGET_AVX512
#  define PHIAL_TARGET_AVX512_VBMI
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

// True when the AVX-512 VNNI kernels may run.
inline bool use_avx512_vnni() noexcept {
#if PHIAL_X86
  return cpu_features().has_avx512_vnni();
#else
  return false;
#endif
}

// True when, on top of those, the VBMI + GFNI kernels may run.
inline bool use_avx512_vbmi_gfni() noexcept {
#if PHIAL_X86
  return cpu_features().has_avx512_vbmi_gfni();
#else
  return false;
#endif
}

// While alive, this thread's SSE/AVX arithmetic treats subnormal floats as zero, in and out (MXCSR
// FTZ + DAZ); the caller's mode is restored on exit. For kernels where values below 1.2e-38 carry no
// information but cost a microcode assist per instruction that meets one (on Sapphire Rapids the
// prefill softmax of one random-weight Q8_0 model spent 8.5 % of pp512 there; 0 % with this).
class FlushSubnormals {
 public:
#if PHIAL_X86
  FlushSubnormals() noexcept : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }
#else
  FlushSubnormals() noexcept = default;
#endif
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
#if PHIAL_X86
  unsigned saved_;
#endif
};

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

// e^x for 8 floats: x = n·ln2 + r with |r| <= ln2/2, e^r by Cephes' expf polynomial, times 2^n.
// Relative error within 3·2^-24 where the result is a normal float (tests/unit-ops.cpp measures it
// over the whole range; libm's expf: under 1 ulp); 0 where e^x is below the smallest normal
// (x < -87.34, -inf included); x > 88.02 gives e^88.02. NaN in -> NaN out. Not the sampler's
// exp_nonpositive (sample/sampler.hpp): that one is portable and bit-identical across platforms
// (so a seed samples the same tokens everywhere) at 5e-6 relative error, too coarse for the forward pass. (In the softmax and SiLU this changes results by float rounding only.)
PHIAL_TARGET_AVX2 inline __m256 exp_ps(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365447f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  // min/max return their second operand when one is NaN, so NaN passes through.
  x = _mm256_max_ps(lo, _mm256_min_ps(_mm256_set1_ps(88.02f), x));
  const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  // r = x - n·ln2, ln2 split in two so that n·C1 is exact
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n by building the exponent field (n in [-126, 127] after the clamp)
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

}  // namespace phial::detail::avx2
#endif
