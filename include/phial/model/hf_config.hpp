// phial/model/hf_config.hpp - ModelConfig from a Hugging Face model directory: config.json
// (architecture, dims, RoPE/LongRoPE), generation_config.json (stop tokens), tokenizer_config.json
// (chat template, eos token, special tokens) and, for the family, tokenizer.json's added tokens.
//
// Also the family / variant classification shared with the GGUF path, and the checks that
// refuse Phi-family models phial does not implement (phi4flash, phi4mm) with UnsupportedModelError.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>

namespace phial {

// Parses config.json text. `source` names the file in error messages. Throws FormatError for
// malformed / inconsistent configs and UnsupportedModelError for architectures phial lacks.
ModelConfig parse_hf_config(std::string_view config_json, const std::string& source = "config.json");

// Merges generation_config.json (eos_token_id int or list -> eos_token_ids first, bos, pad).
void apply_hf_generation_config(ModelConfig& cfg, std::string_view json, const std::string& source = "generation_config.json");

// Merges tokenizer_config.json: chat_template (string, or the "default" entry of a list),
// eos_token resolved to an id through added_tokens_decoder, and the names of the added tokens
// (returned, for family detection).
std::vector<std::string> apply_hf_tokenizer_config(ModelConfig& cfg, std::string_view json,
                                                   const std::string& source = "tokenizer_config.json");

// Reads everything present in `dir` (config.json required; the others optional; chat_template.jinja
// overrides the template when present), then classifies family and variant.
ModelConfig load_hf_config(const std::filesystem::path& dir);

// Evidence for classify_model(): whatever the source has.
struct FamilyHints {
  std::string tokenizer_pre;                 // GGUF tokenizer.ggml.pre ("gpt-4o", "dbrx", ...)
  std::string tokenizer_model;               // GGUF tokenizer.ggml.model ("gpt2", "llama")
  std::vector<std::string> special_tokens;   // texts of added / control tokens
  double partial_rotary_factor = 1.0;
};

// Sets cfg.family and cfg.variant from the name, vocabulary, special tokens, template and shape.
void classify_model(ModelConfig& cfg, const FamilyHints& hints);

std::string_view family_name(Family f) noexcept;
std::string_view variant_name(Variant v) noexcept;

// The LongRoPE attention factor transformers uses when rope_scaling has no attention_factor:
// sqrt(1 + ln(s) / ln(original)) with s = max / original, or 1 when s <= 1.
double longrope_attn_factor(std::int64_t max_positions, std::int64_t original_max_positions) noexcept;

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/hf_config.ipp>
#endif
