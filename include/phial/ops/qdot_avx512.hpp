// phial/ops/qdot_avx512.hpp - AVX-512 VNNI versions of the decode row kernels in ops/qdot.hpp.
//
// Included by qdot.hpp only; every function is compiled with PHIAL_TARGET_AVX512 and is only called
// after cpu_features().has_avx512_vnni(), except dot_q4_0_vbmi (PHIAL_TARGET_AVX512_VBMI, called at
// SimdLevel::avx512vbmi only). Types without a kernel here use the AVX2 one.
//
// Why: on Sapphire Rapids the AVX2 kernels for these types were compute bound: a q4_0 GEMV read
// 0.67-0.70 of the DRAM bandwidth, the f16 one (less arithmetic per byte) 0.87-0.89. A 512-bit
// register holds four q4_0 blocks or two q8_0 blocks, and vpdpbusd does the u8·i8 products, their
// pairwise sums and the int32 accumulation in one instruction (vpmaddubsw + vpmaddwd + vpaddd in
// AVX2); for the k-quants vpmaddubsw + vpdpwssd apply the sub-block scales as they accumulate.
//
// Not here: f16/bf16/f32. 512-bit FMA versions were no faster than the AVX2 ones (in L2 49.0 vs
// 51.6 GB/s on one core; F16 decode 3.97 vs 3.94 tok/s), so those keep their AVX2 kernels. The q8_0
// kernel here is slower than the AVX2 one in L2 (29.8 vs 32.1 GB/s) and bench-matmul's layer GEMV
// ranks them either way by a few percent, but end to end it decodes the Q8_0 file faster: tg32 on 2
// threads, alternating binaries, 7.44 / 7.52 / 7.30 against 6.75 / 6.87 / 6.84 tok/s.
//
// Weight blocks are read in their GGUF layout (no repacking: the weights stay memory-mapped); the
// activation side, quantized once per matmul and reused for every row, is laid out to match
// (ActQ8x4, ActQ8x2W, the q8k_q4_K order; see qdot.hpp).
#pragma once
#if PHIAL_X86

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -W(maybe-)uninitialized reports
// in every caller after inlining; the warning is about the header, not this code (as in gemm_amx.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace phial::ops::detail::avx512 {

// Software prefetch, as in the AVX2 kernels but further ahead: with less arithmetic between the
// loads, the AVX2 kernels' 1 KiB left DRAM idle. Median GB/s on 2 threads (Sapphire Rapids VM,
// weights in 2 MiB pages; q6_K / q4_0 / q4_K; 16384 x 3072 matrices, then 3072 x 8192):
//   1 KiB    26.1 / 27.9 / 27.8    26.0 / 24.3 / 24.9
//   1.5 KiB  28.1 / 28.1 / 28.3    27.9 / 23.6 / 26.8
//   2 KiB    26.9 / 27.9 / 28.4    23.3 / 25.2 / 26.9
// (prefetching to L2 only, 2 or 4 KiB ahead, was no better). In 4 KiB pages 2 KiB beat 1 KiB by 8-13 %.
// The q8_0 kernel, with the most bytes per instruction, goes 2 KiB ahead: end to end (Q8_0 file, tg32,
// 2 threads, alternating binaries) 7.44 / 7.27 against 7.19 / 7.16 tok/s at 1.5 KiB; at 2 KiB the
// Q4_K_M file (its q6_K tensors) went the other way, 10.72 / 10.55 against 10.91 / 10.73.
// These distances are for the L1 stream; the helper also prefetches into L2 4 KiB ahead, which is
// worth 10-16 % on two threads (avx2::prefetch_ahead). With it, a 1 KiB L1 distance was 1-2 % worse
// on the Q8_0 file and no better on the Q4_0 one.
inline constexpr std::size_t kPrefetchBytes = 1536;
inline constexpr std::size_t kPrefetchBytesQ8 = 2048;
using avx2::prefetch_ahead;  // called here with these distances

// ---- activation quantization ------------------------------------------------------------------

