// phial/tokenizer/vocab_loaders.hpp - the three places a Phi-4 vocabulary comes from:
// a tiktoken rank file (+ the family's built-in added tokens), a Hugging Face tokenizer.json
// (+ tokenizer_config.json) and GGUF metadata. Included by tokenizer.hpp; not included directly.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/tokenizer/detail/gzip.hpp>
#include <phial/tokenizer/tokenizer.hpp>

namespace phial {
namespace detail {

// Reads a whole file; transparently gunzips it when it starts with the gzip magic.
inline std::string read_vocab_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw IoError("cannot open " + path.string());
  std::string data;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw IoError("cannot read " + path.string());
  if (is_gzip(data)) return gunzip(data, path.string());
  return data;
}

// GPT-2's byte <-> unicode mapping: printable bytes map to themselves, the other 68 to U+0100.. .
struct ByteLevelMap {
  std::array<std::uint32_t, 256> byte_to_cp{};
  std::array<std::int16_t, 512> cp_to_byte{};  // -1 = not a byte-level character
  ByteLevelMap() {
    cp_to_byte.fill(-1);
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_cp[b] = printable ? b : next++;
      cp_to_byte[byte_to_cp[b]] = std::int16_t(b);
    }
  }
};

inline const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap m;
  return m;
}

// Byte-level token text ("Ġhello") -> raw bytes (" hello"); false if a character is not byte-level.
inline bool byte_level_decode(std::string_view text, std::string& out) {
  const ByteLevelMap& m = byte_level_map();
  out.clear();
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  auto end = p + text.size();
  while (p < end) {
    std::uint32_t len = 1;
    std::uint32_t cp = *p < 0x80 ? *p : decode_utf8(p, end, len);
    if (cp >= 512 || m.cp_to_byte[cp] < 0) return false;
    out += char(m.cp_to_byte[cp]);
    p += len;
  }
  return true;
}

// byte_level_decode appending to `out` (fast path for the loaders: no per-byte push_back).
inline bool byte_level_decode_append(std::string_view text, std::string& out) {
  const ByteLevelMap& m = byte_level_map();
  const std::size_t old = out.size();
  out.resize(old + text.size());  // decoded bytes <= characters <= text bytes
  char* o = out.data() + old;
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  auto end = p + text.size();
  while (p < end) {
    std::uint32_t len = 1;
    std::uint32_t cp = *p < 0x80 ? *p : decode_utf8(p, end, len);
    if (cp >= 512 || m.cp_to_byte[cp] < 0) {
      out.resize(old);
      return false;
    }
    *o++ = char(m.cp_to_byte[cp]);
    p += len;
  }
  out.resize(std::size_t(o - out.data()));
  return true;
}

// Adds merges 0..n-1 to `bpe` (already indexed, pairs reserved) in order. `get(i, left, right)`
// sets the two halves of merge i as byte-level text and returns false when the entry is malformed;
// `describe(i)` names it in messages. Merges are resolved in batches: decode, hash and prefetch the
// three lookups (left, right, left+right) of every merge in the batch, then probe.
template <class Get, class Describe>
void add_merges(BpeVocab& bpe, std::size_t n, Get&& get, Describe&& describe, const std::string& source) {
  constexpr std::size_t kBatch = 32;
  struct Pending {
    std::size_t offset, n_left, n_right;
    BpeVocab::Lookup left, right, merged;
    std::int32_t a, b, c;
  };
  Pending batch[kBatch];
  std::string buf;  // decoded bytes of the batch: left then right of each merge (merged = both)
  for (std::size_t first = 0; first < n; first += kBatch) {
    const std::size_t count = std::min(kBatch, n - first);
    buf.clear();
    for (std::size_t k = 0; k < count; ++k) {
      std::string_view l, r;
      if (!get(first + k, l, r)) throw FormatError(source + ": merge " + std::to_string(first + k) + " " + describe(first + k) + " is not 'left right'");
      Pending& e = batch[k];
      e.offset = buf.size();
      bool ok = byte_level_decode_append(l, buf);
      e.n_left = buf.size() - e.offset;
      ok = ok && byte_level_decode_append(r, buf);
      if (!ok) throw FormatError(source + ": merge " + std::to_string(first + k) + " " + describe(first + k) + " is not byte-level");
      e.n_right = buf.size() - e.offset - e.n_left;
    }
    for (std::size_t k = 0; k < count; ++k) {
      Pending& e = batch[k];
      const char* p = buf.data() + e.offset;
      e.left = bpe.prepare_find(p, e.n_left);
      e.right = bpe.prepare_find(p + e.n_left, e.n_right);
      e.merged = bpe.prepare_find(p, e.n_left + e.n_right);
    }
    for (std::size_t k = 0; k < count; ++k) {
      Pending& e = batch[k];
      e.a = bpe.find(e.left);
      e.b = bpe.find(e.right);
      e.c = bpe.find(e.merged);
      if (e.a < 0 || e.b < 0 || e.c < 0)
        throw FormatError(source + ": merge " + std::to_string(first + k) + " " + describe(first + k) +
                          " refers to a token missing from the vocabulary");
      bpe.prefetch_pair(e.a, e.b);
    }
    for (std::size_t k = 0; k < count; ++k) bpe.add_pair(batch[k].a, batch[k].b, batch[k].c, std::uint32_t(first + k));
  }
}

