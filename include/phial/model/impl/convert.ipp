// phial/model/impl/convert.ipp - HF -> GGUF conversion.
#pragma once
#include <cmath>
#include <cstring>
#include <set>

#include <boost/json.hpp>

#include <phial/model/convert.hpp>
#include <phial/ops/quant.hpp>

namespace phial {

PHIAL_INLINE std::optional<ConvertType> parse_convert_type(std::string_view s) noexcept {
  for (ConvertType t : {ConvertType::f32, ConvertType::f16, ConvertType::bf16, ConvertType::q8_0, ConvertType::q4_0, ConvertType::q4_k,
                        ConvertType::q5_k, ConvertType::q6_k, ConvertType::q4_k_m})
    if (convert_type_name(t) == s) return t;
  return std::nullopt;
}

PHIAL_INLINE std::string_view convert_type_name(ConvertType t) noexcept {
  switch (t) {
    case ConvertType::f32: return "f32";
    case ConvertType::f16: return "f16";
    case ConvertType::bf16: return "bf16";
    case ConvertType::q8_0: return "q8_0";
    case ConvertType::q4_0: return "q4_0";
    case ConvertType::q4_k: return "q4_k";
    case ConvertType::q5_k: return "q5_k";
    case ConvertType::q6_k: return "q6_k";
    case ConvertType::q4_k_m: return "q4_k_m";
  }
  return "?";
}

namespace detail {

// llama.cpp's general.file_type (enum llama_ftype) for each conversion.
inline std::uint32_t convert_file_type(ConvertType t) noexcept {
  switch (t) {
    case ConvertType::f32: return 0;
    case ConvertType::f16: return 1;
    case ConvertType::bf16: return 32;
    case ConvertType::q8_0: return 7;
    case ConvertType::q4_0: return 2;
    case ConvertType::q4_k: return 15;  // llama-quantize --pure Q4_K_M
    case ConvertType::q5_k: return 17;  // --pure Q5_K_M
    case ConvertType::q6_k: return 18;
    case ConvertType::q4_k_m: return 15;
  }
  return 0;
}

// llama.cpp's use_more_bits(): the first and last eighth of the layers and every third in between.
inline bool use_more_bits(int i, int n) noexcept { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// k-quants need rows of whole 256-blocks; llama-quantize falls back to these legacy types otherwise.
inline TensorType k_fallback(TensorType t, std::int64_t row) noexcept {
  if (row % QK_K == 0) return t;
  switch (t) {
    case TensorType::Q4_K: return TensorType::Q5_0;
    case TensorType::Q5_K: return TensorType::Q5_1;
    case TensorType::Q6_K: return TensorType::Q8_0;
    default: return t;
  }
}

}  // namespace detail

PHIAL_INLINE TensorType convert_tensor_type(ConvertType type, const std::string& name, int n_dims, std::int64_t row_length, int layer,
                                            int n_layers, bool tied) {
  if (n_dims < 2) return TensorType::F32;  // norms, rope factors: llama.cpp keeps 1-D tensors f32
  TensorType t = TensorType::F16;
  switch (type) {
    case ConvertType::f32: return TensorType::F32;
    case ConvertType::f16: return TensorType::F16;
    case ConvertType::bf16: return TensorType::BF16;
    case ConvertType::q8_0: t = TensorType::Q8_0; break;
    case ConvertType::q4_0: t = TensorType::Q4_0; break;
    case ConvertType::q4_k: t = TensorType::Q4_K; break;
    case ConvertType::q5_k: t = TensorType::Q5_K; break;
    case ConvertType::q6_k: t = TensorType::Q6_K; break;
    case ConvertType::q4_k_m: {
      // llama-quantize Q4_K_M: output (or the tied embedding that serves as output) Q6_K; the
      // value-carrying attn_qkv and ffn_down get Q6_K in use_more_bits layers; the rest Q4_K.
      if (name == "output.weight" || (tied && name == "token_embd.weight")) t = TensorType::Q6_K;
      else if ((name.find("attn_qkv.weight") != std::string::npos || name.find("ffn_down.weight") != std::string::npos) &&
               detail::use_more_bits(layer, n_layers))
        t = TensorType::Q6_K;
      else t = TensorType::Q4_K;
      break;
    }
  }
  t = detail::k_fallback(t, row_length);
  if (row_length % tensor_type_info(t).block_elems != 0) t = TensorType::F16;  // not even 32-divisible: keep it 16-bit
  return t;
}

namespace detail {

// GPT-2 byte-level BPE vocabulary from tokenizer.json + tokenizer_config.json, as
// convert_hf_to_gguf.py's _set_vocab_gpt2 writes it.
inline bool write_gpt2_tokenizer(GgufWriter& w, const std::filesystem::path& dir, const ModelConfig& cfg, std::vector<std::string>& warnings) {
  namespace json = boost::json;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path tok_path = dir / "tokenizer.json";
  if (!fs::exists(tok_path, ec)) {
    warnings.push_back(dir.string() + ": no tokenizer.json: the GGUF gets no tokenizer.ggml.* keys (phial can load it; llama.cpp cannot)");
    return false;
  }
  const auto root = parse_json_or_throw(read_text_file(tok_path), tok_path.string());
  const auto* model = root.is_object() ? root.as_object().if_contains("model") : nullptr;
  if (!model || !model->is_object()) throw FormatError(tok_path.string() + ": missing \"model\" object");
  const auto& mo = model->as_object();
  const auto* type = mo.if_contains("type");
  if (type && type->is_string() && type->as_string() != "BPE")
    throw UnsupportedModelError(tok_path.string() + ": tokenizer model type '" + std::string(type->as_string()) + "' (phial converts BPE only)");
  const auto* vocab = mo.if_contains("vocab");
  if (!vocab || !vocab->is_object()) throw FormatError(tok_path.string() + ": missing \"model.vocab\" object");

  const std::int64_t n_vocab = cfg.vocab_size;
  std::vector<std::string> tokens(static_cast<std::size_t>(n_vocab));
  std::vector<bool> present(static_cast<std::size_t>(n_vocab), false);
  auto place = [&](const std::string& text, std::int64_t id) {
    if (id < 0 || id >= n_vocab)
      throw FormatError(tok_path.string() + ": token '" + text + "' has id " + std::to_string(id) + ", outside the model's vocab_size " +
                        std::to_string(n_vocab));
    tokens[static_cast<std::size_t>(id)] = text;
    present[static_cast<std::size_t>(id)] = true;
  };
  for (const auto& kv : vocab->as_object()) {
    if (!kv.value().is_int64()) throw FormatError(tok_path.string() + ": model.vocab['" + std::string(kv.key()) + "'] must be an integer id");
    place(std::string(kv.key()), kv.value().as_int64());
  }
  // added tokens: special ones are CONTROL, the others USER_DEFINED (llama.cpp's rule)
  std::vector<std::int32_t> types(static_cast<std::size_t>(n_vocab), 1);  // NORMAL
  if (const auto* added = root.as_object().if_contains("added_tokens"); added && added->is_array()) {
    for (const auto& a : added->as_array()) {
      if (!a.is_object()) continue;
      const auto& o = a.as_object();
      const auto* id = o.if_contains("id");
      const auto* content = o.if_contains("content");
      if (!id || !id->is_int64() || !content || !content->is_string())
        throw FormatError(tok_path.string() + ": added_tokens entries need integer \"id\" and string \"content\"");
      place(std::string(content->as_string()), id->as_int64());
      const auto* special = o.if_contains("special");
      types[static_cast<std::size_t>(id->as_int64())] = (special && special->is_bool() && special->as_bool()) ? 3 : 4;
    }
  }
  for (std::int64_t i = 0; i < n_vocab; ++i)
    if (!present[static_cast<std::size_t>(i)]) {
      tokens[static_cast<std::size_t>(i)] = "[PAD" + std::to_string(i) + "]";
      types[static_cast<std::size_t>(i)] = 5;  // UNUSED
    }
  std::vector<std::string> merges;
  if (const auto* m = mo.if_contains("merges"); m && m->is_array()) {
    merges.reserve(m->as_array().size());
    for (const auto& e : m->as_array()) {
      if (e.is_string()) merges.emplace_back(e.as_string());
      else if (e.is_array() && e.as_array().size() == 2 && e.as_array()[0].is_string() && e.as_array()[1].is_string())
        merges.push_back(std::string(e.as_array()[0].as_string()) + " " + std::string(e.as_array()[1].as_string()));
      else throw FormatError(tok_path.string() + ": model.merges entries must be \"a b\" strings or [a, b] pairs");
    }
  }
  w.add_string("tokenizer.ggml.model", "gpt2");
  // llama.cpp identifies the pre-tokenizer by hashing its output on a test string; for this family
  // the o200k vocabulary is "gpt-4o" and cl100k's is "dbrx" (spec §3.1).
  w.add_string("tokenizer.ggml.pre", cfg.family == Family::phi4_mini ? "gpt-4o" : "dbrx");
  w.add_strings("tokenizer.ggml.tokens", std::move(tokens));
  w.add_i32s("tokenizer.ggml.token_type", types);
  w.add_strings("tokenizer.ggml.merges", std::move(merges));
  if (cfg.bos_token_id >= 0) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(cfg.bos_token_id));
  if (!cfg.eos_token_ids.empty()) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(cfg.eos_token_ids.front()));
  if (cfg.pad_token_id >= 0) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<std::uint32_t>(cfg.pad_token_id));
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    const auto tc = parse_json_or_throw(read_text_file(dir / "tokenizer_config.json"), (dir / "tokenizer_config.json").string());
    if (tc.is_object()) {
      if (const auto* b = tc.as_object().if_contains("add_bos_token"); b && b->is_bool()) w.add_bool("tokenizer.ggml.add_bos_token", b->as_bool());
      if (const auto* e = tc.as_object().if_contains("add_eos_token"); e && e->is_bool()) w.add_bool("tokenizer.ggml.add_eos_token", e->as_bool());
    }
  }
  if (!cfg.chat_template.empty()) w.add_string("tokenizer.chat_template", cfg.chat_template);
  return true;
}

}  // namespace detail

