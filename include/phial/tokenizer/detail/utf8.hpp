// phial/tokenizer/detail/utf8.hpp - UTF-8 decoding and the code point classes the pre-tokenizers
// test (letters by case, marks, numbers, White_Space), looked up in a two-level table built once
// from the generated Unicode 16.0 ranges.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/tokenizer/detail/unicode_tables.hpp>

namespace phial::detail {

// Classes of code points, as the Phi-4 split regexes see them. \p{L} = lu..lo, \s = ws + crlf.
enum CharClass : std::uint8_t {
  cc_other = 0,  // everything else: punctuation, symbols, controls, unassigned, invalid bytes
  cc_lu = 1,     // Uppercase_Letter
  cc_ll = 2,     // Lowercase_Letter
  cc_lt = 3,     // Titlecase_Letter
  cc_lm = 4,     // Modifier_Letter
  cc_lo = 5,     // Other_Letter
  cc_m = 6,      // Mark (Mn, Mc, Me)
  cc_n = 7,      // Number (Nd, Nl, No)
  cc_ws = 8,     // White_Space other than \r and \n
  cc_crlf = 9,   // \r or \n
};

// Sets of classes as bit masks (bit c set = class c belongs).
inline constexpr std::uint16_t kSetL = (1u << cc_lu) | (1u << cc_ll) | (1u << cc_lt) | (1u << cc_lm) | (1u << cc_lo);
inline constexpr std::uint16_t kSetN = 1u << cc_n;
inline constexpr std::uint16_t kSetS = (1u << cc_ws) | (1u << cc_crlf);  // \s (Unicode White_Space)
// [^\r\n\p{L}\p{N}]: the optional prefix of a word.
inline constexpr std::uint16_t kSetP = (1u << cc_other) | (1u << cc_m) | (1u << cc_ws);
// [^\s\p{L}\p{N}]: punctuation runs.
inline constexpr std::uint16_t kSetO = (1u << cc_other) | (1u << cc_m);
// o200k: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] ("upper") and [\p{Ll}\p{Lm}\p{Lo}\p{M}] ("lower").
inline constexpr std::uint16_t kSetU = (1u << cc_lu) | (1u << cc_lt) | (1u << cc_lm) | (1u << cc_lo) | (1u << cc_m);
inline constexpr std::uint16_t kSetW = (1u << cc_ll) | (1u << cc_lm) | (1u << cc_lo) | (1u << cc_m);

PHIAL_ALWAYS_INLINE bool in_set(std::uint8_t cls, std::uint16_t set) { return ((set >> cls) & 1u) != 0; }

// Two-level class table: stage1[cp >> 8] selects a 256-entry block of stage2 (blocks deduplicated).
struct CharClassTable {
  std::array<std::uint16_t, 0x1100> stage1{};  // (4352) block index per 256 code points
  std::vector<std::uint8_t> stage2;            // (n_blocks * 256) classes
  std::array<std::uint8_t, 128> ascii{};       // fast path

  CharClassTable() {
    std::vector<std::uint8_t> flat(0x110000, cc_other);  // (0x110000) class per code point
    for (const auto& r : kUnicodeRanges)
      for (std::uint32_t cp = r.first; cp <= r.last; ++cp) flat[cp] = r.cls;
    for (std::uint32_t b = 0; b < 0x1100; ++b) {
      const std::uint8_t* block = flat.data() + std::size_t(b) * 256;
      std::size_t n_blocks = stage2.size() / 256, found = n_blocks;
      for (std::size_t k = 0; k < n_blocks; ++k)
        if (std::memcmp(stage2.data() + k * 256, block, 256) == 0) {
          found = k;
          break;
        }
      if (found == n_blocks) stage2.insert(stage2.end(), block, block + 256);
      stage1[b] = std::uint16_t(found);
    }
    for (int c = 0; c < 128; ++c) ascii[std::size_t(c)] = flat[std::size_t(c)];
  }
  std::uint8_t operator()(std::uint32_t cp) const noexcept {
    if (cp >= 0x110000) return cc_other;
    return stage2[std::size_t(stage1[cp >> 8]) * 256 + (cp & 0xFF)];
  }
};

inline const CharClassTable& char_class_table() {
  static const CharClassTable table;
  return table;
}

inline std::uint8_t char_class(std::uint32_t cp) { return char_class_table()(cp); }

// One decoded code point: its value, its length in bytes and its class. Invalid UTF-8 (stray
// continuation bytes, overlong forms, surrogates, truncated sequences) decodes one byte at a time
// as cp = 0xFFFFFFFF, class other, so any byte string can be split and round-trips exactly.
struct DecodedChar {
  std::uint32_t cp;
  std::uint32_t len;
  std::uint8_t cls;
};

inline constexpr std::uint32_t kInvalidCodePoint = 0xFFFFFFFFu;

// Decodes the UTF-8 sequence starting at p (p < end); returns its value and length (1..4).
PHIAL_ALWAYS_INLINE std::uint32_t decode_utf8(const unsigned char* p, const unsigned char* end, std::uint32_t& len) {
  unsigned c = p[0];
  len = 1;
  if (c < 0x80) return c;
  std::size_t avail = std::size_t(end - p);
  if (c >= 0xC2 && c <= 0xDF) {
    if (avail >= 2 && (p[1] & 0xC0) == 0x80) {
      len = 2;
      return ((c & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    }
  } else if (c >= 0xE0 && c <= 0xEF) {
    if (avail >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
      std::uint32_t cp = ((c & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
        len = 3;
        return cp;
      }
    }
  } else if (c >= 0xF0 && c <= 0xF4) {
    if (avail >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
      std::uint32_t cp = ((c & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
      if (cp >= 0x10000 && cp <= 0x10FFFF) {
        len = 4;
        return cp;
      }
    }
  }
  return kInvalidCodePoint;
}

// Decodes and classifies the character at p (p < end).
PHIAL_ALWAYS_INLINE DecodedChar next_char(const unsigned char* p, const unsigned char* end, const CharClassTable& t) {
  if (*p < 0x80) return {*p, 1, t.ascii[*p]};
  std::uint32_t len = 1;
  std::uint32_t cp = decode_utf8(p, end, len);
  return {cp, len, cp == kInvalidCodePoint ? std::uint8_t(cc_other) : t(cp)};
}

// True when `s` is entirely valid UTF-8.
inline bool is_valid_utf8(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  auto end = p + s.size();
  while (p < end) {
    std::uint32_t len = 1;
    if (decode_utf8(p, end, len) == kInvalidCodePoint) return false;
    p += len;
  }
  return true;
}

// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF, not a surrogate).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace phial::detail