// Raw bytes -> byte-level text, the inverse of byte_level_decode.
inline std::string byte_level_encode(std::string_view bytes) {
  const ByteLevelMap& m = byte_level_map();
  std::string out;
  for (char c : bytes) append_utf8(out, m.byte_to_cp[static_cast<unsigned char>(c)]);
  return out;
}

// Sets the added tokens' bytes, indexes the mergeable tokens and assembles the tokenizer.
inline Tokenizer finish_tokenizer(Family family, PretokenizerKind kind, BpeVocab bpe, std::vector<AddedToken> added,
                                        std::int32_t vocab_size, std::string source) {
  std::vector<std::uint8_t> is_added(std::size_t(vocab_size), 0);
  for (const auto& a : added) {
    if (a.id < 0 || a.id >= vocab_size)
      throw FormatError(source + ": added token '" + a.content + "' id " + std::to_string(a.id) + " outside the vocabulary");
    if (is_added[std::size_t(a.id)]) throw FormatError(source + ": two added tokens with id " + std::to_string(a.id));
    is_added[std::size_t(a.id)] = 1;
    if (!bpe.token_bytes(a.id).empty() && bpe.token_bytes(a.id) != a.content)
      throw FormatError(source + ": added token " + std::to_string(a.id) + " '" + a.content + "' collides with a BPE token");
    bpe.set_token(a.id, a.content, BpeVocab::kNoRank);
  }
  // Loaders that needed the index for their merges built it over the same ids already.
  if (!bpe.indexed()) bpe.build_index([&](std::int32_t id) { return is_added[std::size_t(id)] == 0; });
  return Tokenizer::assemble(family, kind, std::move(bpe), std::move(added), vocab_size, std::move(source));
}

inline PretokenizerKind kind_of_family(Family family) {
  return family == Family::phi4_mini ? PretokenizerKind::o200k : PretokenizerKind::cl100k;
}

// The split regexes as Hugging Face tokenizer.json files and tiktoken spell them.
inline constexpr std::string_view kCl100kRegexHf =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kCl100kRegexTiktoken =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
inline constexpr std::string_view kO200kRegex =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// base64 character -> 6-bit value, -1 for anything else.
struct Base64Table {
  std::array<std::int8_t, 256> value{};
  Base64Table() {
    value.fill(-1);
    for (int c = 0; c < 256; ++c) value[std::size_t(c)] = std::int8_t(base64_value(static_cast<unsigned char>(c)));
  }
  static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  }
};

inline const Base64Table& base64_table() {
  static const Base64Table t;
  return t;
}


}  // namespace detail