PHIAL_INLINE GgufWriter make_gguf_writer(const Model& model, const ConvertOptions& opts, ConvertReport* report) {
  ConvertReport local;
  ConvertReport& rep = report ? *report : local;
  const ModelConfig& c = model.config();
  if (model.hf_dir().empty()) throw InvalidArgument("convert: the model was not loaded from a Hugging Face directory");
  GgufWriter w;
  // ---- metadata, in the order llama.cpp's converter writes it ----
  w.add_string("general.architecture", "phi3");
  w.add_string("general.name", c.name.empty() ? model.hf_dir().filename().string() : c.name);
  w.add_u32("general.file_type", detail::convert_file_type(opts.type));
  w.add_u32("phi3.context_length", static_cast<std::uint32_t>(c.max_position_embeddings));
  w.add_u32("phi3.rope.scaling.original_context_length", static_cast<std::uint32_t>(c.original_max_position_embeddings));
  w.add_u32("phi3.embedding_length", static_cast<std::uint32_t>(c.hidden_size));
  w.add_u32("phi3.feed_forward_length", static_cast<std::uint32_t>(c.intermediate_size));
  w.add_u32("phi3.block_count", static_cast<std::uint32_t>(c.n_layers));
  w.add_u32("phi3.attention.head_count", static_cast<std::uint32_t>(c.n_heads));
  w.add_u32("phi3.attention.head_count_kv", static_cast<std::uint32_t>(c.n_kv_heads));
  w.add_f32("phi3.attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.add_u32("phi3.rope.dimension_count", static_cast<std::uint32_t>(c.rotary_dim));
  w.add_f32("phi3.rope.freq_base", c.rope_theta);
  w.add_u32("phi3.attention.sliding_window", static_cast<std::uint32_t>(c.sliding_window));
  if (c.head_dim * c.n_heads != c.hidden_size) {  // only when head_dim is explicit (llama.cpp then writes key_length)
    w.add_u32("phi3.attention.key_length", static_cast<std::uint32_t>(c.head_dim));
    w.add_u32("phi3.attention.value_length", static_cast<std::uint32_t>(c.head_dim));
  }
  if (c.has_longrope()) w.add_f32("phi3.rope.scaling.attn_factor", c.rope_attn_factor);
  rep.tokenizer = detail::write_gpt2_tokenizer(w, model.hf_dir(), c, rep.warnings);
  if (opts.type != ConvertType::f32 && opts.type != ConvertType::f16 && opts.type != ConvertType::bf16)
    w.add_u32("general.quantization_version", 2);

  // ---- tensors ----
  auto add = [&](const std::string& name, const TensorView& src, int layer) {
    const TensorType t = convert_tensor_type(opts.type, name, src.n_dims, src.ne[0], layer, c.n_layers, c.tie_word_embeddings);
    std::vector<std::int64_t> ne(src.ne.begin(), src.ne.begin() + src.n_dims);
    const TensorView* s = &src;
    w.add_tensor(name, t, ne, [s, t](std::span<std::byte> dst) {
      if (s->type == t) {  // same type: copy the bytes
        std::memcpy(dst.data(), s->data, dst.size());
        return;
      }
      std::vector<float> row(static_cast<std::size_t>(s->ne[0]));  // (ne0) one source row in f32
      const std::size_t out_stride = static_cast<std::size_t>(row_bytes(t, s->ne[0]));
      for (std::int64_t r = 0; r < s->rows(); ++r) {
        dequantize_row(s->type, s->row(r), row.data(), s->ne[0]);
        quantize_row(t, row.data(), dst.data() + static_cast<std::size_t>(r) * out_stride, s->ne[0]);
      }
    });
    rep.type_counts[std::string(tensor_type_info(t).name)]++;
    rep.n_tensors++;
    rep.data_bytes += w.tensors().back().nbytes;
  };
  const ModelWeights& wt = model.weights();
  add("token_embd.weight", wt.token_embd, 0);
  if (c.has_longrope()) {
    // f32 factor tensors from config.json (llama.cpp's generate_extra_tensors)
    for (const auto* which : {&c.rope_long_factors, &c.rope_short_factors}) {
      const std::string name = which == &c.rope_long_factors ? "rope_factors_long.weight" : "rope_factors_short.weight";
      std::vector<std::byte> bytes(which->size() * 4);
      std::memcpy(bytes.data(), which->data(), bytes.size());
      w.add_tensor(name, TensorType::F32, {static_cast<std::int64_t>(which->size())},
                   [bytes](std::span<std::byte> dst) { std::memcpy(dst.data(), bytes.data(), dst.size()); });
      rep.type_counts["f32"]++;
      rep.n_tensors++;
      rep.data_bytes += bytes.size();
    }
  }
  for (int i = 0; i < c.n_layers; ++i) {
    const auto& l = wt.layers[static_cast<std::size_t>(i)];
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", l.attn_norm, i);
    add(b + "attn_qkv.weight", l.attn_qkv, i);
    add(b + "attn_output.weight", l.attn_output, i);
    add(b + "ffn_norm.weight", l.ffn_norm, i);
    add(b + "ffn_up.weight", l.ffn_up, i);
    add(b + "ffn_down.weight", l.ffn_down, i);
  }
  add("output_norm.weight", wt.output_norm, 0);
  if (!c.tie_word_embeddings) add("output.weight", wt.output, 0);
  return w;
}

PHIAL_INLINE ConvertReport convert_hf_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out, const ConvertOptions& opts) {
  const Model model = Model::load(hf_dir);
  if (model.hf_dir().empty()) throw InvalidArgument("convert: " + hf_dir.string() + " is not a Hugging Face model directory");
  ConvertReport rep;
  const GgufWriter w = make_gguf_writer(model, opts, &rep);
  w.write(out, opts.progress);
  return rep;
}

}  // namespace phial
