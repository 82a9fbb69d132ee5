// phial/model/impl/model.ipp - Model::load for GGUF files and Hugging Face directories.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include <phial/model/model.hpp>

namespace phial {

namespace detail {

inline std::string ne_string(const std::array<std::int64_t, 4>& ne, int n_dims) {
  std::string s = "{";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[static_cast<std::size_t>(d)]);
  return s + "}";
}

// The end-of-turn token text of each chat format: generation stops on it.
inline std::string_view end_of_turn_token(Family f) noexcept {
  switch (f) {
    case Family::phi4: return "<|im_end|>";
    case Family::phi4_mini:
    case Family::phi3: return "<|end|>";
    default: return "";
  }
}

}  // namespace detail

PHIAL_INLINE void reject_unsupported_tensor_names(const std::vector<std::string>& names, const std::string& source) {
  for (const auto& n : names) {
    if (n.find(".base_layer.") != std::string::npos || n.find(".lora_A.") != std::string::npos || n.find(".lora_B.") != std::string::npos)
      throw UnsupportedModelError(source + ": tensor '" + n +
                                  "' is a PEFT LoRA-wrapped weight (Phi-4-multimodal 'phi4mm' layout); phial does not support it yet");
    if (n.find(".mamba.") != std::string::npos || n.find("ssm_") != std::string::npos || n.find(".Wqkv.") != std::string::npos)
      throw UnsupportedModelError(source + ": tensor '" + n +
                                  "' belongs to a SambaY (Phi-4-mini-flash-reasoning 'phi4flash') model; phial does not support it yet");
  }
}

PHIAL_INLINE void validate_weights(const ModelConfig& c, const ModelWeights& w, const std::string& source) {
  std::vector<std::string> problems;
  auto check = [&](const TensorView& t, const std::string& name, std::vector<std::int64_t> want) {
    if (!t) {
      problems.push_back("missing tensor '" + (t.name.empty() ? name : t.name) + "'");
      return;
    }
    std::array<std::int64_t, 4> ne{1, 1, 1, 1};
    for (std::size_t d = 0; d < want.size(); ++d) ne[d] = want[d];
    if (t.ne != ne)
      problems.push_back("tensor '" + t.name + "' has shape ne " + detail::ne_string(t.ne, t.n_dims) + ", expected " +
                         detail::ne_string(ne, static_cast<int>(want.size())));
    const auto info = tensor_type_info(t.type);
    if (want.size() == 1 && t.type != TensorType::F32 && t.type != TensorType::F16 && t.type != TensorType::BF16)
      problems.push_back("tensor '" + t.name + "' is " + std::string(info.name) + ", expected f32, f16 or bf16 for a vector");
    else if (!info.supported)
      problems.push_back("tensor '" + t.name + "' has type " + std::string(info.name) + ", which phial cannot compute with");
    if (t.nbytes != static_cast<std::size_t>(row_bytes(t.type, t.ne[0]) * t.rows()))
      problems.push_back("tensor '" + t.name + "' has " + std::to_string(t.nbytes) + " bytes, inconsistent with its shape");
  };
  const std::int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, hd = c.head_dim;
  const std::int64_t qkv = (static_cast<std::int64_t>(c.n_heads) + 2 * c.n_kv_heads) * hd;
  check(w.token_embd, "token_embd", {H, V});
  check(w.output_norm, "output_norm", {H});
  check(w.output, "output", {H, V});
  if (static_cast<std::int64_t>(w.layers.size()) != c.n_layers)
    problems.push_back(std::to_string(w.layers.size()) + " layers of weights, expected " + std::to_string(c.n_layers));
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const auto& l = w.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    check(l.attn_norm, p + "attn_norm", {H});
    check(l.attn_qkv, p + "attn_qkv (fused Q|K|V)", {H, qkv});
    check(l.attn_output, p + "attn_output", {static_cast<std::int64_t>(c.n_heads) * hd, H});
    check(l.ffn_norm, p + "ffn_norm", {H});
    check(l.ffn_up, p + "ffn_up (fused gate|up)", {H, 2 * I});
    check(l.ffn_down, p + "ffn_down", {I, H});
  }
  if (c.has_longrope() && (static_cast<std::int64_t>(c.rope_long_factors.size()) != c.rotary_dim / 2 ||
                           static_cast<std::int64_t>(c.rope_short_factors.size()) != c.rotary_dim / 2))
    problems.push_back("LongRoPE factors: " + std::to_string(c.rope_long_factors.size()) + " long / " + std::to_string(c.rope_short_factors.size()) +
                       " short, expected rotary_dim/2 = " + std::to_string(c.rotary_dim / 2));
  if (problems.empty()) return;
  std::string msg = source + ": " + std::to_string(problems.size()) + " problem(s) with the weights for this config (hidden " +
                    std::to_string(H) + ", layers " + std::to_string(c.n_layers) + ", heads " + std::to_string(c.n_heads) + "/" +
                    std::to_string(c.n_kv_heads) + ", head_dim " + std::to_string(hd) + ", ffn " + std::to_string(I) + ", vocab " +
                    std::to_string(V) + "):";
  for (std::size_t k = 0; k < problems.size() && k < 24; ++k) msg += "\n  - " + problems[k];
  if (problems.size() > 24) msg += "\n  ... and " + std::to_string(problems.size() - 24) + " more";
  throw FormatError(msg);
}