inline Tokenizer Tokenizer::from_tiktoken_text(std::string_view content, Family family, std::string source) {
  // Pass 1: decode every line straight into one byte blob; remember (offset, length, rank).
  struct Entry {
    std::uint32_t offset, length, rank;
  };
  if (content.size() > 0xFFFFFFF0u) throw FormatError(source + ": tiktoken file too large");
  std::vector<Entry> entries;
  entries.reserve(content.size() / 10 + 16);
  std::string bytes(content.size(), '\0');  // decoded bytes are always fewer than the text
  char* out = bytes.data();
  std::uint32_t max_rank = 0;
  std::size_t pos = 0, line_no = 0;
  const detail::Base64Table& b64 = detail::base64_table();
  while (pos < content.size()) {
    const char* nl = static_cast<const char*>(std::memchr(content.data() + pos, '\n', content.size() - pos));
    std::size_t eol = nl != nullptr ? std::size_t(nl - content.data()) : content.size();
    std::string_view line = content.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto bad = [&](const char* what) {
      return FormatError(source + ":" + std::to_string(line_no) + ": " + what + " (expected 'base64 rank')");
    };
    const char* sp_ptr = static_cast<const char*>(std::memchr(line.data(), ' ', line.size()));
    if (sp_ptr == nullptr || sp_ptr == line.data()) throw bad("no rank");
    const std::size_t sp = std::size_t(sp_ptr - line.data());
    // base64 decode up to the first '=' (padding) or the space; 4 characters -> 3 bytes.
    std::size_t n64 = 0;
    while (n64 < sp && line[n64] != '=') ++n64;
    const auto* q = reinterpret_cast<const unsigned char*>(line.data());
    const std::uint32_t offset = std::uint32_t(out - bytes.data());
    std::size_t i = 0;
    for (; i + 4 <= n64; i += 4) {
      const int v0 = b64.value[q[i]], v1 = b64.value[q[i + 1]], v2 = b64.value[q[i + 2]], v3 = b64.value[q[i + 3]];
      if ((v0 | v1 | v2 | v3) < 0) throw bad("invalid base64");
      const std::uint32_t x = (std::uint32_t(v0) << 18) | (std::uint32_t(v1) << 12) | (std::uint32_t(v2) << 6) | std::uint32_t(v3);
      out[0] = char(x >> 16);
      out[1] = char((x >> 8) & 0xFF);
      out[2] = char(x & 0xFF);
      out += 3;
    }
    if (std::size_t r = n64 - i; r > 0) {  // 1 character: no whole byte; 2: one byte; 3: two bytes
      std::uint32_t x = 0;
      for (std::size_t k = 0; k < r; ++k) {
        const int v = b64.value[q[i + k]];
        if (v < 0) throw bad("invalid base64");
        x = (x << 6) | std::uint32_t(v);
      }
      if (r == 2) *out++ = char((x >> 4) & 0xFF);
      if (r == 3) {
        *out++ = char((x >> 10) & 0xFF);
        *out++ = char((x >> 2) & 0xFF);
      }
    }
    const std::uint32_t length = std::uint32_t(out - bytes.data()) - offset;
    if (length == 0) throw bad("empty token");
    std::uint64_t rank = 0;
    std::size_t k = sp + 1;
    if (k >= line.size()) throw bad("no rank");
    for (; k < line.size(); ++k) {
      char c = line[k];
      if (c < '0' || c > '9') throw bad("rank is not a number");
      rank = rank * 10 + std::uint64_t(c - '0');
      if (rank > 0x7FFFFFF0ull) throw bad("rank too large");
    }
    entries.push_back(Entry{offset, length, std::uint32_t(rank)});
    max_rank = std::max(max_rank, std::uint32_t(rank));
  }
  bytes.resize(std::size_t(out - bytes.data()));
  if (entries.empty()) throw FormatError(source + ": empty tiktoken file");
  if (family == Family::unknown) {
    if (entries.size() == std::size_t(family_bpe_size(Family::phi4)))
      family = Family::phi4;
    else if (entries.size() == std::size_t(family_bpe_size(Family::phi4_mini)))
      family = Family::phi4_mini;
    else
      throw InvalidArgument(source + ": " + std::to_string(entries.size()) +
                            " ranks: cannot tell the family (expected 100256 for phi4 or 199998 for phi4-mini); name it");
  }
  std::vector<AddedToken> added = family_added_tokens(family);
  std::int32_t vocab_size = std::max<std::int32_t>(family_vocab_size(family), std::int32_t(max_rank) + 1);
  for (const auto& a : added) vocab_size = std::max(vocab_size, a.id + 1);
  BpeVocab bpe;
  bpe.reset(vocab_size, MergeRule::by_rank);
  bpe.adopt_blob(std::move(bytes));
  std::vector<std::uint8_t> seen(std::size_t(vocab_size), 0);
  for (const auto& e : entries) {
    if (seen[e.rank]) throw FormatError(source + ": rank " + std::to_string(e.rank) + " appears twice");
    seen[e.rank] = 1;
    bpe.set_token_at(std::int32_t(e.rank), e.offset, e.length, e.rank);
  }
  for (const auto& a : added)
    if (a.id < std::int32_t(seen.size()) && seen[std::size_t(a.id)])
      throw FormatError(source + ": rank " + std::to_string(a.id) + " is the family's added token " + a.content);
  return detail::finish_tokenizer(family, detail::kind_of_family(family), std::move(bpe), std::move(added), vocab_size,
                                  std::move(source));
}

inline Tokenizer Tokenizer::from_tiktoken(const std::filesystem::path& path, Family family) {
  std::string content = detail::read_vocab_file(path);
  return from_tiktoken_text(content, family, path.string());
}

