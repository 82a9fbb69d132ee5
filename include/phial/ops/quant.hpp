// phial/ops/quant.hpp - ggml's block quantization formats: block layouts, exact dequantization,
// and reference quantizers that reproduce llama.cpp's `quantize_row_*_ref` (what `llama-quantize`
// uses without an importance matrix, e.g. with `--pure`).
//
// Every layout here is byte-for-byte ggml's (GGUF files store these blocks verbatim). All
// multi-byte fields are little-endian; phial only supports little-endian hosts.
//
// Dequantization evaluates exactly the float expressions ggml's reference `dequantize_row_*`
// evaluate, in the same order, so results are bit-identical to ggml's scalar code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/tensor.hpp>

namespace phial {

// ---- block sizes ----
inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK8_1 = 32;
inline constexpr int QK_K = 256;         // super-block of the k-quants
inline constexpr int K_SCALE_SIZE = 12;  // 8 six-bit scales + 8 six-bit mins of q4_K / q5_K

// fp16 / bf16 values are stored as their raw 16 bits.
using half_bits = std::uint16_t;
using bf16_bits = std::uint16_t;

// ---- legacy 32-element blocks ----
struct block_q4_0 {  // x = (q - 8) * d
  half_bits d;
  std::uint8_t qs[QK4_0 / 2];  // element j in the low nibble of qs[j], element j+16 in the high nibble
};
struct block_q4_1 {  // x = q * d + m
  half_bits d;
  half_bits m;
  std::uint8_t qs[QK4_1 / 2];
};
struct block_q5_0 {  // x = (q - 16) * d; 5th bits of the 32 elements in qh (bit j = element j)
  half_bits d;
  std::uint8_t qh[4];
  std::uint8_t qs[QK5_0 / 2];
};
struct block_q5_1 {  // x = q * d + m
  half_bits d;
  half_bits m;
  std::uint8_t qh[4];
  std::uint8_t qs[QK5_1 / 2];
};
struct block_q8_0 {  // x = q * d
  half_bits d;
  std::int8_t qs[QK8_0];
};
struct block_q8_1 {  // x = q * d; s = d * sum(q) (used for activations)
  half_bits d;
  half_bits s;
  std::int8_t qs[QK8_1];
};

// ---- k-quants: 256-element super-blocks of 8 (or 16) sub-blocks with their own scales ----
struct block_q4_K {  // x = d * sc[j] * q - dmin * m[j] for sub-block j of 32
  half_bits d;       // super-block scale of the quantized scales
  half_bits dmin;    // super-block scale of the quantized mins
  std::uint8_t scales[K_SCALE_SIZE];  // 8 scales + 8 mins, 6 bits each (see get_scale_min_k4)
  std::uint8_t qs[QK_K / 2];          // 4-bit quants: 4 chunks of 64 = 32 bytes, low nibbles first
};
struct block_q5_K {
  half_bits d;
  half_bits dmin;
  std::uint8_t scales[K_SCALE_SIZE];
  std::uint8_t qh[QK_K / 8];  // 5th bits: bit 2c / 2c+1 of qh[l] for chunk c's two halves
  std::uint8_t qs[QK_K / 2];
};
struct block_q6_K {  // x = d * scales[j] * (q - 32) for sub-block j of 16
  std::uint8_t ql[QK_K / 2];      // low 4 bits
  std::uint8_t qh[QK_K / 4];      // high 2 bits
  std::int8_t scales[QK_K / 16];  // 8-bit sub-block scales
  half_bits d;
};
struct block_q8_K {  // activations for k-quant dot products (x = q * d)
  float d;
  std::int8_t qs[QK_K];
  std::int16_t bsums[QK_K / 16];  // sum of qs per group of 16
};

static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q5_0) == 22 && sizeof(block_q5_1) == 24);
static_assert(sizeof(block_q8_0) == 34 && sizeof(block_q8_1) == 36);
static_assert(sizeof(block_q4_K) == 144 && sizeof(block_q5_K) == 176);
static_assert(sizeof(block_q6_K) == 210 && sizeof(block_q8_K) == 292);

