// phial/ops/qdot_avx2.hpp - AVX2/FMA/F16C versions of the row kernels in ops/qdot.hpp.
//
// Included by qdot.hpp only; every function is compiled with target("avx2,fma,f16c") and is only
// called after cpu_features() reported those extensions, so the baseline build stays x86-64.
//
// Integer dot products: a weight block is unpacked to unsigned bytes u (0..15, 0..31 or 0..63) and
// multiplied with the signed int8 activations by _mm256_maddubs_epi16 (pairs -> int16, no overflow
// for u <= 63, |x| <= 127), widened with _mm256_madd_epi16 (by 1 or by the sub-block scale), and
// the weight's zero point (8, 16, 32 or the q*_1 min) is applied with the activation block sums.
#pragma once
#if PHIAL_X86

namespace phial::ops::detail::avx2 {

using phial::detail::avx2::hsum_ps;

PHIAL_TARGET_AVX2 static inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

PHIAL_TARGET_AVX2 static inline float half(std::uint16_t h) { return _cvtsh_ss(h); }

// Sum over pairs of u8*i8 products, widened to 8 x int32.
PHIAL_TARGET_AVX2 static inline __m256i dot_u8_i8(__m256i u, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}

// 16 packed nibbles -> 32 bytes: low nibbles (elements 0..15) then high nibbles (16..31).
PHIAL_TARGET_AVX2 static inline __m256i unpack_nibbles_32(const std::uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes holding 0x10 where the bit is set (the 5th bit of q5 weights).
PHIAL_TARGET_AVX2 static inline __m256i fifth_bits_32(const std::uint8_t* qh_bytes) {
  std::uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), shuf);
  const __m256i mask = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Software prefetch, two streams ahead of the weights, one instruction each per cache line of the `n`
// bytes the caller is about to read: into L1 kPrefetchBytes ahead, and into L2 kPrefetchFarBytes
// ahead. The rows of a matrix are contiguous, so running past a row's end fetches the next row (a
// prefetch never faults). The L1 stream alone is limited by the core's 16 L1 fill buffers; the L2
// stream keeps more lines in flight through L2's own miss queue. A plain sum over 4 GB on the
// Sapphire Rapids VM: 18.4 GB/s on one core with the L1 stream only (2 KiB), 19.0 with both (1 + 4
// KiB); 35.1 and 36.7 on two. Through the decode GEMVs of a Phi-4-mini file, median GB/s on two
// threads, L1 stream only -> both: q8_0 30.7 -> 33.6, q4_0 27.5 -> 31.6, Q4_K_M file 27.6 -> 31.4,
// f16 31.1 -> 35.6; on one thread q8_0 14.7 -> 16.8 and q4_0 13.9 -> 16.1. The L2 distance: 3 KiB
// was 2-4 % worse, 6 KiB worse on the Q4_K_M file, 8 KiB worse everywhere.
// (The AVX-512 kernels use the same helper at their own L1 distances.)
inline constexpr std::size_t kPrefetchBytes = 1024;
inline constexpr std::size_t kPrefetchFarBytes = 4096;
template <std::size_t Distance = kPrefetchBytes>
PHIAL_TARGET_AVX2 static inline void prefetch_ahead(const std::byte* p, std::size_t n) {
  static_assert(Distance < kPrefetchFarBytes);
  for (std::size_t o = 0; o < n; o += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + Distance + o), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchFarBytes + o), _MM_HINT_T1);
  }
}

// ---- f32 activations --------------------------------------------------------------------------

PHIAL_TARGET_AVX2 static inline float dot_f32(const std::byte* row, const void* act, std::int64_t K) {
  const float* w = reinterpret_cast<const float*>(row);
  const float* x = static_cast<const float*>(act);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t i = 0;
  for (; i + 32 <= K; i += 32) {
    prefetch_ahead(row + 4 * i, 128);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= K; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
  float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < K; ++i) s += w[i] * x[i];
  return s;
}