PHIAL_INLINE ModelConfig config_from_gguf(const GgufFile& g) {
  const std::string& src = g.name();
  const std::string arch = g.architecture();
  if (arch.empty()) throw FormatError(src + ": missing metadata key 'general.architecture'");
  if (arch == "phi4flash" || arch == "phi4-flash")
    throw UnsupportedModelError(src + ": general.architecture '" + arch +
                                "' (Phi-4-mini-flash-reasoning, SambaY) is a different architecture that phial does not support yet");
  if (arch != "phi3")
    throw UnsupportedModelError(src + ": general.architecture '" + arch + "' is not supported (phial runs the Phi-3 architecture: 'phi3')");
  const std::string p = arch + ".";
  auto get_i32 = [&](const std::string& key, std::int64_t lo, std::int64_t hi) {
    const std::int64_t v = g.get_int(key);
    if (v < lo || v > hi)
      throw FormatError(src + ": metadata key '" + key + "': " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
    return static_cast<std::int32_t>(v);
  };
  ModelConfig c;
  c.name = g.find_string("general.name").value_or("");
  c.hidden_size = get_i32(p + "embedding_length", 1, 1 << 20);
  c.intermediate_size = get_i32(p + "feed_forward_length", 1, 1 << 20);
  c.n_layers = get_i32(p + "block_count", 1, 4096);
  c.n_heads = get_i32(p + "attention.head_count", 1, 4096);
  c.n_kv_heads = g.find(p + "attention.head_count_kv") ? get_i32(p + "attention.head_count_kv", 1, 4096) : c.n_heads;
  if (c.n_heads % c.n_kv_heads != 0)
    throw FormatError(src + ": " + p + "attention.head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " +
                      std::to_string(c.n_kv_heads));
  if (g.find(p + "attention.key_length")) {
    c.head_dim = get_i32(p + "attention.key_length", 1, 65536);
  } else {
    if (c.hidden_size % c.n_heads != 0)
      throw FormatError(src + ": " + p + "embedding_length is not a multiple of attention.head_count (and no attention.key_length)");
    c.head_dim = c.hidden_size / c.n_heads;
  }
  c.rotary_dim = g.find(p + "rope.dimension_count") ? get_i32(p + "rope.dimension_count", 2, c.head_dim) : c.head_dim;
  if (c.rotary_dim % 2 != 0) throw FormatError(src + ": " + p + "rope.dimension_count " + std::to_string(c.rotary_dim) + " must be even");
  c.rms_norm_eps = static_cast<float>(g.find_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_theta = static_cast<float>(g.find_float(p + "rope.freq_base").value_or(10000.0));
  c.max_position_embeddings = g.find_int(p + "context_length").value_or(4096);
  c.original_max_position_embeddings = g.find_int(p + "rope.scaling.original_context_length").value_or(c.max_position_embeddings);
  if (c.max_position_embeddings <= 0 || c.original_max_position_embeddings <= 0)
    throw FormatError(src + ": " + p + "context_length / rope.scaling.original_context_length must be positive");
  c.sliding_window = g.find_int(p + "attention.sliding_window").value_or(0);

  // Tensors that carry config: the vocabulary size, tying, LongRoPE factors.
  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd) throw FormatError(src + ": missing tensor 'token_embd.weight'");
  if (embd->view.ne[1] < 1 || embd->view.ne[1] > (1 << 24)) throw FormatError(src + ": tensor 'token_embd.weight' has an absurd vocabulary size");
  c.vocab_size = static_cast<std::int32_t>(embd->view.ne[1]);
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  const GgufTensorInfo* lf = g.find_tensor("rope_factors_long.weight");
  const GgufTensorInfo* sf = g.find_tensor("rope_factors_short.weight");
  if ((lf == nullptr) != (sf == nullptr))
    throw FormatError(src + ": LongRoPE needs both 'rope_factors_long.weight' and 'rope_factors_short.weight', found only one");
  if (lf) {
    auto read_factors = [&](const GgufTensorInfo* t) {
      if (t->view.type != TensorType::F32 || t->view.n_dims != 1 || t->view.ne[0] != c.rotary_dim / 2)
        throw FormatError(src + ": tensor '" + t->view.name + "' must be f32 of ne {" + std::to_string(c.rotary_dim / 2) + "} (rotary_dim/2), got " +
                          std::string(tensor_type_info(t->view.type).name) + " " + detail::ne_string(t->view.ne, t->view.n_dims));
      std::vector<float> v(static_cast<std::size_t>(t->view.ne[0]));
      std::memcpy(v.data(), t->view.data, v.size() * 4);
      return v;
    };
    c.rope_long_factors = read_factors(lf);
    c.rope_short_factors = read_factors(sf);
    c.rope_attn_factor = static_cast<float>(g.find_float(p + "rope.scaling.attn_factor")
                                                .value_or(longrope_attn_factor(c.max_position_embeddings, c.original_max_position_embeddings)));
  }

  // Tokenizer-side config.
  auto token_id = [&](const char* key) -> std::int32_t {
    auto v = g.find_int(key);
    if (!v) return -1;
    if (*v < 0 || *v > std::numeric_limits<std::int32_t>::max()) throw FormatError(src + ": metadata key '" + key + "': bad token id");
    return static_cast<std::int32_t>(*v);
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id");
  c.pad_token_id = token_id("tokenizer.ggml.padding_token_id");
  for (const char* k : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto id = token_id(k); id >= 0 && std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end())
      c.eos_token_ids.push_back(id);
  c.chat_template = g.find_string("tokenizer.chat_template").value_or("");

  FamilyHints hints;
  hints.tokenizer_pre = g.find_string("tokenizer.ggml.pre").value_or("");
  hints.tokenizer_model = g.find_string("tokenizer.ggml.model").value_or("");
  hints.partial_rotary_factor = static_cast<double>(c.rotary_dim) / static_cast<double>(c.head_dim);
  static const std::vector<std::string> no_tokens;
  const GgufValue* tv = g.find("tokenizer.ggml.tokens");
  if (tv && (!tv->is_array() || tv->array_type() != GgufType::string))
    throw FormatError(src + ": metadata key 'tokenizer.ggml.tokens': expected an array of strings");
  const std::vector<std::string>& tokens = tv ? tv->as_strings() : no_tokens;
  if (tv) {
    std::vector<std::int64_t> types;
    if (g.find("tokenizer.ggml.token_type")) types = g.get_ints("tokenizer.ggml.token_type");
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const bool special = i < types.size() ? (types[i] == 3 || types[i] == 4) : (tokens[i].size() > 4 && tokens[i].rfind("<|", 0) == 0);
      if (special) hints.special_tokens.push_back(tokens[i]);
    }
  }
  classify_model(c, hints);
  // Stop on the chat format's end-of-turn token too (llama.cpp's EOG set; HF's generation_config).
  const auto eot = detail::end_of_turn_token(c.family);
  for (std::size_t i = 0; i < tokens.size() && !eot.empty(); ++i)
    if (tokens[i] == eot && std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), static_cast<std::int32_t>(i)) == c.eos_token_ids.end())
      c.eos_token_ids.push_back(static_cast<std::int32_t>(i));
  return c;
}

