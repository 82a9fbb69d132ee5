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
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <phial/backend/cpu.hpp>
#include <phial/backend/simd.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/tensor.hpp>

namespace phial::ops {

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

inline void dequant_row_scalar(TensorType type, const std::byte* src, float* y, std::int64_t K) {
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

inline bool qdot_supports(TensorType t) noexcept {
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

// ---------------------------------------------------------------------------------------------
// Quantized activations (what a weight row is dotted with in the decode path).

// 32 activations: x ≈ d·q, with s = d·Σq for the zero-point term of q4_0/q4_1/q5_0/q5_1.
struct ActQ8 {
  float d;
  float s;
  std::int8_t qs[32];
};
// 256 activations for the k-quants: x ≈ d·q, bsums[g] = Σ of q over group g of 16.
struct ActQ8K {
  float d;
  std::int16_t bsums[16];
  std::int8_t qs[256];
};
// 32·N activations (32-blocks Ng..Ng+N-1) as the SIMD q4_0 kernels want them: they unpack the
// nibbles of N weight blocks into one register (N = 2 for AVX2's 256 bits, 4 for AVX-512), low
// nibbles of all N blocks then high nibbles, so lo[16i + j] = x_Ng+i[j] and hi[16i + j] =
// x_Ng+i[16 + j]. Their int32 partial sums come out four lanes per block, so the scale and q4_0's
// zero-point term -8·s are stored per lane (d[4i + l] = d_Ng+i, z[4i + l] = -8·s_Ng+i / 4). Blocks
// missing at the end of a row are zeros.
template <int N>
struct ActQ8xN {
  float d[4 * N];
  float z[4 * N];
  std::int8_t lo[16 * N];
  std::int8_t hi[16 * N];
};
using ActQ8x2 = ActQ8xN<2>;  // AVX2
using ActQ8x4 = ActQ8xN<4>;  // AVX-512
// 64 activations (32-blocks 2g and 2g+1, in order) for the AVX-512 q8_0 kernel. It makes the signed
// weights unsigned (w + 128, for vpdpbusd), which adds 128·Σq per block: z = -128·d·Σq / 8 in each of
// the block's 8 int32 lanes (block 2g in lanes 0..7) undoes it. A missing odd last block is zeros.
struct ActQ8x2W {
  float d[16];
  float z[16];
  std::int8_t qs[64];
};
static_assert(sizeof(ActQ8) == 40 && sizeof(ActQ8K) == 292 && sizeof(ActQ8x2) == 128);
static_assert(sizeof(ActQ8x4) == 256 && sizeof(ActQ8x2W) == 192);

// q8k_q4_K is ActQ8K with each 128 activations reordered to x[0..31], x[64..95], x[32..63],
// x[96..127] (bsums keep the natural order): the AVX-512 q4_K kernel takes 64 bytes of nibbles at a
// time, whose low nibbles are sub-blocks 0 and 2 and high nibbles sub-blocks 1 and 3.
enum class ActKind { f32, q8, q8k, q8x2_q4_0, q8x4_q4_0, q8x2w_q8_0, q8k_q4_K };

inline ActKind act_kind_for(TensorType t) noexcept {
  switch (t) {
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
      return ActKind::q8;
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return ActKind::q8k;
    default:
      return ActKind::f32;
  }
}

// Bytes of one quantized activation row of K elements.
inline std::size_t act_row_bytes(ActKind kind, std::int64_t K) noexcept {
  switch (kind) {
    case ActKind::q8: return static_cast<std::size_t>(K / 32) * sizeof(ActQ8);
    case ActKind::q8k: return static_cast<std::size_t>(K / 256) * sizeof(ActQ8K);
    case ActKind::q8x2_q4_0: return static_cast<std::size_t>((K / 32 + 1) / 2) * sizeof(ActQ8x2);
    case ActKind::q8x4_q4_0: return static_cast<std::size_t>((K / 32 + 3) / 4) * sizeof(ActQ8x4);
    case ActKind::q8x2w_q8_0: return static_cast<std::size_t>((K / 32 + 1) / 2) * sizeof(ActQ8x2W);
    case ActKind::q8k_q4_K: return static_cast<std::size_t>(K / 256) * sizeof(ActQ8K);
    default: return static_cast<std::size_t>(K) * sizeof(float);
  }
}

// Scalar activation quantizers: q = round-half-even(x·127/amax), so |x - d·q| <= d/2 with d = amax/127.
inline void quantize_act_q8_scalar(const float* x, ActQ8* y, std::int64_t K) {
  for (std::int64_t b = 0; b < K / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[j] * id));
      y[b].qs[j] = static_cast<std::int8_t>(std::clamp(q, -127, 127));
      sum += y[b].qs[j];
    }
    y[b].d = amax / 127.0f;
    y[b].s = y[b].d * static_cast<float>(sum);
  }
}