PHIAL_TARGET_AVX2 static inline __m256 load8_f16(const std::byte* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
PHIAL_TARGET_AVX2 static inline __m256 load8_bf16(const std::byte* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

template <bool BF16>
PHIAL_TARGET_AVX2 static inline __m256 load8_16bit(const std::byte* p) {
  if constexpr (BF16) {
    return load8_bf16(p);
  } else {
    return load8_f16(p);
  }
}

template <bool BF16>
PHIAL_TARGET_AVX2 static inline float dot_16bit(const std::byte* row, const void* act, std::int64_t K) {
  const float* x = static_cast<const float*>(act);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t i = 0;
  for (; i + 32 <= K; i += 32) {
    prefetch_ahead(row + 2 * i, 64);
    a0 = _mm256_fmadd_ps(load8_16bit<BF16>(row + 2 * i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load8_16bit<BF16>(row + 2 * i + 16), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load8_16bit<BF16>(row + 2 * i + 32), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load8_16bit<BF16>(row + 2 * i + 48), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= K; i += 8) a0 = _mm256_fmadd_ps(load8_16bit<BF16>(row + 2 * i), _mm256_loadu_ps(x + i), a0);
  float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < K; ++i) {
    const std::uint16_t h = load_u16(row + 2 * i);
    s += (BF16 ? bf16_bits_to_float(h) : half_bits_to_float(h)) * x[i];
  }
  return s;
}

// ---- activation quantization ------------------------------------------------------------------

// 32 floats -> 32 int8 = round(x * id) (round-to-nearest-even, as the scalar path's nearbyint).
PHIAL_TARGET_AVX2 static inline __m256i quantize_32(const float* x, float id) {
  const __m256 mul = _mm256_set1_ps(id);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), mul));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), mul));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), mul));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), mul));
  const __m256i p01 = _mm256_packs_epi32(i0, i1);  // lanes interleaved: fixed by the permute below
  const __m256i p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

PHIAL_TARGET_AVX2 static inline float absmax_n(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One block of 32: q = round(x·127/amax) as 32 int8, its scale d = amax/127 and Σq.
PHIAL_TARGET_AVX2 static inline __m256i quantize_block_32(const float* x, float& d, int& sum) {
  const float amax = absmax_n(x, 32);
  d = amax / 127.0f;
  const __m256i q = quantize_32(x, amax > 0.0f ? 127.0f / amax : 0.0f);
  // Σq: maddubs with +1 bytes sums pairs of int8 into int16, then widen.
  sum = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
  return q;
}

PHIAL_TARGET_AVX2 static inline void quantize_act_q8(const float* x, ActQ8* y, std::int64_t K) {
  for (std::int64_t b = 0; b < K / 32; ++b, x += 32) {
    float d;
    int sum;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), quantize_block_32(x, d, sum));
    y[b].d = d;
    y[b].s = d * static_cast<float>(sum);
  }
}

PHIAL_TARGET_AVX2 static inline void quantize_act_q8k(const float* x, ActQ8K* y, std::int64_t K) {
  for (std::int64_t b = 0; b < K / 256; ++b, x += 256) {
    const float amax = absmax_n(x, 256);
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = amax / 127.0f;
    for (int j = 0; j < 8; ++j) {
      const __m256i q = quantize_32(x + 32 * j, id);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + 32 * j), q);
      // Sums of 16: widen to int16 per pair, then add pairs up within each 128-bit half.
      const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);  // 16 x int16: 8 per 16 bytes
      const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));  // 8 x int32: 4 per 16 bytes
      __m128i lo = _mm256_castsi256_si128(quads), hi = _mm256_extracti128_si256(quads, 1);
      lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0x4e));
      lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0xb1));
      hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 0x4e));
      hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 0xb1));
      y[b].bsums[2 * j] = static_cast<std::int16_t>(_mm_cvtsi128_si32(lo));
      y[b].bsums[2 * j + 1] = static_cast<std::int16_t>(_mm_cvtsi128_si32(hi));
    }
  }
}

