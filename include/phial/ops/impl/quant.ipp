// phial/ops/impl/quant.ipp - definitions for <phial/ops/quant.hpp>.
//
// The quantizers follow the algorithms of ggml's reference quantizers (ggml-quants.c,
// `quantize_row_*_ref`, `make_qkx2_quants`, `make_qx_quants`) step by step, with the same float
// operations in the same order, so that a model quantized here is byte-identical (or within one
// rounding decision) to one quantized by llama.cpp from the same floats.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include <phial/ops/quant.hpp>

namespace phial {

// ================================ dequantization ================================

PHIAL_INLINE void dequantize_row_q4_0(const block_q4_0* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK4_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * QK4_0 + j] = static_cast<float>(x0) * d;
      y[i * QK4_0 + j + QK4_0 / 2] = static_cast<float>(x1) * d;
    }
  }
}

PHIAL_INLINE void dequantize_row_q4_1(const block_q4_1* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK4_1; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const int x0 = x[i].qs[j] & 0x0F;
      const int x1 = x[i].qs[j] >> 4;
      y[i * QK4_1 + j] = static_cast<float>(x0) * d + m;
      y[i * QK4_1 + j + QK4_1 / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

PHIAL_INLINE void dequantize_row_q5_0(const block_q5_0* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK5_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < QK5_0 / 2; ++j) {
      const std::uint32_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10u;
      const std::uint32_t xh_1 = (qh >> (j + 12)) & 0x10u;
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0Fu) | xh_0) - 16;
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | xh_1) - 16;
      y[i * QK5_0 + j] = static_cast<float>(x0) * d;
      y[i * QK5_0 + j + QK5_0 / 2] = static_cast<float>(x1) * d;
    }
  }
}

PHIAL_INLINE void dequantize_row_q5_1(const block_q5_1* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK5_1; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < QK5_1 / 2; ++j) {
      const std::uint32_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10u;
      const std::uint32_t xh_1 = (qh >> (j + 12)) & 0x10u;
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0Fu) | xh_0);
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | xh_1);
      y[i * QK5_1 + j] = static_cast<float>(x0) * d + m;
      y[i * QK5_1 + j + QK5_1 / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

PHIAL_INLINE void dequantize_row_q8_0(const block_q8_0* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK8_0; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

PHIAL_INLINE void dequantize_row_q4_K(const block_q4_K* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    const std::uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m;
    // 4 chunks of 64 elements: low nibbles are sub-block 2c, high nibbles sub-block 2c+1
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

PHIAL_INLINE void dequantize_row_q5_K(const block_q5_K* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    const std::uint8_t* ql = x[i].qs;
    const std::uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m;
    std::uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 = static_cast<std::uint8_t>(u1 << 2);
      u2 = static_cast<std::uint8_t>(u2 << 2);
    }
  }
}

PHIAL_INLINE void dequantize_row_q6_K(const block_q6_K* x, float* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    // 2 halves of 128 elements; each byte of ql/qh feeds 2 or 4 elements 32 apart
    for (int h = 0; h < QK_K; h += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

namespace detail {
inline void check_row_length(TensorType t, std::int64_t n, const char* what) {
  const auto info = tensor_type_info(t);
  if (info.block_elems == 0)
    throw InvalidArgument(std::string(what) + ": unknown tensor type " + std::to_string(static_cast<unsigned>(t)));
  if (n < 0 || n % info.block_elems != 0)
    throw InvalidArgument(std::string(what) + ": " + std::to_string(n) + " elements is not a multiple of the " +
                          std::string(info.name) + " block size " + std::to_string(info.block_elems));
}
}  // namespace detail

PHIAL_INLINE void dequantize_row(TensorType t, const void* src, float* dst, std::int64_t n) {
  detail::check_row_length(t, n, "dequantize_row");
  switch (t) {
    case TensorType::F32: std::memcpy(dst, src, static_cast<std::size_t>(n) * 4); return;
    case TensorType::F16: {
      const auto* s = static_cast<const std::uint8_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) {
        half_bits h;
        std::memcpy(&h, s + 2 * i, 2);  // unaligned-safe
        dst[i] = fp16_to_fp32(h);
      }
      return;
    }
    case TensorType::BF16: {
      const auto* s = static_cast<const std::uint8_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) {
        bf16_bits b;
        std::memcpy(&b, s + 2 * i, 2);
        dst[i] = bf16_to_fp32(b);
      }
      return;
    }
    case TensorType::Q4_0: dequantize_row_q4_0(static_cast<const block_q4_0*>(src), dst, n); return;
    case TensorType::Q4_1: dequantize_row_q4_1(static_cast<const block_q4_1*>(src), dst, n); return;
    case TensorType::Q5_0: dequantize_row_q5_0(static_cast<const block_q5_0*>(src), dst, n); return;
    case TensorType::Q5_1: dequantize_row_q5_1(static_cast<const block_q5_1*>(src), dst, n); return;
    case TensorType::Q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(src), dst, n); return;
    case TensorType::Q8_1: {
      const auto* x = static_cast<const block_q8_1*>(src);
      for (std::int64_t i = 0; i < n / QK8_1; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; ++j) dst[i * QK8_1 + j] = static_cast<float>(x[i].qs[j]) * d;
      }
      return;
    }
    case TensorType::Q4_K: dequantize_row_q4_K(static_cast<const block_q4_K*>(src), dst, n); return;
    case TensorType::Q5_K: dequantize_row_q5_K(static_cast<const block_q5_K*>(src), dst, n); return;
    case TensorType::Q6_K: dequantize_row_q6_K(static_cast<const block_q6_K*>(src), dst, n); return;
    case TensorType::Q8_K: {
      const auto* x = static_cast<const block_q8_K*>(src);
      for (std::int64_t i = 0; i < n / QK_K; ++i)
        for (int j = 0; j < QK_K; ++j) dst[i * QK_K + j] = x[i].d * static_cast<float>(x[i].qs[j]);
      return;
    }
    default: break;
  }
  throw InvalidArgument("dequantize_row: tensor type " + std::string(tensor_type_info(t).name) +
                        " is not supported by phial");
}