inline void quantize_act_q8k_scalar(const float* x, ActQ8K* y, std::int64_t K) {
  for (std::int64_t b = 0; b < K / 256; ++b, x += 256) {
    float amax = 0.0f;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 16 * g; j < 16 * g + 16; ++j) {
        const int q = static_cast<int>(std::nearbyint(x[j] * id));
        y[b].qs[j] = static_cast<std::int8_t>(std::clamp(q, -127, 127));
        sum += y[b].qs[j];
      }
      y[b].bsums[g] = static_cast<std::int16_t>(sum);
    }
    y[b].d = amax / 127.0f;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar row kernels: float dot(weight row, prepared activation row, K). Integer sums are exact;
// the same formulas as the AVX2 kernels, so the two differ only in float summation order.

inline float dot_f32_scalar(TensorType type, const std::byte* row, const float* x, std::int64_t K) {
  // 8 partial sums: same rounding behaviour class as the SIMD version, vectorizable by the compiler.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  auto w_at = [&](std::int64_t i) {
    if (type == TensorType::F32) {
      float f;
      std::memcpy(&f, row + 4 * i, 4);
      return f;
    }
    const std::uint16_t h = load_u16(row + 2 * i);
    return type == TensorType::BF16 ? bf16_bits_to_float(h) : half_bits_to_float(h);
  };
  std::int64_t i = 0;
  for (; i + 8 <= K; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += w_at(i + j) * x[i + j];
  float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < K; ++i) acc += w_at(i) * x[i];
  return acc;
}

// Unsigned weight codes u of one 32-block and the block's (d, z): w = d·u + z.
inline void unpack_q32_scalar(TensorType type, const std::byte* blk, int u[32], float& d, float& z) {
  auto nib = [&](const std::uint8_t* qs) {
    for (int j = 0; j < 16; ++j) {
      u[j] = qs[j] & 0xF;
      u[j + 16] = qs[j] >> 4;
    }
  };
  auto fifth = [&](const std::uint8_t* qh_bytes) {
    std::uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 32; ++j) u[j] |= static_cast<int>((qh >> j) & 1) << 4;
  };
  switch (type) {
    case TensorType::Q4_0: {
      auto* b = reinterpret_cast<const kq4_0*>(blk);
      nib(b->qs);
      d = half_bits_to_float(b->d);
      z = -8.0f * d;
      return;
    }
    case TensorType::Q4_1: {
      auto* b = reinterpret_cast<const kq4_1*>(blk);
      nib(b->qs);
      d = half_bits_to_float(b->d);
      z = half_bits_to_float(b->m);
      return;
    }
    case TensorType::Q5_0: {
      auto* b = reinterpret_cast<const kq5_0*>(blk);
      nib(b->qs);
      fifth(b->qh);
      d = half_bits_to_float(b->d);
      z = -16.0f * d;
      return;
    }
    default: {  // Q5_1
      auto* b = reinterpret_cast<const kq5_1*>(blk);
      nib(b->qs);
      fifth(b->qh);
      d = half_bits_to_float(b->d);
      z = half_bits_to_float(b->m);
      return;
    }
  }
}

template <TensorType T>
float dot_q32_zp_scalar(const std::byte* row, const void* act, std::int64_t K) {
  constexpr std::size_t kBytes = static_cast<std::size_t>(tensor_type_info(T).block_bytes);
  const ActQ8* a = static_cast<const ActQ8*>(act);
  float acc = 0.0f, zsum = 0.0f;
  int u[32];
  for (std::int64_t b = 0; b < K / 32; ++b) {
    float d, z;
    unpack_q32_scalar(T, row + static_cast<std::size_t>(b) * kBytes, u, d, z);
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += u[j] * a[b].qs[j];
    acc += d * a[b].d * static_cast<float>(sumi);
    zsum += z * a[b].s;
  }
  return acc + zsum;
}

