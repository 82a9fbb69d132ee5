// phial/ops/qdot.hpp - per-row dot-product kernels behind ops::matmul's decode path, and the
// row dequantizers behind its prefill path.
//
// Weight formats are ggml's (the bytes GGUF files store). The kernels are written against raw
// block layouts declared here (kernel-private names, so they never clash with ops/quant.hpp).
//
// Decode: for quantized weights, each activation row is quantized once to 8-bit blocks
// (ActQ8: 32 int8 + f32 scale + the block sum, like ggml's Q8_0/Q8_1; ActQ8K: 256 int8 + f32 scale +
// 16 sums of 16, like ggml's Q8_K) and the dot products run on integers. f32/f16/bf16 weights keep the
// activations in f32.
//
// Every kernel has a portable scalar version; AVX2 versions (compiled with target attributes so the
// baseline build stays x86-64) are chosen at run time from cpu_features().
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <phial/backend/cpu.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/tensor.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define PHIAL_X86 1
#  define PHIAL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#  define PHIAL_X86 0
#  define PHIAL_TARGET_AVX2
#endif

namespace phial::ops {

// Largest n_tokens the row-dot kernels handle in one call (the decode/small-batch path).
inline constexpr std::int64_t kMaxGemvTokens = 16;

namespace detail {

// ---------------------------------------------------------------------------------------------
// Scalar half / bfloat16 conversion (IEEE binary16 with subnormals, inf, NaN).

PHIAL_ALWAYS_INLINE float half_bits_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

PHIAL_ALWAYS_INLINE float bf16_bits_to_float(std::uint16_t b) noexcept {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

PHIAL_ALWAYS_INLINE std::uint16_t load_u16(const std::byte* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
PHIAL_ALWAYS_INLINE float load_half(const std::byte* p) noexcept { return half_bits_to_float(load_u16(p)); }

// ---------------------------------------------------------------------------------------------
// ggml block layouts (byte-exact; all members are bytes or 16-bit halves, so no padding).

struct kq4_0 {
  std::uint16_t d;
  std::uint8_t qs[16];
};
struct kq4_1 {
  std::uint16_t d, m;
  std::uint8_t qs[16];
};
struct kq5_0 {
  std::uint16_t d;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct kq5_1 {
  std::uint16_t d, m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct kq8_0 {
  std::uint16_t d;
  std::int8_t qs[32];
};
struct kq4_K {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[128];
};
struct kq5_K {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[32];
  std::uint8_t qs[128];
};
struct kq6_K {
  std::uint8_t ql[128];
  std::uint8_t qh[64];
  std::int8_t scales[16];
  std::uint16_t d;
};
static_assert(sizeof(kq4_0) == 18 && sizeof(kq4_1) == 20 && sizeof(kq5_0) == 22 && sizeof(kq5_1) == 24);
static_assert(sizeof(kq8_0) == 34 && sizeof(kq4_K) == 144 && sizeof(kq5_K) == 176 && sizeof(kq6_K) == 210);
// GGUF data is only byte-aligned in general, so blocks are read through memcpy-like access:
// every struct above has alignment 1 or 2 and rows start at 2-byte multiples for these types.

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block.
PHIAL_ALWAYS_INLINE void k_scale_min(int j, const std::uint8_t* q, std::uint8_t& sc, std::uint8_t& m) noexcept {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar dequantization of one row of K elements (the reference of every kernel here).

PHIAL_INLINE void dequant_row_scalar(TensorType type, const std::byte* src, float* y, std::int64_t K) {
  switch (type) {
    case TensorType::F32:
      std::memcpy(y, src, static_cast<std::size_t>(K) * 4);
      return;
    case TensorType::F16:
      for (std::int64_t i = 0; i < K; ++i) y[i] = load_half(src + 2 * i);
      return;
    case TensorType::BF16:
      for (std::int64_t i = 0; i < K; ++i) y[i] = bf16_bits_to_float(load_u16(src + 2 * i));
      return;
    case TensorType::Q4_0: {
      auto* b = reinterpret_cast<const kq4_0*>(src);
      for (std::int64_t i = 0; i < K / 32; ++i, y += 32) {
        const float d = half_bits_to_float(b[i].d);
        for (int j = 0; j < 16; ++j) {
          y[j] = d * static_cast<float>((b[i].qs[j] & 0xF) - 8);
          y[j + 16] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case TensorType::Q4_1: {
      auto* b = reinterpret_cast<const kq4_1*>(src);
      for (std::int64_t i = 0; i < K / 32; ++i, y += 32) {
        const float d = half_bits_to_float(b[i].d), m = half_bits_to_float(b[i].m);
        for (int j = 0; j < 16; ++j) {
          y[j] = d * static_cast<float>(b[i].qs[j] & 0xF) + m;
          y[j + 16] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
        }
      }
      return;
    }
    case TensorType::Q5_0: {
      auto* b = reinterpret_cast<const kq5_0*>(src);
      for (std::int64_t i = 0; i < K / 32; ++i, y += 32) {
        const float d = half_bits_to_float(b[i].d);
        std::uint32_t qh;
        std::memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
          const int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
          y[j] = d * static_cast<float>(((b[i].qs[j] & 0xF) | h0) - 16);
          y[j + 16] = d * static_cast<float>(((b[i].qs[j] >> 4) | h1) - 16);
        }
      }
      return;
    }
    case TensorType::Q5_1: {
      auto* b = reinterpret_cast<const kq5_1*>(src);
      for (std::int64_t i = 0; i < K / 32; ++i, y += 32) {
        const float d = half_bits_to_float(b[i].d), m = half_bits_to_float(b[i].m);
        std::uint32_t qh;
        std::memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
          const int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
          y[j] = d * static_cast<float>((b[i].qs[j] & 0xF) | h0) + m;
          y[j + 16] = d * static_cast<float>((b[i].qs[j] >> 4) | h1) + m;
        }
      }
      return;
    }
    case TensorType::Q8_0: {
      auto* b = reinterpret_cast<const kq8_0*>(src);
      for (std::int64_t i = 0; i < K / 32; ++i, y += 32) {
        const float d = half_bits_to_float(b[i].d);
        for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
      }
      return;
    }
    case TensorType::Q4_K: {
      auto* b = reinterpret_cast<const kq4_K*>(src);
      for (std::int64_t i = 0; i < K / 256; ++i) {
        const float d = half_bits_to_float(b[i].d), dmin = half_bits_to_float(b[i].dmin);
        const std::uint8_t* q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
          std::uint8_t sc, m;
          k_scale_min(j, b[i].scales, sc, m);
          const float d1 = d * sc, m1 = dmin * m;
          k_scale_min(j + 1, b[i].scales, sc, m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
        }
      }
      return;
    }
    case TensorType::Q5_K: {
      auto* b = reinterpret_cast<const kq5_K*>(src);
      for (std::int64_t i = 0; i < K / 256; ++i) {
        const float d = half_bits_to_float(b[i].d), dmin = half_bits_to_float(b[i].dmin);
        const std::uint8_t* ql = b[i].qs;
        const std::uint8_t* qh = b[i].qh;
        std::uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32, u1 = static_cast<std::uint8_t>(u1 << 2),
                 u2 = static_cast<std::uint8_t>(u2 << 2)) {
          std::uint8_t sc, m;
          k_scale_min(j, b[i].scales, sc, m);
          const float d1 = d * sc, m1 = dmin * m;
          k_scale_min(j + 1, b[i].scales, sc, m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
          for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
      }
      return;
    }
    case TensorType::Q6_K: {
      auto* b = reinterpret_cast<const kq6_K*>(src);
      for (std::int64_t i = 0; i < K / 256; ++i) {
        const float d = half_bits_to_float(b[i].d);
        const std::uint8_t* ql = b[i].ql;
        const std::uint8_t* qh = b[i].qh;
        const std::int8_t* sc = b[i].scales;
        for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
            y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
            y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
            y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
          }
        }
      }
      return;
    }
    default:
      throw InvalidArgument("dequantize: unsupported tensor type " + std::string(tensor_type_info(type).name));
  }
}

PHIAL_INLINE bool qdot_supports(TensorType t) noexcept {
  switch (t) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

// Dequantizes `nr` consecutive rows of K elements starting at `src` into `scratch` (nr, K) and returns
// it; f32 rows are returned in place (no copy).
PHIAL_INLINE const float* dequantize_rows_f32(TensorType type, const std::byte* src, std::int64_t nr, std::int64_t K,
                                              float* scratch) {
  if (type == TensorType::F32) return reinterpret_cast<const float*>(src);
  const std::size_t stride = static_cast<std::size_t>(row_bytes(type, K));
  for (std::int64_t r = 0; r < nr; ++r) dequant_row_scalar(type, src + r * stride, scratch + r * K, K);
  return scratch;
}

// ---------------------------------------------------------------------------------------------
// Activations prepared for the row kernels.

struct ActivationBuffer {
  const float* f32 = nullptr;  // (n_tokens, K) as given
  std::int64_t n_tokens = 0;
  std::int64_t K = 0;
};

// A kernel computing out[t] = dot(weight row, activation row t) for t < n_tokens.
struct RowDotKernel {
  TensorType type;
  void (*dot)(const std::byte* row, const ActivationBuffer& act, std::int64_t K, std::int64_t n_tokens, float* out);
};

// Generic: dequantize the row to f32, then f32 dots (double-free, 8 partial sums).
PHIAL_INLINE void dot_generic(TensorType type, const std::byte* row, const ActivationBuffer& act, std::int64_t K,
                              std::int64_t n_tokens, float* out) {
  thread_local std::vector<float> w;
  w.resize(static_cast<std::size_t>(K));
  dequant_row_scalar(type, row, w.data(), K);
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const float* x = act.f32 + t * K;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = 0;
    for (; i + 8 <= K; i += 8)
      for (int j = 0; j < 8; ++j) s[j] += w[static_cast<std::size_t>(i + j)] * x[i + j];
    float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < K; ++i) acc += w[static_cast<std::size_t>(i)] * x[i];
    out[t] = acc;
  }
}

template <TensorType T>
void dot_generic_t(const std::byte* row, const ActivationBuffer& act, std::int64_t K, std::int64_t n_tokens, float* out) {
  dot_generic(T, row, act, K, n_tokens, out);
}

PHIAL_INLINE RowDotKernel select_row_dot(TensorType type) {
  switch (type) {
#define PHIAL_GENERIC(T) \
  case TensorType::T: return {TensorType::T, &dot_generic_t<TensorType::T>};
    PHIAL_GENERIC(F32)
    PHIAL_GENERIC(F16)
    PHIAL_GENERIC(BF16)
    PHIAL_GENERIC(Q4_0)
    PHIAL_GENERIC(Q4_1)
    PHIAL_GENERIC(Q5_0)
    PHIAL_GENERIC(Q5_1)
    PHIAL_GENERIC(Q8_0)
    PHIAL_GENERIC(Q4_K)
    PHIAL_GENERIC(Q5_K)
    PHIAL_GENERIC(Q6_K)
#undef PHIAL_GENERIC
    default:
      throw InvalidArgument("matmul: unsupported tensor type " + std::string(tensor_type_info(type).name));
  }
}

PHIAL_INLINE void prepare_activations(const RowDotKernel&, const float* X, std::int64_t n_tokens, std::int64_t K,
                                      ActivationBuffer& act) {
  act.f32 = X;
  act.n_tokens = n_tokens;
  act.K = K;
}

}  // namespace detail
}  // namespace phial::ops
