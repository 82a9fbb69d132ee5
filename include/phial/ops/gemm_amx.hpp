// phial/ops/gemm_amx.hpp - the bf16 AMX prefill GEMM for quantized and 16-bit weights (Intel AMX-BF16:
// Sapphire Rapids and later).
//
//   Y(T, N) = X(T, K) · Wᵀ with X rounded to bf16 once per call and W dequantized (its own scales,
//   exactly) then rounded to bf16, a tile of rows at a time; the products are summed in f32 by
//   TDPBF16PS, which multiplies a 16×32 bf16 tile by a 32×16 one into a 16×16 f32 tile.
//
// Layouts (bf16 as uint16):
//   weight tile  (rows_p/16, K_p/32, 16, 32)  16 rows × 32 columns per 1 KiB tile: the A operand
//   activations  (T_p/16, K_p/2, 16, 2)       VNNI pairs: for 16 tokens, the pair (x[t][2p], x[t][2p+1])
//                                             sits in row p at word t; 16 rows (32 columns) per tile:
//                                             the B operand
//   C tile       (16 weight rows, 16 tokens) f32, transposed into Y when stored
// Every operand tile is 1 KiB contiguous, so tile loads stream.
// rows_p, T_p are rounded up to 32 and K_p to 32 with zeros, so tails cost padding, not code.
//
// Why bf16 and not int8 (TDPBSSD): a K=64 int8 tile step spans two 32-blocks with different scales,
// so every step would end in a store, a conversion and a scaled add per block. bf16 tiles accumulate
// in f32 over the whole row, and one kernel serves every weight type. Rounding: for quantized
// weights bf16 keeps 8 significant bits (relative error ≤ 2⁻⁹) on both operands, finer than the
// 8-bit blocks the int8 paths give the activations (golden whole-prompt deviation 0.8-1.3e-2 against
// 2.2-3.5e-2 for the int8 GEMM); 16-bit weights are split instead (below).
//
// 16-bit weights: f16 and bf16 keep their 1e-4 fidelity by splitting, not rounding. An f16 value
// is exactly hi + lo with hi = bf16(w), lo = bf16(w - hi) (11 significant bits fit in 8 + 8), and
// x = x_hi + x_lo within 2^-18·|x|; hi·x_hi + lo·x_hi + hi·x_lo then equals w·x within about 2^-17
// relative (lo·x_lo, ≤ 2^-18, is dropped). bf16 weights need only w·x_hi + w·x_lo. The weight tile
// holds [hi | lo] (f16) or [w] (bf16) and the activations [x_hi | x_lo], each part a column segment
// of pad32(K); each step of gemm_tile loads every part once and reuses it from its tile register for
// the products that need it: 8 tile loads for f16's 12 multiplies, 6 for bf16's 8. (Laid out as 3
// segments, [hi | lo | hi] against [x_hi | x_hi | x_lo], the loop loaded 12 tiles for 12 multiplies.)
// f32 weights keep sgemm.
//
// Linux grants a process AMX state only on request (arch_prctl ARCH_REQ_XCOMP_PERM); amx_usable()
// asks once and falls back (false) if refused. Included by matmul.hpp.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <phial/backend/cpu.hpp>
#include <phial/backend/simd.hpp>
#include <phial/config.hpp>
#include <phial/model/tensor.hpp>
#include <phial/ops/qdot.hpp>

#if PHIAL_X86 && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#  define PHIAL_HAS_AMX_KERNELS 1
#  include <immintrin.h>
#  include <sys/syscall.h>
#  include <unistd.h>
#else
#  define PHIAL_HAS_AMX_KERNELS 0
#endif