// N 32-blocks per ActQ8xN (layout in qdot.hpp); the zero-point term is q4_0's -8·d_x·Σq. N = 2 for
// the AVX2 kernel, 4 for the AVX-512 one (this quantizer needs only AVX2).
template <int N>
PHIAL_TARGET_AVX2 static inline void quantize_act_q8xn_q4_0(const float* x, ActQ8xN<N>* y, std::int64_t K) {
  const std::int64_t nb = K / 32;
  for (std::int64_t b = 0; b < nb; ++b, x += 32) {
    float d;
    int sum;
    const __m256i q = quantize_block_32(x, d, sum);
    ActQ8xN<N>& p = y[b / N];
    const int i = static_cast<int>(b % N);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p.lo + 16 * i), _mm256_castsi256_si128(q));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p.hi + 16 * i), _mm256_extracti128_si256(q, 1));
    _mm_storeu_ps(p.d + 4 * i, _mm_set1_ps(d));
    _mm_storeu_ps(p.z + 4 * i, _mm_set1_ps(-2.0f * d * static_cast<float>(sum)));  // -8·d·Σq / 4 lanes
  }
  for (std::int64_t b = nb; b % N != 0; ++b) {  // the last record's missing blocks: zeros add nothing
    ActQ8xN<N>& p = y[b / N];
    const int i = static_cast<int>(b % N);
    std::memset(p.lo + 16 * i, 0, 16);
    std::memset(p.hi + 16 * i, 0, 16);
    _mm_storeu_ps(p.d + 4 * i, _mm_setzero_ps());
    _mm_storeu_ps(p.z + 4 * i, _mm_setzero_ps());
  }
}

// One q4_0 block pair: the 2 x 16 bytes of nibbles in one register, Σ u·q per block in lanes 0..3 and
// 4..7, then acc += d_w · (d_x·Σ u·q - 8·d_x·Σq) with d_w per lane in dw. `q1` is block b+1's nibbles.
PHIAL_TARGET_AVX2 static inline __m256 q4_0_pair(__m128i q0, __m128i q1, const ActQ8x2& a, __m256 dw, __m256 acc) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
  const __m256i lo = _mm256_and_si256(q, m4);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
  // int16 pair sums are at most 2·15·127 each, so adding the lo and hi products cannot overflow.
  const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.lo))),
                                       _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.hi))));
  const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
  const __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_loadu_ps(a.d), _mm256_loadu_ps(a.z));
  return _mm256_fmadd_ps(dw, f, acc);
}

PHIAL_TARGET_AVX2 static inline __m128i q4_0_nibbles(const std::byte* blk) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const kq4_0*>(blk)->qs));
}

