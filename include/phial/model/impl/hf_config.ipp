// phial/model/impl/hf_config.ipp - Hugging Face config parsing and family classification.
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include <boost/json.hpp>

#include <phial/model/hf_config.hpp>
#include <phial/model/safetensors.hpp>  // detail::parse_json_or_throw, read_text_file

namespace phial {

PHIAL_INLINE std::string_view family_name(Family f) noexcept {
  switch (f) {
    case Family::phi4: return "phi4";
    case Family::phi4_mini: return "phi4-mini";
    case Family::phi3: return "phi3";
    case Family::unknown: break;
  }
  return "unknown";
}

PHIAL_INLINE std::string_view variant_name(Variant v) noexcept {
  switch (v) {
    case Variant::phi4: return "Phi-4";
    case Variant::phi4_reasoning: return "Phi-4-reasoning";
    case Variant::phi4_mini_instruct: return "Phi-4-mini-instruct";
    case Variant::phi4_mini_reasoning: return "Phi-4-mini-reasoning";
    case Variant::unknown: break;
  }
  return "unknown";
}

PHIAL_INLINE double longrope_attn_factor(std::int64_t max_positions, std::int64_t original_max_positions) noexcept {
  if (original_max_positions <= 1 || max_positions <= original_max_positions) return 1.0;
  const double scale = static_cast<double>(max_positions) / static_cast<double>(original_max_positions);
  return std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(original_max_positions)));
}

namespace detail {

namespace json = boost::json;

// Typed JSON field access with messages naming file and key.
struct JsonFields {
  const json::object& o;
  const std::string& source;

