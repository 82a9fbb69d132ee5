// phial/model/config.hpp - one description of a Phi-4-family model, built from GGUF metadata or
// from a Hugging Face config.json. The executor, tokenizer and prompt code read only this.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace phial {

// Tokenizer / chat-format family.
enum class Family {
  phi4,       // Phi-4 14B, Phi-4-reasoning(-plus): cl100k-derived vocab, ChatML-like <|im_start|>
  phi4_mini,  // Phi-4-mini-instruct / -reasoning: o200k-derived vocab, <|user|> ... <|end|>
  phi3,       // Phi-3 / Phi-3.5-mini (SentencePiece vocab; prompt format only)
  unknown,
};

enum class Variant {
  phi4,
  phi4_reasoning,       // also -reasoning-plus
  phi4_mini_instruct,
  phi4_mini_reasoning,
  unknown,
};

// How LongRoPE chooses between short and long factors (spec §2.4).
enum class RopePolicy {
  // transformers' behaviour: short factors while the sequence has <= original_max_position_embeddings
  // tokens, long factors once it is longer; crossing the boundary recomputes the whole KV cache.
  hf_switch,
  // long factors from the first token: never recomputes (for callers who know the context is long).
  always_long,
};

struct ModelConfig {
  std::string name;  // general.name / _name_or_path, for display
  Family family = Family::unknown;
  Variant variant = Variant::unknown;

  std::int32_t hidden_size = 0;        // H
  std::int32_t intermediate_size = 0;  // I (gate_up has 2I rows)
  std::int32_t n_layers = 0;
  std::int32_t n_heads = 0;
  std::int32_t n_kv_heads = 0;
  std::int32_t head_dim = 0;    // hidden_size / n_heads unless the config says otherwise
  std::int32_t rotary_dim = 0;  // head_dim * partial_rotary_factor (96 for Phi-4-mini)
  std::int32_t vocab_size = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.f;

  std::int64_t max_position_embeddings = 0;
  std::int64_t original_max_position_embeddings = 0;
  // LongRoPE (empty when rope_scaling is null): rotary_dim / 2 factors each.
  std::vector<float> rope_long_factors;
  std::vector<float> rope_short_factors;
  float rope_attn_factor = 1.0f;  // "mscale", multiplies cos and sin (1.1902... for Phi-4-mini)

  bool tie_word_embeddings = false;
  std::int64_t sliding_window = 0;  // 0 = none

  std::int32_t bos_token_id = -1;
  std::vector<std::int32_t> eos_token_ids;  // generation stops on any of these
  std::int32_t pad_token_id = -1;
  std::string chat_template;  // Jinja source from tokenizer_config.json / tokenizer.chat_template

  bool has_longrope() const noexcept { return !rope_long_factors.empty(); }
};

}  // namespace phial