// (q4_0's ActQ8x4 comes from avx2::quantize_act_q8xn_q4_0<4>, shared with the AVX2 layout.)

PHIAL_TARGET_AVX512 static inline void quantize_act_q8x2w_q8_0(const float* x, ActQ8x2W* y, std::int64_t K) {
  const std::int64_t nb = K / 32;
  for (std::int64_t b = 0; b < nb; ++b, x += 32) {
    float d;
    int sum;
    const __m256i q = avx2::quantize_block_32(x, d, sum);
    ActQ8x2W& p = y[b / 2];
    const int h = static_cast<int>(b % 2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.qs + 32 * h), q);
    _mm256_storeu_ps(p.d + 8 * h, _mm256_set1_ps(d));
    _mm256_storeu_ps(p.z + 8 * h, _mm256_set1_ps(-16.0f * d * static_cast<float>(sum)));  // -128·d·Σq / 8 lanes
  }
  if (nb % 2 != 0) {
    ActQ8x2W& p = y[nb / 2];
    std::memset(p.qs + 32, 0, 32);
    std::memset(p.d + 8, 0, 8 * sizeof(float));
    std::memset(p.z + 8, 0, 8 * sizeof(float));
  }
}

// ActQ8K, then each 128 activations reordered to x[0..31], x[64..95], x[32..63], x[96..127].
PHIAL_TARGET_AVX512 static inline void quantize_act_q8k_q4_K(const float* x, ActQ8K* y, std::int64_t K) {
  avx2::quantize_act_q8k(x, y, K);
  for (std::int64_t b = 0; b < K / 256; ++b)
    for (int h = 0; h < 2; ++h) {
      __m256i* q = reinterpret_cast<__m256i*>(y[b].qs + 128 * h);
      const __m256i x1 = _mm256_loadu_si256(q + 1), x2 = _mm256_loadu_si256(q + 2);
      _mm256_storeu_si256(q + 1, x2);
      _mm256_storeu_si256(q + 2, x1);
    }
}

// ---- q4_0 against ActQ8x4 ---------------------------------------------------------------------
// Four blocks are 72 bytes: d at byte 18i, nibbles at 18i+2..18i+17. Two loads, A = bytes 0..63 and
// B = bytes 8..71, hold them all at even offsets, so one two-source word permute gathers the four
// nibble runs into the four 128-bit lanes and another puts each block's f16 scale in its four lanes.
alignas(64) inline constexpr std::uint16_t kQ4_0NibbleWords[32] = {
    1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,   // A: blocks 0 and 1
    19, 20, 21, 22, 23, 24, 25, 26, 56, 57, 58, 59, 60, 61, 62, 63};  // A: block 2; B (32+): block 3
alignas(64) inline constexpr std::uint16_t kQ4_0ScaleWords[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27};

PHIAL_TARGET_AVX512 static inline __m512 q4_0_group(__m512i A, __m512i B, const ActQ8x4& x, __m512i nib_idx,
                                                    __m512i scale_idx, __m512 acc) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i q = _mm512_permutex2var_epi16(A, nib_idx, B);
  const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(scale_idx, A)));
  const __m512i lo = _mm512_and_si512(q, m4);
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(x.lo));
  s = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512(x.hi));
  // d_x·Σ u·q - 8·d_x·Σq per lane, then times d_w
  const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(x.d), _mm512_loadu_ps(x.z));
  return _mm512_fmadd_ps(dw, f, acc);
}