namespace detail {

// A minimal JSON reader over a buffer: just enough to read tokenizer.json's model.vocab and
// model.merges (99 % of the file: 200,000 keys and 200,000 pairs) in place, without building a DOM.
// Every function returns false on anything unexpected (or merely unusual); the loader then falls
// back to Boost.JSON for the whole document, which reports real errors. Never reads past `end`.
struct JsonCursor {
  const char* p;
  const char* end;

  void ws() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  }
  bool eat(char c) {
    ws();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  bool hex4(std::uint32_t& v) {
    if (end - p < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = *p++;
      std::uint32_t d;
      if (c >= '0' && c <= '9')
        d = std::uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = std::uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = std::uint32_t(c - 'A' + 10);
      else
        return false;
      v = (v << 4) | d;
    }
    return true;
  }
  // A string value, unescaped and appended to `out` (valid UTF-8 only, no raw control characters).
  bool string(std::string& out) {
    ws();
    if (p >= end || *p != '"') return false;
    ++p;
    const char* run = p;  // start of the current unescaped run
    bool non_ascii = false;
    auto flush = [&] {
      if (non_ascii && !is_valid_utf8(std::string_view(run, std::size_t(p - run)))) return false;
      out.append(run, p);
      return true;
    };
    for (;;) {
      if (p >= end) return false;
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        if (!flush()) return false;
        ++p;
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) non_ascii = true;
      if (c != '\\') {
        ++p;
        continue;
      }
      if (!flush()) return false;
      ++p;
      if (p >= end) return false;
      switch (*p++) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            std::uint32_t lo;
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
            p += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          append_utf8(out, cp);
          break;
        }
        default: return false;
      }
      run = p;
      non_ascii = false;
    }
  }
  // Skips a string without unescaping (Boost.JSON validates it later: it stays in the remainder).
  bool skip_string() {
    ws();
    if (p >= end || *p != '"') return false;
    for (++p; p < end; ++p) {
      if (*p == '\\') {
        ++p;
        continue;
      }
      if (*p == '"') {
        ++p;
        return true;
      }
    }
    return false;
  }
  bool skip_value(int depth = 0) {
    if (depth > 128) return false;
    ws();
    if (p >= end) return false;
    if (*p == '"') return skip_string();
    if (*p == '{' || *p == '[') {
      const char close = *p == '{' ? '}' : ']';
      const bool object = *p == '{';
      ++p;
      if (eat(close)) return true;
      for (;;) {
        if (object && (!skip_string() || !eat(':'))) return false;
        if (!skip_value(depth + 1)) return false;
        if (eat(',')) continue;
        return eat(close);
      }
    }
    const char* start = p;
    while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '+' || *p == '.' || *p == 'E')) ++p;
    return p > start;
  }
  // A non-negative integer of at most 0x7FFFFFF0 in plain JSON form (no fraction, no exponent).
  bool small_uint(std::int64_t& v) {
    ws();
    const char* start = p;
    v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      v = v * 10 + (*p - '0');
      if (v > 0x7FFFFFF0) return false;
      ++p;
    }
    if (p == start || (*start == '0' && p - start > 1)) return false;
    return !(p < end && (*p == '.' || *p == 'e' || *p == 'E'));
  }
};

// model.vocab and model.merges of a tokenizer.json, read by JsonCursor. Strings live in `text`.
struct HfLeanVocab {
  struct Item {
    std::size_t offset, length;  // in text
    std::int64_t id;
  };
  struct Merge {
    std::size_t offset, n_left, n_right;  // left = text[offset, +n_left), right follows after one byte
  };
  std::string text;
  std::vector<Item> vocab;
  std::vector<Merge> merges;
};

inline bool hf_lean_vocab(JsonCursor& c, HfLeanVocab& out) {
  if (!c.eat('{')) return false;
  out.vocab.reserve(std::min<std::size_t>(1 << 18, std::size_t(c.end - c.p) / 8));
  if (c.eat('}')) return true;
  for (;;) {
    HfLeanVocab::Item item{out.text.size(), 0, 0};
    if (!c.string(out.text) || !c.eat(':') || !c.small_uint(item.id)) return false;
    item.length = out.text.size() - item.offset;
    out.vocab.push_back(item);
    if (c.eat(',')) continue;
    return c.eat('}');
  }
}

