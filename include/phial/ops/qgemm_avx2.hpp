// phial/ops/qgemm_avx2.hpp - the int8 prefill GEMM for Q4_0, Q4_1, Q4_K and Q6_K weights, AVX2.
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
#include <type_traits>

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

// Q6_K's 8 rows × 32 columns: w(row i, column c) = d[i]·sc[h][2i]·v with v = q - 32 in [-32, 32)
// and h = c / 16 (the sub-block of 16 within the 32-block). q[s] as in RowBlock8. The activations
// come as unsigned bytes q_x + 128 (see qgemm6_tile), so the kernel's integer sum is
// Σ sc·v·q_x + 128·Σ sc·v; `c` holds -128·Σ sc·v per row and starts the sum.
struct alignas(32) RowBlock8Q6 {
  std::int8_t q[8][32];
  std::int16_t sc[2][16];  // words 2i and 2i+1 both hold row i's scale
  std::int32_t c[8];
  float d[8];
};
static_assert(sizeof(RowBlock8Q6) == 384);

// Weight types the int8 GEMM handles. 4-bit ones: unsigned values with a scale and an offset per
// row and 32-column block (Q4_K's 6-bit sub-block scales and mins fold into those floats exactly as
// its dequantization computes them). Q6_K: signed 6-bit values and integer sub-block scales.
inline bool int8_gemm_supports(TensorType t) noexcept {
  return t == TensorType::Q4_0 || t == TensorType::Q4_1 || t == TensorType::Q4_K || t == TensorType::Q6_K;
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

// 8×8 transpose of 4-byte groups: row i's group s (columns 4s..4s+3) -> step s, lane i; stored to
// q[8][32] (32-byte aligned).
PHIAL_TARGET_AVX2 static inline void transpose_store8(const __m256i r[8], void* q) {
  auto* out = static_cast<__m256i*>(q);
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
    _mm256_store_si256(out + s, _mm256_permute2x128_si256(u[s], u[s + 4], 0x20));
    _mm256_store_si256(out + s + 4, _mm256_permute2x128_si256(u[s], u[s + 4], 0x31));
  }
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
    transpose_store8(r, o.q);
  }
}

// ActQ8 blocks in place: q -> q + 128 as unsigned bytes (the Q6_K kernel's activation form).
PHIAL_TARGET_AVX2 static inline void act_q8_to_unsigned(ActQ8* x, std::int64_t n) {
  const __m256i sign = _mm256_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t i = 0; i < n; ++i) {
    auto* p = reinterpret_cast<__m256i*>(x[i].qs);
    _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), sign));
  }
}

// Repacks `nr` (1..8) rows of Q6_K, K columns, into K/32 RowBlock8Q6s; missing rows are zero.
PHIAL_TARGET_AVX2 static inline void repack_rows8_q6(const std::byte* rows, std::size_t stride, int nr, std::int64_t K,
                                                     RowBlock8Q6* out) {
  const __m256i k32 = _mm256_set1_epi8(32), ones8 = _mm256_set1_epi8(1);
  for (std::int64_t sb = 0; sb < K / 256; ++sb) {
    for (int h = 0; h < 2; ++h) {  // the two halves of 128 values
      __m256i v[4][8];             // (32-block k of this half, row i): 32 values q - 32
      std::int8_t sc[8][8] = {};   // (row, sub-block of this half)
      float d[8] = {};
      for (int i = 0; i < 8; ++i) {
        if (i < nr) {
          const auto* blk = reinterpret_cast<const kq6_K*>(rows + static_cast<std::size_t>(i) * stride) + sb;
          __m256i u[4];
          unpack_q6_K_half(blk->ql + 64 * h, blk->qh + 32 * h, u);
          for (int k = 0; k < 4; ++k) v[k][i] = _mm256_sub_epi8(u[k], k32);
          std::memcpy(sc[i], blk->scales + 8 * h, 8);
          d[i] = half(blk->d);
        } else {
          for (int k = 0; k < 4; ++k) v[k][i] = _mm256_setzero_si256();
        }
      }
      for (int k = 0; k < 4; ++k) {
        RowBlock8Q6& o = out[8 * sb + 4 * h + k];
        transpose_store8(v[k], o.q);
        for (int i = 0; i < 8; ++i) {
          o.sc[0][2 * i] = o.sc[0][2 * i + 1] = sc[i][2 * k];
          o.sc[1][2 * i] = o.sc[1][2 * i + 1] = sc[i][2 * k + 1];
          o.d[i] = d[i];
        }
        // c = -128·Σ sc·v per row, from the repacked steps (lanes are rows).
        __m256i sum = _mm256_setzero_si256();
        for (int st = 0; st < 8; ++st) {
          const __m256i pairs = _mm256_maddubs_epi16(ones8, _mm256_load_si256(reinterpret_cast<const __m256i*>(o.q[st])));
          const __m256i scv = _mm256_load_si256(reinterpret_cast<const __m256i*>(o.sc[st / 4]));
          sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, scv));
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(o.c), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 7)));
      }
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