inline float dot_q8_0_scalar(const std::byte* row, const void* act, std::int64_t K) {
  const kq8_0* w = reinterpret_cast<const kq8_0*>(row);
  const ActQ8* a = static_cast<const ActQ8*>(act);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < K / 32; ++b) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += w[b].qs[j] * a[b].qs[j];
    acc += half_bits_to_float(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return acc;
}

template <bool Q5>
float dot_q45_K_scalar(const std::byte* row, const void* act, std::int64_t K) {
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  constexpr std::size_t kBytes = Q5 ? sizeof(kq5_K) : sizeof(kq4_K);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < K / 256; ++b) {
    const std::byte* blk = row + static_cast<std::size_t>(b) * kBytes;
    const std::uint8_t* scales = reinterpret_cast<const std::uint8_t*>(blk) + 4;
    const std::uint8_t* qs = Q5 ? reinterpret_cast<const kq5_K*>(blk)->qs : reinterpret_cast<const kq4_K*>(blk)->qs;
    const std::uint8_t* qh = Q5 ? reinterpret_cast<const kq5_K*>(blk)->qh : nullptr;
    const std::int8_t* x = a[b].qs;
    int sumi = 0, summ = 0;
    for (int j = 0; j < 4; ++j, qs += 32, x += 64) {
      std::uint8_t sc0, m0, sc1, m1;
      k_scale_min(2 * j, scales, sc0, m0);
      k_scale_min(2 * j + 1, scales, sc1, m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        int lo = qs[l] & 0xF, hi = qs[l] >> 4;
        if (Q5) {
          lo |= ((qh[l] >> (2 * j)) & 1) << 4;
          hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
        }
        s0 += lo * x[l];
        s1 += hi * x[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (a[b].bsums[4 * j] + a[b].bsums[4 * j + 1]) + m1 * (a[b].bsums[4 * j + 2] + a[b].bsums[4 * j + 3]);
    }
    std::uint16_t dd[2];
    std::memcpy(dd, blk, 4);
    acc += a[b].d * (half_bits_to_float(dd[0]) * static_cast<float>(sumi) -
                     half_bits_to_float(dd[1]) * static_cast<float>(summ));
  }
  return acc;
}

inline float dot_q6_K_scalar(const std::byte* row, const void* act, std::int64_t K) {
  const kq6_K* w = reinterpret_cast<const kq6_K*>(row);
  const ActQ8K* a = static_cast<const ActQ8K*>(act);
  float acc = 0.0f;
  for (std::int64_t b = 0; b < K / 256; ++b) {
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {
      const std::uint8_t* ql = w[b].ql + 64 * h;
      const std::uint8_t* qh = w[b].qh + 32 * h;
      const std::int8_t* sc = w[b].scales + 8 * h;
      const std::int8_t* x = a[b].qs + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int u0 = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
        const int u1 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        const int u2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int u3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        sumi += sc[is] * (u0 - 32) * x[l] + sc[is + 2] * (u1 - 32) * x[l + 32] + sc[is + 4] * (u2 - 32) * x[l + 64] +
                sc[is + 6] * (u3 - 32) * x[l + 96];
      }
    }
    acc += half_bits_to_float(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return acc;
}

}  // namespace detail
}  // namespace phial::ops

#include <phial/ops/qdot_avx2.hpp>
#include <phial/ops/qdot_avx512.hpp>