  [[noreturn]] void bad(std::string_view key, const std::string& expected) const {
    throw FormatError(source + ": key '" + std::string(key) + "': expected " + expected);
  }
  const json::value* get(std::string_view key) const {
    const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
    return (v && !v->is_null()) ? v : nullptr;
  }
  std::optional<std::int64_t> opt_int(std::string_view key) const {
    const json::value* v = get(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return static_cast<std::int64_t>(v->as_uint64());
    if (v->is_double() && std::floor(v->as_double()) == v->as_double() && std::fabs(v->as_double()) < 9e15)
      return static_cast<std::int64_t>(v->as_double());
    bad(key, "an integer, got " + json::serialize(*v).substr(0, 40));
  }
  std::int64_t req_int(std::string_view key) const {
    auto v = opt_int(key);
    if (!v) throw FormatError(source + ": missing key '" + std::string(key) + "' (an integer)");
    return *v;
  }
  std::optional<double> opt_num(std::string_view key) const {
    const json::value* v = get(key);
    if (!v) return std::nullopt;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    bad(key, "a number, got " + json::serialize(*v).substr(0, 40));
  }
  std::optional<bool> opt_bool(std::string_view key) const {
    const json::value* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_bool()) bad(key, "true or false");
    return v->as_bool();
  }
  std::optional<std::string> opt_str(std::string_view key) const {
    const json::value* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad(key, "a string");
    return std::string(v->as_string());
  }
  // An int or a list of ints (eos_token_id).
  std::vector<std::int32_t> int_or_list(std::string_view key) const {
    std::vector<std::int32_t> out;
    const json::value* v = get(key);
    if (!v) return out;
    auto one = [&](const json::value& x) {
      if (x.is_int64() && x.as_int64() >= 0 && x.as_int64() <= std::numeric_limits<std::int32_t>::max())
        out.push_back(static_cast<std::int32_t>(x.as_int64()));
      else if (x.is_uint64() && x.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
        out.push_back(static_cast<std::int32_t>(x.as_uint64()));
      else
        bad(key, "a token id or a list of token ids");
    };
    if (v->is_array())
      for (const auto& x : v->as_array()) one(x);
    else
      one(*v);
    return out;
  }
  std::vector<float> float_list(const json::value& v, std::string_view key) const {
    if (!v.is_array()) bad(key, "an array of numbers");
    std::vector<float> out;
    for (const auto& x : v.as_array()) {
      if (x.is_double()) out.push_back(static_cast<float>(x.as_double()));
      else if (x.is_int64()) out.push_back(static_cast<float>(x.as_int64()));
      else if (x.is_uint64()) out.push_back(static_cast<float>(x.as_uint64()));
      else bad(key, "an array of numbers");
    }
    return out;
  }
};

inline void add_unique(std::vector<std::int32_t>& v, std::int32_t id) {
  if (id >= 0 && std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::int32_t to_i32(std::int64_t v, const std::string& source, std::string_view key, std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi)
    throw FormatError(source + ": key '" + std::string(key) + "': " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  return static_cast<std::int32_t>(v);
}

}  // namespace detail

PHIAL_INLINE ModelConfig parse_hf_config(std::string_view config_json, const std::string& source) {
  namespace json = boost::json;
  const json::value root = detail::parse_json_or_throw(config_json, source);
  if (!root.is_object()) throw FormatError(source + ": expected a JSON object");
  const detail::JsonFields f{root.as_object(), source};

  // ---- architecture: only the Phi-3 decoder (Phi-4, Phi-4-mini, their reasoning variants) ----
  const std::string model_type = f.opt_str("model_type").value_or("");
  std::string arch;
  if (const auto* a = f.get("architectures"); a && a->is_array() && !a->as_array().empty() && a->as_array()[0].is_string())
    arch = std::string(a->as_array()[0].as_string());
  if (model_type == "phi4flash" || arch == "Phi4FlashForCausalLM")
    throw UnsupportedModelError(source + ": Phi-4-mini-flash-reasoning (model_type 'phi4flash', SambaY: Mamba + differential "
                                         "attention + YOCO) is a different architecture that phial does not support yet");
  if (model_type == "phi4mm" || model_type == "phi4_multimodal" || arch == "Phi4MMForCausalLM")
    throw UnsupportedModelError(source + ": Phi-4-multimodal (model_type '" + model_type +
                                         "') stores its decoder as PEFT LoRA-wrapped weights (base_layer / lora_A / lora_B); "
                                         "phial does not support it yet");
  if (model_type != "phi3")
    throw UnsupportedModelError(source + ": model_type '" + model_type + "' (" + (arch.empty() ? "no architectures" : arch) +
                                ") is not the Phi-3 architecture phial implements (expected model_type 'phi3')");

  ModelConfig c;
  c.name = f.opt_str("_name_or_path").value_or("");
  constexpr std::int64_t kMaxDim = 1 << 20;
  c.hidden_size = detail::to_i32(f.req_int("hidden_size"), source, "hidden_size", 1, kMaxDim);
  c.intermediate_size = detail::to_i32(f.req_int("intermediate_size"), source, "intermediate_size", 1, kMaxDim);
  c.n_layers = detail::to_i32(f.req_int("num_hidden_layers"), source, "num_hidden_layers", 1, 4096);
  c.n_heads = detail::to_i32(f.req_int("num_attention_heads"), source, "num_attention_heads", 1, 4096);
  c.n_kv_heads = detail::to_i32(f.opt_int("num_key_value_heads").value_or(c.n_heads), source, "num_key_value_heads", 1, 4096);
  c.vocab_size = detail::to_i32(f.req_int("vocab_size"), source, "vocab_size", 1, 1 << 24);
  if (c.n_heads % c.n_kv_heads != 0)
    throw FormatError(source + ": num_attention_heads " + std::to_string(c.n_heads) + " is not a multiple of num_key_value_heads " +
                      std::to_string(c.n_kv_heads));
  if (auto hd = f.opt_int("head_dim")) {
    c.head_dim = detail::to_i32(*hd, source, "head_dim", 1, 65536);
  } else {
    if (c.hidden_size % c.n_heads != 0)
      throw FormatError(source + ": hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                        std::to_string(c.n_heads) + " (and there is no head_dim)");
    c.head_dim = c.hidden_size / c.n_heads;
  }
  const double partial = f.opt_num("partial_rotary_factor").value_or(1.0);
  if (!(partial > 0.0 && partial <= 1.0)) throw FormatError(source + ": key 'partial_rotary_factor': expected a number in (0, 1]");
  c.rotary_dim = static_cast<std::int32_t>(static_cast<double>(c.head_dim) * partial);
  if (c.rotary_dim % 2 != 0 || c.rotary_dim == 0)
    throw FormatError(source + ": head_dim " + std::to_string(c.head_dim) + " x partial_rotary_factor gives an odd/zero rotary dimension " +
                      std::to_string(c.rotary_dim));
  c.rms_norm_eps = static_cast<float>(f.opt_num("rms_norm_eps").value_or(1e-5));
  c.rope_theta = static_cast<float>(f.opt_num("rope_theta").value_or(10000.0));
  c.max_position_embeddings = f.opt_int("max_position_embeddings").value_or(4096);
  c.original_max_position_embeddings = f.opt_int("original_max_position_embeddings").value_or(c.max_position_embeddings);
  if (c.max_position_embeddings <= 0 || c.original_max_position_embeddings <= 0)
    throw FormatError(source + ": max_position_embeddings / original_max_position_embeddings must be positive");
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings").value_or(false);
  c.sliding_window = f.opt_int("sliding_window").value_or(0);
  if (auto b = f.int_or_list("bos_token_id"); !b.empty()) c.bos_token_id = b[0];
  for (auto id : f.int_or_list("eos_token_id")) detail::add_unique(c.eos_token_ids, id);
  if (auto p = f.int_or_list("pad_token_id"); !p.empty()) c.pad_token_id = p[0];

  // ---- RoPE scaling: none, or LongRoPE ("longrope", formerly "su") ----
  const json::value* rs = f.get("rope_scaling");
  if (!rs) {
    // transformers >= 5 moved it to rope_parameters (which also holds rope_theta)
    if (const json::value* rp = f.get("rope_parameters"); rp && rp->is_object()) {
      const detail::JsonFields p{rp->as_object(), source};
      if (auto th = p.opt_num("rope_theta")) c.rope_theta = static_cast<float>(*th);
      const std::string t = p.opt_str("rope_type").value_or("default");
      if (t != "default") rs = rp;
    }
  }
  if (rs) {
    if (!rs->is_object()) throw FormatError(source + ": key 'rope_scaling': expected an object or null");
    const detail::JsonFields r{rs->as_object(), source};
    std::string type = r.opt_str("type").value_or(r.opt_str("rope_type").value_or(""));
    if (type != "longrope" && type != "su")
      throw UnsupportedModelError(source + ": rope_scaling type '" + type + "' is not supported (phial implements LongRoPE: 'longrope' / 'su')");
    const json::value* lf = r.get("long_factor");
    const json::value* sf = r.get("short_factor");
    if (!lf || !sf) throw FormatError(source + ": rope_scaling: LongRoPE needs both 'long_factor' and 'short_factor'");
    c.rope_long_factors = r.float_list(*lf, "rope_scaling.long_factor");
    c.rope_short_factors = r.float_list(*sf, "rope_scaling.short_factor");
    const auto want = static_cast<std::size_t>(c.rotary_dim / 2);
    if (c.rope_long_factors.size() != want || c.rope_short_factors.size() != want)
      throw FormatError(source + ": rope_scaling: long_factor has " + std::to_string(c.rope_long_factors.size()) + " and short_factor " +
                        std::to_string(c.rope_short_factors.size()) + " values, expected rotary_dim/2 = " + std::to_string(want));
    if (auto af = r.opt_num("attention_factor"))
      c.rope_attn_factor = static_cast<float>(*af);
    else
      c.rope_attn_factor = static_cast<float>(longrope_attn_factor(c.max_position_embeddings, c.original_max_position_embeddings));
  }
  return c;
}

PHIAL_INLINE void apply_hf_generation_config(ModelConfig& cfg, std::string_view text, const std::string& source) {
  const auto root = detail::parse_json_or_throw(text, source);
  if (!root.is_object()) throw FormatError(source + ": expected a JSON object");
  const detail::JsonFields f{root.as_object(), source};
  // generation stops on these first: they are what transformers' generate() uses
  auto eos = f.int_or_list("eos_token_id");
  for (auto id : cfg.eos_token_ids) detail::add_unique(eos, id);
  std::vector<std::int32_t> merged;
  for (auto id : eos) detail::add_unique(merged, id);
  cfg.eos_token_ids = merged;
  if (auto b = f.int_or_list("bos_token_id"); !b.empty()) cfg.bos_token_id = b[0];
  if (auto p = f.int_or_list("pad_token_id"); !p.empty()) cfg.pad_token_id = p[0];
}

PHIAL_INLINE std::vector<std::string> apply_hf_tokenizer_config(ModelConfig& cfg, std::string_view text, const std::string& source) {
  namespace json = boost::json;
  const auto root = detail::parse_json_or_throw(text, source);
  if (!root.is_object()) throw FormatError(source + ": expected a JSON object");
  const detail::JsonFields f{root.as_object(), source};
  if (const json::value* t = f.get("chat_template")) {
    if (t->is_string()) {
      cfg.chat_template = std::string(t->as_string());
    } else if (t->is_array()) {  // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
      for (const auto& e : t->as_array())
        if (e.is_object()) {
          const detail::JsonFields ef{e.as_object(), source};
          if (ef.opt_str("name").value_or("") == "default") cfg.chat_template = ef.opt_str("template").value_or("");
        }
    } else {
      f.bad("chat_template", "a string or a list of named templates");
    }
  }
  // added_tokens_decoder: {"100257": {"content": "<|endoftext|>", "special": true, ...}, ...}
  std::vector<std::string> specials;
  std::vector<std::pair<std::string, std::int32_t>> added;
  if (const json::value* atd = f.get("added_tokens_decoder"); atd && atd->is_object()) {
    for (const auto& kv : atd->as_object()) {
      if (!kv.value().is_object()) continue;
      const detail::JsonFields tf{kv.value().as_object(), source};
      const std::string content = tf.opt_str("content").value_or("");
      char* end = nullptr;
      const std::string key(kv.key());
      const long id = std::strtol(key.c_str(), &end, 10);
      if (end == key.c_str() || *end != '\0' || id < 0 || id > std::numeric_limits<std::int32_t>::max())
        throw FormatError(source + ": added_tokens_decoder key '" + key + "' is not a token id");
      added.emplace_back(content, static_cast<std::int32_t>(id));
      specials.push_back(content);
    }
  }
  auto token_text = [&](std::string_view key) -> std::optional<std::string> {
    const json::value* v = f.get(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_object()) return detail::JsonFields{v->as_object(), source}.opt_str("content");
    return std::nullopt;
  };
  auto id_of = [&](const std::string& text) -> std::int32_t {
    for (const auto& [t, id] : added)
      if (t == text) return id;
    return -1;
  };
  if (auto eos = token_text("eos_token")) detail::add_unique(cfg.eos_token_ids, id_of(*eos));
  if (cfg.bos_token_id < 0)
    if (auto bos = token_text("bos_token")) cfg.bos_token_id = id_of(*bos);
  if (cfg.pad_token_id < 0)
    if (auto pad = token_text("pad_token")) cfg.pad_token_id = id_of(*pad);
  return specials;
}

PHIAL_INLINE void classify_model(ModelConfig& cfg, const FamilyHints& hints) {
  auto has_token = [&](std::string_view t) {
    return std::find(hints.special_tokens.begin(), hints.special_tokens.end(), t) != hints.special_tokens.end();
  };
  // ---- family: tokenizer evidence first, then the published vocabulary sizes, then the shape ----
  Family fam = Family::unknown;
  if (hints.tokenizer_pre == "gpt-4o") fam = Family::phi4_mini;
  else if (hints.tokenizer_pre == "dbrx") fam = Family::phi4;
  else if (hints.tokenizer_model == "llama") fam = Family::phi3;
  else if (has_token("<|im_start|>") && has_token("<|im_sep|>")) fam = Family::phi4;
  else if (has_token("<|user|>") && has_token("<|tool_call|>")) fam = Family::phi4_mini;
  else if (cfg.vocab_size == 100352) fam = Family::phi4;
  else if (cfg.vocab_size == 200064) fam = Family::phi4_mini;
  else if (cfg.vocab_size == 32064 || cfg.vocab_size == 32011) fam = Family::phi3;
  else if (hints.partial_rotary_factor < 1.0 || cfg.tie_word_embeddings) fam = Family::phi4_mini;
  else if (cfg.has_longrope()) fam = Family::phi3;
  else fam = Family::phi4;
  cfg.family = fam;

  // ---- variant: from the name (general.name / _name_or_path), else the chat template ----
  const std::string name = detail::lower(cfg.name);
  const bool reasoning = name.find("reasoning") != std::string::npos || cfg.chat_template.find("<think>") != std::string::npos ||
                         cfg.chat_template.find("an AI math expert") != std::string::npos;
  switch (fam) {
    case Family::phi4: cfg.variant = reasoning ? Variant::phi4_reasoning : Variant::phi4; break;
    case Family::phi4_mini: cfg.variant = reasoning ? Variant::phi4_mini_reasoning : Variant::phi4_mini_instruct; break;
    default: cfg.variant = Variant::unknown; break;
  }
}

PHIAL_INLINE ModelConfig load_hf_config(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path cfg_path = dir / "config.json";
  if (!fs::exists(cfg_path, ec)) throw IoError(dir.string() + ": no config.json (expected a Hugging Face model directory)");
  const std::string json_text = detail::read_text_file(cfg_path, 64u << 20);
  ModelConfig cfg = parse_hf_config(json_text, cfg_path.string());
  FamilyHints hints;
  {
    const auto root = detail::parse_json_or_throw(json_text, cfg_path.string());
    const detail::JsonFields f{root.as_object(), cfg_path.string()};
    hints.partial_rotary_factor = f.opt_num("partial_rotary_factor").value_or(1.0);
  }
  if (fs::exists(dir / "generation_config.json", ec))
    apply_hf_generation_config(cfg, detail::read_text_file(dir / "generation_config.json", 64u << 20), (dir / "generation_config.json").string());
  if (fs::exists(dir / "tokenizer_config.json", ec))
    hints.special_tokens = apply_hf_tokenizer_config(cfg, detail::read_text_file(dir / "tokenizer_config.json", 256u << 20),
                                                     (dir / "tokenizer_config.json").string());
  if (fs::exists(dir / "chat_template.jinja", ec)) cfg.chat_template = detail::read_text_file(dir / "chat_template.jinja", 64u << 20);
  classify_model(cfg, hints);
  return cfg;
}

}  // namespace phial