// Q6_K: Y for RG groups of 8 rows × TT tokens over nb blocks, out as in qgemm_tile. The token's
// ActQ8 bytes hold q_x + 128 (unsigned, 1..255) so that maddubs can take the signed weights
// v = q - 32: a pair of products is at most 2·255·32 = 16320 in magnitude and int16 holds two steps
// (32640). Every two steps the int16 sums widen through madd with the sub-block scales, into int32
// sums that start at c = -128·Σ sc·v and so end exact: Σ sc·v·q_x.
template <int RG, int TT>
PHIAL_TARGET_AVX2 static void qgemm6_tile(const RowBlock8Q6* const* w, const ActQ8* x, std::int64_t nb, float* out) {
  for (int i = 0; i < RG * TT * 8; ++i) out[i] = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    __m256i acc[RG][TT];
    for (int g = 0; g < RG; ++g) {
      const __m256i c = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[g][b].c));
      for (int t = 0; t < TT; ++t) acc[g][t] = c;
    }
#pragma GCC unroll 4
    for (int s = 0; s < 8; s += 2) {
      __m256i wa[RG], wb[RG], sc[RG];
      for (int g = 0; g < RG; ++g) {
        wa[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[g][b].q[s]));
        wb[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[g][b].q[s + 1]));
        sc[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[g][b].sc[s / 4]));
      }
      for (int t = 0; t < TT; ++t) {
        std::int32_t fa, fb;
        std::memcpy(&fa, x[t * nb + b].qs + 4 * s, 4);
        std::memcpy(&fb, x[t * nb + b].qs + 4 * s + 4, 4);
        const __m256i xa = _mm256_set1_epi32(fa), xb = _mm256_set1_epi32(fb);
        for (int g = 0; g < RG; ++g) {
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(xa, wa[g]), _mm256_maddubs_epi16(xb, wb[g]));
          acc[g][t] = _mm256_add_epi32(acc[g][t], _mm256_madd_epi16(p, sc[g]));
        }
      }
    }
    for (int t = 0; t < TT; ++t) {
      const __m256 dx = _mm256_set1_ps(x[t * nb + b].d);
      for (int g = 0; g < RG; ++g) {
        float* o = out + (t * RG + g) * 8;
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[g][t]), dx);
        _mm256_store_ps(o, _mm256_fmadd_ps(_mm256_load_ps(w[g][b].d), f, _mm256_load_ps(o)));
      }
    }
    __asm__ volatile("" : : "r"(out) : "memory");  // the accumulators stay in memory
  }
}

// One tile of either block kind.
template <int RG, int TT, class Block>
PHIAL_TARGET_AVX2 static inline void qgemm_tile_any(const Block* const* w, const ActQ8* x, std::int64_t nb, float* out) {
  if constexpr (std::is_same_v<Block, RowBlock8Q6>) qgemm6_tile<RG, TT>(w, x, nb, out);
  else qgemm_tile<RG, TT>(w, x, nb, out);
}

// qgemm_tile<RG, tt> for a run-time tt in 1..TT.
template <int RG, int TT, class Block>
PHIAL_TARGET_AVX2 static inline void qgemm_tile_tt(int tt, const Block* const* w, const ActQ8* x, std::int64_t nb,
                                                   float* out) {
  if constexpr (TT > 1) {
    if (tt < TT) return qgemm_tile_tt<RG, TT - 1>(tt, w, x, nb, out);
  }
  qgemm_tile_any<RG, TT>(w, x, nb, out);
}

// Y[:, r0 : r0 + nr] for rows already repacked into ceil(nr / 8) groups of nb Blocks each
// (`packed`, group-major). x: (n_tokens, nb) ActQ8s; Y row-major with leading dimension ldy.
template <class Block>
PHIAL_TARGET_AVX2 static inline void qgemm_rows(const Block* packed, std::int64_t nr, const ActQ8* x,
                                                std::int64_t n_tokens, std::int64_t nb, float* Y, std::int64_t ldy) {
  // 4-bit: 16 rows × 6 tokens: 12 int16 sums + 2 weight steps + 1 activation broadcast + 1 constant
  // = 16 registers. One Zen 3 core, 1032 rows × 3072 × 256 tokens, ratio to sgemm in the same
  // run (two runs): 2×4 1.91/1.98, 2×5 2.08/2.07, 2×6 2.00/2.13, 3×4 2.02/1.83, 1×8 1.99/1.85.
  // Q6_K: 16 rows × 3 tokens (6 int32 sums, 4 weight steps, 2 scales, 2 broadcasts, temporaries).
  // One core, 512 × 3072 · (8192 × 3072)ᵀ, GFLOP/s in alternating runs: 2×3 138/143/147,
  // 2×4 142/128/142, 1×6 136/139/113, 1×8 135/125/125; on two threads 2×3 and 2×4 led 1×6.
  constexpr bool kQ6 = std::is_same_v<Block, RowBlock8Q6>;
  constexpr int kRG = 2, kTT = kQ6 ? 3 : 6;
  const std::int64_t groups = (nr + 7) / 8;
  alignas(32) float out[kRG * kTT * 8];
  for (std::int64_t g = 0; g < groups; g += kRG) {
    const int rg = static_cast<int>(std::min<std::int64_t>(kRG, groups - g));
    const Block* wg[kRG];
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
