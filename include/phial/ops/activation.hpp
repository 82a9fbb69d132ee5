// phial/ops/activation.hpp - the gated MLP activation of the Phi-3 architecture.
//
// transformers computes `up * silu(gate)` where gate_up_proj's output is chunked in two along the
// feature axis and the FIRST half is the gate. silu(z) = z * sigmoid(z) = z / (1 + exp(-z)).
#pragma once
#include <cmath>
#include <cstdint>

#include <phial/config.hpp>

namespace phial::ops {

PHIAL_ALWAYS_INLINE float silu(float z) { return z / (1.0f + std::exp(-z)); }

// One token: gate_up (2n) laid out [gate (n) | up (n)] -> out (n) = up * silu(gate).
inline void swiglu(const float* gate_up, float* out, std::int64_t n) {
  const float* gate = gate_up;
  const float* up = gate_up + n;
  for (std::int64_t i = 0; i < n; ++i) out[i] = up[i] * silu(gate[i]);
}

// Many tokens: gate_up (n_rows, 2n) -> out (n_rows, n).
inline void swiglu_rows(const float* gate_up, float* out, std::int64_t n_rows, std::int64_t n) {
  for (std::int64_t r = 0; r < n_rows; ++r) swiglu(gate_up + r * 2 * n, out + r * n, n);
}

}  // namespace phial::ops
