// phial/ops/attention.hpp - scaled dot-product attention of one query vector against cached keys.
//
// transformers computes, per query head, softmax(q K^T * head_dim^-0.5 + causal mask) V with the
// softmax in float32. Here the keys are visited in blocks with a running maximum and running sum
// ("online softmax"): the result is the same softmax up to float rounding, and no (T, T) score matrix
// is ever materialised, so prefill memory stays bounded however long the prompt is. The only scratch
// is a block of scores on the stack; the output vector doubles as the accumulator.
//
// Keys and values may be stored as float or as 16-bit floats. `attend` is the portable version: the
// caller passes a `load` function turning one stored element into a float. `attend_cached` is what
// the executor calls: AVX2 (8-wide FMA dot products and value updates) when the CPU has it and
// head_dim is a multiple of 8, the portable version otherwise. The portable dot product is one
// dependent chain of additions (the compiler may not reorder float sums), which made attention ~10%
// of a 256-token prefill before the AVX2 path existed.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <phial/backend/simd.hpp>
#include <phial/config.hpp>
#include <phial/ops/quant.hpp>

namespace phial::ops {

inline constexpr int kAttentionBlock = 64;  // keys scored per block (a 256-byte stack array)

// q (head_dim) against keys/values at positions [first, last) of one kv head:
//   k, v: (positions, kv_stride) - element [p * kv_stride + d] is dimension d of position p
//   out (head_dim) = sum_p softmax_p(scale * q . k_p) * v_p
// Requires first < last.
template <class T, class Load>
void attend(const float* PHIAL_RESTRICT q, const T* PHIAL_RESTRICT k, const T* PHIAL_RESTRICT v,
            std::int64_t kv_stride, std::int64_t first, std::int64_t last, int head_dim, float scale,
            float* PHIAL_RESTRICT out, Load load) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;

  float scores[kAttentionBlock];
  for (std::int64_t block = first; block < last; block += kAttentionBlock) {
    const int n = int(std::min<std::int64_t>(kAttentionBlock, last - block));
    // scores (n) = scale * q . k_p
    float block_max = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < n; ++j) {
      const T* kp = k + (block + j) * kv_stride;
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += q[d] * load(kp[d]);
      scores[j] = dot * scale;
      block_max = std::max(block_max, scores[j]);
    }
    // Rescale what was accumulated so far to the new maximum (exp(-inf) = 0 on the first block).
    const float new_max = std::max(running_max, block_max);
    const float correction = std::exp(running_max - new_max);
    running_sum *= correction;
    for (int d = 0; d < head_dim; ++d) out[d] *= correction;
    for (int j = 0; j < n; ++j) {
      const float p = std::exp(scores[j] - new_max);
      running_sum += p;
      const T* vp = v + (block + j) * kv_stride;
      for (int d = 0; d < head_dim; ++d) out[d] += p * load(vp[d]);
    }
    running_max = new_max;
  }
  const float inv_sum = 1.0f / running_sum;
  for (int d = 0; d < head_dim; ++d) out[d] *= inv_sum;
}

// Plain float storage.
PHIAL_ALWAYS_INLINE float load_f32(float x) { return x; }

#if PHIAL_X86
namespace detail::avx2 {

template <bool F16>
PHIAL_TARGET_AVX2 inline __m256 load8_kv(const void* base, std::int64_t i) {
  if constexpr (F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(base) + i)));
  } else {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  }
}

using phial::detail::avx2::hsum_ps;