namespace phial::ops::detail::amx {

// K, tokens and rows are padded to this (two 16-wide tiles; 32 bf16 per tile row).
inline constexpr std::int64_t kPad = 32;
inline constexpr std::int64_t pad32(std::int64_t n) noexcept { return (n + kPad - 1) / kPad * kPad; }

// Column segments of pad32(K) in the weight tile ([hi | lo] for f16, else [w]) and in the
// activations ([x_hi | x_lo] for 16-bit weights, else [x]); see "16-bit weights" at the top.
inline int weight_parts(TensorType t) noexcept { return t == TensorType::F16 ? 2 : 1; }
inline int act_parts(TensorType t) noexcept { return t == TensorType::F16 || t == TensorType::BF16 ? 2 : 1; }

// The VNNI activation buffer's size in uint16 for T tokens of K, in `parts` parts.
inline std::size_t act_words(std::int64_t T, std::int64_t K, int parts = 1) noexcept {
  return static_cast<std::size_t>(pad32(T)) * static_cast<std::size_t>(parts * pad32(K));
}

#if PHIAL_HAS_AMX_KERNELS

// GCC 12's AVX-512 conversion intrinsics start from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports at -O2 in every caller; the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// True when this process may run AMX-BF16 (CPU, OS state, Linux permission, PHIAL_SIMD).
inline bool amx_usable() noexcept {
  static const bool usable = [] {
    const CpuFeatures& f = cpu_features();
    if (!(f.amx_tile && f.amx_bf16 && f.avx512f && f.avx512bw && f.avx512_bf16)) return false;
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return usable;
}

// 32 f32 -> 32 bf16 (64 bytes: one row of a weight tile), round to nearest even (NaN stays NaN).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void store_bf16_32(__m512 lo, __m512 hi,
                                                                                           std::uint16_t* dst) {
  const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);  // the second operand fills the low half
  std::memcpy(dst, &v, 64);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void to_bf16_32(const float* x,
                                                                                        std::uint16_t* y) {
  store_bf16_32(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16), y);
}

// 32 f32 -> hi = bf16(x) and lo = bf16(x - hi), 32 each: x = hi + lo within 2^-18·|x|.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void split_bf16_32(const float* x,
                                                                                          std::uint16_t* hi,
                                                                                          std::uint16_t* lo) {
  const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
  const __m512bh h = _mm512_cvtne2ps_pbh(x1, x0);
  __m512i hv;
  std::memcpy(&hv, &h, 64);
  // bf16 -> f32 is a 16-bit shift
  const __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hv)), 16));
  const __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hv, 1)), 16));
  const __m512bh l = _mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
  std::memcpy(hi, &h, 64);
  std::memcpy(lo, &l, 64);
}

// fn(s, p) for each 32-column chunk s of the n values at x, p pointing at its 32 floats; a partial
// last chunk is passed zero-padded, so every bf16 row this file writes ends padded to pad32(n).
template <class Fn>
inline void for_each_chunk32(const float* x, std::int64_t n, Fn&& fn) {
  const std::int64_t full = n / 32;
  for (std::int64_t s = 0; s < full; ++s) fn(s, x + 32 * s);
  if (32 * full < n) {
    alignas(64) float tmp[32] = {};
    std::memcpy(tmp, x + 32 * full, static_cast<std::size_t>(n - 32 * full) * sizeof(float));
    fn(full, static_cast<const float*>(tmp));
  }
}

// Tokens [t0, t1) (t0 a multiple of 16) of X (T, K) into the VNNI buffer `xb` (see the top), in
// `parts` column segments of pad32(K): [x] for 1, [x_hi | x_lo] for 2. Tokens in [T, pad32(T)) are
// zero. `row` is parts·pad32(K) words of scratch.
inline void pack_act(const float* X, std::int64_t T, std::int64_t K, int parts, std::int64_t t0, std::int64_t t1,
                     std::uint16_t* xb, std::uint16_t* row) {
  const std::int64_t Kp = pad32(K), Kx = parts * Kp;
  for (std::int64_t t = t0; t < t1; ++t) {
    if (t >= T) {
      std::fill(row, row + Kx, std::uint16_t{0});
    } else {
      std::uint16_t* lo = row + (parts - 1) * Kp;
      for_each_chunk32(X + t * K, K, [&](std::int64_t c, const float* x) {
        if (parts == 1)
          to_bf16_32(x, row + 32 * c);
        else
          split_bf16_32(x, row + 32 * c, lo + 32 * c);
      });
    }
    // (pair p of token t) -> group t/16, row p, word t%16
    std::uint32_t* dst = reinterpret_cast<std::uint32_t*>(xb) + (t / 16) * (Kx / 2) * 16 + (t % 16);
    const std::uint32_t* src = reinterpret_cast<const std::uint32_t*>(row);
    for (std::int64_t p = 0; p < Kx / 2; ++p) dst[p * 16] = src[p];
  }
}

struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

// 16 signed (unsigned) bytes -> 16 floats.
__attribute__((target("avx512f"))) inline __m512 i8_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
__attribute__((target("avx512f"))) inline __m512 u8_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