// About 10 instructions per block where dot_q32_zp needs about 15: one unpack, one int16->int32
// widening and one conversion serve two blocks, and four blocks' scales are converted together.
PHIAL_TARGET_AVX2 static inline float dot_q4_0_x2(const std::byte* row, const void* act, std::int64_t K) {
  constexpr std::size_t kB = sizeof(kq4_0);
  const ActQ8x2* a = static_cast<const ActQ8x2*>(act);
  const std::int64_t nb = K / 32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  std::int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const std::byte* w = row + static_cast<std::size_t>(b) * kB;
    prefetch_ahead(w, 4 * kB);
    // The four f16 scales -> 4 floats, then each block's scale into its four lanes.
    __m128i h = _mm_cvtsi32_si128(load_u16(w));
    h = _mm_insert_epi16(h, load_u16(w + kB), 1);
    h = _mm_insert_epi16(h, load_u16(w + 2 * kB), 2);
    h = _mm_insert_epi16(h, load_u16(w + 3 * kB), 3);
    const __m256 d4 = _mm256_castps128_ps256(_mm_cvtph_ps(h));
    const __m256 dw01 = _mm256_permutevar8x32_ps(d4, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
    const __m256 dw23 = _mm256_permutevar8x32_ps(d4, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
    acc0 = q4_0_pair(q4_0_nibbles(w), q4_0_nibbles(w + kB), a[b / 2], dw01, acc0);
    acc1 = q4_0_pair(q4_0_nibbles(w + 2 * kB), q4_0_nibbles(w + 3 * kB), a[b / 2 + 1], dw23, acc1);
  }
  for (; b < nb; b += 2) {  // 1 to 3 blocks left; a lone last block is paired with zero nibbles
    const std::byte* w = row + static_cast<std::size_t>(b) * kB;
    const bool two = b + 1 < nb;
    const float d0 = half(load_u16(w)), d1 = two ? half(load_u16(w + kB)) : 0.0f;
    const __m256 dw = _mm256_set_m128(_mm_set1_ps(d1), _mm_set1_ps(d0));
    acc0 = q4_0_pair(q4_0_nibbles(w), two ? q4_0_nibbles(w + kB) : _mm_setzero_si128(), a[b / 2], dw, acc0);
  }
  return hsum_ps(_mm256_add_ps(acc0, acc1));
}

// ---- 32-element block quants against ActQ8 ----------------------------------------------------
// Every kernel accumulates Σ_b d_w·d_x·Σ u·q (vector, two accumulators for ILP) plus the zero-point
// term Σ_b z_b·s_x (scalar), where z = -8·d_w, -16·d_w or the block min m.

template <TensorType T>
PHIAL_TARGET_AVX2 static inline __m256i unpack_u(const std::byte* blk) {
  if constexpr (T == TensorType::Q4_0) {
    return unpack_nibbles_32(reinterpret_cast<const kq4_0*>(blk)->qs);
  } else if constexpr (T == TensorType::Q4_1) {
    return unpack_nibbles_32(reinterpret_cast<const kq4_1*>(blk)->qs);
  } else if constexpr (T == TensorType::Q5_0) {
    auto* b = reinterpret_cast<const kq5_0*>(blk);
    return _mm256_or_si256(unpack_nibbles_32(b->qs), fifth_bits_32(b->qh));
  } else {
    auto* b = reinterpret_cast<const kq5_1*>(blk);
    return _mm256_or_si256(unpack_nibbles_32(b->qs), fifth_bits_32(b->qh));
  }
}

template <TensorType T>
PHIAL_TARGET_AVX2 static inline void block_scales(const std::byte* blk, float& d, float& z) {
  if constexpr (T == TensorType::Q4_0) {
    d = half(reinterpret_cast<const kq4_0*>(blk)->d);
    z = -8.0f * d;
  } else if constexpr (T == TensorType::Q5_0) {
    d = half(reinterpret_cast<const kq5_0*>(blk)->d);
    z = -16.0f * d;
  } else if constexpr (T == TensorType::Q4_1) {
    d = half(reinterpret_cast<const kq4_1*>(blk)->d);
    z = half(reinterpret_cast<const kq4_1*>(blk)->m);
  } else {
    d = half(reinterpret_cast<const kq5_1*>(blk)->d);
    z = half(reinterpret_cast<const kq5_1*>(blk)->m);
  }
}

template <TensorType T>
PHIAL_TARGET_AVX2 static inline float dot_q32_zp(const std::byte* row, const void* act, std::int64_t K) {
  constexpr std::size_t kBytes = static_cast<std::size_t>(tensor_type_info(T).block_bytes);
  const ActQ8* a = static_cast<const ActQ8*>(act);
  const std::int64_t nb = K / 32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  float zsum = 0.0f;
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const std::byte* w0 = row + static_cast<std::size_t>(b) * kBytes;
    prefetch_ahead(w0, 2 * kBytes);
    const std::byte* w1 = w0 + kBytes;
    float d0, z0, d1, z1;
    block_scales<T>(w0, d0, z0);
    block_scales<T>(w1, d1, z1);
    const __m256i p0 = dot_u8_i8(unpack_u<T>(w0), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
    const __m256i p1 = dot_u8_i8(unpack_u<T>(w1), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b + 1].qs)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[b].d), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * a[b + 1].d), _mm256_cvtepi32_ps(p1), acc1);
    zsum += z0 * a[b].s + z1 * a[b + 1].s;
  }
  for (; b < nb; ++b) {
    const std::byte* w0 = row + static_cast<std::size_t>(b) * kBytes;
    float d0, z0;
    block_scales<T>(w0, d0, z0);
    const __m256i p0 = dot_u8_i8(unpack_u<T>(w0), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * a[b].d), _mm256_cvtepi32_ps(p0), acc0);
    zsum += z0 * a[b].s;
  }
  return hsum_ps(_mm256_add_ps(acc0, acc1)) + zsum;
}