// The same online softmax as `attend`; requires head_dim % 8 == 0. Per block of keys: the scores,
// their exponentials 8 at a time (exp_ps), then the weighted values summed into registers, 64
// dimensions (8 independent FMA chains) at a time, so `out` is loaded and stored once per block
// instead of once per key. (The per-key version spent most of its time storing `out` and in
// libm's expf: ~15% of a 512-token prefill.)
template <bool F16>
PHIAL_TARGET_AVX2 void attend(const float* PHIAL_RESTRICT q, const void* k, const void* v, std::int64_t kv_stride,
                              std::int64_t first, std::int64_t last, int head_dim, float scale,
                              float* PHIAL_RESTRICT out) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_setzero_ps());

  alignas(32) float scores[kAttentionBlock];
  for (std::int64_t block = first; block < last; block += kAttentionBlock) {
    const int n = int(std::min<std::int64_t>(kAttentionBlock, last - block));
    // scores (n) = scale * q . k_p
    float block_max = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < n; ++j) {
      const std::int64_t kp = (block + j) * kv_stride;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0;
      int d = 0;
      for (; d + 16 <= head_dim; d += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8_kv<F16>(k, kp + d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8_kv<F16>(k, kp + d + 8), a1);
      }
      if (d < head_dim) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8_kv<F16>(k, kp + d), a0);
      scores[j] = hsum_ps(_mm256_add_ps(a0, a1)) * scale;
      block_max = std::max(block_max, scores[j]);
    }
    const float new_max = std::max(running_max, block_max);
    const float correction = std::exp(running_max - new_max);
    // scores -> p = exp(score - new_max); the lanes past n are -inf, whose exp_ps is exactly 0.
    for (int j = n; j < (n + 7) / 8 * 8; ++j) scores[j] = -std::numeric_limits<float>::infinity();
    const __m256 m = _mm256_set1_ps(new_max);
    __m256 psum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
      const __m256 p = phial::detail::avx2::exp_ps(_mm256_sub_ps(_mm256_load_ps(scores + j), m));
      _mm256_store_ps(scores + j, p);
      psum = _mm256_add_ps(psum, p);
    }
    running_sum = running_sum * correction + hsum_ps(psum);
    // out = correction * out + sum_j p_j v_j
    const __m256 c = _mm256_set1_ps(correction);
    int d = 0;
    for (; d + 64 <= head_dim; d += 64) {
      __m256 acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = _mm256_mul_ps(_mm256_loadu_ps(out + d + 8 * i), c);
      for (int j = 0; j < n; ++j) {
        const __m256 p = _mm256_set1_ps(scores[j]);
        const std::int64_t vp = (block + j) * kv_stride + d;
        for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(p, load8_kv<F16>(v, vp + 8 * i), acc[i]);
      }
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + d + 8 * i, acc[i]);
    }
    for (; d < head_dim; d += 8) {
      __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(out + d), c);
      for (int j = 0; j < n; ++j)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[j]), load8_kv<F16>(v, (block + j) * kv_stride + d), acc);
      _mm256_storeu_ps(out + d, acc);
    }
    running_max = new_max;
  }
  const __m256 inv = _mm256_set1_ps(1.0f / running_sum);
  for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), inv));
}

}  // namespace detail::avx2
#endif

// `attend` over a KV cache stored as float32 or IEEE float16, with the fastest kernel this CPU runs.
inline void attend_cached(const float* q, const float* k, const float* v, std::int64_t kv_stride, std::int64_t first,
                          std::int64_t last, int head_dim, float scale, float* out) {
#if PHIAL_X86
  if (head_dim % 8 == 0 && phial::detail::use_avx2())
    return detail::avx2::attend<false>(q, k, v, kv_stride, first, last, head_dim, scale, out);
#endif
  attend(q, k, v, kv_stride, first, last, head_dim, scale, out, load_f32);
}

inline void attend_cached(const float* q, const std::uint16_t* k, const std::uint16_t* v, std::int64_t kv_stride,
                          std::int64_t first, std::int64_t last, int head_dim, float scale, float* out) {
#if PHIAL_X86
  if (head_dim % 8 == 0 && phial::detail::use_avx2())
    return detail::avx2::attend<true>(q, k, v, kv_stride, first, last, head_dim, scale, out);
#endif
  attend(q, k, v, kv_stride, first, last, head_dim, scale, out, [](std::uint16_t h) { return fp16_to_fp32(h); });
}

// First key a query at position `pos` may see: causal, optionally limited to a sliding window of
// `window` keys (transformers masks kv_idx <= q_idx - window); window <= 0 means no window.
PHIAL_ALWAYS_INLINE std::int64_t first_visible_key(std::int64_t pos, std::int64_t window) {
  return window > 0 ? std::max<std::int64_t>(0, pos - window + 1) : 0;
}

}  // namespace phial::ops