// Q4_0 and Q8_0 blocks and Q4_K and Q6_K sub-blocks are 32 columns, one tile row each: dequantized
// (d·(q - 8), d·q: exact in f32; d·sc·q - dmin·m as dequant_row computes it; (d·sc)·q, where d·sc is
// exact) and rounded straight into place, in one pass.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,f16c,avx2"))) inline bool pack_weight_row_fused(
    TensorType type, const std::byte* src, std::int64_t K, std::uint16_t* dst) {
  const std::int64_t steps = K / 32;
  if (type == TensorType::Q4_0 && K % 32 == 0) {
    const auto* b = reinterpret_cast<const kq4_0*>(src);
    const __m128i m4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    for (std::int64_t s = 0; s < steps; ++s) {
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[s].d));
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[s].qs));
      const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, m4), eight);                    // columns 0..15
      const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), eight);  // 16..31
      store_bf16_32(_mm512_mul_ps(d, i8_to_ps(lo)), _mm512_mul_ps(d, i8_to_ps(hi)), dst + s * 512);
    }
    return true;
  }
  if (type == TensorType::Q8_0 && K % 32 == 0) {
    const auto* b = reinterpret_cast<const kq8_0*>(src);
    for (std::int64_t s = 0; s < steps; ++s) {
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[s].d));
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[s].qs));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[s].qs + 16));
      store_bf16_32(_mm512_mul_ps(d, i8_to_ps(lo)), _mm512_mul_ps(d, i8_to_ps(hi)), dst + s * 512);
    }
    return true;
  }
  if (type == TensorType::Q4_K && K % 256 == 0) {  // 8 sub-blocks of 32 per block: d·sc·q - dmin·m
    const auto* b = reinterpret_cast<const kq4_K*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (std::int64_t i = 0; i < K / 256; ++i) {
      const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
      for (int p = 0; p < 4; ++p) {  // sub-blocks 2p (low nibbles) and 2p + 1 (high) share 32 bytes
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * p));
        const __m256i q[2] = {_mm256_and_si256(raw, m4), _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4)};
        for (int h = 0; h < 2; ++h) {
          std::uint8_t sc, mn;
          k_scale_min(2 * p + h, b[i].scales, sc, mn);
          const __m512 d1 = _mm512_set1_ps(d * sc), m1 = _mm512_set1_ps(dmin * mn);
          const __m512 lo = u8_to_ps(_mm256_castsi256_si128(q[h]));
          const __m512 hi = u8_to_ps(_mm256_extracti128_si256(q[h], 1));
          store_bf16_32(_mm512_sub_ps(_mm512_mul_ps(d1, lo), m1), _mm512_sub_ps(_mm512_mul_ps(d1, hi), m1),
                        dst + (8 * i + 2 * p + h) * 512);
        }
      }
    }
    return true;
  }
  if (type == TensorType::Q6_K && K % 256 == 0) {
    // Per half-block of 128 columns, avx2::unpack_q6_K_half gives the 6-bit values u (q = u - 32)
    // 32 columns per register; 16 columns per scale.
    const auto* b = reinterpret_cast<const kq6_K*>(src);
    const __m256i off = _mm256_set1_epi8(32);
    for (std::int64_t i = 0; i < K / 256; ++i) {
      const float d = _cvtsh_ss(b[i].d);
      for (int h = 0; h < 2; ++h) {
        __m256i u[4];
        avx2::unpack_q6_K_half(b[i].ql + 64 * h, b[i].qh + 32 * h, u);
        const std::int8_t* sc = b[i].scales + 8 * h;
        for (int j = 0; j < 4; ++j) {  // columns 32j..32j+31 of this half
          const __m256i q = _mm256_sub_epi8(u[j], off);
          const __m512 d0 = _mm512_set1_ps(d * static_cast<float>(sc[2 * j]));
          const __m512 d1 = _mm512_set1_ps(d * static_cast<float>(sc[2 * j + 1]));
          store_bf16_32(_mm512_mul_ps(d0, i8_to_ps(_mm256_castsi256_si128(q))),
                        _mm512_mul_ps(d1, i8_to_ps(_mm256_extracti128_si256(q, 1))), dst + (8 * i + 4 * h + j) * 512);
        }
      }
    }
    return true;
  }
  return false;
}

