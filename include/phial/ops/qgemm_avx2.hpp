// phial/ops/qgemm_avx2.hpp - the int8 prefill GEMM for 4-bit weights (Q4_0, Q4_1, Q4_K), AVX2.
//
//   Y(T, N) = X(T, K) · Wᵀ, X quantized to ActQ8 blocks of 32 (as the decode path quantizes it),
//   W repacked a tile of rows at a time into RowBlock8s.
//
// Why a layout of its own: the decode kernels put 32 columns of one row in a register, so every
// 32-column block of every (row, token) pair costs a widening, a conversion, an FMA and finally a
// horizontal sum. Here a register holds 4 consecutive columns of 8 different rows (one step), the
// token's 4 activation bytes are broadcast to all lanes, and one maddubs + one add accumulate 32
// multiply-adds for 8 rows. The lanes are rows, so the per-row scales apply lane-wise once per
// 32-column block and the result is stored without a horizontal sum. int16 holds a whole block:
// 8 steps · 2 products · 15 · 127 = 30480 <= 32767 for unsigned 4-bit weights and |q| <= 127.
//
// `bench-matmul --only gemm` (512 × 3072 · (8192 × 3072)ᵀ), one Zen 3 core: 1.97× (Q4_0) and 1.80×
// (Q4_K) raw OpenBLAS sgemm on f32 weights (docs/performance.md, "Int8 prefill GEMM").
//
// Included by matmul.hpp; the kernels are only called after use_avx2() said yes.
#pragma once
#include <cstddef>
#include <cstdint>

#include <phial/ops/qdot.hpp>

namespace phial::ops::detail {

// 8 weight rows × 32 columns: w(row i, column c) = d[i]·u + m[i] with u = unsigned 4-bit value.
// q[s][4·i + j] = u of row i, column 4·s + j (step-major: one 256-bit load is one step).
struct alignas(32) RowBlock8 {
  std::uint8_t q[8][32];
  float d[8];
  float m[8];
};
static_assert(sizeof(RowBlock8) == 320);

// Weight types the int8 GEMM handles: unsigned 4-bit values with a scale and an offset per row and
// 32-column block (Q4_K's 6-bit sub-block scales and mins fold into those floats exactly as its
// dequantization computes them).
inline bool int8_gemm_supports(TensorType t) noexcept {
  return t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q4_K;
}

}  // namespace phial::ops::detail

#if PHIAL_X86
namespace phial::ops::detail::avx2 {

// Block b (32 columns) of one row -> 32 unsigned bytes in column order, and its d, m.
PHIAL_TARGET_AVX2 static inline __m256i block_u4(TensorType type, const std::byte* row, std::int64_t b, float& d,
                                                float& m) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  if (type == TensorType::Q4_K) {
    const auto* sb = reinterpret_cast<const kq4_K*>(row) + b / 8;
    const int j = static_cast<int>(b % 8);
    std::uint8_t sc, mn;
    k_scale_min(j, sb->scales, sc, mn);
    d = half(sb->d) * static_cast<float>(sc);
    m = -(half(sb->dmin) * static_cast<float>(mn));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb->qs + 32 * (j / 2)));
    return (j % 2) ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
  }
  if (type == TensorType::Q4_1) {
    const auto* blk = reinterpret_cast<const kq4_1*>(row) + b;
    d = half(blk->d);
    m = half(blk->m);
    return unpack_nibbles_32(blk->qs);
  }
  const auto* blk = reinterpret_cast<const kq4_0*>(row) + b;
  d = half(blk->d);
  m = -8.0f * d;
  return unpack_nibbles_32(blk->qs);
}

// Repacks `nr` (1..8) rows of `type`, K columns, into K/32 RowBlock8s; missing rows are zero.
PHIAL_TARGET_AVX2 static inline void repack_rows8(TensorType type, const std::byte* rows, std::size_t stride,
                                                  int nr, std::int64_t K, RowBlock8* out) {
  for (std::int64_t b = 0; b < K / 32; ++b) {
    RowBlock8& o = out[b];
    __m256i r[8];
    for (int i = 0; i < 8; ++i) {
      if (i < nr) {
        r[i] = block_u4(type, rows + static_cast<std::size_t>(i) * stride, b, o.d[i], o.m[i]);
      } else {
        r[i] = _mm256_setzero_si256();
        o.d[i] = o.m[i] = 0.0f;
      }
    }
    // 8×8 transpose of 4-byte groups: row i's group s (columns 4s..4s+3) -> step s, lane i.
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
      u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
      u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
      u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int s = 0; s < 4; ++s) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(o.q[s]), _mm256_permute2x128_si256(u[s], u[s + 4], 0x20));
      _mm256_store_si256(reinterpret_cast<__m256i*>(o.q[s + 4]), _mm256_permute2x128_si256(u[s], u[s + 4], 0x31));
    }
  }
}