PHIAL_TARGET_AVX512 static inline float dot_q4_0(const std::byte* row, const void* act, std::int64_t K) {
  constexpr std::int64_t kG = 4 * static_cast<std::int64_t>(sizeof(kq4_0));  // 72 bytes
  const ActQ8x4* a = static_cast<const ActQ8x4*>(act);
  const __m512i nib_idx = _mm512_load_si512(kQ4_0NibbleWords);
  const __m512i scale_idx = _mm512_load_si512(kQ4_0ScaleWords);
  const std::int64_t nb = K / 32, ng = nb / 4;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
  std::int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    const std::byte* w = row + g * kG;
    prefetch_ahead<kPrefetchBytes>(w, 2 * kG);
    acc0 = q4_0_group(_mm512_loadu_si512(w), _mm512_loadu_si512(w + 8), a[g], nib_idx, scale_idx, acc0);
    acc1 = q4_0_group(_mm512_loadu_si512(w + kG), _mm512_loadu_si512(w + kG + 8), a[g + 1], nib_idx, scale_idx, acc1);
  }
  for (; g < ng; ++g) {
    const std::byte* w = row + g * kG;
    acc0 = q4_0_group(_mm512_loadu_si512(w), _mm512_loadu_si512(w + 8), a[g], nib_idx, scale_idx, acc0);
  }
  if (const std::int64_t rem = nb - 4 * ng; rem > 0) {
    // 1-3 blocks left (18·rem bytes, all within A): a masked load reads only those (and faults on
    // nothing past them); the zeroed rest meets the zero activations of the missing blocks.
    const __mmask32 ma = (1u << (9 * rem)) - 1;
    acc0 = q4_0_group(_mm512_maskz_loadu_epi16(ma, row + ng * kG), _mm512_setzero_si512(), a[ng], nib_idx,
                      scale_idx, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// ---- q4_0 against ActQ8x4, with VBMI and GFNI ------------------------------------------------
// The same arithmetic with fewer uops on the vector ports, which bound this kernel on one core:
//  - one masked byte permute (vpermb, merging into B) gathers the nibbles where the two-source word
//    permute took three uops: blocks 0-2 come from A, and block 3's nibbles (bytes 56..71) already
//    sit in B's last lane (B = bytes 8..71);
//  - a byte permute puts the scales in place (vpermw: two uops);
//  - one GFNI affine transform shifts the high nibbles down with zero fill (srli + and: two).
// In L2 on one Sapphire Rapids core (256 rows x 3072): 29.1 GB/s before, 33.0 with the byte permutes,
// 35.5 with GFNI too; the results are bit-identical to dot_q4_0's. Streaming from DRAM the gain mostly
// goes: the Q4_0 file's layer GEMVs ran at ~14.5 GB/s on one core either way (the prefetch distance
// made no difference either, 1-3 KiB), and decode on 2 threads went from 11.39-11.47 to 11.51-11.89
// tok/s (alternating runs). It pays where decode is compute bound: faster cores per byte of
// bandwidth, weights in cache, several tokens per GEMV.
alignas(64) inline constexpr std::uint8_t kQ4_0NibbleBytes[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,   // block 0
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,   // block 1
    38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53};  // block 2; lane 3 kept from B
alignas(64) inline constexpr std::uint8_t kQ4_0ScaleBytes[64] = {
    0,  1,  0,  1,  0,  1,  0,  1,  18, 19, 18, 19, 18, 19, 18, 19,
    36, 37, 36, 37, 36, 37, 36, 37, 54, 55, 54, 55, 54, 55, 54, 55};
inline constexpr __mmask64 kQ4_0Lanes012 = 0x0000FFFFFFFFFFFFull;
// GF(2) affine matrix for x >> 4 on each byte: result bit i is bit i+4 of x (i < 4), else 0. Row i
// of the matrix is byte 7-i of the qword.
inline constexpr long long kShiftRight4Bytes = 0x1020408000000000ll;

PHIAL_TARGET_AVX512_VBMI static inline __m512 q4_0_group_vbmi(__m512i A, __m512i B, const ActQ8x4& x,
                                                              __m512i nib_idx, __m512i scale_idx, __m512 acc) {
  const __m512i q = _mm512_mask_permutexvar_epi8(B, kQ4_0Lanes012, nib_idx, A);
  const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi8(scale_idx, A)));
  const __m512i lo = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
  const __m512i hi = _mm512_gf2p8affine_epi64_epi8(q, _mm512_set1_epi64(kShiftRight4Bytes), 0);
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(x.lo));
  s = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512(x.hi));
  const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(x.d), _mm512_loadu_ps(x.z));
  return _mm512_fmadd_ps(dw, f, acc);
}