// Row r of a weight tile (`src`: K values of `type`) into its tiled bf16 layout `wb` (see
// gemm_tile), in weight_parts(type) segments. `row` is K floats of scratch.
inline void pack_weight_row(TensorType type, const std::byte* src, std::int64_t K, std::int64_t r, std::uint16_t* wb,
                            float* row) {
  const int parts = weight_parts(type);
  const std::int64_t steps = pad32(K) / 32;
  std::uint16_t* dst = wb + (r / 16) * parts * steps * 512 + (r % 16) * 32;
  if (parts == 1 && pack_weight_row_fused(type, src, K, dst)) return;
  for_each_chunk32(dequantize_rows_f32(type, src, 1, K, row), K, [&](std::int64_t s, const float* w) {
    if (parts == 1) {
      to_bf16_32(w, dst + s * 512);  // exact for bf16 weights
      return;
    }
    alignas(64) std::uint16_t hi[32], lo[32];
    split_bf16_32(w, hi, lo);  // exact for f16 weights
    std::memcpy(dst + s * 512, hi, 64);
    std::memcpy(dst + (steps + s) * 512, lo, 64);
  });
}

// Weight rows [nr, pad32(nr)) of `wb` (Kx = parts·pad32(K) columns) set to zero.
inline void zero_weight_rows(std::int64_t nr, std::int64_t Kx, std::uint16_t* wb) {
  const std::int64_t steps = Kx / 32;
  for (std::int64_t r = nr; r < pad32(nr); ++r)
    for (std::int64_t s = 0; s < steps; ++s) std::memset(wb + (r / 16) * steps * 512 + s * 512 + (r % 16) * 32, 0, 64);
}

// Bytes of bf16 activations a weight tile meets at a time (a chunk of tokens, the whole row): with
// the weight tile (kAmxTileBytes in matmul.hpp) it stays in the core's L2 (2 MiB on Sapphire
// Rapids). Each 2×2 step loads its four operand tiles from L2: on this VM a TDPBF16PS loop runs at
// ~1.0 TFLOP/s per core from L2 (2.4 with everything in L1, 0.45 from L3), and keeping the C tiles
// in registers over the whole row beats passes over L1-sized column chunks, whose C tiles must go
// through memory between passes (0.6-0.7 TFLOP/s, measured).
inline constexpr std::size_t kAmxTokenChunkBytes = std::size_t{384} << 10;
inline constexpr std::int64_t kAmxPrefetchSteps = 2;

