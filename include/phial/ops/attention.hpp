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
//
// `attend_tile` is the prefill version: many queries of one kv head at once, the same online softmax
// over blocks of keys, with the scores (queries × keys) and the weighted sum of values as two
// OpenBLAS sgemm calls per block (flash-attention's blocking, on the CPU). Memory stays bounded by the
// tile: (queries × kAttentionTileKeys) scores, and for an f16 cache the block's keys and values in f32.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <phial/backend/aligned.hpp>
#include <phial/backend/cpu.hpp>
#include <phial/backend/simd.hpp>
#include <phial/config.hpp>
#include <phial/ops/blas.hpp>
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

// Weights of one row of scores (see softmax_block_row): exp(s - m) on [j0, j1), 0 elsewhere, for
// s[0, n rounded up to 8); returns their sum.
PHIAL_TARGET_AVX2 inline float softmax_weights(float* s, int n, int j0, int j1, float m) {
  for (int j = 0; j < j0; ++j) s[j] = -std::numeric_limits<float>::infinity();
  for (int j = j1; j < (n + 7) / 8 * 8; ++j) s[j] = -std::numeric_limits<float>::infinity();
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    const __m256 p = phial::detail::avx2::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));  // exp(-inf) = 0
    _mm256_storeu_ps(s + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  return hsum_ps(sum);
}