// dot_q4_0's loop, repeated rather than shared as a template over the group function: the loop must
// carry each group's target attribute (GCC does not inline a callee with more ISA than its caller),
// and attributes cannot be template parameters.
PHIAL_TARGET_AVX512_VBMI static inline float dot_q4_0_vbmi(const std::byte* row, const void* act, std::int64_t K) {
  constexpr std::int64_t kG = 4 * static_cast<std::int64_t>(sizeof(kq4_0));  // 72 bytes
  const ActQ8x4* a = static_cast<const ActQ8x4*>(act);
  const __m512i nib_idx = _mm512_load_si512(kQ4_0NibbleBytes);
  const __m512i scale_idx = _mm512_load_si512(kQ4_0ScaleBytes);
  const std::int64_t nb = K / 32, ng = nb / 4;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
  std::int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    const std::byte* w = row + g * kG;
    prefetch_ahead<kPrefetchBytes>(w, 2 * kG);
    acc0 = q4_0_group_vbmi(_mm512_loadu_si512(w), _mm512_loadu_si512(w + 8), a[g], nib_idx, scale_idx, acc0);
    acc1 = q4_0_group_vbmi(_mm512_loadu_si512(w + kG), _mm512_loadu_si512(w + kG + 8), a[g + 1], nib_idx,
                           scale_idx, acc1);
  }
  for (; g < ng; ++g) {
    const std::byte* w = row + g * kG;
    acc0 = q4_0_group_vbmi(_mm512_loadu_si512(w), _mm512_loadu_si512(w + 8), a[g], nib_idx, scale_idx, acc0);
  }
  if (const std::int64_t rem = nb - 4 * ng; rem > 0) {
    // As in dot_q4_0: 1-3 blocks by a masked load; B = 0 makes lane 3 (block 3) zero.
    const __mmask32 ma = (1u << (9 * rem)) - 1;
    acc0 = q4_0_group_vbmi(_mm512_maskz_loadu_epi16(ma, row + ng * kG), _mm512_setzero_si512(), a[ng], nib_idx,
                           scale_idx, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// ---- q8_0 against ActQ8x2W --------------------------------------------------------------------
// Four blocks are 136 bytes, d at byte 34i. Their scales come from two loads (bytes 0..63 and
// 68..131: words 0 and 17 of each) by one word permute, eight lanes per block.
alignas(64) inline constexpr std::uint16_t kQ8_0ScaleWords[32] = {
    0,  0,  0,  0,  0,  0,  0,  0,  17, 17, 17, 17, 17, 17, 17, 17,
    32, 32, 32, 32, 32, 32, 32, 32, 49, 49, 49, 49, 49, 49, 49, 49};

// Blocks 2g and 2g+1 with their 32 int8 weights each in one register (`q`) and d_w per lane in dw.
PHIAL_TARGET_AVX512 static inline __m512 q8_0_pair(__m512i q, __m512 dw, const ActQ8x2W& x, __m512 acc) {
  const __m512i u = _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));  // w + 128
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_loadu_si512(x.qs));
  const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(x.d), _mm512_loadu_ps(x.z));
  return _mm512_fmadd_ps(dw, f, acc);
}

PHIAL_TARGET_AVX512 static inline __m512i q8_0_weights(const kq8_0* b0, const kq8_0* b1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0->qs))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1->qs)), 1);
}