// C tiles 0-3 += A tiles 4-5 · B tiles 6-7: two row groups × two token groups (C tile 2·i + j is
// row group i, token group j).
__attribute__((target("amx-tile,amx-bf16"), always_inline)) inline void tile_dp_2x2() {
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// Y[t][r] (r < nr, t < T, row stride ldy) for one weight tile against all tokens, the weights in WP
// column segments of Kp = pad32(K) and the activations in XP (see "16-bit weights" at the top):
//   wb   (pad32(nr)/16, WP·Kp/32, 16, 32) bf16: tile (g, s) is 16 rows × 32 columns, 1 KiB contiguous
//   xb   (pad32(T)/16, XP·Kp/32, 16, 32) bf16 (the VNNI pairs of pack_act, in the same tile order)
// Two row groups × two token groups per step: C tiles 0-3, A (weights) 4-5, B (tokens) 6-7.
//   WP 1, XP 1 (quantized):  C += w·x
//   WP 1, XP 2 (bf16):       C += w·x_hi; C += w·x_lo               (A loaded once)
//   WP 2, XP 2 (f16):        C += lo·x_hi; C += hi·x_hi; C += hi·x_lo (each part loaded once)
template <int WP, int XP>
__attribute__((target("amx-tile,amx-bf16,avx512f"))) inline void gemm_tile_parts(
    const std::uint16_t* wb, std::int64_t nr, const std::uint16_t* xb, std::int64_t T, std::int64_t Kp, float* Y,
    std::int64_t ldy) {
  static_assert((WP == 1 && XP == 1) || (WP == 1 && XP == 2) || (WP == 2 && XP == 2));
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
  __asm__ volatile("" ::: "memory");  // tile loads are asm without memory operands: finish wb/xb stores first
  const std::int64_t steps = Kp / 32, Gr = pad32(nr) / 16, Gt = pad32(T) / 16;
  const std::int64_t part = steps * 512;  // words from one segment's tile s to the next segment's
  const std::int64_t chunk =
      std::max<std::int64_t>(2, static_cast<std::int64_t>(kAmxTokenChunkBytes / (32 * static_cast<std::size_t>(XP * Kp))) / 2 * 2);  // token groups
  alignas(64) float c[4][16][16];
  for (std::int64_t gt0 = 0; gt0 < Gt; gt0 += chunk) {
    const std::int64_t gt1 = std::min(Gt, gt0 + chunk);
    for (std::int64_t gr = 0; gr < Gr; gr += 2) {
      const std::uint16_t* a0 = wb + gr * WP * part;
      const std::uint16_t* a1 = a0 + WP * part;
      for (std::int64_t gt = gt0; gt < gt1; gt += 2) {
        const std::uint16_t* b0 = xb + gt * XP * part;
        const std::uint16_t* b1 = b0 + XP * part;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (std::int64_t s = 0; s < steps; ++s) {
          // The tile loads come from L2 and the next load of a tile register waits for the multiply
          // that reads it: fetching two steps ahead into L1 hides that latency (0.79 -> 0.94
          // TFLOP/s on one core, 128 rows × 512 tokens × 3072).
          if (s + kAmxPrefetchSteps < steps) {
            const std::int64_t o = (s + kAmxPrefetchSteps) * 512;
            for (int l = 0; l < 512; l += 32) {  // 16 cache lines per 1 KiB tile
              for (int p = 0; p < WP; ++p) {
                _mm_prefetch(reinterpret_cast<const char*>(a0 + p * part + o + l), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(a1 + p * part + o + l), _MM_HINT_T0);
              }
              for (int p = 0; p < XP; ++p) {
                _mm_prefetch(reinterpret_cast<const char*>(b0 + p * part + o + l), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(b1 + p * part + o + l), _MM_HINT_T0);
              }
            }
          }
          const std::int64_t o = s * 512;
          if constexpr (WP == 2) {  // lo·x_hi first, so that hi stays loaded for both of its products
            _tile_loadd(6, b0 + o, 64);  // x_hi
            _tile_loadd(7, b1 + o, 64);
            _tile_loadd(4, a0 + part + o, 64);  // lo
            _tile_loadd(5, a1 + part + o, 64);
            tile_dp_2x2();
            _tile_loadd(4, a0 + o, 64);  // hi
            _tile_loadd(5, a1 + o, 64);
          } else {
            _tile_loadd(4, a0 + o, 64);  // w
            _tile_loadd(5, a1 + o, 64);
            _tile_loadd(6, b0 + o, 64);  // x, or x_hi
            _tile_loadd(7, b1 + o, 64);
          }
          tile_dp_2x2();
          if constexpr (XP == 2) {
            _tile_loadd(6, b0 + part + o, 64);  // x_lo
            _tile_loadd(7, b1 + part + o, 64);
            tile_dp_2x2();
          }
        }
        _tile_stored(0, c[0], 64);
        _tile_stored(1, c[1], 64);
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
        // c[2·i + j][r][t]: row 16·(gr + i) + r, token 16·(gt + j) + t
        for (int i = 0; i < 2; ++i) {
          const std::int64_t r_base = 16 * (gr + i);
          const int n = static_cast<int>(std::min<std::int64_t>(16, nr - r_base));
          for (int j = 0; j < 2; ++j)
            for (int t = 0; t < 16; ++t) {
              const std::int64_t tok = 16 * (gt + j) + t;
              if (tok >= T) break;
              float* y = Y + tok * ldy + r_base;
              for (int r = 0; r < n; ++r) y[r] = c[2 * i + j][r][t];
            }
        }
      }
    }
  }
  _tile_release();
}

// gemm_tile_parts for a weight type's parts.
inline void gemm_tile(TensorType type, const std::uint16_t* wb, std::int64_t nr, const std::uint16_t* xb,
                      std::int64_t T, std::int64_t Kp, float* Y, std::int64_t ldy) {
  if (weight_parts(type) == 2) return gemm_tile_parts<2, 2>(wb, nr, xb, T, Kp, Y, ldy);
  if (act_parts(type) == 2) return gemm_tile_parts<1, 2>(wb, nr, xb, T, Kp, Y, ldy);
  gemm_tile_parts<1, 1>(wb, nr, xb, T, Kp, Y, ldy);
}

#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif

#else

inline bool amx_usable() noexcept { return false; }

#endif  // PHIAL_HAS_AMX_KERNELS

}  // namespace phial::ops::detail::amx
