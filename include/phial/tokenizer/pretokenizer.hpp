// phial/tokenizer/pretokenizer.hpp - the split ("pre-tokenization") step of the two Phi-4 vocabularies.
//
// Both families cut text into pieces with a regex before BPE (spec §4.1, §4.2):
//
//   cl100k (Phi-4):      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//                        | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   o200k (Phi-4-mini):  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//                        |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//                        |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with backtracking, leftmost-first alternation, \s = Unicode White_Space and Unicode 16.0 classes.
// Two implementations with identical results:
//   - split_pieces(): a hand-written scanner that decides each alternative directly (what the
//     regex engine would find after backtracking), one pass, no allocation; the fast path.
//   - RegexPretokenizer: the same regexes compiled by re2, with the `\s+(?!\S)` lookahead emulated
//     (re2 has none) and every class spelled out from the same Unicode 16.0 tables (re2's own \p{..}
//     tables are Unicode 15 in Debian 12 and re2's \s is ASCII-only). The reference the scanner is
//     tested against, and a fallback. docs/tokenizer.md explains the choice.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/tokenizer/detail/utf8.hpp>

namespace phial {

// Which split regex a vocabulary uses.
enum class PretokenizerKind {
  cl100k,  // Phi-4 (tiktoken cl100k_base; llama.cpp pre-type "dbrx")
  o200k,   // Phi-4-mini (tiktoken o200k_base; llama.cpp pre-type "gpt-4o")
};

namespace detail {

// Length in bytes of an English contraction at p ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
// case-insensitive with Unicode simple case folding, so U+017F LONG S counts as s), 0 if none.
PHIAL_ALWAYS_INLINE std::size_t contraction_length(const unsigned char* p, const unsigned char* end) {
  if (p >= end || *p != '\'') return 0;
  if (end - p < 2) return 0;
  unsigned c = p[1] | 0x20u;  // ASCII lower case (only used for letters below)
  if (p[1] == 0xC5 && end - p >= 3 && p[2] == 0xBF) return 3;  // 'ſ  (U+017F folds to s)
  if (p[1] < 0x80 && (c == 's' || c == 't' || c == 'm' || c == 'd')) return 2;
  if (end - p < 3 || p[1] >= 0x80 || p[2] >= 0x80) return 0;
  unsigned c2 = p[2] | 0x20u;
  if ((c == 'l' && c2 == 'l') || (c == 'v' && c2 == 'e') || (c == 'r' && c2 == 'e')) return 3;
  return 0;
}

// Scans the maximal run of characters whose class is in `set`, from p; returns its end.
PHIAL_ALWAYS_INLINE const unsigned char* scan_run(const unsigned char* p, const unsigned char* end, std::uint16_t set,
                                                  const CharClassTable& t) {
  while (p < end) {
    DecodedChar c = next_char(p, end, t);
    if (!in_set(c.cls, set)) break;
    p += c.len;
  }
  return p;
}

// Whitespace alternatives shared by both regexes, at p whose character is \s:
// \s*[\r\n]+ | \s+(?!\S) | \s+
PHIAL_ALWAYS_INLINE const unsigned char* scan_whitespace(const unsigned char* p, const unsigned char* end,
                                                         const CharClassTable& t) {
  const unsigned char* q = p;
  const unsigned char* last_newline_end = nullptr;  // end of the last \r or \n in the run
  const unsigned char* last_char = p;               // start of the run's last character
  std::size_t n_chars = 0;
  while (q < end) {
    DecodedChar c = next_char(q, end, t);
    if (!in_set(c.cls, kSetS)) break;
    last_char = q;
    q += c.len;
    ++n_chars;
    if (c.cls == cc_crlf) last_newline_end = q;
  }
  if (last_newline_end != nullptr) return last_newline_end;  // \s*[\r\n]+ backtracks to the last newline
  if (q == end) return q;                                    // \s+(?!\S) at the end of the text
  if (n_chars >= 2) return last_char;                        // \s+(?!\S): leave one space for the next word
  return q;                                                  // \s+
}

// cl100k: returns the end of the piece that starts at p (p < end).
inline const unsigned char* next_piece_cl100k(const unsigned char* p, const unsigned char* end,
                                                    const CharClassTable& t) {
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (*p == '\'') {
    if (std::size_t n = contraction_length(p, end)) return p + n;
  }
  DecodedChar c0 = next_char(p, end, t);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (in_set(c0.cls, kSetL)) return scan_run(p + c0.len, end, kSetL, t);
  if (in_set(c0.cls, kSetP) && p + c0.len < end) {
    DecodedChar c1 = next_char(p + c0.len, end, t);
    if (in_set(c1.cls, kSetL)) return scan_run(p + c0.len + c1.len, end, kSetL, t);
  }
  // \p{N}{1,3}
  if (c0.cls == cc_n) {
    const unsigned char* q = p + c0.len;
    for (int k = 1; k < 3 && q < end; ++k) {
      DecodedChar c = next_char(q, end, t);
      if (c.cls != cc_n) break;
      q += c.len;
    }
    return q;
  }
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  const unsigned char* s = p;
  if (*p == ' ' && p + 1 < end) s = p + 1;
  if (s < end) {
    DecodedChar c = next_char(s, end, t);
    if (in_set(c.cls, kSetO)) {
      const unsigned char* q = scan_run(s + c.len, end, kSetO, t);
      while (q < end && (*q == '\r' || *q == '\n')) ++q;
      return q;
    }
  }
  // c0 is \s here: every other class was handled above.
  return scan_whitespace(p, end, t);
}

// o200k helper: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ from s, as the
// backtracking engine resolves it; returns the end, or nullptr when it cannot match.
PHIAL_ALWAYS_INLINE const unsigned char* match_upper_star_lower_plus(const unsigned char* s, const unsigned char* end,
                                                                     const CharClassTable& t) {
  const unsigned char* q = s;
  const unsigned char* last_both_end = nullptr;  // end of the last run char that is also "lower" (Lm, Lo, M)
  while (q < end) {
    DecodedChar c = next_char(q, end, t);
    if (!in_set(c.cls, kSetU)) {
      // The upper run stops at q. If q is lower (Ll), the lower run continues from here.
      if (in_set(c.cls, kSetW)) return scan_run(q + c.len, end, kSetW, t);
      break;
    }
    q += c.len;
    if (in_set(c.cls, kSetW)) last_both_end = q;
  }
  // No Ll after the upper run: backtrack the upper run to its last character that is also lower;
  // that one character is the whole lower part (the ones after it are Lu/Lt).
  return last_both_end;
}

// o200k: returns the end of the piece that starts at p (p < end).
inline const unsigned char* next_piece_o200k(const unsigned char* p, const unsigned char* end,
                                                   const CharClassTable& t) {
  DecodedChar c0 = next_char(p, end, t);
  const bool prefix = in_set(c0.cls, kSetP);  // c0 may serve as [^\r\n\p{L}\p{N}]?
  // Alternative 1: P? U* W+ C?   (P present first, then absent)
  if (prefix && p + c0.len < end) {
    if (const unsigned char* e = match_upper_star_lower_plus(p + c0.len, end, t)) return e + contraction_length(e, end);
  }
  if (in_set(c0.cls, kSetU | kSetW)) {
    if (const unsigned char* e = match_upper_star_lower_plus(p, end, t)) return e + contraction_length(e, end);
  }
  // Alternative 2: P? U+ W* C?
  if (prefix && p + c0.len < end) {
    DecodedChar c1 = next_char(p + c0.len, end, t);
    if (in_set(c1.cls, kSetU)) {
      const unsigned char* e = scan_run(scan_run(p + c0.len + c1.len, end, kSetU, t), end, kSetW, t);
      return e + contraction_length(e, end);
    }
  }
  if (in_set(c0.cls, kSetU)) {
    const unsigned char* e = scan_run(scan_run(p + c0.len, end, kSetU, t), end, kSetW, t);
    return e + contraction_length(e, end);
  }
  // \p{N}{1,3}
  if (c0.cls == cc_n) {
    const unsigned char* q = p + c0.len;
    for (int k = 1; k < 3 && q < end; ++k) {
      DecodedChar c = next_char(q, end, t);
      if (c.cls != cc_n) break;
      q += c.len;
    }
    return q;
  }
  // " ?[^\s\p{L}\p{N}]+[\r\n/]*"
  const unsigned char* s = p;
  if (*p == ' ' && p + 1 < end) s = p + 1;
  if (s < end) {
    DecodedChar c = next_char(s, end, t);
    if (in_set(c.cls, kSetO)) {
      const unsigned char* q = scan_run(s + c.len, end, kSetO, t);
      while (q < end && (*q == '\r' || *q == '\n' || *q == '/')) ++q;
      return q;
    }
  }
  return scan_whitespace(p, end, t);
}

}  // namespace detail

// Calls emit(std::string_view piece) for each piece of `text`, in order; the pieces concatenate
// to `text` exactly (invalid UTF-8 bytes are treated as single punctuation-like characters).
template <class Emit>
void split_pieces(PretokenizerKind kind, std::string_view text, Emit&& emit) {
  const detail::CharClassTable& table = detail::char_class_table();
  auto begin = reinterpret_cast<const unsigned char*>(text.data());
  auto end = begin + text.size();
  const unsigned char* p = begin;
  if (kind == PretokenizerKind::cl100k) {
    while (p < end) {
      const unsigned char* e = detail::next_piece_cl100k(p, end, table);
      emit(std::string_view(reinterpret_cast<const char*>(p), std::size_t(e - p)));
      p = e;
    }
  } else {
    while (p < end) {
      const unsigned char* e = detail::next_piece_o200k(p, end, table);
      emit(std::string_view(reinterpret_cast<const char*>(p), std::size_t(e - p)));
      p = e;
    }
  }
}

// Convenience: the pieces as a vector.
inline std::vector<std::string_view> split_pieces(PretokenizerKind kind, std::string_view text) {
  std::vector<std::string_view> out;
  split_pieces(kind, text, [&](std::string_view piece) { out.push_back(piece); });
  return out;
}

namespace detail {

// A re2 character class body ("\x{41}-\x{5A}...") for the code points whose class is in `set`.
inline std::string re2_class_body(std::uint16_t set) {
  std::string out;
  char buf[48];
  bool open = false;
  std::uint32_t first = 0, last = 0;
  auto flush = [&] {
    if (!open) return;
    if (first == last)
      std::snprintf(buf, sizeof buf, "\\x{%X}", unsigned(first));
    else
      std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", unsigned(first), unsigned(last));
    out += buf;
    open = false;
  };
  for (const auto& r : kUnicodeRanges) {
    if (!in_set(r.cls, set)) continue;
    if (open && r.first == last + 1) {
      last = r.last;
    } else {
      flush();
      first = r.first;
      last = r.last;
      open = true;
    }
  }
  flush();
  return out;
}

}  // namespace detail

// The split regexes run by re2 (leftmost-first alternation, like the backtracking originals for
// these lookaround-free patterns). `\s+(?!\S)|\s+` is compiled as `\s+` and corrected after the
// match exactly as the lookahead would: a whitespace-only run without \r/\n that is followed by a
// non-space character and is longer than one character gives back its last character.
class RegexPretokenizer {
 public:
  explicit RegexPretokenizer(PretokenizerKind kind) : kind_(kind) {
    const std::string L = "[" + detail::re2_class_body(detail::kSetL) + "]";
    const std::string N = "[" + detail::re2_class_body(detail::kSetN) + "]";
    const std::string S = "[" + detail::re2_class_body(detail::kSetS) + "]";
    const std::string notRNLN = "[^\\r\\n" + detail::re2_class_body(detail::kSetL | detail::kSetN) + "]";
    const std::string notSLN = "[^" + detail::re2_class_body(detail::kSetS | detail::kSetL | detail::kSetN) + "]";
    const std::string U = "[" + detail::re2_class_body(detail::kSetU) + "]";
    const std::string W = "[" + detail::re2_class_body(detail::kSetW) + "]";
    const std::string contraction = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    std::string pattern;
    if (kind == PretokenizerKind::cl100k) {
      pattern = contraction + "|" + notRNLN + "?" + L + "+|" + N + "{1,3}| ?" + notSLN + "+[\\r\\n]*|" + S + "*[\\r\\n]+|" +
                S + "+";
    } else {
      pattern = notRNLN + "?" + U + "*" + W + "+" + contraction + "?|" + notRNLN + "?" + U + "+" + W + "*" + contraction +
                "?|" + N + "{1,3}| ?" + notSLN + "+[\\r\\n/]*|" + S + "*[\\r\\n]+|" + S + "+";
    }
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(64 << 20);
    re_ = std::make_unique<RE2>(pattern, opts);
    if (!re_->ok()) throw Error("tokenizer: cannot compile the split regex with re2: " + re_->error());
  }

