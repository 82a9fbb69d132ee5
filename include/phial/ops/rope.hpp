// phial/ops/rope.hpp - rotary position embedding, rotate-half (NeoX) convention, partial rotary.
//
// transformers (modeling_phi3.py / modeling_rope_utils.py):
//   inv_freq[i] = 1 / (factor[i] * base^(2i / rotary_dim))      i < rotary_dim/2, float32 arithmetic
//   angle[i]    = pos * inv_freq[i]                              float32 product
//   cos[i]      = cos(angle[i]) * mscale,  sin[i] = sin(angle[i]) * mscale
// and for each head vector x (head_dim), with h = rotary_dim / 2:
//   j <  h:           x'[j] = x[j] * cos[j]   - x[j+h] * sin[j]
//   h <= j < rot:     x'[j] = x[j] * cos[j-h] + x[j-h] * sin[j-h]
//   j >= rot:         x'[j] = x[j]           (partial rotary: the tail passes through)
// Pairs are (j, j + rotary_dim/2), never (2j, 2j+1) and never (j, j + head_dim/2).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include <phial/config.hpp>

namespace phial::ops {

// Inverse frequencies (rotary_dim / 2) in float32 semantics, as torch computes them:
// the exponent 2i/rotary_dim is a float32, base^exponent is rounded to float32, multiplied by the
// (float32) factor in float32, then inverted in float32. `factors` may be null (plain RoPE).
inline std::vector<float> rope_inv_freq(double base, int rotary_dim, const float* factors) {
  const int half = rotary_dim / 2;
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    const float exponent = float(2 * i) / float(rotary_dim);           // exact for small ints / powers of two
    const float power = float(std::pow(base, double(exponent)));       // torch.pow in float32 (<= 1 ulp)
    const float denom = factors ? factors[i] * power : power;          // float32 multiply
    inv_freq[static_cast<std::size_t>(i)] = 1.0f / denom;              // float32 divide
  }
  return inv_freq;
}

// cos/sin tables of one position: cos (half), sin (half), already multiplied by mscale.
inline void rope_cos_sin(const float* inv_freq, int half, std::int64_t pos, float mscale, float* cos_out,
                               float* sin_out) {
  const float p = float(pos);  // position ids are converted to float32 before the product
  for (int i = 0; i < half; ++i) {
    const float angle = p * inv_freq[i];  // float32 product, as torch's fp32 matmul with K = 1
    cos_out[i] = float(std::cos(double(angle))) * mscale;
    sin_out[i] = float(std::sin(double(angle))) * mscale;
  }
}

// Rotates the first rotary_dim dims of one head vector x (head_dim) in place.
inline void rope_apply(float* x, const float* cos_t, const float* sin_t, int rotary_dim) {
  const int half = rotary_dim / 2;
  for (int j = 0; j < half; ++j) {
    const float a = x[j];         // first half
    const float b = x[j + half];  // its partner in the second half
    x[j] = a * cos_t[j] - b * sin_t[j];
    x[j + half] = b * cos_t[j] + a * sin_t[j];
  }
}

// Rotates every head of one token: x (n_heads, head_dim).
inline void rope_apply_heads(float* x, int n_heads, int head_dim, const float* cos_t, const float* sin_t,
                                   int rotary_dim) {
  for (int h = 0; h < n_heads; ++h) rope_apply(x + std::int64_t(h) * head_dim, cos_t, sin_t, rotary_dim);
}

}  // namespace phial::ops