// Y for RG groups of 8 rows × TT tokens over nb blocks: out[(t·RG + g)·8 + i] = row 8g+i, token t.
// w[g] points at group g's nb RowBlock8s; token t's nb ActQ8s start at x + t·nb.
template <int RG, int TT>
PHIAL_TARGET_AVX2 static void qgemm_tile(const RowBlock8* const* w, const ActQ8* x, std::int64_t nb, float* out) {
  // The f32 accumulators live in `out` (touched once per block); the 16 registers go to the int16
  // block sums, the weight steps and the broadcast activations. Left to itself GCC spills the int16
  // sums instead, which halves the speed.
  for (int i = 0; i < RG * TT * 8; ++i) out[i] = 0.0f;
  const __m256i ones = _mm256_set1_epi16(1);
  for (std::int64_t b = 0; b < nb; ++b) {
    __m256i is[RG][TT];  // int16 sums of one block
    for (int g = 0; g < RG; ++g)
      for (int t = 0; t < TT; ++t) is[g][t] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      __m256i wv[RG];
      for (int g = 0; g < RG; ++g) wv[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[g][b].q[s]));
      for (int t = 0; t < TT; ++t) {
        std::int32_t four;
        std::memcpy(&four, x[t * nb + b].qs + 4 * s, 4);
        const __m256i xv = _mm256_set1_epi32(four);
        for (int g = 0; g < RG; ++g) {
          is[g][t] = _mm256_add_epi16(is[g][t], _mm256_maddubs_epi16(wv[g], xv));
          // Keeps GCC from regrouping the additions into a tree of temporaries, which also spills.
          __asm__("" : "+x"(is[g][t]));
        }
      }
    }
    for (int t = 0; t < TT; ++t) {
      const ActQ8& xb = x[t * nb + b];
      const __m256 dx = _mm256_set1_ps(xb.d), sx = _mm256_set1_ps(xb.s);
      for (int g = 0; g < RG; ++g) {
        // Σ_c w·x = d_w·d_x·Σ u·q + m_w·(d_x·Σq)
        float* o = out + (t * RG + g) * 8;
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(is[g][t], ones)), dx);
        __m256 acc = _mm256_fmadd_ps(_mm256_load_ps(w[g][b].d), f, _mm256_load_ps(o));
        _mm256_store_ps(o, _mm256_fmadd_ps(_mm256_load_ps(w[g][b].m), sx, acc));
      }
    }
    __asm__ volatile("" : : "r"(out) : "memory");  // the accumulators stay in memory
  }
}

// qgemm_tile<RG, tt> for a run-time tt in 1..TT.
template <int RG, int TT>
PHIAL_TARGET_AVX2 static inline void qgemm_tile_tt(int tt, const RowBlock8* const* w, const ActQ8* x, std::int64_t nb,
                                                   float* out) {
  if constexpr (TT > 1) {
    if (tt < TT) return qgemm_tile_tt<RG, TT - 1>(tt, w, x, nb, out);
  }
  qgemm_tile<RG, TT>(w, x, nb, out);
}

// Y[:, r0 : r0 + nr] for rows already repacked into ceil(nr / 8) groups of nb RowBlock8s each
// (`packed`, group-major). x: (n_tokens, nb) ActQ8s; Y row-major with leading dimension ldy.
PHIAL_TARGET_AVX2 static inline void qgemm_rows(const RowBlock8* packed, std::int64_t nr, const ActQ8* x,
                                                std::int64_t n_tokens, std::int64_t nb, float* Y, std::int64_t ldy) {
  // 16 rows × 6 tokens: 12 int16 sums + 2 weight steps + 1 activation broadcast + 1 constant
  // = 16 registers. One Zen 3 core, 1032 rows × 3072 × 256 tokens, ratio to sgemm in the same
  // run (two runs): 2×4 1.91/1.98, 2×5 2.08/2.07, 2×6 2.00/2.13, 3×4 2.02/1.83, 1×8 1.99/1.85.
  constexpr int kRG = 2, kTT = 6;
  const std::int64_t groups = (nr + 7) / 8;
  alignas(32) float out[kRG * kTT * 8];
  for (std::int64_t g = 0; g < groups; g += kRG) {
    const int rg = static_cast<int>(std::min<std::int64_t>(kRG, groups - g));
    const RowBlock8* wg[kRG];
    for (int i = 0; i < kRG; ++i) wg[i] = packed + std::min<std::int64_t>(g + i, groups - 1) * nb;
    for (std::int64_t t = 0; t < n_tokens; t += kTT) {
      const int tt = static_cast<int>(std::min<std::int64_t>(kTT, n_tokens - t));
      // A last, partial group pair runs with RG = kRG all the same (its extra group repeats the
      // previous one); only the rows that exist are copied out.
      qgemm_tile_tt<kRG, kTT>(tt, wg, x + t * nb, nb, out);
      for (int j = 0; j < tt; ++j)
        for (int gg = 0; gg < rg; ++gg) {
          const std::int64_t row = 8 * (g + gg);
          const std::int64_t n = std::min<std::int64_t>(8, nr - row);
          float* y = Y + (t + j) * ldy + row;
          const float* o = out + (j * kRG + gg) * 8;
          if (n == 8)
            _mm256_storeu_ps(y, _mm256_load_ps(o));  // (a memcpy call of variable size here cost ~2% of a prefill)
          else
            std::memcpy(y, o, static_cast<std::size_t>(n) * sizeof(float));
        }
    }
  }
}

}  // namespace phial::ops::detail::avx2

#endif  // PHIAL_X86