// ---- 16-bit floats: exact, integer-only conversions (no dependence on FPU rounding mode or FMA) ----

inline std::uint32_t f32_bits(float f) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(std::uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary16 -> binary32 (exact: every half is a float).
inline float fp16_to_fp32(half_bits h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / NaN (payload kept)
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);  // +-0
    // subnormal: normalize (value = mant * 2^-24)
    exp = 113;  // 127 - 15 + 1
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ffu;
    return f32_from_bits(sign | (exp << 23) | (mant << 13));
  }
  return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

// binary32 -> binary16, round to nearest, ties to even (what F16C's vcvtps2ph and ggml do).
// Overflow gives +-inf; NaN stays a quiet NaN.
inline half_bits fp32_to_fp16(float f) noexcept {
  std::uint32_t x = f32_bits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u)  // inf or NaN
    return static_cast<half_bits>(sign | (x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u));
  if (x >= 0x477ff000u) return static_cast<half_bits>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                                                // below 2^-14: subnormal half
    if (x < 0x33000000u) return static_cast<half_bits>(sign);          // < 2^-25 rounds to zero
    const std::uint32_t e = x >> 23;                                    // 102 .. 112
    const std::uint32_t m = (x & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // value / 2^-24 = m >> shift
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return static_cast<half_bits>(sign | r);
  }
  // normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits
  std::uint32_t r = x - 0x38000000u;
  r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
  return static_cast<half_bits>(sign | r);
}

// bfloat16 -> binary32: the top 16 bits of a float.
inline float bf16_to_fp32(bf16_bits b) noexcept { return f32_from_bits(static_cast<std::uint32_t>(b) << 16); }

// binary32 -> bfloat16, round to nearest, ties to even (torch and ggml); NaN stays a quiet NaN.
inline bf16_bits fp32_to_bf16(float f) noexcept {
  const std::uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_bits>((u >> 16) | 64u);
  return static_cast<bf16_bits>((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

// llama.cpp's round-to-nearest of a float known to be small (|x| <= 4194303): the magic-number
// trick, which rounds ties to even like the FPU. Kept because the quantizers' choices depend on it.
inline int nearest_int(float fval) noexcept {
  const float val = fval + 12582912.f;
  std::int32_t i;
  std::memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a q4_K / q5_K block.
inline void get_scale_min_k4(int j, const std::uint8_t* q, std::uint8_t* d, std::uint8_t* m) noexcept {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// Converts n elements of a row of type `t` (n a multiple of the block size) to float.
// Throws InvalidArgument for a bad n or a type phial cannot decode.
void dequantize_row(TensorType t, const void* src, float* dst, std::int64_t n);

// Quantizes n floats into type `t` with llama.cpp's reference algorithm for that type
// (F32/F16/BF16 convert with round-to-nearest-even). Throws InvalidArgument like dequantize_row.
void quantize_row(TensorType t, const float* src, void* dst, std::int64_t n);

// Per-type entry points (n a multiple of the block size; not checked).
void dequantize_row_q4_0(const block_q4_0* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q4_1(const block_q4_1* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q5_0(const block_q5_0* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q5_1(const block_q5_1* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q8_0(const block_q8_0* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q4_K(const block_q4_K* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q5_K(const block_q5_K* x, float* y, std::int64_t n) noexcept;
void dequantize_row_q6_K(const block_q6_K* x, float* y, std::int64_t n) noexcept;
void quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::int64_t n) noexcept;
void quantize_row_q4_1_ref(const float* x, block_q4_1* y, std::int64_t n) noexcept;
void quantize_row_q5_0_ref(const float* x, block_q5_0* y, std::int64_t n) noexcept;
void quantize_row_q5_1_ref(const float* x, block_q5_1* y, std::int64_t n) noexcept;
void quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::int64_t n) noexcept;
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::int64_t n) noexcept;
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::int64_t n) noexcept;
void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::int64_t n) noexcept;

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/ops/impl/quant.ipp>
#endif