// Signed int8 weights: |w| · sign(x, w) keeps maddubs's first operand unsigned.
PHIAL_TARGET_AVX2 static inline __m256i dot_i8_i8(__m256i w, __m256i x) {
  return dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

PHIAL_TARGET_AVX2 static inline float dot_q8_0(const std::byte* row, const void* act, std::int64_t K) {
  const kq8_0* w = reinterpret_cast<const kq8_0*>(row);
  const ActQ8* a = static_cast<const ActQ8*>(act);
  const std::int64_t nb = K / 32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  std::int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    prefetch_ahead(reinterpret_cast<const std::byte*>(w + b), 2 * sizeof(kq8_0));
    const __m256i p0 = dot_i8_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs)),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
    const __m256i p1 = dot_i8_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].qs)),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b + 1].qs)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * a[b].d), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b + 1].d) * a[b + 1].d), _mm256_cvtepi32_ps(p1), acc1);
  }
  for (; b < nb; ++b) {
    const __m256i p0 = dot_i8_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs)),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * a[b].d), _mm256_cvtepi32_ps(p0), acc0);
  }
  return hsum_ps(_mm256_add_ps(acc0, acc1));
}

// ---- k-quants against ActQ8K --------------------------------------------------------------------

// Sub-blocks 2J (low nibbles of qs[32J..32J+31]) and 2J+1 (high nibbles) of a Q4_K/Q5_K block:
// sc_2J·Σ u·q + sc_2J+1·Σ u·q as 8 x int32. J is a template argument so that the scale-broadcast
// shuffle masks are constants: as a run-time loop index they cost ~6 instructions each, and the
// kernel ran at 8.5 GB/s on data in cache.
template <bool Q5, int J>
PHIAL_TARGET_AVX2 static inline __m256i q45_K_sub(const std::uint8_t* qs, const std::int8_t* x, __m256i sc16, __m256i hb) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * J));
  __m256i lo = _mm256_and_si256(q, m4);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
  if constexpr (Q5) {  // the 5th bits of sub-block s are bit s of each qh byte
    const __m256i one = _mm256_set1_epi8(1);
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * J), one), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * J + 1), one), 4));
  }
  const __m256i sc_lo = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(static_cast<short>(((4 * J + 1) << 8) | (4 * J))));
  const __m256i sc_hi = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(static_cast<short>(((4 * J + 3) << 8) | (4 * J + 2))));
  const __m256i plo = _mm256_madd_epi16(
      _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 64 * J))), sc_lo);
  const __m256i phi = _mm256_madd_epi16(
      _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 64 * J + 32))), sc_hi);
  return _mm256_add_epi32(plo, phi);
}

// The 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K block, unpacked with 32-bit word
// operations: bytes 0..7 = scales, bytes 8..15 = mins (see k_scale_min for the layout).
PHIAL_TARGET_AVX2 static inline __m128i k_scales_mins(const std::uint8_t* scales) {
  std::uint32_t u0, u1, u2;
  std::memcpy(&u0, scales, 4);
  std::memcpy(&u1, scales + 4, 4);
  std::memcpy(&u2, scales + 8, 4);
  const std::uint32_t sc_lo = u0 & 0x3f3f3f3fu;
  const std::uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
  const std::uint32_t mn_lo = u1 & 0x3f3f3f3fu;
  const std::uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
  return _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), static_cast<int>(mn_lo),
                        static_cast<int>(mn_hi));
}

