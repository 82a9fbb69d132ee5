// phial/ops/attention.hpp - scaled dot-product attention of one query vector against cached keys.
//
// transformers computes, per query head, softmax(q K^T * head_dim^-0.5 + causal mask) V with the
// softmax in float32. Here the keys are visited in blocks with a running maximum and running sum
// ("online softmax"): the result is the same softmax up to float rounding, and no (T, T) score matrix
// is ever materialised, so prefill memory stays bounded however long the prompt is. The only scratch
// is a block of scores on the stack; the output vector doubles as the accumulator.
//
// Keys and values may be stored as float or as 16-bit floats: the caller passes a `load` function
// turning one stored element into a float.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <phial/config.hpp>

namespace phial::ops {

inline constexpr int kAttentionBlock = 64;  // keys scored per block (a 256-byte stack array)

// q (head_dim) against keys/values at positions [first, last) of one kv head:
//   k, v: (positions, kv_stride) - element [p * kv_stride + d] is dimension d of position p
//   out (head_dim) = sum_p softmax_p(scale * q . k_p) * v_p
// Requires first < last.
template <class T, class Load>
void attend(const float* PHIAL_RESTRICT q, const T* PHIAL_RESTRICT k, const T* PHIAL_RESTRICT v,
            std::int64_t kv_stride, std::int64_t first, std::int64_t last, int head_dim, float scale,
            float* PHIAL_RESTRICT out, Load load) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;

  float scores[kAttentionBlock];
  for (std::int64_t block = first; block < last; block += kAttentionBlock) {
    const int n = int(std::min<std::int64_t>(kAttentionBlock, last - block));
    // scores (n) = scale * q . k_p
    float block_max = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < n; ++j) {
      const T* kp = k + (block + j) * kv_stride;
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += q[d] * load(kp[d]);
      scores[j] = dot * scale;
      block_max = std::max(block_max, scores[j]);
    }
    // Rescale what was accumulated so far to the new maximum (exp(-inf) = 0 on the first block).
    const float new_max = std::max(running_max, block_max);
    const float correction = std::exp(running_max - new_max);
    running_sum *= correction;
    for (int d = 0; d < head_dim; ++d) out[d] *= correction;
    for (int j = 0; j < n; ++j) {
      const float p = std::exp(scores[j] - new_max);
      running_sum += p;
      const T* vp = v + (block + j) * kv_stride;
      for (int d = 0; d < head_dim; ++d) out[d] += p * load(vp[d]);
    }
    running_max = new_max;
  }
  const float inv_sum = 1.0f / running_sum;
  for (int d = 0; d < head_dim; ++d) out[d] *= inv_sum;
}

// Plain float storage.
PHIAL_ALWAYS_INLINE float load_f32(float x) { return x; }

// First key a query at position `pos` may see: causal, optionally limited to a sliding window of
// `window` keys (transformers masks kv_idx <= q_idx - window); window <= 0 means no window.
PHIAL_ALWAYS_INLINE std::int64_t first_visible_key(std::int64_t pos, std::int64_t window) {
  return window > 0 ? std::max<std::int64_t>(0, pos - window + 1) : 0;
}

}  // namespace phial::ops