// ================================ reference quantizers ================================

PHIAL_INLINE void quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::int64_t n) noexcept {
  constexpr int qk = QK4_0;
  for (std::int64_t i = 0; i < n / qk; ++i) {
    float amax = 0.0f;  // absolute max, and the signed value that has it
    float max = 0.0f;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;  // the extreme value maps to -8 exactly
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const auto xi0 = static_cast<std::uint8_t>(std::min<int>(15, static_cast<std::int8_t>(x0 + 8.5f)));
      const auto xi1 = static_cast<std::uint8_t>(std::min<int>(15, static_cast<std::int8_t>(x1 + 8.5f)));
      y[i].qs[j] = static_cast<std::uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

PHIAL_INLINE void quantize_row_q4_1_ref(const float* x, block_q4_1* y, std::int64_t n) noexcept {
  constexpr int qk = QK4_1;
  for (std::int64_t i = 0; i < n / qk; ++i) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = (x[i * qk + 0 + j] - min) * id;
      const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
      const auto xi0 = static_cast<std::uint8_t>(std::min<int>(15, static_cast<std::int8_t>(x0 + 0.5f)));
      const auto xi1 = static_cast<std::uint8_t>(std::min<int>(15, static_cast<std::int8_t>(x1 + 0.5f)));
      y[i].qs[j] = static_cast<std::uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

PHIAL_INLINE void quantize_row_q5_0_ref(const float* x, block_q5_0* y, std::int64_t n) noexcept {
  constexpr int qk = QK5_0;
  for (std::int64_t i = 0; i < n / qk; ++i) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    std::uint32_t qh = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const auto xi0 = static_cast<std::uint8_t>(std::min<int>(31, static_cast<std::int8_t>(x0 + 16.5f)));
      const auto xi1 = static_cast<std::uint8_t>(std::min<int>(31, static_cast<std::int8_t>(x1 + 16.5f)));
      y[i].qs[j] = static_cast<std::uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);  // the 5th bit of element j in bit j
      qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

PHIAL_INLINE void quantize_row_q5_1_ref(const float* x, block_q5_1* y, std::int64_t n) noexcept {
  constexpr int qk = QK5_1;
  for (std::int64_t i = 0; i < n / qk; ++i) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < qk; ++j) {
      const float v = x[i * qk + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    std::uint32_t qh = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = (x[i * qk + 0 + j] - min) * id;
      const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
      // (x0 + 0.5) is in [0, 31.5]: the truncating conversion is well defined
      const auto xi0 = static_cast<std::uint8_t>(static_cast<int>(x0 + 0.5f));
      const auto xi1 = static_cast<std::uint8_t>(static_cast<int>(x1 + 0.5f));
      y[i].qs[j] = static_cast<std::uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

PHIAL_INLINE void quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / QK8_0; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[i * QK8_0 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<std::int8_t>(std::round(x[i * QK8_0 + j] * id));
  }
}

namespace detail {

// ggml's make_qkx2_quants: quantize n values to L in [0, nmax] as x ~ scale * L - the_min, with
// weights; starts from the min/max fit, then tries nstep+1 rescalings (rmin + rdelta*is) and keeps
// the weighted least-squares (scale, min) of the best. Returns the scale; the_min gets -min (>= 0).
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L,
                              float* the_min, std::uint8_t* Laux, float rmin, float rdelta, int nstep) noexcept {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i];
      sum_l += w * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w * static_cast<float>(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights (weights x^2): symmetric
// quantization of n values to L in [0, 2*nmax) (stored +nmax), trying 18 scale perturbations.
inline float make_qx_quants_rmse1(int n, int nmax, const float* x, std::int8_t* L) noexcept {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // GROUP_MAX_EPS: all (near) zero
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<std::int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<std::int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Packs 8 six-bit scales and 8 six-bit mins into the 12 bytes of a q4_K / q5_K block
// (inverse of get_scale_min_k4).
inline void pack_scale_min_k4(const std::uint8_t* ls, const std::uint8_t* lm, std::uint8_t* scales) noexcept {
  for (int j = 0; j < QK_K / 32; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<std::uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] = static_cast<std::uint8_t>(scales[j - 4] | ((ls[j] >> 4) << 6));
      scales[j - 0] = static_cast<std::uint8_t>(scales[j - 0] | ((lm[j] >> 4) << 6));
    }
  }
}

// The part shared by q4_K and q5_K: per 32-element sub-block (scale, min) fits, 6-bit quantized
// against the block maxima, then the final quants recomputed with the rounded scales.
// L receives 256 quants in [0, nmax]; d/dmin/scales are written to the block fields.
inline void quantize_k_block_with_mins(const float* x, int nmax, float rmin, float rdelta, int nstep, half_bits* d_out,
                                       half_bits* dmin_out, std::uint8_t* scales_out, std::uint8_t* L) noexcept {
  std::uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  float max_scale = 0;  // the mins are subtracted, so the scales are >= 0
  float max_min = 0;
  for (int j = 0; j < QK_K / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::uint8_t ls[QK_K / 32], lm[QK_K / 32];
  for (int j = 0; j < QK_K / 32; ++j) {
    // ggml stores nearest_int into a uint8_t before clamping: keep that truncation
    ls[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_min * mins[j])));
  }
  std::memset(scales_out, 0, K_SCALE_SIZE);
  pack_scale_min_k4(ls, lm, scales_out);
  *d_out = fp32_to_fp16(max_scale / 63.f);
  *dmin_out = fp32_to_fp16(max_min / 63.f);
  std::uint8_t sc, m;
  for (int j = 0; j < QK_K / 32; ++j) {
    get_scale_min_k4(j, scales_out, &sc, &m);
    const float d = fp16_to_fp32(*d_out) * sc;
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(*dmin_out) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

}  // namespace detail

PHIAL_INLINE void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::int64_t n) noexcept {
  std::uint8_t L[QK_K];
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    detail::quantize_k_block_with_mins(x, 15, -1.f, 0.1f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
    std::uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
    x += QK_K;
  }
}

PHIAL_INLINE void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::int64_t n) noexcept {
  std::uint8_t L[QK_K];
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    detail::quantize_k_block_with_mins(x, 31, -0.5f, 0.1f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
    std::uint8_t* qh = y[i].qh;
    std::uint8_t* ql = y[i].qs;
    std::memset(qh, 0, QK_K / 8);
    std::uint8_t m1 = 1, m2 = 2;
    for (int nn = 0; nn < QK_K; nn += 64) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[nn + j];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        int l2 = L[nn + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<std::uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<std::uint8_t>(m1 << 2);
      m2 = static_cast<std::uint8_t>(m2 << 2);
      ql += 32;
    }
    x += QK_K;
  }
}

PHIAL_INLINE void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::int64_t n) noexcept {
  std::int8_t L[QK_K];
  float scales[QK_K / 16];
  for (std::int64_t i = 0; i < n / QK_K; ++i) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      const float scale = detail::make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < 1e-15f) {  // all-zero block
      std::memset(&y[i], 0, sizeof(block_q6_K));
      y[i].d = fp32_to_fp16(0.f);
      x += QK_K;
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib)
      y[i].scales[ib] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * static_cast<float>(y[i].scales[j]);
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int(x[16 * j + ii] / d);
        l = std::max(-32, std::min(31, l));
        L[16 * j + ii] = static_cast<std::int8_t>(l + 32);
      }
    }
    std::uint8_t* ql = y[i].ql;
    std::uint8_t* qh = y[i].qh;
    for (int j = 0; j < QK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const std::uint8_t q1 = L[j + l + 0] & 0xF;
        const std::uint8_t q2 = L[j + l + 32] & 0xF;
        const std::uint8_t q3 = L[j + l + 64] & 0xF;
        const std::uint8_t q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = static_cast<std::uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<std::uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<std::uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                          ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
    x += QK_K;
  }
}

