// phial/tokenizer/tokenizer.hpp - exact Phi-4 / Phi-4-mini tokenization (spec §4).
//
//   auto tok = phial::Tokenizer::from_tiktoken("o200k_base.tiktoken", phial::Family::phi4_mini);
//   auto ids = tok.encode(user_text);                  // never produces control tokens
//   auto prompt = tok.encode_with_special(rendered);   // parses <|user|>, <|end|>, ...
//   std::string text = tok.decode(ids);
//
// Pipeline (both families): [added-token split, encode_with_special only] -> regex split
// (pretokenizer.hpp) -> byte-level BPE by merge rank (bpe.hpp) -> ids. Nothing is normalized and no
// BOS/EOS is added. A Tokenizer is immutable once loaded: copies share the vocabulary and any number
// of threads may encode with it at once.
//
// Vocabularies come from a tiktoken rank file plus the family's built-in added tokens
// (from_tiktoken), a Hugging Face tokenizer.json (+ tokenizer_config.json) (from_hf_json), or GGUF
// metadata (from_gguf_metadata / from_gguf / from_model). Loaders live in vocab_loaders.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>
#include <phial/tokenizer/added_tokens.hpp>
#include <phial/tokenizer/bpe.hpp>
#include <phial/tokenizer/pretokenizer.hpp>

namespace phial {

namespace detail {

// Everything a loaded tokenizer knows; shared, immutable.
struct TokenizerData {
  Family family = Family::unknown;
  PretokenizerKind pretokenizer = PretokenizerKind::cl100k;
  std::int32_t vocab_size = 0;            // embedding rows (holes included)
  BpeVocab bpe;                           // (vocab_size) token bytes + merge tables
  std::vector<AddedToken> added;          // sorted by id
  std::vector<std::uint8_t> flags;        // (vocab_size) kFlag* bits per id
  std::unordered_map<std::string, std::int32_t> added_by_content;
  AddedTokenMatcher match_plain;          // pass 1: non-normalized added tokens
  AddedTokenMatcher match_normalized;     // pass 2: normalized added tokens
  std::string source;                     // where it was loaded from, for messages

  static constexpr std::uint8_t kFlagAdded = 1, kFlagSpecial = 2;
};

}  // namespace detail

class Tokenizer {
 public:
  Tokenizer() = default;

  // ---- loaders (vocab_loaders.hpp) ----

  // A tiktoken rank file (`base64 rank` lines; gzip-compressed accepted) plus the family's built-in
  // added tokens. Family::unknown: told from the number of ranks (100256 -> phi4, 199998 -> phi4_mini).
  static Tokenizer from_tiktoken(const std::filesystem::path& path, Family family = Family::unknown);
  static Tokenizer from_tiktoken_text(std::string_view content, Family family = Family::unknown,
                                      std::string source = "<tiktoken>");
  // A Hugging Face tokenizer.json (or a directory holding one); tokenizer_config.json beside it,
  // when present, overrides the added tokens' flags (its added_tokens_decoder).
  static Tokenizer from_hf_json(const std::filesystem::path& path);
  static Tokenizer from_hf_json_text(std::string_view tokenizer_json, std::string_view tokenizer_config_json = {},
                                     std::string source = "<tokenizer.json>");
  // GGUF metadata as plain vectors: tokenizer.ggml.tokens / token_type / merges / pre / model.
  // Added tokens (CONTROL / USER_DEFINED types) get their lstrip/rstrip/special flags from the
  // family table when their text is one of the family's (GGUF stores no flags).
  static Tokenizer from_gguf_metadata(std::span<const std::string> tokens, std::span<const std::int32_t> token_types,
                                      std::span<const std::string> merges, std::string_view pre,
                                      std::string_view model = "gpt2", std::string source = "<gguf>");
  // Adapters for phial::GgufFile and phial::Model (templates so this header does not depend on the
  // model layer; any type with the same members works).
  template <class GgufFileT>
  static Tokenizer from_gguf(const GgufFileT& gguf);
  template <class ModelT>
  static Tokenizer from_model(const ModelT& model);
  // By file type: *.tiktoken[.gz], tokenizer.json[.gz] or a directory holding one.
  static Tokenizer from_file(const std::filesystem::path& path, Family family = Family::unknown);

  // ---- encoding ----