// f16 -> f32, n a multiple of 8.
PHIAL_TARGET_AVX2 inline void f16_row_to_f32(const std::uint16_t* src, float* dst, int n) {
  for (int i = 0; i < n; i += 8) _mm256_storeu_ps(dst + i, load8_kv<true>(src, i));
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

inline constexpr int kAttentionTileKeys = 128;  // keys per block in attend_tile

namespace detail {

// A row of IEEE halves as floats.
inline void convert_f16_row(const std::uint16_t* src, float* dst, int n) {
#if PHIAL_X86
  if (n % 8 == 0 && phial::detail::use_avx2()) return avx2::f16_row_to_f32(src, dst, n);
#endif
  for (int i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

// One row of a block of scores s[0, n): the keys [j0, j1) are visible (j0 < j1). Updates the running
// maximum m and sum l, turns s into the weights p = exp(s - m) (0 for keys not visible; s must have
// room for n rounded up to 8) and returns the factor by which the row's earlier output must shrink.
inline float softmax_block_row(float* s, int n, int j0, int j1, float& m, float& l) {
  float block_max = -std::numeric_limits<float>::infinity();
  for (int j = j0; j < j1; ++j) block_max = std::max(block_max, s[j]);
  const float new_max = std::max(m, block_max);
  const float correction = std::exp(m - new_max);  // 0 on the row's first visible block (m = -inf)
  float sum = 0.0f;
#if PHIAL_X86
  if (phial::detail::use_avx2()) {
    sum = avx2::softmax_weights(s, n, j0, j1, new_max);
  } else
#endif
  {
    for (int j = 0; j < n; ++j) {
      s[j] = (j >= j0 && j < j1) ? std::exp(s[j] - new_max) : 0.0f;
      sum += s[j];
    }
  }
  l = l * correction + sum;
  m = new_max;
  return correction;
}

template <class T>
void attend_tile_impl(const float* q, std::int64_t nq, const std::int64_t* qpos, std::int64_t window, const T* k,
                      const T* v, std::int64_t kv_stride, int head_dim, float scale, float* out) {
  if (nq <= 0) return;
  // Scores far below the row's maximum give weights of 0; subnormal ones would only be slow.
  const phial::detail::FlushSubnormals flush;
  constexpr int kB = kAttentionTileKeys;
  const int hd = head_dim;
  thread_local phial::detail::AlignedVector<float> s_buf, kf, vf, m_buf, l_buf;  // this thread's scratch
  s_buf.resize(static_cast<std::size_t>(nq * kB));
  m_buf.assign(static_cast<std::size_t>(nq), -std::numeric_limits<float>::infinity());
  l_buf.assign(static_cast<std::size_t>(nq), 0.0f);
  float* S = s_buf.data();  // (nq, kB)
  float* m = m_buf.data();  // (nq) running maxima
  float* l = l_buf.data();  // (nq) running sums
  std::int64_t lo = qpos[0], hi = qpos[0] + 1;  // keys any query sees: [lo, hi)
  for (std::int64_t i = 0; i < nq; ++i) {
    lo = std::min(lo, first_visible_key(qpos[i], window));
    hi = std::max(hi, qpos[i] + 1);
  }
  std::fill(out, out + nq * hd, 0.0f);
  ensure_blas_single_threaded();
  for (std::int64_t kb = lo; kb < hi; kb += kB) {
    const int n = static_cast<int>(std::min<std::int64_t>(kB, hi - kb));
    // The block's keys and values as f32 rows: in place for an f32 cache, converted for f16.
    const float *kp, *vp;
    std::int64_t ld;
    if constexpr (std::is_same_v<T, float>) {
      kp = k + kb * kv_stride;
      vp = v + kb * kv_stride;
      ld = kv_stride;
    } else {
      kf.resize(static_cast<std::size_t>(kB * hd));
      vf.resize(static_cast<std::size_t>(kB * hd));
      for (int j = 0; j < n; ++j) {
        convert_f16_row(k + (kb + j) * kv_stride, kf.data() + j * hd, hd);
        convert_f16_row(v + (kb + j) * kv_stride, vf.data() + j * hd, hd);
      }
      kp = kf.data();
      vp = vf.data();
      ld = hd;
    }
    // S (nq, n) = scale · q · kᵀ
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq), n, hd, scale, q, hd, kp,
                static_cast<int>(ld), 0.0f, S, kB);
    for (std::int64_t i = 0; i < nq; ++i) {
      float* s = S + i * kB;
      const int j0 = static_cast<int>(std::max<std::int64_t>(first_visible_key(qpos[i], window) - kb, 0));
      const int j1 = static_cast<int>(std::min<std::int64_t>(qpos[i] + 1 - kb, n));
      if (j0 >= j1) {  // nothing visible in this block: weight 0 everywhere, the row unchanged
        std::fill(s, s + n, 0.0f);
        continue;
      }
      const float c = softmax_block_row(s, n, j0, j1, m[i], l[i]);
      if (c != 1.0f)
        for (int d = 0; d < hd; ++d) out[i * hd + d] *= c;
    }
    // out (nq, hd) += p (nq, n) · v (n, hd)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(nq), hd, n, 1.0f, S, kB, vp,
                static_cast<int>(ld), 1.0f, out, hd);
  }
  for (std::int64_t i = 0; i < nq; ++i) {
    const float inv = 1.0f / l[i];
    for (int d = 0; d < hd; ++d) out[i * hd + d] *= inv;
  }
}

}  // namespace detail

// Prefill attention for nq queries that share one kv head: query i is row i of q (nq, head_dim) at
// position qpos[i] and sees the keys [first_visible_key(qpos[i], window), qpos[i]] (causal, every
// query sees at least its own key). k, v: (positions, kv_stride) as in attend_cached.
// out (nq, head_dim) = the same softmax(scale·q·kᵀ)·v as attend_cached, up to float rounding.
inline void attend_tile(const float* q, std::int64_t nq, const std::int64_t* qpos, std::int64_t window, const float* k,
                        const float* v, std::int64_t kv_stride, int head_dim, float scale, float* out) {
  detail::attend_tile_impl(q, nq, qpos, window, k, v, kv_stride, head_dim, scale, out);
}
inline void attend_tile(const float* q, std::int64_t nq, const std::int64_t* qpos, std::int64_t window,
                        const std::uint16_t* k, const std::uint16_t* v, std::int64_t kv_stride, int head_dim,
                        float scale, float* out) {
  detail::attend_tile_impl(q, nq, qpos, window, k, v, kv_stride, head_dim, scale, out);
}

}  // namespace phial::ops