namespace phial::ops {
namespace detail {

// ---------------------------------------------------------------------------------------------
// Dispatch.

// Ordered: a level includes the ones below it (avx512 falls back to the AVX2 kernel for types that
// have no AVX-512 one).
// avx512vbmi is avx512 plus VBMI and GFNI: the same kernels but q4_0's (qdot_avx512.hpp).
enum class SimdLevel { scalar, avx2, avx512, avx512vbmi };

inline SimdLevel best_simd_level() noexcept {
  if (phial::detail::use_avx512_vbmi_gfni()) return SimdLevel::avx512vbmi;
  if (phial::detail::use_avx512_vnni()) return SimdLevel::avx512;
  return phial::detail::use_avx2() ? SimdLevel::avx2 : SimdLevel::scalar;
}

// Every level this machine can run, lowest first (tests compare them all).
inline std::vector<SimdLevel> available_simd_levels() {
  std::vector<SimdLevel> v{SimdLevel::scalar};
  if (phial::detail::use_avx2()) v.push_back(SimdLevel::avx2);
  if (phial::detail::use_avx512_vnni()) v.push_back(SimdLevel::avx512);
  if (phial::detail::use_avx512_vbmi_gfni()) v.push_back(SimdLevel::avx512vbmi);
  return v;
}

inline const char* simd_level_name(SimdLevel l) noexcept {
  switch (l) {
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx512vbmi: return "avx512vbmi";
    default: return "scalar";
  }
}

using RowDotFn = float (*)(const std::byte* row, const void* act_row, std::int64_t K);
using QuantizeActFn = void (*)(const float* x, void* act_row, std::int64_t K);

// A row kernel plus the activation format it consumes.
struct RowDotKernel {
  TensorType type = TensorType::F32;
  ActKind act = ActKind::f32;
  RowDotFn dot = nullptr;
  QuantizeActFn quantize = nullptr;  // null for f32 activations (used as they are)
};

// The activation quantizer for `act` (null for f32 activations, which are used as they are).
inline QuantizeActFn select_quantizer(ActKind act, bool avx2) {
#if PHIAL_X86
  if (avx2) {
    switch (act) {
      case ActKind::q8:
        return [](const float* x, void* y, std::int64_t K) { avx2::quantize_act_q8(x, static_cast<ActQ8*>(y), K); };
      case ActKind::q8k:
        return [](const float* x, void* y, std::int64_t K) { avx2::quantize_act_q8k(x, static_cast<ActQ8K*>(y), K); };
      case ActKind::q8x2_q4_0:
        return [](const float* x, void* y, std::int64_t K) {
          avx2::quantize_act_q8xn_q4_0(x, static_cast<ActQ8x2*>(y), K);
        };
      // The AVX-512 layouts (only chosen when the CPU has AVX-512 VNNI)
      case ActKind::q8x4_q4_0:
        return [](const float* x, void* y, std::int64_t K) {
          avx2::quantize_act_q8xn_q4_0(x, static_cast<ActQ8x4*>(y), K);
        };
      case ActKind::q8x2w_q8_0:
        return [](const float* x, void* y, std::int64_t K) {
          avx512::quantize_act_q8x2w_q8_0(x, static_cast<ActQ8x2W*>(y), K);
        };
      case ActKind::q8k_q4_K:
        return [](const float* x, void* y, std::int64_t K) {
          avx512::quantize_act_q8k_q4_K(x, static_cast<ActQ8K*>(y), K);
        };
      default: return nullptr;
    }
  }
#else
  (void)avx2;
#endif
  switch (act) {
    case ActKind::q8:
      return [](const float* x, void* y, std::int64_t K) { quantize_act_q8_scalar(x, static_cast<ActQ8*>(y), K); };
    case ActKind::q8k:
      return [](const float* x, void* y, std::int64_t K) { quantize_act_q8k_scalar(x, static_cast<ActQ8K*>(y), K); };
    default: return nullptr;  // f32; the other layouts exist only with AVX2 / AVX-512
  }
}

template <TensorType T>
float dot_f32_scalar_t(const std::byte* row, const void* act, std::int64_t K) {
  return dot_f32_scalar(T, row, static_cast<const float*>(act), K);
}

inline RowDotKernel select_row_dot(TensorType type, SimdLevel level) {
  RowDotKernel k;
  k.type = type;
#if PHIAL_X86
  if (level >= SimdLevel::avx512) {
    auto pick = [&](ActKind act, RowDotFn dot) {
      k.act = act;
      k.dot = dot;
      k.quantize = select_quantizer(act, true);
      return k;
    };
    switch (type) {
      case TensorType::Q4_0:
        return pick(ActKind::q8x4_q4_0, level == SimdLevel::avx512vbmi ? &avx512::dot_q4_0_vbmi : &avx512::dot_q4_0);
      case TensorType::Q8_0: return pick(ActKind::q8x2w_q8_0, &avx512::dot_q8_0);
      case TensorType::Q4_K: return pick(ActKind::q8k_q4_K, &avx512::dot_q4_K);
      case TensorType::Q6_K: return pick(ActKind::q8k, &avx512::dot_q6_K);
      default: break;  // the AVX2 kernel
    }
  }
#endif
  const bool avx2 = level >= SimdLevel::avx2 && PHIAL_X86;
  k.act = act_kind_for(type);
  if (avx2 && type == TensorType::Q4_0) k.act = ActKind::q8x2_q4_0;  // two blocks per register: its own layout
  k.quantize = select_quantizer(k.act, avx2);
  switch (type) {
#if PHIAL_X86
#  define PHIAL_PICK(scalar_fn, avx2_fn) k.dot = avx2 ? static_cast<RowDotFn>(avx2_fn) : static_cast<RowDotFn>(scalar_fn)
#else
#  define PHIAL_PICK(scalar_fn, avx2_fn) k.dot = static_cast<RowDotFn>(scalar_fn)
#endif
    case TensorType::F32: PHIAL_PICK(&dot_f32_scalar_t<TensorType::F32>, &avx2::dot_f32); break;
    case TensorType::F16: PHIAL_PICK(&dot_f32_scalar_t<TensorType::F16>, &avx2::dot_16bit<false>); break;
    case TensorType::BF16: PHIAL_PICK(&dot_f32_scalar_t<TensorType::BF16>, &avx2::dot_16bit<true>); break;
    case TensorType::Q4_0: PHIAL_PICK(&dot_q32_zp_scalar<TensorType::Q4_0>, &avx2::dot_q4_0_x2); break;
    case TensorType::Q4_1: PHIAL_PICK(&dot_q32_zp_scalar<TensorType::Q4_1>, &avx2::dot_q32_zp<TensorType::Q4_1>); break;
    case TensorType::Q5_0: PHIAL_PICK(&dot_q32_zp_scalar<TensorType::Q5_0>, &avx2::dot_q32_zp<TensorType::Q5_0>); break;
    case TensorType::Q5_1: PHIAL_PICK(&dot_q32_zp_scalar<TensorType::Q5_1>, &avx2::dot_q32_zp<TensorType::Q5_1>); break;
    case TensorType::Q8_0: PHIAL_PICK(&dot_q8_0_scalar, &avx2::dot_q8_0); break;
    case TensorType::Q4_K: PHIAL_PICK(&dot_q45_K_scalar<false>, &avx2::dot_q45_K<false>); break;
    case TensorType::Q5_K: PHIAL_PICK(&dot_q45_K_scalar<true>, &avx2::dot_q45_K<true>); break;
    case TensorType::Q6_K: PHIAL_PICK(&dot_q6_K_scalar, &avx2::dot_q6_K); break;
#undef PHIAL_PICK
    default:
      throw InvalidArgument("matmul: unsupported tensor type " + std::string(tensor_type_info(type).name));
  }
  return k;
}

inline RowDotKernel select_row_dot(TensorType type) { return select_row_dot(type, best_simd_level()); }

// Dequantizes one row of K elements to f32 (SIMD when available).
inline void dequant_row(TensorType type, const std::byte* src, float* y, std::int64_t K, SimdLevel level) {
#if PHIAL_X86
  if (level >= SimdLevel::avx2 && avx2::dequant_row(type, src, y, K)) return;
#else
  (void)level;
#endif
  dequant_row_scalar(type, src, y, K);
}

// Dequantizes `nr` consecutive rows of K elements starting at `src` into `scratch` (nr, K) and returns
// it; f32 rows are returned in place (no copy).
inline const float* dequantize_rows_f32(TensorType type, const std::byte* src, std::int64_t nr, std::int64_t K,
                                              float* scratch) {
  if (type == TensorType::F32) return reinterpret_cast<const float*>(src);
  const SimdLevel level = best_simd_level();
  const std::size_t stride = static_cast<std::size_t>(row_bytes(type, K));
  for (std::int64_t r = 0; r < nr; ++r) dequant_row(type, src + r * stride, scratch + r * K, K, level);
  return scratch;
}

}  // namespace detail
}  // namespace phial::ops