// Q4_K / Q5_K: Σ_j sc_j·Σ u·q per sub-block of 32 (int32), minus dmin·Σ_j m_j·Σq.
template <bool Q5>
PHIAL_TARGET_AVX2 static inline float dot_q45_K(const std::byte* row, const void* act, std::int64_t K) {
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const std::int64_t nb = K / 256;
  constexpr std::size_t kBytes = Q5 ? sizeof(kq5_K) : sizeof(kq4_K);
  __m256 acc = _mm256_setzero_ps();
  __m128 macc = _mm_setzero_ps();  // Σ dmin·Σ m_j·bsum_j, 4 partial sums
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::byte* blk = row + static_cast<std::size_t>(b) * kBytes;
    prefetch_ahead(blk, kBytes);
    const std::uint16_t* dd = reinterpret_cast<const std::uint16_t*>(blk);
    const std::uint8_t* scales = reinterpret_cast<const std::uint8_t*>(blk) + 4;
    const std::uint8_t* qs = Q5 ? reinterpret_cast<const kq5_K*>(blk)->qs : reinterpret_cast<const kq4_K*>(blk)->qs;
    const __m128i sm = k_scales_mins(scales);  // bytes 0..7 scales, 8..15 mins
    // Σ_j m_j · (Σq over sub-block j): bsums of 16 -> sums of 32 by a horizontal add, then madd.
    const __m128i bs_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums));
    const __m128i bs_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[b].bsums + 8));
    const __m128i mins16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    const __m128i prod = _mm_madd_epi16(mins16, _mm_hadd_epi16(bs_lo, bs_hi));
    // Scales as int16 in both 128-bit lanes; sub-block j's scale is word j, broadcast by a shuffle.
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    [[maybe_unused]] __m256i hb = _mm256_setzero_si256();
    if constexpr (Q5) hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const kq5_K*>(blk)->qh));
    const std::int8_t* x = a[b].qs;
    const __m256i sumi = _mm256_add_epi32(
        _mm256_add_epi32(q45_K_sub<Q5, 0>(qs, x, sc16, hb), q45_K_sub<Q5, 1>(qs, x, sc16, hb)),
        _mm256_add_epi32(q45_K_sub<Q5, 2>(qs, x, sc16, hb), q45_K_sub<Q5, 3>(qs, x, sc16, hb)));
    const float d = half(dd[0]) * a[b].d;
    const float dmin = half(dd[1]) * a[b].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    macc = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), macc);
  }
  __m128 m = _mm_add_ps(macc, _mm_movehl_ps(macc, macc));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return hsum_ps(acc) - _mm_cvtss_f32(m);
}

// Q6_K: the 128 6-bit values of one half-block as unsigned bytes u in [0, 64), 32 per register:
// q[k] holds elements 32k..32k+31 (low 4 bits from ql, high 2 bits from qh).
PHIAL_TARGET_AVX2 static inline void unpack_q6_K_half(const std::uint8_t* ql, const std::uint8_t* qh, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m3 = _mm256_set1_epi8(0x03);
  const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
  const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
  const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
}

// Elements 32k..32k+31 of a Q6_K half-block: Σ sc·Σ u·q as 8 x int32, the first 16 elements with
// scale word 2k (lane 0) and the next 16 with word 2k+1 (lane 1). k is a template argument for
// constant shuffle masks (see q45_K_sub).
template <int k>
PHIAL_TARGET_AVX2 static inline __m256i q6_K_sub(__m256i q, const std::int8_t* x, __m256i sc16) {
  const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * k)));
  const short w0 = static_cast<short>(((4 * k + 1) << 8) | (4 * k));
  const short w1 = static_cast<short>(((4 * k + 3) << 8) | (4 * k + 2));
  return _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc16, _mm256_set_m128i(_mm_set1_epi16(w1), _mm_set1_epi16(w0))));
}

