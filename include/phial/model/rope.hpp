// phial/model/rope.hpp - the rotary-embedding constants of one model and the LongRoPE policy.
//
// Built once per model from its ModelConfig (never from constants of a particular model):
//   rotary_dim = head_dim * partial_rotary_factor (config.rotary_dim)
//   inv_freq   = 1 / (factor[i] * theta^(2i / rotary_dim))     float32 semantics (ops/rope.hpp)
//   mscale     = config.rope_attn_factor, multiplying cos AND sin for short and long factors alike
//
// LongRoPE (spec §2.4): transformers picks the factors per forward call from the sequence length:
// short while the sequence has <= original_max_position_embeddings tokens, long once it is longer.
// Because K is cached after the rotation, it drops the cache and re-prefills every token with the
// long factors the first time a generated sequence crosses that boundary. RopePolicy::hf_switch
// reproduces exactly that; RopePolicy::always_long uses the long factors from the first token (what
// transformers computes for a prompt that is long from the start) and never recomputes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>
#include <phial/ops/rope.hpp>

namespace phial {

struct RopeTables {
  int head_dim = 0;
  int rotary_dim = 0;  // dims 0..rotary_dim-1 of each head rotate; the rest pass through
  float mscale = 1.0f;
  std::int64_t original_context = 0;   // original_max_position_embeddings (LongRoPE only)
  std::vector<float> inv_freq_short;   // (rotary_dim/2) short factors, or plain RoPE without LongRoPE
  std::vector<float> inv_freq_long;    // (rotary_dim/2) long factors; empty without LongRoPE

  bool has_longrope() const noexcept { return !inv_freq_long.empty(); }
  int half() const noexcept { return rotary_dim / 2; }

  // Whether a sequence of `total_tokens` tokens is encoded with the long factors.
  bool wants_long(RopePolicy policy, std::int64_t total_tokens) const noexcept {
    if (!has_longrope()) return false;
    return policy == RopePolicy::always_long || total_tokens > original_context;
  }
  const std::vector<float>& inv_freq(bool long_factors) const noexcept {
    return long_factors && has_longrope() ? inv_freq_long : inv_freq_short;
  }

  static RopeTables from_config(const ModelConfig& c) {
    RopeTables t;
    t.head_dim = c.head_dim;
    t.rotary_dim = c.rotary_dim;
    if (c.head_dim <= 0) throw FormatError("model config: head_dim must be positive, got " + std::to_string(c.head_dim));
    if (t.rotary_dim <= 0 || t.rotary_dim > c.head_dim || t.rotary_dim % 2 != 0)
      throw FormatError("model config: rotary dimension " + std::to_string(t.rotary_dim) +
                        " must be even and in (0, head_dim = " + std::to_string(c.head_dim) + "]");
    if (!(c.rope_theta > 0.0f))
      throw FormatError("model config: rope_theta must be positive, got " + std::to_string(c.rope_theta));
    t.mscale = c.rope_attn_factor > 0.0f ? c.rope_attn_factor : 1.0f;
    const auto half = static_cast<std::size_t>(t.rotary_dim / 2);
    if (c.has_longrope()) {
      if (c.rope_long_factors.size() != half || c.rope_short_factors.size() != half)
        throw FormatError("model config: LongRoPE needs rotary_dim/2 = " + std::to_string(half) +
                          " long and short factors, got " + std::to_string(c.rope_long_factors.size()) + " and " +
                          std::to_string(c.rope_short_factors.size()));
      if (c.original_max_position_embeddings <= 0)
        throw FormatError("model config: LongRoPE needs original_max_position_embeddings > 0");
      t.original_context = c.original_max_position_embeddings;
      t.inv_freq_short = ops::rope_inv_freq(c.rope_theta, t.rotary_dim, c.rope_short_factors.data());
      t.inv_freq_long = ops::rope_inv_freq(c.rope_theta, t.rotary_dim, c.rope_long_factors.data());
    } else {
      t.inv_freq_short = ops::rope_inv_freq(c.rope_theta, t.rotary_dim, nullptr);
    }
    return t;
  }
};

}  // namespace phial