  // Plain text: added-token text such as "<|im_end|>" or "<|tool_call|>" is encoded as ordinary
  // characters. Use for anything not written by phial itself (user input, mail, tool results).
  std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> out;
    out.reserve(text.size() / 3 + 4);
    encode(text, out);
    return out;
  }
  // Appends to `out`.
  void encode(std::string_view text, std::vector<std::int32_t>& out) const {
    const detail::TokenizerData& d = data();
    split_pieces(d.pretokenizer, text, [&](std::string_view piece) { d.bpe.encode_piece(piece, out); });
  }
  // Prompt text rendered by phial: added tokens are matched first (longest match) and swallow
  // whitespace per their lstrip/rstrip flags, exactly as Hugging Face tokenizers encode.
  std::vector<std::int32_t> encode_with_special(std::string_view text) const;

  // ---- decoding ----

  // Concatenated token bytes (may end inside a UTF-8 sequence; see StreamingDetokenizer).
  // skip_special drops special added tokens (Phi-4-mini's tool tokens are not special and stay).
  // Throws InvalidArgument for ids outside [0, vocab_size()).
  std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const;
  // Raw bytes of one token (added tokens: their text); empty for holes. Throws for bad ids.
  std::string_view token_bytes(std::int32_t id) const {
    check_id(id);
    return data().bpe.token_bytes(id);
  }

  // ---- vocabulary ----

  std::int32_t vocab_size() const noexcept { return data_ ? data_->vocab_size : 0; }
  // Id of an added token by its text ("<|end|>"), else of the plain token with exactly these bytes.
  std::optional<std::int32_t> token_id(std::string_view token_text) const;
  bool is_special(std::int32_t id) const noexcept { return flag(id, detail::TokenizerData::kFlagSpecial); }
  bool is_added(std::int32_t id) const noexcept { return flag(id, detail::TokenizerData::kFlagAdded); }
  // True for ids with no token (Phi-4-mini: 199998, 200000..200017, 200029..200063).
  bool is_hole(std::int32_t id) const noexcept {
    return id >= 0 && id < vocab_size() && data_->bpe.token_bytes(id).empty();
  }
  Family family() const noexcept { return data_ ? data_->family : Family::unknown; }
  PretokenizerKind pretokenizer() const noexcept { return data().pretokenizer; }
  MergeRule merge_rule() const noexcept { return data().bpe.rule(); }
  const std::vector<AddedToken>& added_tokens() const noexcept { return data().added; }
  const std::string& source() const noexcept { return data().source; }
  bool loaded() const noexcept { return data_ != nullptr; }

  // Builds a tokenizer from parts (what the loaders do; exposed for tests and custom vocabularies).
  // `added` entries are placed at their ids (their bytes = their text); `vocab_size` may exceed the
  // largest id (holes).
  static Tokenizer assemble(Family family, PretokenizerKind kind, BpeVocab bpe, std::vector<AddedToken> added,
                            std::int32_t vocab_size, std::string source);

 private:
  const detail::TokenizerData& data() const {
    if (!data_) throw InvalidArgument("tokenizer: no vocabulary loaded");
    return *data_;
  }
  bool flag(std::int32_t id, std::uint8_t f) const noexcept {
    return data_ && id >= 0 && id < data_->vocab_size && (data_->flags[std::size_t(id)] & f) != 0;
  }
  void check_id(std::int32_t id) const {
    if (id < 0 || id >= vocab_size())
      throw InvalidArgument("tokenizer: token id " + std::to_string(id) + " out of range [0, " + std::to_string(vocab_size()) + ")");
  }

  std::shared_ptr<const detail::TokenizerData> data_;
};

// ---- definitions ----

inline std::vector<std::int32_t> Tokenizer::encode_with_special(std::string_view text) const {
  const detail::TokenizerData& d = data();
  std::vector<detail::Segment> segments, refined;
  if (!d.match_plain.empty())
    d.match_plain.split(text, 0, text.size(), segments);
  else
    segments.push_back(detail::Segment{-1, 0, text.size()});
  if (!d.match_normalized.empty()) {
    for (const auto& s : segments) {
      if (s.id >= 0)
        refined.push_back(s);
      else
        d.match_normalized.split(text, s.begin, s.end, refined);
    }
    segments.swap(refined);
  }
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  for (const auto& s : segments) {
    if (s.id >= 0)
      out.push_back(s.id);
    else
      encode(text.substr(s.begin, s.end - s.begin), out);
  }
  return out;
}