// Q6_K: d·Σ_g sc_g·Σ (u - 32)·q over 16 groups of 16 = d·(Σ_g sc_g Σ u·q - 32·Σ_g sc_g·bsum_g).
PHIAL_TARGET_AVX2 static inline float dot_q6_K(const std::byte* row, const void* act, std::int64_t K) {
  const kq6_K* w = reinterpret_cast<const kq6_K*>(row);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  const std::int64_t nb = K / 256;
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(reinterpret_cast<const std::byte*>(w + b), sizeof(kq6_K));
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const std::uint8_t* ql = w[b].ql + 64 * h;
      const std::int8_t* sc = w[b].scales + 8 * h;
      const std::int8_t* x = a[b].qs + 128 * h;
      __m256i q[4];
      unpack_q6_K_half(ql, w[b].qh + 32 * h, q);
      // The 8 scales of this half as int16 in both lanes; lane 0 takes word 2k, lane 1 word 2k+1.
      const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(q6_K_sub<0>(q[0], x, sc16), q6_K_sub<1>(q[1], x, sc16)),
                                                     _mm256_add_epi32(q6_K_sub<2>(q[2], x, sc16), q6_K_sub<3>(q[3], x, sc16))));
    }
    // 32·Σ_g sc_g·bsum_g
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums));
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[b].d) * a[b].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_ps(acc);
}

// ---- dequantization for the prefill tiles ----------------------------------------------------

PHIAL_TARGET_AVX2 static inline void dequant_16bit_row(bool bf16, const std::byte* src, float* y, std::int64_t K) {
  std::int64_t i = 0;
  if (bf16)
    for (; i + 8 <= K; i += 8) _mm256_storeu_ps(y + i, load8_bf16(src + 2 * i));
  else
    for (; i + 8 <= K; i += 8) _mm256_storeu_ps(y + i, load8_f16(src + 2 * i));
  for (; i < K; ++i) {
    const std::uint16_t h = load_u16(src + 2 * i);
    y[i] = bf16 ? bf16_bits_to_float(h) : half_bits_to_float(h);
  }
}

// 32 unsigned bytes -> 32 floats d·u + z.
PHIAL_TARGET_AVX2 static inline void store_affine_32(__m256i u, float d, float z, float* y) {
  const __m256 vd = _mm256_set1_ps(d), vz = _mm256_set1_ps(z);
  const __m128i lo = _mm256_castsi256_si128(u), hi = _mm256_extracti128_si256(u, 1);
  _mm256_storeu_ps(y, _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), vz));
  _mm256_storeu_ps(y + 8, _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), vz));
  _mm256_storeu_ps(y + 16, _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), vz));
  _mm256_storeu_ps(y + 24, _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), vz));
}

template <TensorType T>
PHIAL_TARGET_AVX2 static inline void dequant_q32_row(const std::byte* src, float* y, std::int64_t K) {
  constexpr std::size_t kBytes = static_cast<std::size_t>(tensor_type_info(T).block_bytes);
  for (std::int64_t b = 0; b < K / 32; ++b, y += 32) {
    const std::byte* blk = src + static_cast<std::size_t>(b) * kBytes;
    if constexpr (T == TensorType::Q8_0) {
      auto* q = reinterpret_cast<const kq8_0*>(blk);
      const __m256 vd = _mm256_set1_ps(half(q->d));
      for (int j = 0; j < 32; j += 8) {
        const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q->qs + j));
        _mm256_storeu_ps(y + j, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
      }
    } else {
      float d, z;
      block_scales<T>(blk, d, z);
      store_affine_32(unpack_u<T>(blk), d, z, y);
    }
  }
}