PHIAL_INLINE Model Model::load(const std::filesystem::path& path, LoadOptions opts) {
  namespace fs = std::filesystem;
  Model m;
  m.s_->path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    load_hf(*m.s_, path, path, opts);
  } else if (!fs::exists(path, ec)) {
    throw IoError(path.string() + ": no such file or directory");
  } else if (path.extension() == ".safetensors" || path.extension() == ".json") {
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    // a shard of an indexed checkpoint means the whole checkpoint
    const fs::path weights = path.extension() == ".safetensors" && fs::exists(dir / "model.safetensors.index.json", ec)
                                 ? dir / "model.safetensors.index.json"
                                 : path;
    load_hf(*m.s_, dir, weights, opts);
  } else {
    load_gguf(*m.s_, path, opts);
  }
  return m;
}

PHIAL_INLINE void Model::load_gguf(State& s, const std::filesystem::path& path, const LoadOptions& opts) {
  s.gguf = GgufFile::open(path, opts.memory, opts.prefetch);
  const GgufFile& g = *s.gguf;
  std::vector<std::string> names;
  for (const auto& t : g.tensors()) names.push_back(t.view.name);
  reject_unsupported_tensor_names(names, g.name());
  s.config = config_from_gguf(g);
  const ModelConfig& c = s.config;
  auto view = [&](const std::string& name) -> TensorView {
    const GgufTensorInfo* t = g.find_tensor(name);
    if (t) return t->view;
    TensorView missing;
    missing.name = name;
    return missing;
  };
  auto& w = s.weights;
  w.token_embd = view("token_embd.weight");
  w.output_norm = view("output_norm.weight");
  w.output = c.tie_word_embeddings ? w.token_embd : view("output.weight");
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int32_t i = 0; i < c.n_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    auto& l = w.layers[static_cast<std::size_t>(i)];
    l.attn_norm = view(b + "attn_norm.weight");
    l.attn_qkv = view(b + "attn_qkv.weight");
    l.attn_output = view(b + "attn_output.weight");
    l.ffn_norm = view(b + "ffn_norm.weight");
    l.ffn_up = view(b + "ffn_up.weight");
    l.ffn_down = view(b + "ffn_down.weight");
    if (!l.attn_qkv && g.find_tensor(b + "attn_q.weight"))
      throw UnsupportedModelError(g.name() + ": tensor '" + b + "attn_q.weight' (separate Q/K/V) found; phial expects the fused '" + b +
                                  "attn_qkv.weight' that llama.cpp's Phi-3 converter writes");
    if (!l.ffn_up || !l.ffn_down) {
      if (g.find_tensor(b + "ffn_gate.weight"))
        throw UnsupportedModelError(g.name() + ": tensor '" + b + "ffn_gate.weight' (separate gate) found; phial expects the fused '" + b +
                                    "ffn_up.weight' (gate|up)");
    }
  }
  validate_weights(c, w, g.name());
}