PHIAL_INLINE void quantize_row(TensorType t, const float* src, void* dst, std::int64_t n) {
  detail::check_row_length(t, n, "quantize_row");
  switch (t) {
    case TensorType::F32: std::memcpy(dst, src, static_cast<std::size_t>(n) * 4); return;
    case TensorType::F16: {
      auto* d = static_cast<std::uint8_t*>(dst);
      for (std::int64_t i = 0; i < n; ++i) {
        const half_bits h = fp32_to_fp16(src[i]);
        std::memcpy(d + 2 * i, &h, 2);
      }
      return;
    }
    case TensorType::BF16: {
      auto* d = static_cast<std::uint8_t*>(dst);
      for (std::int64_t i = 0; i < n; ++i) {
        const bf16_bits b = fp32_to_bf16(src[i]);
        std::memcpy(d + 2 * i, &b, 2);
      }
      return;
    }
    case TensorType::Q4_0: quantize_row_q4_0_ref(src, static_cast<block_q4_0*>(dst), n); return;
    case TensorType::Q4_1: quantize_row_q4_1_ref(src, static_cast<block_q4_1*>(dst), n); return;
    case TensorType::Q5_0: quantize_row_q5_0_ref(src, static_cast<block_q5_0*>(dst), n); return;
    case TensorType::Q5_1: quantize_row_q5_1_ref(src, static_cast<block_q5_1*>(dst), n); return;
    case TensorType::Q8_0: quantize_row_q8_0_ref(src, static_cast<block_q8_0*>(dst), n); return;
    case TensorType::Q4_K: quantize_row_q4_K_ref(src, static_cast<block_q4_K*>(dst), n); return;
    case TensorType::Q5_K: quantize_row_q5_K_ref(src, static_cast<block_q5_K*>(dst), n); return;
    case TensorType::Q6_K: quantize_row_q6_K_ref(src, static_cast<block_q6_K*>(dst), n); return;
    default: break;
  }
  throw InvalidArgument("quantize_row: phial cannot quantize to " + std::string(tensor_type_info(t).name));
}

}  // namespace phial