PHIAL_TARGET_AVX512 static inline float dot_q8_0(const std::byte* row, const void* act, std::int64_t K) {
  const kq8_0* w = reinterpret_cast<const kq8_0*>(row);
  const ActQ8x2W* a = static_cast<const ActQ8x2W*>(act);
  const __m512i scale_idx = _mm512_load_si512(kQ8_0ScaleWords);
  const std::int64_t nb = K / 32;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
  std::int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const std::byte* p = reinterpret_cast<const std::byte*>(w + b);
    prefetch_ahead<kPrefetchBytesQ8>(p, 4 * sizeof(kq8_0));
    const __m512i dd = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), scale_idx, _mm512_loadu_si512(p + 68));
    const __m512 dw01 = _mm512_cvtph_ps(_mm512_castsi512_si256(dd));
    const __m512 dw23 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dd, 1));
    acc0 = q8_0_pair(q8_0_weights(w + b, w + b + 1), dw01, a[b / 2], acc0);
    acc1 = q8_0_pair(q8_0_weights(w + b + 2, w + b + 3), dw23, a[b / 2 + 1], acc1);
  }
  for (; b < nb; b += 2) {  // 1-3 blocks left; a lone last block meets zero activations
    const bool two = b + 1 < nb;
    const __m512i q = two ? q8_0_weights(w + b, w + b + 1)
                          : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs)));
    const __m512 dw = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(avx2::half(w[b].d)),
                                           _mm512_set1_ps(two ? avx2::half(w[b + 1].d) : 0.0f));
    // A lone block's upper half is zeroed (the cast leaves it undefined); its activations and scale
    // are zero too, so it adds nothing.
    acc0 = q8_0_pair(two ? q : _mm512_maskz_mov_epi32(0x00FF, q), dw, a[b / 2], acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// ---- k-quants against ActQ8K --------------------------------------------------------------------
// The sub-block scales multiply int16 pair sums (vpmaddubsw u·q) inside vpdpwssd, which also
// accumulates: 2 instructions per 64 weights, scales included.

// Word indices broadcasting sub-block scales over 256-bit halves: 64 nibble bytes hold sub-blocks
// (0, 2) in their low nibbles and (1, 3) in their high ones; the next 64 bytes (4, 6) and (5, 7).
alignas(64) inline constexpr std::uint16_t kQ4_KScaleWords[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6},
    {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};

// Q4_K: d·Σ_j sc_j·Σ u·q - dmin·Σ_j m_j·Σq, activations in the q8k_q4_K order.
PHIAL_TARGET_AVX512 static inline float dot_q4_K(const std::byte* row, const void* act, std::int64_t K) {
  const kq4_K* w = reinterpret_cast<const kq4_K*>(row);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const std::int64_t nb = K / 256;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i si0 = _mm512_load_si512(kQ4_KScaleWords[0]), si1 = _mm512_load_si512(kQ4_KScaleWords[1]);
  const __m512i si2 = _mm512_load_si512(kQ4_KScaleWords[2]), si3 = _mm512_load_si512(kQ4_KScaleWords[3]);
  __m512 acc = _mm512_setzero_ps();
  __m128 macc = _mm_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<kPrefetchBytes>(reinterpret_cast<const std::byte*>(w + b), sizeof(kq4_K));
    const __m128i sm = avx2::k_scales_mins(w[b].scales);
    // Σ_j m_j · (Σq over sub-block j): bsums of 16 -> sums of 32 by a horizontal add.
    const __m128i bs_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums));
    const __m128i bs_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums + 8));
    const __m128i prod = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), _mm_hadd_epi16(bs_lo, bs_hi));
    const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));  // words 0..7
    const __m512i q0 = _mm512_loadu_si512(w[b].qs), q1 = _mm512_loadu_si512(w[b].qs + 64);
    const std::int8_t* x = a[b].qs;
    __m512i sumi = _mm512_dpwssd_epi32(
        _mm512_setzero_si512(), _mm512_maddubs_epi16(_mm512_and_si512(q0, m4), _mm512_loadu_si512(x)),
        _mm512_permutexvar_epi16(si0, sc));
    sumi = _mm512_dpwssd_epi32(
        sumi, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q0, 4), m4), _mm512_loadu_si512(x + 64)),
        _mm512_permutexvar_epi16(si1, sc));
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(_mm512_and_si512(q1, m4), _mm512_loadu_si512(x + 128)),
                               _mm512_permutexvar_epi16(si2, sc));
    sumi = _mm512_dpwssd_epi32(
        sumi, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q1, 4), m4), _mm512_loadu_si512(x + 192)),
        _mm512_permutexvar_epi16(si3, sc));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(avx2::half(w[b].d) * a[b].d), _mm512_cvtepi32_ps(sumi), acc);
    macc = _mm_fmadd_ps(_mm_set1_ps(avx2::half(w[b].dmin) * a[b].d), _mm_cvtepi32_ps(prod), macc);
  }
  __m128 m = _mm_add_ps(macc, _mm_movehl_ps(macc, macc));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(m);
}

