// phial/ops/activation.hpp - the gated MLP activation of the Phi-3 architecture.
//
// transformers computes `up * silu(gate)` where gate_up_proj's output is chunked in two along the
// feature axis and the FIRST half is the gate. silu(z) = z * sigmoid(z) = z / (1 + exp(-z)).
#pragma once
#include <cmath>
#include <cstdint>

#include <phial/backend/simd.hpp>
#include <phial/config.hpp>

namespace phial::ops {

PHIAL_ALWAYS_INLINE float silu(float z) { return z / (1.0f + std::exp(-z)); }

#if PHIAL_X86
namespace detail::avx2 {
// up * silu(gate), 8 at a time with the vector exp (libm's expf per element was ~2% of a prefill).
PHIAL_TARGET_AVX2 inline std::int64_t swiglu(const float* gate, const float* up, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = phial::detail::avx2::exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(up + i), s));
  }
  return i;
}
}  // namespace detail::avx2
#endif

// One token: gate_up (2n) laid out [gate (n) | up (n)] -> out (n) = up * silu(gate).
inline void swiglu(const float* gate_up, float* out, std::int64_t n) {
  const float* gate = gate_up;
  const float* up = gate_up + n;
  std::int64_t i = 0;
#if PHIAL_X86
  if (phial::detail::use_avx2()) i = detail::avx2::swiglu(gate, up, out, n);
#endif
  for (; i < n; ++i) out[i] = up[i] * silu(gate[i]);
}

// Many tokens: gate_up (n_rows, 2n) -> out (n_rows, n).
inline void swiglu_rows(const float* gate_up, float* out, std::int64_t n_rows, std::int64_t n) {
  // silu of a very negative gate is subnormal; computing with it costs a microcode assist per
  // instruction (4.9 % of a Q4_K_M pp512 on Sapphire Rapids), flushing it changes nothing above 1e-38.
  const phial::detail::FlushSubnormals flush;
  for (std::int64_t r = 0; r < n_rows; ++r) swiglu(gate_up + r * 2 * n, out + r * n, n);
}

}  // namespace phial::ops