PHIAL_INLINE void Model::load_hf(State& s, const std::filesystem::path& dir, const std::filesystem::path& weights_path, const LoadOptions& opts) {
  s.hf_dir = dir;
  s.config = load_hf_config(dir);  // rejects phi4flash / phi4mm by model_type first
  s.st = SafetensorsSet::open(weights_path, opts.memory, opts.prefetch);
  const SafetensorsSet& st = *s.st;
  std::vector<std::string> names;
  for (const auto* t : st.tensors()) names.push_back(t->view.name);
  reject_unsupported_tensor_names(names, dir.string());
  const ModelConfig& c = s.config;
  const std::string src = st.files().size() == 1 ? st.files()[0]->name() : dir.string();
  auto view = [&](const std::string& name) -> TensorView {
    if (const SafetensorsTensor* t = st.find(name)) return t->view;
    TensorView missing;
    missing.name = name;
    return missing;
  };
  auto& w = s.weights;
  w.token_embd = view("model.embed_tokens.weight");
  w.output_norm = view("model.norm.weight");
  if (c.tie_word_embeddings) {
    w.output = w.token_embd;
  } else {
    w.output = view("lm_head.weight");
    if (!w.output && w.token_embd)
      throw FormatError(src + ": missing tensor 'lm_head.weight' and config.json has tie_word_embeddings false (set it to true if the "
                              "model shares its embeddings)");
  }
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (std::int32_t i = 0; i < c.n_layers; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".";
    auto& l = w.layers[static_cast<std::size_t>(i)];
    l.attn_norm = view(b + "input_layernorm.weight");
    l.attn_qkv = view(b + "self_attn.qkv_proj.weight");
    l.attn_output = view(b + "self_attn.o_proj.weight");
    l.ffn_norm = view(b + "post_attention_layernorm.weight");
    l.ffn_up = view(b + "mlp.gate_up_proj.weight");
    l.ffn_down = view(b + "mlp.down_proj.weight");
    if (!l.attn_qkv && st.find(b + "self_attn.q_proj.weight"))
      throw UnsupportedModelError(src + ": tensor '" + b + "self_attn.q_proj.weight' (separate Q/K/V, e.g. a Llama-fied Phi-4) found; "
                                        "phial expects Phi-3's fused 'self_attn.qkv_proj.weight'");
  }
  validate_weights(c, w, src);
}

PHIAL_INLINE std::vector<const TensorView*> Model::tensors() const {
  std::vector<const TensorView*> out;
  const auto& w = s_->weights;
  out.push_back(&w.token_embd);
  for (const auto& l : w.layers)
    for (const TensorView* t : {&l.attn_norm, &l.attn_qkv, &l.attn_output, &l.ffn_norm, &l.ffn_up, &l.ffn_down}) out.push_back(t);
  out.push_back(&w.output_norm);
  if (w.output.data != w.token_embd.data) out.push_back(&w.output);
  return out;
}

PHIAL_INLINE std::int64_t Model::parameter_count() const {
  std::int64_t n = 0;
  for (const auto* t : tensors()) n += t->elements();
  return n;
}

PHIAL_INLINE std::size_t Model::weight_bytes() const {
  std::size_t n = 0;
  for (const auto* t : tensors()) n += t->nbytes;
  return n;
}

}  // namespace phial