template <bool Q5>
PHIAL_TARGET_AVX2 static inline void dequant_q45_K_row(const std::byte* src, float* y, std::int64_t K) {
  constexpr std::size_t kBytes = Q5 ? sizeof(kq5_K) : sizeof(kq4_K);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  for (std::int64_t b = 0; b < K / 256; ++b) {
    const std::byte* blk = src + static_cast<std::size_t>(b) * kBytes;
    const std::uint16_t* dd = reinterpret_cast<const std::uint16_t*>(blk);
    const std::uint8_t* scales = reinterpret_cast<const std::uint8_t*>(blk) + 4;
    const std::uint8_t* qs = Q5 ? reinterpret_cast<const kq5_K*>(blk)->qs : reinterpret_cast<const kq4_K*>(blk)->qs;
    const float d = half(dd[0]), dmin = half(dd[1]);
    __m256i hb = _mm256_setzero_si256();
    if constexpr (Q5) hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const kq5_K*>(blk)->qh));
    for (int j = 0; j < 4; ++j, qs += 32, y += 64) {
      std::uint8_t sc0, m0, sc1, m1;
      k_scale_min(2 * j, scales, sc0, m0);
      k_scale_min(2 * j + 1, scales, sc1, m1);
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (Q5) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
        hb = _mm256_srli_epi16(hb, 2);
      }
      store_affine_32(lo, d * sc0, -dmin * m0, y);
      store_affine_32(hi, d * sc1, -dmin * m1, y + 32);
    }
  }
}

PHIAL_TARGET_AVX2 static inline void dequant_q6_K_row(const std::byte* src, float* y, std::int64_t K) {
  const kq6_K* w = reinterpret_cast<const kq6_K*>(src);
  for (std::int64_t b = 0; b < K / 256; ++b) {
    const float d = half(w[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const std::uint8_t* ql = w[b].ql + 64 * h;
      const std::int8_t* sc = w[b].scales + 8 * h;
      __m256i q[4];
      unpack_q6_K_half(ql, w[b].qh + 32 * h, q);
      for (int k = 0; k < 4; ++k) {
        // 32 elements: the first 16 use sc[2k], the next 16 sc[2k+1]; value d·sc·(u - 32).
        const __m128i lo = _mm256_castsi256_si128(q[k]), hi = _mm256_extracti128_si256(q[k], 1);
        const float da = d * sc[2 * k], db = d * sc[2 * k + 1];
        const __m256 va = _mm256_set1_ps(da), vb = _mm256_set1_ps(db);
        const __m256 za = _mm256_set1_ps(-32.0f * da), zb = _mm256_set1_ps(-32.0f * db);
        float* o = y + 32 * k;
        _mm256_storeu_ps(o, _mm256_fmadd_ps(va, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), za));
        _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(va, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), za));
        _mm256_storeu_ps(o + 16, _mm256_fmadd_ps(vb, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), zb));
        _mm256_storeu_ps(o + 24, _mm256_fmadd_ps(vb, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), zb));
      }
    }
  }
}

PHIAL_TARGET_AVX2 static inline bool dequant_row(TensorType type, const std::byte* src, float* y, std::int64_t K) {
  switch (type) {
    case TensorType::F16: dequant_16bit_row(false, src, y, K); return true;
    case TensorType::BF16: dequant_16bit_row(true, src, y, K); return true;
    case TensorType::Q4_0: dequant_q32_row<TensorType::Q4_0>(src, y, K); return true;
    case TensorType::Q4_1: dequant_q32_row<TensorType::Q4_1>(src, y, K); return true;
    case TensorType::Q5_0: dequant_q32_row<TensorType::Q5_0>(src, y, K); return true;
    case TensorType::Q5_1: dequant_q32_row<TensorType::Q5_1>(src, y, K); return true;
    case TensorType::Q8_0: dequant_q32_row<TensorType::Q8_0>(src, y, K); return true;
    case TensorType::Q4_K: dequant_q45_K_row<false>(src, y, K); return true;
    case TensorType::Q5_K: dequant_q45_K_row<true>(src, y, K); return true;
    case TensorType::Q6_K: dequant_q6_K_row(src, y, K); return true;
    default: return false;
  }
}

}  // namespace phial::ops::detail::avx2

#endif  // PHIAL_X86
