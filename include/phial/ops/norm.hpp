// phial/ops/norm.hpp - RMSNorm, exactly as transformers' Phi3RMSNorm computes it.
//
//   y = weight * (x / sqrt(mean(x^2) + eps))
//
// eps sits inside the square root; there is no bias and no (1 + weight) offset. The mean of squares
// is accumulated in double: one pass over n floats, and it removes the only long reduction of the op
// from the error budget (the reference is float64).
#pragma once
#include <cmath>
#include <cstdint>

#include <phial/config.hpp>

namespace phial::ops {

// One row: x (n) -> y (n). y may alias x.
inline void rms_norm(const float* x, const float* weight, float* y, std::int64_t n, float eps) {
  double sum_sq = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  const float inv_rms = float(1.0 / std::sqrt(sum_sq / double(n) + double(eps)));
  for (std::int64_t i = 0; i < n; ++i) y[i] = weight[i] * (x[i] * inv_rms);
}

// Many rows: x (n_rows, n) -> y (n_rows, n), both contiguous.
inline void rms_norm_rows(const float* x, const float* weight, float* y, std::int64_t n_rows, std::int64_t n,
                                float eps) {
  for (std::int64_t r = 0; r < n_rows; ++r) rms_norm(x + r * n, weight, y + r * n, n, eps);
}

// Residual connection: x (n) += delta (n).
inline void add_inplace(float* x, const float* delta, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] += delta[i];
}

}  // namespace phial::ops