// Dword indices broadcasting the Q6_K group scales (one group of 16 per 128-bit lane): for half h,
// the low-nibble register holds groups 8h..8h+3 and the high-nibble one 8h+4..8h+7.
alignas(64) inline constexpr std::uint32_t kQ6_KScaleDwords[4][16] = {
    {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
    {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};

// One Q6_K half-block (128 weights): ql's 64 bytes hold elements 0..63 in their low nibbles and
// 64..127 in their high ones; qh's 32 bytes give bits 4-5 of element l (shift 4), l+32 (2), l+64 (0)
// and l+96 (-2). With qh in both 256-bit halves, a per-half variable shift and a mask place them.
PHIAL_TARGET_AVX512 static inline __m512i q6_K_half(const std::uint8_t* ql, const std::uint8_t* qh, const std::int8_t* x,
                                                    __m512i sc_lo, __m512i sc_hi, __m512i sumi) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i l = _mm512_loadu_si512(ql);
  const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)));
  // (a & m4) | b as one ternary-logic instruction (0xEA)
  const __m512i u_lo = _mm512_ternarylogic_epi32(l, m4, _mm512_and_si512(_mm512_sllv_epi16(h, shl), m30), 0xEA);
  const __m512i u_hi =
      _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), m4, _mm512_and_si512(_mm512_srlv_epi16(h, shr), m30), 0xEA);
  sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(u_lo, _mm512_loadu_si512(x)), sc_lo);
  return _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(u_hi, _mm512_loadu_si512(x + 64)), sc_hi);
}

// Q6_K: d·Σ_g sc_g·Σ (u - 32)·q over 16 groups of 16 = d·(Σ_g sc_g Σ u·q - 32·Σ_g sc_g·bsum_g).
PHIAL_TARGET_AVX512 static inline float dot_q6_K(const std::byte* row, const void* act, std::int64_t K) {
  const kq6_K* w = reinterpret_cast<const kq6_K*>(row);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const std::int64_t nb = K / 256;
  const __m512i si0 = _mm512_load_si512(kQ6_KScaleDwords[0]), si1 = _mm512_load_si512(kQ6_KScaleDwords[1]);
  const __m512i si2 = _mm512_load_si512(kQ6_KScaleDwords[2]), si3 = _mm512_load_si512(kQ6_KScaleDwords[3]);
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<kPrefetchBytes>(reinterpret_cast<const std::byte*>(w + b), sizeof(kq6_K));
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    // Each scale in both words of its dword, for vpdpwssd's word pairs.
    const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
    const __m512i scw = _mm512_or_si512(_mm512_and_si512(sc32, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(sc32, 16));
    __m512i sumi = q6_K_half(w[b].ql, w[b].qh, a[b].qs, _mm512_permutexvar_epi32(si0, scw),
                             _mm512_permutexvar_epi32(si1, scw), _mm512_setzero_si512());
    sumi = q6_K_half(w[b].ql + 64, w[b].qh + 32, a[b].qs + 128, _mm512_permutexvar_epi32(si2, scw),
                     _mm512_permutexvar_epi32(si3, scw), sumi);
    // - 32·Σ_g sc_g·bsum_g
    const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8),
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums)));
    sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(avx2::half(w[b].d) * a[b].d), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

}  // namespace phial::ops::detail::avx512

#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif

#endif  // PHIAL_X86