inline std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  const detail::TokenizerData& d = data();
  std::string out;
  for (std::int32_t id : ids) {
    check_id(id);
    if (skip_special && (d.flags[std::size_t(id)] & detail::TokenizerData::kFlagSpecial)) continue;
    out.append(d.bpe.token_bytes(id));
  }
  return out;
}

inline std::optional<std::int32_t> Tokenizer::token_id(std::string_view token_text) const {
  const detail::TokenizerData& d = data();
  if (auto it = d.added_by_content.find(std::string(token_text)); it != d.added_by_content.end()) return it->second;
  std::int32_t id = d.bpe.find(token_text);
  if (id >= 0) return id;
  return std::nullopt;
}

inline Tokenizer Tokenizer::assemble(Family family, PretokenizerKind kind, BpeVocab bpe, std::vector<AddedToken> added,
                                           std::int32_t vocab_size, std::string source) {
  auto d = std::make_shared<detail::TokenizerData>();
  d->family = family;
  d->pretokenizer = kind;
  d->vocab_size = vocab_size;
  d->source = std::move(source);
  d->bpe = std::move(bpe);
  if (!d->bpe.indexed()) {  // a hand-built vocabulary: index every token that is not an added one
    std::vector<std::uint8_t> is_added(std::size_t(vocab_size), 0);
    for (const auto& a : added)
      if (a.id >= 0 && a.id < vocab_size) is_added[std::size_t(a.id)] = 1;
    d->bpe.build_index([&](std::int32_t id) { return is_added[std::size_t(id)] == 0; });
  }
  d->bpe.finalize();
  if (d->bpe.size() != vocab_size) throw FormatError(d->source + ": internal error: vocabulary size mismatch");
  if (!d->bpe.has_all_bytes())
    throw FormatError(d->source + ": the vocabulary lacks a token for some single byte (not a byte-level BPE)");
  std::sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  d->flags.assign(std::size_t(vocab_size), 0);
  std::vector<AddedToken> plain, normalized;
  for (const auto& a : added) {
    if (a.id < 0 || a.id >= vocab_size)
      throw FormatError(d->source + ": added token '" + a.content + "' has id " + std::to_string(a.id) + " outside the vocabulary");
    if (a.content.empty()) throw FormatError(d->source + ": added token " + std::to_string(a.id) + " has empty text");
    d->flags[std::size_t(a.id)] = std::uint8_t(detail::TokenizerData::kFlagAdded | (a.special ? detail::TokenizerData::kFlagSpecial : 0));
    d->added_by_content.emplace(a.content, a.id);
    (a.normalized ? normalized : plain).push_back(a);
  }
  d->match_plain = detail::AddedTokenMatcher(std::move(plain));
  d->match_normalized = detail::AddedTokenMatcher(std::move(normalized));
  d->added = std::move(added);
  Tokenizer t;
  t.data_ = std::move(d);
  return t;
}

template <class GgufFileT>
Tokenizer Tokenizer::from_gguf(const GgufFileT& gguf) {
  std::string model = gguf.find_string("tokenizer.ggml.model").value_or("");
  if (model.empty()) throw FormatError(gguf.name() + ": no tokenizer.ggml.model key (no vocabulary in this GGUF)");
  std::vector<std::string> tokens = gguf.get_strings("tokenizer.ggml.tokens");
  std::vector<std::int32_t> types;
  if (gguf.find("tokenizer.ggml.token_type") != nullptr)
    for (auto t : gguf.get_ints("tokenizer.ggml.token_type")) types.push_back(std::int32_t(t));
  std::vector<std::string> merges;
  if (gguf.find("tokenizer.ggml.merges") != nullptr) merges = gguf.get_strings("tokenizer.ggml.merges");
  std::string pre = gguf.find_string("tokenizer.ggml.pre").value_or("");
  return from_gguf_metadata(tokens, types, merges, pre, model, gguf.name());
}

template <class ModelT>
Tokenizer Tokenizer::from_model(const ModelT& model) {
  if (const auto* g = model.gguf()) return from_gguf(*g);
  if (!model.hf_dir().empty()) return from_hf_json(model.hf_dir());
  throw FormatError("tokenizer: the model has neither GGUF metadata nor a Hugging Face directory");
}

}  // namespace phial

#include <phial/tokenizer/vocab_loaders.hpp>