  PretokenizerKind kind() const noexcept { return kind_; }

  // The pieces of `text` (valid UTF-8), in order.
  std::vector<std::string_view> split(std::string_view text) const {
    std::vector<std::string_view> out;
    const detail::CharClassTable& t = detail::char_class_table();
    std::size_t pos = 0;
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece match;
    while (pos < text.size()) {
      if (!re_->Match(input, pos, text.size(), RE2::ANCHOR_START, &match, 1) || match.empty()) {
        // Cannot happen for valid UTF-8 (every character starts some alternative); take one byte.
        out.push_back(text.substr(pos, 1));
        ++pos;
        continue;
      }
      std::size_t len = match.size();
      std::size_t end = pos + len;
      if (end < text.size() && is_plain_space_run(text.substr(pos, len), t)) {
        auto after = reinterpret_cast<const unsigned char*>(text.data()) + end;
        auto stop = reinterpret_cast<const unsigned char*>(text.data()) + text.size();
        detail::DecodedChar next = detail::next_char(after, stop, t);
        if (!detail::in_set(next.cls, detail::kSetS)) {
          std::size_t last = last_char_start(text.substr(pos, len));
          if (last > 0) len = last;  // \s+(?!\S): give the last space back
        }
      }
      out.push_back(text.substr(pos, len));
      pos += len;
    }
    return out;
  }

 private:
  // True when s is only White_Space characters and holds no \r or \n.
  static bool is_plain_space_run(std::string_view s, const detail::CharClassTable& t) {
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    auto end = p + s.size();
    while (p < end) {
      detail::DecodedChar c = detail::next_char(p, end, t);
      if (c.cls != detail::cc_ws) return false;
      p += c.len;
    }
    return true;
  }
  static std::size_t last_char_start(std::string_view s) {
    std::size_t i = s.size();
    do {
      --i;
    } while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
    return i;
  }

  PretokenizerKind kind_;
  std::unique_ptr<RE2> re_;
};

}  // namespace phial