inline bool hf_lean_merges(JsonCursor& c, HfLeanVocab& out) {
  if (!c.eat('[')) return false;
  out.merges.reserve(std::min<std::size_t>(1 << 18, std::size_t(c.end - c.p) / 8));
  if (c.eat(']')) return true;
  for (;;) {
    HfLeanVocab::Merge m{out.text.size(), 0, 0};
    c.ws();
    if (c.p < c.end && *c.p == '"') {  // "left right"
      if (!c.string(out.text)) return false;
      std::string_view s = std::string_view(out.text).substr(m.offset);
      std::size_t sp = s.find(' ');
      if (sp == std::string_view::npos) return false;
      m.n_left = sp;
      m.n_right = s.size() - sp - 1;
    } else {  // ["left", "right"]
      if (!c.eat('[') || !c.string(out.text)) return false;
      m.n_left = out.text.size() - m.offset;
      out.text += ' ';
      if (!c.eat(',') || !c.string(out.text) || !c.eat(']')) return false;
      m.n_right = out.text.size() - m.offset - m.n_left - 1;
    }
    out.merges.push_back(m);
    if (c.eat(',')) continue;
    return c.eat(']');
  }
}

// Reads model.vocab and model.merges in place and returns the document without them (their
// values replaced by {} and []) in `rest`, for Boost.JSON. False when the layout is not the
// expected one (then nothing is assumed and the caller parses the whole document).
inline bool hf_lean_scan(std::string_view json, HfLeanVocab& out, std::string& rest) {
  out = HfLeanVocab{};
  JsonCursor c{json.data(), json.data() + json.size()};
  const char *vocab_begin = nullptr, *vocab_end = nullptr, *merges_begin = nullptr, *merges_end = nullptr;
  bool seen_model = false;
  std::string key;
  if (!c.eat('{')) return false;
  if (!c.eat('}')) {
    for (;;) {
      key.clear();
      if (!c.string(key) || !c.eat(':')) return false;
      if (key == "model") {
        if (seen_model) return false;
        seen_model = true;
        if (!c.eat('{')) return false;
        if (!c.eat('}')) {
          for (;;) {
            key.clear();
            if (!c.string(key) || !c.eat(':')) return false;
            if (key == "vocab" || key == "merges") {
              const bool is_vocab = key == "vocab";
              if ((is_vocab ? vocab_begin : merges_begin) != nullptr) return false;
              c.ws();
              const char* begin = c.p;
              if (!(is_vocab ? hf_lean_vocab(c, out) : hf_lean_merges(c, out))) return false;
              (is_vocab ? vocab_begin : merges_begin) = begin;
              (is_vocab ? vocab_end : merges_end) = c.p;
            } else if (!c.skip_value()) {
              return false;
            }
            if (c.eat(',')) continue;
            if (c.eat('}')) break;
            return false;
          }
        }
      } else if (!c.skip_value()) {
        return false;
      }
      if (c.eat(',')) continue;
      if (c.eat('}')) break;
      return false;
    }
  }
  c.ws();
  if (c.p != c.end || vocab_begin == nullptr || merges_begin == nullptr) return false;
  struct Cut {
    const char *begin, *end;
    const char* with;
  };
  Cut cuts[2] = {{vocab_begin, vocab_end, "{}"}, {merges_begin, merges_end, "[]"}};
  if (cuts[1].begin < cuts[0].begin) std::swap(cuts[0], cuts[1]);
  rest.clear();
  const char* at = json.data();
  for (const Cut& cut : cuts) {
    rest.append(at, cut.begin);
    rest += cut.with;
    at = cut.end;
  }
  rest.append(at, json.data() + json.size());
  return true;
}

inline const boost::json::object& json_object(const boost::json::value& v, const std::string& what, const std::string& source) {
  if (!v.is_object()) throw FormatError(source + ": " + what + " is not a JSON object");
  return v.get_object();
}

inline bool json_bool(const boost::json::object& o, std::string_view key, bool fallback) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_bool()) return fallback;
  return it->value().get_bool();
}

// The split regex of a tokenizer.json pre_tokenizer (Sequence[Split(Regex), ByteLevel] or a
// single Split), or empty.
inline std::string find_split_regex(const boost::json::value& pre) {
  if (!pre.is_object()) return {};
  const auto& o = pre.get_object();
  auto type = o.find("type");
  if (type == o.end() || !type->value().is_string()) return {};
  std::string_view t = type->value().get_string();
  if (t == "Sequence") {
    auto it = o.find("pretokenizers");
    if (it == o.end() || !it->value().is_array()) return {};
    for (const auto& p : it->value().get_array())
      if (auto r = find_split_regex(p); !r.empty()) return r;
    return {};
  }
  if (t == "Split") {
    auto pat = o.find("pattern");
    if (pat == o.end() || !pat->value().is_object()) return {};
    auto re = pat->value().get_object().find("Regex");
    if (re == pat->value().get_object().end() || !re->value().is_string()) return {};
    return std::string(re->value().get_string());
  }
  return {};
}

inline AddedToken parse_added_token(const boost::json::object& o, std::int32_t id, const std::string& source) {
  AddedToken a;
  a.id = id;
  auto c = o.find("content");
  if (c == o.end() || !c->value().is_string()) throw FormatError(source + ": added token " + std::to_string(id) + " has no content");
  a.content = std::string(c->value().get_string());
  a.special = json_bool(o, "special", false);
  a.lstrip = json_bool(o, "lstrip", false);
  a.rstrip = json_bool(o, "rstrip", false);
  a.single_word = json_bool(o, "single_word", false);
  a.normalized = json_bool(o, "normalized", !a.special);
  return a;
}

}  // namespace detail

namespace detail {

// from_hf_json_text; `lean` reads model.vocab / model.merges with JsonCursor (falls back to the
// plain Boost.JSON path, lean = false, whenever that reader declines or the vocabulary is unusual).
inline Tokenizer load_hf_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json, std::string source,
                                    bool lean) {
  HfLeanVocab lv;
  std::string rest;
  if (lean) lean = hf_lean_scan(tokenizer_json, lv, rest);
  // One arena for the whole document (with lean: the small remainder): freed at once.
  boost::json::monotonic_resource arena;
  const boost::json::value root = [&] {
    try {
      return boost::json::parse(lean ? std::string_view(rest) : tokenizer_json, &arena);  // root keeps the arena's storage
    } catch (const std::exception& e) {
      throw FormatError(source + ": invalid JSON: " + e.what());
    }
  }();
  const auto& top = detail::json_object(root, "the top level", source);
  auto model_it = top.find("model");
  if (model_it == top.end()) throw FormatError(source + ": no \"model\"");
  const auto& model = detail::json_object(model_it->value(), "\"model\"", source);
  if (auto t = model.find("type"); t != model.end() && t->value().is_string() && t->value().get_string() != "BPE")
    throw UnsupportedModelError(source + ": model type " + std::string(t->value().get_string()) + " (only byte-level BPE is supported)");

  // Pre-tokenizer -> family.
  std::string regex;
  if (auto p = top.find("pre_tokenizer"); p != top.end()) regex = detail::find_split_regex(p->value());
  Family family;
  if (regex == detail::kCl100kRegexHf || regex == detail::kCl100kRegexTiktoken)
    family = Family::phi4;
  else if (regex == detail::kO200kRegex)
    family = Family::phi4_mini;
  else
    throw UnsupportedModelError(source + ": unsupported pre-tokenizer split regex '" + regex +
                                "' (expected the cl100k or o200k pattern of Phi-4 / Phi-4-mini)");

  // Added tokens (tokenizer.json), then tokenizer_config.json's added_tokens_decoder overrides.
  std::vector<AddedToken> added;
  std::unordered_map<std::int32_t, std::size_t> added_index;
  auto put_added = [&](AddedToken a) {
    if (auto it = added_index.find(a.id); it != added_index.end()) {
      added[it->second] = std::move(a);
    } else {
      added_index.emplace(a.id, added.size());
      added.push_back(std::move(a));
    }
  };
  if (auto at = top.find("added_tokens"); at != top.end() && at->value().is_array()) {
    for (const auto& v : at->value().get_array()) {
      const auto& o = detail::json_object(v, "an added token", source);
      auto idv = o.find("id");
      if (idv == o.end() || !idv->value().is_int64()) throw FormatError(source + ": added token without an integer id");
      const std::int64_t id = idv->value().get_int64();
      if (id < 0 || id > 0x7FFFFFF0) throw FormatError(source + ": added token id " + std::to_string(id) + " out of range");
      put_added(detail::parse_added_token(o, std::int32_t(id), source));
    }
  }
  if (!tokenizer_config_json.empty()) {
    boost::json::value cfg;
    try {
      cfg = boost::json::parse(tokenizer_config_json);
    } catch (const std::exception& e) {
      throw FormatError(source + ": invalid tokenizer_config.json: " + e.what());
    }
    if (cfg.is_object()) {
      if (auto dec = cfg.get_object().find("added_tokens_decoder"); dec != cfg.get_object().end() && dec->value().is_object()) {
        for (const auto& kv : dec->value().get_object()) {
          std::string key(kv.key());
          char* endp = nullptr;
          long id = std::strtol(key.c_str(), &endp, 10);
          if (key.empty() || *endp != '\0' || id < 0 || id > 0x7FFFFFF0) throw FormatError(source + ": tokenizer_config.json: bad added token id '" + key + "'");
          put_added(detail::parse_added_token(detail::json_object(kv.value(), "an added token", source), std::int32_t(id), source));
        }
      }
    }
  }

  // Vocabulary: byte-level strings -> bytes (from the lean reader, or from the DOM).
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end()) throw FormatError(source + ": no model.vocab");
  const auto& vocab = detail::json_object(vocab_it->value(), "model.vocab", source);
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->value().is_array()) throw FormatError(source + ": no model.merges array");
  const auto& merges = merges_it->value().get_array();
  std::vector<std::pair<std::string_view, std::int64_t>> items;  // (token text, id)
  if (lean) {
    items.reserve(lv.vocab.size());
    for (const auto& it : lv.vocab) items.emplace_back(std::string_view(lv.text).substr(it.offset, it.length), it.id);
  } else {
    items.reserve(vocab.size());
    for (const auto& kv : vocab) {
      if (!kv.value().is_int64() || kv.value().get_int64() < 0 || kv.value().get_int64() > 0x7FFFFFF0)
        throw FormatError(source + ": model.vocab entry '" + std::string(kv.key()) + "' has no valid id");
      items.emplace_back(kv.key(), kv.value().get_int64());
    }
  }
  std::int32_t max_id = -1;
  for (const auto& item : items) max_id = std::max(max_id, std::int32_t(item.second));
  for (const auto& a : added) max_id = std::max(max_id, a.id);
  std::int32_t vocab_size = std::max(max_id + 1, family_vocab_size(family));
  BpeVocab bpe;
  bpe.reset(vocab_size, MergeRule::by_merge_list);
  bpe.reserve_blob(tokenizer_json.size() / 4);
  std::vector<std::uint8_t> is_added(std::size_t(vocab_size), 0);
  for (const auto& a : added) is_added[std::size_t(a.id)] = 1;
  std::vector<std::uint8_t> seen(std::size_t(vocab_size), 0);
  std::string bytes;
  for (const auto& [text, id64] : items) {
    auto id = std::int32_t(id64);
    if (seen[std::size_t(id)]) throw FormatError(source + ": id " + std::to_string(id) + " appears twice in model.vocab");
    seen[std::size_t(id)] = 1;
    if (is_added[std::size_t(id)]) continue;  // added tokens get their text below
    bytes.clear();
    if (!detail::byte_level_decode_append(text, bytes))
      throw UnsupportedModelError(source + ": vocab entry '" + std::string(text) + "' is not byte-level (GPT-2 alphabet)");
    bpe.set_token(id, bytes, std::uint32_t(id));
  }
  // Index first (merges refer to tokens by text), then the merges.
  {
    // Two keys with the same bytes: the lean reader keeps both where a JSON object keeps one, so
    // such a (malformed) file takes the plain path, whatever Boost.JSON makes of it.
    if (!bpe.build_index([&](std::int32_t id) { return is_added[std::size_t(id)] == 0; }) && lean)
      return load_hf_json(tokenizer_json, tokenizer_config_json, std::move(source), false);
  }
  const std::size_t n_merges = lean ? lv.merges.size() : merges.size();
  bpe.reserve_pairs(n_merges);
  auto merge_halves = [&](std::size_t i, std::string_view& l, std::string_view& r) {
    if (lean) {
      const auto& m = lv.merges[i];
      l = std::string_view(lv.text).substr(m.offset, m.n_left);
      r = std::string_view(lv.text).substr(m.offset + m.n_left + 1, m.n_right);
      return true;
    }
    const auto& m = merges[i];
    if (m.is_array() && m.get_array().size() == 2 && m.get_array()[0].is_string() && m.get_array()[1].is_string()) {
      l = m.get_array()[0].get_string();
      r = m.get_array()[1].get_string();
      return true;
    }
    if (m.is_string()) {
      std::string_view s = m.get_string();
      std::size_t sp = s.find(' ');
      if (sp == std::string_view::npos) return false;
      l = s.substr(0, sp);
      r = s.substr(sp + 1);
      return true;
    }
    return false;
  };
  detail::add_merges(
      bpe, n_merges, merge_halves,
      [&](std::size_t i) {
        std::string_view l, r;
        if (!merge_halves(i, l, r)) return std::string("(neither [left, right] nor 'left right')");
        return "('" + std::string(l) + "' '" + std::string(r) + "')";
      },
      source);
  // Re-assemble: finish_tokenizer re-indexes with the added tokens' bytes set.
  return detail::finish_tokenizer(family, detail::kind_of_family(family), std::move(bpe), std::move(added), vocab_size,
                                  std::move(source));
}

}  // namespace detail

inline Tokenizer Tokenizer::from_hf_json_text(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                                                    std::string source) {
  return detail::load_hf_json(tokenizer_json, tokenizer_config_json, std::move(source), true);
}

inline Tokenizer Tokenizer::from_hf_json(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path)) {
    file = path / "tokenizer.json";
    if (!std::filesystem::exists(file) && std::filesystem::exists(path / "tokenizer.json.gz")) file = path / "tokenizer.json.gz";
  }
  std::string json = detail::read_vocab_file(file);
  std::string config;
  for (const char* name : {"tokenizer_config.json", "tokenizer_config.json.gz"}) {
    std::filesystem::path cfg = file.parent_path() / name;
    if (std::filesystem::exists(cfg)) {
      config = detail::read_vocab_file(cfg);
      break;
    }
  }
  return from_hf_json_text(json, config, file.string());
}

inline Tokenizer Tokenizer::from_gguf_metadata(std::span<const std::string> tokens, std::span<const std::int32_t> token_types,
                                                     std::span<const std::string> merges, std::string_view pre,
                                                     std::string_view model, std::string source) {
  if (model != "gpt2")
    throw UnsupportedModelError(source + ": tokenizer.ggml.model is '" + std::string(model) + "' (only gpt2 byte-level BPE is supported)");
  Family family;
  if (pre == "dbrx" || pre == "phi-4" || pre == "phi4")
    family = Family::phi4;
  else if (pre == "gpt-4o")
    family = Family::phi4_mini;
  else
    throw UnsupportedModelError(source + ": tokenizer.ggml.pre is '" + std::string(pre) +
                                "' (expected dbrx for Phi-4 or gpt-4o for Phi-4-mini)");
  if (!token_types.empty() && token_types.size() != tokens.size())
    throw FormatError(source + ": tokenizer.ggml.token_type has " + std::to_string(token_types.size()) + " entries for " +
                      std::to_string(tokens.size()) + " tokens");
  if (tokens.size() > 0x7FFFFFF0u) throw FormatError(source + ": too many tokens");
  // GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
  std::vector<AddedToken> table = family_added_tokens(family);
  std::vector<AddedToken> added;
  const auto n = std::int32_t(tokens.size());
  BpeVocab bpe;
  bpe.reset(n, MergeRule::by_merge_list);
  std::vector<std::uint8_t> is_added(std::size_t(n), 0);
  std::string bytes;
  for (std::int32_t id = 0; id < n; ++id) {
    std::int32_t type = token_types.empty() ? 1 : token_types[std::size_t(id)];
    const std::string& text = tokens[std::size_t(id)];
    if (type == 5) continue;  // unused: a hole
    if (type == 3 || type == 4) {
      AddedToken a{id, text, type == 3, false, false, false, false};
      for (const auto& f : table)
        if (f.content == text) {
          a.special = f.special;
          a.lstrip = f.lstrip;
          a.rstrip = f.rstrip;
        }
      added.push_back(std::move(a));
      is_added[std::size_t(id)] = 1;
      continue;
    }
    if (!detail::byte_level_decode(text, bytes))
      throw FormatError(source + ": token " + std::to_string(id) + " '" + text + "' is not byte-level (GPT-2 alphabet)");
    if (bytes.empty()) continue;
    bpe.set_token(id, bytes, std::uint32_t(id));
  }
  bpe.build_index([&](std::int32_t id) { return is_added[std::size_t(id)] == 0; });
  bpe.reserve_pairs(merges.size());
  detail::add_merges(
      bpe, merges.size(),
      [&](std::size_t i, std::string_view& l, std::string_view& r) {
        std::string_view m = merges[i];
        std::size_t sp = m.find(' ');
        if (sp == std::string_view::npos) return false;
        l = m.substr(0, sp);
        r = m.substr(sp + 1);
        return true;
      },
      [&](std::size_t i) { return "'" + merges[i] + "'"; }, source);
  // Phi-4-mini GGUFs carry all 200064 rows; a smaller vocabulary (test models) keeps its own size.
  return detail::finish_tokenizer(family, detail::kind_of_family(family), std::move(bpe), std::move(added), n, std::move(source));
}

inline Tokenizer Tokenizer::from_file(const std::filesystem::path& path, Family family) {
  if (std::filesystem::is_directory(path)) return from_hf_json(path);
  std::string name = path.filename().string();
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".json") || ends_with(".json.gz")) return from_hf_json(path);
  if (ends_with(".tiktoken") || ends_with(".tiktoken.gz")) return from_tiktoken(path, family);
  // Sniff: JSON starts with '{'.
  std::string content = detail::read_vocab_file(path);
  std::size_t i = content.find_first_not_of(" \t\r\n");
  if (i != std::string::npos && content[i] == '{') return from_hf_json_text(content, {}, path.string());
  return from_tiktoken_text(content, family, path.string());
}

}  // namespace phial
