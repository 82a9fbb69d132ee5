// phial/sample/grammar.hpp - byte-level grammars for constrained decoding, and token masks.
//
// A Grammar is a small program of nodes (JSON object / array / string / number / literal set /
// anyOf / special-token terminal / sequence) compiled from a JSON Schema (json_schema.hpp). A
// GrammarState is a pushdown automaton over that program: a fixed-capacity stack of frames, each
// frame one node being matched plus its phase. It advances one symbol at a time, where a symbol is
// a byte (0..255) or a special token (256 + id: `<|tool_call|>` is a terminal by id, never text).
// The state is a plain value (no heap): copying it is a memcpy of the used frames.
//
// Token masks: VocabIndex holds the vocabulary (id -> raw bytes) once, shared by every grammar:
//   * a trie over the token byte strings, flattened in preorder with "end of subtree" links, so a
//     mask is one linear scan that copies the parent's state, feeds one byte, and skips the whole
//     subtree as soon as a prefix is rejected;
//   * for the state that dominates JSON generation, the inside of a free string, a precomputed
//     answer: for each string-lexer state, the bitset of tokens that stay inside the string, and a
//     small trie of the tails of the tokens that close the string (`",` `"}` ...), which are the
//     only ones whose fate depends on the grammar. A full mask inside a string is then a 25 KB
//     copy plus a walk over a few thousand tail bytes.
//
// JSON produced under these grammars (the policy, so that the model cannot loop on whitespace):
//   * no whitespace except at most one space after ':' and after ',' (Python's json.dumps style,
//     which is what Phi-4-mini writes);
//   * object properties in declared order; optional ones may be skipped; undeclared ones are never
//     generated (as if additionalProperties were false, which stays valid for any schema);
//   * numbers: at most 15 integer digits, 15 fraction digits and 3 exponent digits;
//   * strings: any UTF-8 (validated, no overlong forms or surrogates), escapes \" \\ \/ \b \f \n
//     \r \t and \uXXXX except surrogate code units (non-BMP characters are written as raw UTF-8).
#pragma once
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/sample/sampler.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace phial {

namespace detail {

// ---------------------------------------------------------------------------------------------
// The grammar program.

enum class NodeKind : std::uint8_t {
  any,          // any JSON value (dispatch on the first byte)
  any_object,   // {"key": any, ...} with free keys
  any_array,    // [any, ...]
  object,       // declared properties, in order
  array,        // items of one node, min/max count
  string,       // free string, or a format (date / date-time)
  number,       // JSON number (integer == true: no fraction / exponent)
  literals,     // a set of fixed byte strings (enum, const, true/false/null, wrapper text)
  any_of,       // alternatives with pairwise disjoint first bytes
  tagged,       // {"name": <one of names>, "arguments": <schema chosen by the name>}
  special,      // one special token, by id
  sequence,     // children one after the other
};

enum class StringFormat : std::uint8_t { none, date, date_time };

struct Property {
  std::string key;  // the key as JSON text, quotes included: "\"city\""
  std::uint32_t node = 0;
  bool required = false;
};

struct Node {
  NodeKind kind = NodeKind::any;
  bool integer = false;                 // number
  StringFormat format = StringFormat::none;
  std::uint32_t item = 0;               // array: item node
  std::uint32_t min_items = 0, max_items = 0xFFFFFFFFu;
  std::vector<Property> props;          // object
  std::vector<std::string> lits;        // literals (sorted, unique); tagged: quoted names (sorted)
  std::vector<std::uint32_t> children;  // any_of, sequence; tagged: argument node per name (lits order)
  std::int32_t special_id = -1;         // special
  std::array<std::uint64_t, 4> first{}; // bytes that can start this node (any_of dispatch)
};

struct Program {
  std::vector<Node> nodes;
  std::uint32_t root = 0;
  std::uint32_t any_string = 0, any_number = 0, any_literal = 0, any_value = 0;  // helper nodes
  std::string source;  // what it was compiled from (schema text), for messages
};

// ---------------------------------------------------------------------------------------------
// The automaton state.

inline constexpr int kMaxDepth = 32;   // frames; deeper input is rejected
inline constexpr int kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 3;

struct Frame {
  std::uint16_t node = 0;
  std::uint8_t phase = 0;
  std::uint8_t flag = 0;   // "the one allowed space was used"
  std::uint32_t pos = 0;   // literal position / string-lexer state / digit count / array count
  std::uint32_t aux = 0;   // object: next property index; tagged: chosen name
  std::uint32_t pad = 0;
  std::uint64_t bits = 0;  // object: alive key mask; literals / tagged names: lo | hi << 32
};

struct Stack {
  std::int32_t depth = 0;
  std::array<Frame, kMaxDepth> frames;

  Frame& top() noexcept { return frames[static_cast<std::size_t>(depth - 1)]; }
  const Frame& top() const noexcept { return frames[static_cast<std::size_t>(depth - 1)]; }
  void copy_from(const Stack& o) noexcept {
    depth = o.depth;
    std::memcpy(frames.data(), o.frames.data(), sizeof(Frame) * static_cast<std::size_t>(o.depth));
  }
};

// String lexer states (Frame::pos of a free string frame in phase 1). Shared with VocabIndex, whose
// per-state tables are indexed by these values.
enum StrLex : std::uint8_t {
  lex_body = 0,  // between characters
  lex_esc,       // after a backslash
  lex_u1, lex_u2, lex_u2_d, lex_u3, lex_u4,  // \uXXXX digits (u2_d: first digit was d/D)
  lex_c1, lex_c2, lex_c3,                    // 1, 2, 3 UTF-8 continuation bytes to go
  lex_e0, lex_ed, lex_f0, lex_f4,            // restricted first continuation byte
  lex_count,
};
inline constexpr int kLexExit = -1;    // the closing quote (from lex_body)
inline constexpr int kLexReject = -2;

PHIAL_ALWAYS_INLINE bool is_hex(std::uint8_t b) {
  return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

// One byte of JSON string content, from lexer state `s`. Returns the new state, kLexExit, or kLexReject.
PHIAL_ALWAYS_INLINE int string_lex(int s, std::uint8_t b) {
  switch (s) {
    case lex_body:
      if (b == '"') return kLexExit;
      if (b == '\\') return lex_esc;
      if (b < 0x20) return kLexReject;
      if (b < 0x80) return lex_body;
      if (b >= 0xC2 && b <= 0xDF) return lex_c1;
      if (b == 0xE0) return lex_e0;
      if (b == 0xED) return lex_ed;
      if (b >= 0xE1 && b <= 0xEF) return lex_c2;
      if (b == 0xF0) return lex_f0;
      if (b >= 0xF1 && b <= 0xF3) return lex_c3;
      if (b == 0xF4) return lex_f4;
      return kLexReject;
    case lex_esc:
      switch (b) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return lex_body;
        case 'u': return lex_u1;
        default: return kLexReject;
      }
    case lex_u1: return (b == 'd' || b == 'D') ? lex_u2_d : is_hex(b) ? lex_u2 : kLexReject;
    case lex_u2: return is_hex(b) ? lex_u3 : kLexReject;
    case lex_u2_d: return (b >= '0' && b <= '7') ? lex_u3 : kLexReject;  // no surrogates
    case lex_u3: return is_hex(b) ? lex_u4 : kLexReject;
    case lex_u4: return is_hex(b) ? lex_body : kLexReject;
    case lex_c1: return (b >= 0x80 && b <= 0xBF) ? lex_body : kLexReject;
    case lex_c2: return (b >= 0x80 && b <= 0xBF) ? lex_c1 : kLexReject;
    case lex_c3: return (b >= 0x80 && b <= 0xBF) ? lex_c2 : kLexReject;
    case lex_e0: return (b >= 0xA0 && b <= 0xBF) ? lex_c1 : kLexReject;
    case lex_ed: return (b >= 0x80 && b <= 0x9F) ? lex_c1 : kLexReject;
    case lex_f0: return (b >= 0x90 && b <= 0xBF) ? lex_c2 : kLexReject;
    case lex_f4: return (b >= 0x80 && b <= 0x8F) ? lex_c2 : kLexReject;
    default: return kLexReject;
  }
}

// Formats: one byte at position `pos` of the value (after the opening quote), given the previous
// byte. Returns false when the byte cannot be there.
//   date       YYYY-MM-DD                  (month 01-12, day 01-31)
//   date-time  YYYY-MM-DDTHH:MM:SS then Z or +HH:MM / -HH:MM
PHIAL_ALWAYS_INLINE bool is_digit(std::uint32_t b) { return b >= '0' && b <= '9'; }
inline bool date_byte(std::uint32_t pos, std::uint32_t prev, std::uint32_t b) {
  switch (pos) {
    case 0: case 1: case 2: case 3: return is_digit(b);
    case 4: case 7: return b == '-';
    case 5: return b == '0' || b == '1';
    case 6: return prev == '0' ? (b >= '1' && b <= '9') : (b >= '0' && b <= '2');
    case 8: return b >= '0' && b <= '3';
    case 9: return prev == '0' ? (b >= '1' && b <= '9') : prev == '3' ? (b == '0' || b == '1') : is_digit(b);
    default: return false;
  }
}
inline bool hhmm_byte(std::uint32_t pos, std::uint32_t prev, std::uint32_t b) {  // "HH:MM" positions 0..4
  switch (pos) {
    case 0: return b >= '0' && b <= '2';
    case 1: return prev == '2' ? (b >= '0' && b <= '3') : is_digit(b);
    case 2: return b == ':';
    case 3: return b >= '0' && b <= '5';
    case 4: return is_digit(b);
    default: return false;
  }
}
// date-time positions: 0-9 date, 10 'T', 11-15 HH:MM, 16 ':', 17-18 SS, 19 'Z' | '+' | '-',
// 20-24 offset HH:MM. Complete at 20 after 'Z' (marked by prev == 'Z') or at 25.
inline bool date_time_byte(std::uint32_t pos, std::uint32_t prev, std::uint32_t b) {
  if (pos < 10) return date_byte(pos, prev, b);
  if (pos == 10) return b == 'T';
  if (pos < 16) return hhmm_byte(pos - 11, prev, b);
  if (pos == 16) return b == ':';
  if (pos == 17) return b >= '0' && b <= '5';
  if (pos == 18) return is_digit(b);
  if (pos == 19) return b == 'Z' || b == '+' || b == '-';
  if (pos == 20 && prev == 'Z') return false;
  if (pos < 25) return hhmm_byte(pos - 20, prev, b);
  return false;
}
inline bool format_complete(StringFormat f, std::uint32_t pos, std::uint32_t prev) {
  if (f == StringFormat::date) return pos == 10;
  return (pos == 20 && prev == 'Z') || pos == 25;
}

// ---------------------------------------------------------------------------------------------
// Stepping.

enum class Act : std::uint8_t {
  consumed,     // symbol taken, frame continues
  done,         // symbol taken, frame complete (pop)
  done_refeed,  // frame complete without the symbol (pop, give the symbol to the parent)
  refeed,       // the frame changed (pushed a child / became another node): feed the symbol again
  reject,
};

inline constexpr std::uint32_t kSpecialBase = 256;  // symbol of special token id: 256 + id

// Object helpers: the properties that may come next, given the next unused index.
inline std::uint64_t key_candidates(const Node& n, std::uint32_t next) {
  std::uint64_t m = 0;
  for (std::uint32_t i = next; i < n.props.size(); ++i) {
    m |= 1ull << i;
    if (n.props[i].required) break;
  }
  return m;
}
inline bool required_left(const Node& n, std::uint32_t next) {
  for (std::uint32_t i = next; i < n.props.size(); ++i)
    if (n.props[i].required) return true;
  return false;
}

PHIAL_ALWAYS_INLINE bool push(Stack& s, std::uint32_t node) {
  if (s.depth >= kMaxDepth) return false;
  Frame& f = s.frames[static_cast<std::size_t>(s.depth++)];
  f = Frame{};
  f.node = static_cast<std::uint16_t>(node);
  return true;
}

// Narrows a sorted literal range [lo, hi) on byte b at position pos. Returns false if empty.
inline bool narrow(const std::vector<std::string>& lits, std::uint64_t& bits, std::uint32_t pos, std::uint32_t b) {
  auto lo = static_cast<std::uint32_t>(bits), hi = static_cast<std::uint32_t>(bits >> 32);
  std::uint32_t nlo = hi, nhi = hi;
  for (std::uint32_t i = lo; i < hi; ++i) {
    const std::string& l = lits[i];
    if (l.size() > pos && static_cast<std::uint8_t>(l[pos]) == b) {
      if (nlo == hi) nlo = i;
      nhi = i + 1;
    } else if (nlo != hi) {
      break;  // sorted: the matches are contiguous
    }
  }
  if (nlo == hi) return false;
  bits = static_cast<std::uint64_t>(nlo) | (static_cast<std::uint64_t>(nhi) << 32);
  return true;
}

// Whether a number DFA phase can end the number.
PHIAL_ALWAYS_INLINE bool number_can_end(std::uint8_t phase) { return phase == 2 || phase == 3 || phase == 5 || phase == 8; }

inline Act step_frame(const Program& P, Stack& s, std::uint32_t sym) {
  Frame& f = s.top();
  const Node& n = P.nodes[f.node];
  const bool is_byte = sym < kSpecialBase;
  const auto b = sym;
  switch (n.kind) {
    case NodeKind::special:
      return sym == kSpecialBase + static_cast<std::uint32_t>(n.special_id) ? Act::done : Act::reject;

    case NodeKind::sequence:
      if (f.pos >= n.children.size()) return Act::done_refeed;
      {
        const std::uint32_t child = n.children[f.pos++];
        return push(s, child) ? Act::refeed : Act::reject;
      }

    case NodeKind::any_of:
      if (!is_byte) return Act::reject;
      for (std::uint32_t c : n.children) {
        const Node& cn = P.nodes[c];
        if ((cn.first[b >> 6] >> (b & 63)) & 1u) {
          f = Frame{};
          f.node = static_cast<std::uint16_t>(c);
          return Act::refeed;
        }
      }
      return Act::reject;

    case NodeKind::any: {
      if (!is_byte) return Act::reject;
      std::uint32_t to;
      if (b == '{' || b == '[') {
        if (s.depth >= kMaxDepth - 4) return Act::reject;  // bound the nesting of free values
        to = b == '{' ? P.any_value + 1 : P.any_value + 2;   // any_object, any_array follow any_value
      } else if (b == '"') {
        to = P.any_string;
      } else if (b == '-' || is_digit(b)) {
        to = P.any_number;
      } else if (b == 't' || b == 'f' || b == 'n') {
        to = P.any_literal;
      } else {
        return Act::reject;
      }
      f = Frame{};
      f.node = static_cast<std::uint16_t>(to);
      return Act::refeed;
    }

    case NodeKind::literals: {
      if (f.phase == 0) {  // fresh
        f.phase = 1;
        f.bits = static_cast<std::uint64_t>(n.lits.size()) << 32;
      }
      const auto lo = static_cast<std::uint32_t>(f.bits);
      const bool complete = n.lits[lo].size() == f.pos;  // the shortest survivor sorts first
      if (!is_byte || !narrow(n.lits, f.bits, f.pos, b)) return complete ? Act::done_refeed : Act::reject;
      ++f.pos;
      const auto nlo = static_cast<std::uint32_t>(f.bits), nhi = static_cast<std::uint32_t>(f.bits >> 32);
      if (nhi - nlo == 1 && n.lits[nlo].size() == f.pos) return Act::done;
      return Act::consumed;
    }

    case NodeKind::number: {
      if (!is_byte) return number_can_end(f.phase) ? Act::done_refeed : Act::reject;
      const bool digit = is_digit(b);
      switch (f.phase) {
        case 0:  // start
          if (b == '-') { f.phase = 1; return Act::consumed; }
          [[fallthrough]];
        case 1:  // after '-'
          if (b == '0') { f.phase = 2; return Act::consumed; }
          if (digit) { f.phase = 3; f.pos = 1; return Act::consumed; }
          return Act::reject;
        case 2:  // "0"
        case 3:  // integer digits
          if (f.phase == 3 && digit) {
            if (f.pos >= static_cast<std::uint32_t>(kMaxIntDigits)) return Act::reject;
            ++f.pos;
            return Act::consumed;
          }
          if (!n.integer && b == '.') { f.phase = 4; f.pos = 0; return Act::consumed; }
          if (!n.integer && (b == 'e' || b == 'E')) { f.phase = 6; return Act::consumed; }
          return Act::done_refeed;
        case 4:  // after '.'
          if (digit) { f.phase = 5; f.pos = 1; return Act::consumed; }
          return Act::reject;
        case 5:  // fraction digits
          if (digit) {
            if (f.pos >= static_cast<std::uint32_t>(kMaxFracDigits)) return Act::reject;
            ++f.pos;
            return Act::consumed;
          }
          if (b == 'e' || b == 'E') { f.phase = 6; return Act::consumed; }
          return Act::done_refeed;
        case 6:  // after 'e'
          if (b == '+' || b == '-') { f.phase = 7; return Act::consumed; }
          [[fallthrough]];
        case 7:  // after the exponent sign
          if (digit) { f.phase = 8; f.pos = 1; return Act::consumed; }
          return Act::reject;
        case 8:  // exponent digits
          if (digit) {
            if (f.pos >= static_cast<std::uint32_t>(kMaxExpDigits)) return Act::reject;
            ++f.pos;
            return Act::consumed;
          }
          return Act::done_refeed;
        default: return Act::reject;
      }
    }

    case NodeKind::string: {
      if (!is_byte) return Act::reject;
      if (f.phase == 0) {
        if (b != '"') return Act::reject;
        f.phase = n.format == StringFormat::none ? 1 : 2;
        f.pos = 0;
        return Act::consumed;
      }
      if (f.phase == 1) {
        const int r = string_lex(static_cast<int>(f.pos), static_cast<std::uint8_t>(b));
        if (r == kLexExit) return Act::done;
        if (r == kLexReject) return Act::reject;
        f.pos = static_cast<std::uint32_t>(r);
        return Act::consumed;
      }
      // formatted: pos = index, bits = previous byte
      if (b == '"') return format_complete(n.format, f.pos, static_cast<std::uint32_t>(f.bits)) ? Act::done : Act::reject;
      const bool ok = n.format == StringFormat::date ? date_byte(f.pos, static_cast<std::uint32_t>(f.bits), b)
                                                     : date_time_byte(f.pos, static_cast<std::uint32_t>(f.bits), b);
      if (!ok) return Act::reject;
      ++f.pos;
      f.bits = b;
      return Act::consumed;
    }

    case NodeKind::array:
    case NodeKind::any_array: {
      if (!is_byte) return Act::reject;
      const bool free = n.kind == NodeKind::any_array;
      const std::uint32_t item = free ? P.any_value : n.item;
      const std::uint32_t min_items = free ? 0 : n.min_items, max_items = free ? 0xFFFFFFFFu : n.max_items;
      switch (f.phase) {
        case 0:
          if (b != '[') return Act::reject;
          f.phase = 1;
          return Act::consumed;
        case 1:  // after '['
          if (b == ']') return min_items == 0 ? Act::done : Act::reject;
          if (max_items == 0) return Act::reject;
          f.phase = 2;
          f.pos = 1;
          return push(s, item) ? Act::refeed : Act::reject;
        case 2:  // after an item
          if (b == ',') {
            if (f.pos >= max_items) return Act::reject;
            f.phase = 3;
            f.flag = 0;
            return Act::consumed;
          }
          if (b == ']') return f.pos >= min_items ? Act::done : Act::reject;
          return Act::reject;
        case 3:  // after ','
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 2;
          ++f.pos;
          return push(s, item) ? Act::refeed : Act::reject;
        default: return Act::reject;
      }
    }

    case NodeKind::any_object: {
      if (!is_byte) return Act::reject;
      switch (f.phase) {
        case 0:
          if (b != '{') return Act::reject;
          f.phase = 1;
          return Act::consumed;
        case 1:  // after '{'
          if (b == '}') return Act::done;
          [[fallthrough]];
        case 5:  // after ',' (+ space)
          if (f.phase == 5 && b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          if (b != '"') return Act::reject;
          f.phase = 2;
          return push(s, P.any_string) ? Act::refeed : Act::reject;
        case 2:  // after the key
          if (b != ':') return Act::reject;
          f.phase = 3;
          f.flag = 0;
          return Act::consumed;
        case 3:  // after ':'
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 4;
          return push(s, P.any_value) ? Act::refeed : Act::reject;
        case 4:  // after a value
          if (b == '}') return Act::done;
          if (b == ',') { f.phase = 5; f.flag = 0; return Act::consumed; }
          return Act::reject;
        default: return Act::reject;
      }
    }

    case NodeKind::object: {
      if (!is_byte) return Act::reject;
      switch (f.phase) {
        case 0:
          if (b != '{') return Act::reject;
          f.phase = 1;
          return Act::consumed;
        case 1:  // after '{'
          if (b == '}') return required_left(n, 0) ? Act::reject : Act::done;
          if (b != '"' || n.props.empty()) return Act::reject;
          f.bits = key_candidates(n, f.aux);
          f.pos = 1;
          f.phase = 2;
          return Act::consumed;
        case 2: {  // inside a key: narrow the alive keys
          std::uint64_t alive = 0;
          std::uint32_t done_key = 0xFFFFFFFFu;
          for (std::uint64_t m = f.bits; m; m &= m - 1) {
            const auto i = static_cast<std::uint32_t>(__builtin_ctzll(m));
            const std::string& k = n.props[i].key;
            if (k.size() > f.pos && static_cast<std::uint8_t>(k[f.pos]) == b) {
              alive |= 1ull << i;
              if (k.size() == f.pos + 1) done_key = i;
            }
          }
          if (!alive) return Act::reject;
          ++f.pos;
          f.bits = alive;
          if (done_key != 0xFFFFFFFFu) {  // a key ends only at its closing quote: unique
            f.aux = done_key + 1;
            f.phase = 3;
          }
          return Act::consumed;
        }
        case 3:  // after a key
          if (b != ':') return Act::reject;
          f.phase = 4;
          f.flag = 0;
          return Act::consumed;
        case 4:  // after ':'
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 5;
          return push(s, n.props[f.aux - 1].node) ? Act::refeed : Act::reject;
        case 5:  // after a value
          if (b == '}') return required_left(n, f.aux) ? Act::reject : Act::done;
          if (b == ',' && f.aux < n.props.size()) { f.phase = 6; f.flag = 0; return Act::consumed; }
          return Act::reject;
        case 6:  // after ','
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          if (b != '"') return Act::reject;
          f.bits = key_candidates(n, f.aux);
          f.pos = 1;
          f.phase = 2;
          return Act::consumed;
        default: return Act::reject;
      }
    }

    case NodeKind::tagged: {
      // {"name": <name>, "arguments": <args>}  phases: 0 prefix, 1 space, 2 name, 3 ',', 4 space,
      // 5 "\"arguments\":", 6 space, 7 after the arguments.
      static constexpr std::string_view kPrefix = "{\"name\":";
      static constexpr std::string_view kArgs = "\"arguments\":";
      if (!is_byte) return Act::reject;
      switch (f.phase) {
        case 0:
          if (b != static_cast<std::uint8_t>(kPrefix[f.pos])) return Act::reject;
          if (++f.pos == kPrefix.size()) { f.phase = 1; f.pos = 0; f.flag = 0; }
          return Act::consumed;
        case 1:
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 2;
          f.pos = 0;
          f.bits = static_cast<std::uint64_t>(n.lits.size()) << 32;
          [[fallthrough]];
        case 2: {
          if (!narrow(n.lits, f.bits, f.pos, b)) return Act::reject;
          ++f.pos;
          const auto lo = static_cast<std::uint32_t>(f.bits);
          if (n.lits[lo].size() == f.pos) {  // quoted names: the closing quote makes it unique
            f.aux = lo;
            f.phase = 3;
          }
          return Act::consumed;
        }
        case 3:
          if (b != ',') return Act::reject;
          f.phase = 4;
          f.flag = 0;
          return Act::consumed;
        case 4:
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 5;
          f.pos = 0;
          [[fallthrough]];
        case 5:
          if (b != static_cast<std::uint8_t>(kArgs[f.pos])) return Act::reject;
          if (++f.pos == kArgs.size()) { f.phase = 6; f.flag = 0; }
          return Act::consumed;
        case 6:
          if (b == ' ' && !f.flag) { f.flag = 1; return Act::consumed; }
          f.phase = 7;
          return push(s, n.children[f.aux]) ? Act::refeed : Act::reject;
        case 7:
          return b == '}' ? Act::done : Act::reject;
        default: return Act::reject;
      }
    }
  }
  return Act::reject;
}

// Pops finished sequences so that "complete" is visible right after the last symbol.
inline void settle(const Program& P, Stack& s) {
  while (s.depth > 0) {
    const Frame& f = s.top();
    const Node& n = P.nodes[f.node];
    if (n.kind == NodeKind::sequence && f.pos >= n.children.size()) --s.depth;
    else break;
  }
}

// Feeds one symbol. On rejection the stack is left in an unspecified state: callers work on copies.
inline bool feed(const Program& P, Stack& s, std::uint32_t sym) {
  for (int guard = 0; guard < 4 * kMaxDepth; ++guard) {
    if (s.depth == 0) return false;
    switch (step_frame(P, s, sym)) {
      case Act::consumed: settle(P, s); return true;
      case Act::done: --s.depth; settle(P, s); return true;
      case Act::done_refeed: --s.depth; continue;
      case Act::refeed: continue;
      case Act::reject: return false;
    }
  }
  return false;
}

inline bool feed_bytes(const Program& P, Stack& s, std::string_view bytes) {
  for (char c : bytes)
    if (!feed(P, s, static_cast<std::uint8_t>(c))) return false;
  return true;
}

// Whether the input may stop here (a top-level number or literal that could also continue).
inline bool stack_can_end(const Program& P, const Stack& s) {
  if (s.depth == 0) return true;
  if (s.depth != 1) return false;
  const Frame& f = s.top();
  const Node& n = P.nodes[f.node];
  if (n.kind == NodeKind::number) return number_can_end(f.phase);
  if (n.kind == NodeKind::literals) return f.phase == 1 && n.lits[static_cast<std::uint32_t>(f.bits)].size() == f.pos;
  return false;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

class VocabIndex;

// Where a grammar stands after some input. Cheap to copy (no heap); must not outlive its Grammar's
// program (it holds a shared reference, so it cannot).
class GrammarState {
 public:
  GrammarState() = default;

  // Whether `bytes` can come next (the state is not changed).
  bool accepts(std::string_view bytes) const {
    if (!program_) return false;
    detail::Stack s;
    s.copy_from(stack_);
    return detail::feed_bytes(*program_, s, bytes);
  }
  // Consumes `bytes`; returns false (and leaves the state unchanged) if they are rejected.
  bool advance(std::string_view bytes) {
    if (!program_) return false;
    detail::Stack s;
    s.copy_from(stack_);
    if (!detail::feed_bytes(*program_, s, bytes)) return false;
    stack_.copy_from(s);
    return true;
  }
  // A special token (a grammar terminal by id).
  bool accepts_special(std::int32_t id) const {
    if (!program_ || id < 0) return false;
    detail::Stack s;
    s.copy_from(stack_);
    return detail::feed(*program_, s, detail::kSpecialBase + static_cast<std::uint32_t>(id));
  }
  bool advance_special(std::int32_t id) {
    if (!program_ || id < 0) return false;
    detail::Stack s;
    s.copy_from(stack_);
    if (!detail::feed(*program_, s, detail::kSpecialBase + static_cast<std::uint32_t>(id))) return false;
    stack_.copy_from(s);
    return true;
  }
  // Tokens: special ids are terminals, other ids are their bytes.
  inline bool accepts_token(std::int32_t id, const VocabIndex& vocab) const;
  inline bool advance_token(std::int32_t id, const VocabIndex& vocab);

  // Nothing more can be appended: the whole grammar has been matched.
  bool is_complete() const noexcept { return program_ && stack_.depth == 0; }
  // The input may end here (complete, or a top-level number / literal that could also go on).
  bool can_end() const noexcept { return program_ && detail::stack_can_end(*program_, stack_); }

  const detail::Program* program() const noexcept { return program_.get(); }
  const detail::Stack& stack() const noexcept { return stack_; }

 private:
  friend class Grammar;
  std::shared_ptr<const detail::Program> program_;
  detail::Stack stack_;
};

// A compiled grammar (immutable, shareable across threads).
class Grammar {
 public:
  Grammar() = default;
  explicit Grammar(std::shared_ptr<const detail::Program> program) : program_(std::move(program)) {}

  GrammarState start() const {
    if (!program_) throw InvalidArgument("Grammar::start: empty grammar");
    GrammarState st;
    st.program_ = program_;
    detail::push(st.stack_, program_->root);
    return st;
  }
  bool empty() const noexcept { return !program_; }
  const detail::Program* program() const noexcept { return program_.get(); }
  const std::shared_ptr<const detail::Program>& shared_program() const noexcept { return program_; }

 private:
  std::shared_ptr<const detail::Program> program_;
};

// ---------------------------------------------------------------------------------------------
// The vocabulary, indexed for masks. Build once per tokenizer; share across grammars and threads.

namespace detail {

// A trie flattened in preorder: node i's subtree is [i, end). ids[ids_begin, ids_end) are the
// tokens whose bytes end exactly at node i.
struct FlatTrie {
  struct Node {
    std::uint32_t end;
    std::uint32_t ids_begin;
    std::uint32_t ids_end;
    std::uint16_t depth;  // 1 for a first byte
    std::uint8_t byte;
  };
  std::vector<Node> nodes;
  std::vector<std::int32_t> ids;
  std::uint32_t max_depth = 0;

  static FlatTrie build(std::vector<std::pair<std::string_view, std::int32_t>> entries) {
    std::sort(entries.begin(), entries.end());
    FlatTrie t;
    std::vector<std::uint32_t> open;  // open[d-1] = node index at depth d on the current path
    std::string_view prev;
    for (const auto& [str, id] : entries) {
      if (str.empty()) continue;
      std::size_t lcp = 0;
      while (lcp < prev.size() && lcp < str.size() && prev[lcp] == str[lcp]) ++lcp;
      // close the nodes below the common prefix
      while (open.size() > lcp) {
        t.nodes[open.back()].end = static_cast<std::uint32_t>(t.nodes.size());
        open.pop_back();
      }
      for (std::size_t d = lcp; d < str.size(); ++d) {
        open.push_back(static_cast<std::uint32_t>(t.nodes.size()));
        const auto nids = static_cast<std::uint32_t>(t.ids.size());
        t.nodes.push_back({0, nids, nids, static_cast<std::uint16_t>(d + 1), static_cast<std::uint8_t>(str[d])});
      }
      Node& term = t.nodes[open.back()];
      if (term.ids_end != t.ids.size()) {  // (cannot happen: duplicates are adjacent)
        term.ids_begin = static_cast<std::uint32_t>(t.ids.size());
      }
      t.ids.push_back(id);
      term.ids_end = static_cast<std::uint32_t>(t.ids.size());
      t.max_depth = std::max<std::uint32_t>(t.max_depth, static_cast<std::uint32_t>(str.size()));
      prev = str;
    }
    while (!open.empty()) {
      t.nodes[open.back()].end = static_cast<std::uint32_t>(t.nodes.size());
      open.pop_back();
    }
    return t;
  }
};

}  // namespace detail

class VocabIndex {
 public:
  // token_bytes[id] = the raw bytes of token id (empty for holes). `special_ids` are the tokens that
  // are grammar terminals by id (control tokens such as <|tool_call|>, <|end|>): their bytes are
  // their display text and are never matched as text.
  VocabIndex(std::vector<std::string> token_bytes, std::vector<std::int32_t> special_ids)
      : bytes_(std::move(token_bytes)), special_(std::move(special_ids)) {
    if (bytes_.size() > 0x7FFFFFFFu) throw InvalidArgument("VocabIndex: vocabulary too large");
    is_special_.assign(bytes_.size(), 0);
    for (auto id : special_) {
      if (id < 0 || static_cast<std::size_t>(id) >= bytes_.size())
        throw InvalidArgument("VocabIndex: special token id " + std::to_string(id) + " outside the vocabulary");
      is_special_[static_cast<std::size_t>(id)] = 1;
    }
  }

  // From a phial::Tokenizer (a template, so this header does not depend on the tokenizer layer):
  // every added token (<|end|>, <|tool_call|>, ...) is a terminal by id.
  template <class TokenizerT>
  static VocabIndex from_tokenizer(const TokenizerT& tok) {
    std::vector<std::string> bytes(static_cast<std::size_t>(tok.vocab_size()));
    std::vector<std::int32_t> specials;
    for (std::int32_t id = 0; id < tok.vocab_size(); ++id) {
      if (tok.is_hole(id)) continue;
      bytes[static_cast<std::size_t>(id)] = std::string(tok.token_bytes(id));
      if (tok.is_added(id)) specials.push_back(id);
    }
    return VocabIndex(std::move(bytes), std::move(specials));
  }

  std::int32_t size() const noexcept { return static_cast<std::int32_t>(bytes_.size()); }
  std::string_view token_bytes(std::int32_t id) const {
    return (id >= 0 && id < size()) ? std::string_view(bytes_[static_cast<std::size_t>(id)]) : std::string_view();
  }
  std::span<const std::string> all_token_bytes() const noexcept { return bytes_; }
  bool is_special(std::int32_t id) const noexcept { return id >= 0 && id < size() && is_special_[static_cast<std::size_t>(id)]; }
  std::span<const std::int32_t> special_ids() const noexcept { return special_; }

  // The mask tables (built on first use, thread-safe).
  struct Tables {
    detail::FlatTrie trie;  // every non-special, non-empty token
    // Per string-lexer state: tokens that stay inside a free string, and the tails (from the
    // closing quote on) of the tokens that close it.
    std::array<TokenMask, detail::lex_count> inside;
    std::array<detail::FlatTrie, detail::lex_count> exits;
  };
  const Tables& tables() const {
    std::call_once(*once_, [this] { build_tables(); });
    return *tables_;
  }

 private:
  void build_tables() const {
    auto t = std::make_unique<Tables>();
    std::vector<std::pair<std::string_view, std::int32_t>> entries;
    entries.reserve(bytes_.size());
    for (std::size_t id = 0; id < bytes_.size(); ++id)
      if (!is_special_[id] && !bytes_[id].empty()) entries.emplace_back(bytes_[id], static_cast<std::int32_t>(id));
    for (int lex = 0; lex < detail::lex_count; ++lex) {
      TokenMask& in = t->inside[static_cast<std::size_t>(lex)];
      in.reset(size());
      std::vector<std::pair<std::string_view, std::int32_t>> tails;
      for (const auto& [str, id] : entries) {
        int s = lex;
        std::size_t i = 0;
        for (; i < str.size(); ++i) {
          s = detail::string_lex(s, static_cast<std::uint8_t>(str[i]));
          if (s < 0) break;
        }
        if (s >= 0) in.set(id);
        else if (s == detail::kLexExit) tails.emplace_back(str.substr(i), id);
      }
      t->exits[static_cast<std::size_t>(lex)] = detail::FlatTrie::build(std::move(tails));
    }
    t->trie = detail::FlatTrie::build(std::move(entries));
    tables_ = std::move(t);
  }

  std::vector<std::string> bytes_;
  std::vector<std::int32_t> special_;
  std::vector<std::uint8_t> is_special_;
  mutable std::unique_ptr<std::once_flag> once_ = std::make_unique<std::once_flag>();  // (movable)
  mutable std::unique_ptr<Tables> tables_;
};

inline bool GrammarState::accepts_token(std::int32_t id, const VocabIndex& vocab) const {
  if (vocab.is_special(id)) return accepts_special(id);
  const auto bytes = vocab.token_bytes(id);
  return !bytes.empty() && accepts(bytes);
}
inline bool GrammarState::advance_token(std::int32_t id, const VocabIndex& vocab) {
  if (vocab.is_special(id)) return advance_special(id);
  const auto bytes = vocab.token_bytes(id);
  return !bytes.empty() && advance(bytes);
}

// Computes allowed-token masks. Holds scratch space: one per thread / generation loop.
class TokenMasker {
 public:
  explicit TokenMasker(const VocabIndex& vocab) : vocab_(&vocab) {}

  // mask := the tokens that `state` accepts next (special tokens included).
  void compute(const GrammarState& state, TokenMask& mask) {
    const auto& tables = vocab_->tables();
    mask.reset(vocab_->size());
    const detail::Program* P = state.program();
    if (!P) return;
    for (auto id : vocab_->special_ids())
      if (state.accepts_special(id)) mask.set(id);
    const detail::Stack& st = state.stack();
    if (st.depth == 0) return;
    const detail::Frame& top = st.top();
    const detail::Node& node = P->nodes[top.node];
    if (node.kind == detail::NodeKind::string && top.phase == 1) {
      // Inside a free string: the precomputed answer, plus the tokens that close it.
      const auto lex = static_cast<std::size_t>(top.pos);
      const TokenMask& in = tables.inside[lex];
      for (std::size_t w = 0; w < mask.words.size(); ++w) mask.words[w] |= in.words[w];
      detail::Stack at_quote;
      at_quote.copy_from(st);
      at_quote.top().pos = detail::lex_body;  // tails start at the quote, met in lex_body
      walk(*P, tables.exits[lex], at_quote, mask);
      return;
    }
    walk(*P, tables.trie, st, mask);
  }

 private:
  // Preorder scan of a flattened trie, skipping every subtree whose prefix is rejected.
  void walk(const detail::Program& P, const detail::FlatTrie& trie, const detail::Stack& start, TokenMask& mask) {
    if (levels_.size() < trie.max_depth + 1) levels_.resize(trie.max_depth + 1);
    levels_[0].copy_from(start);
    const auto n = static_cast<std::uint32_t>(trie.nodes.size());
    for (std::uint32_t i = 0; i < n;) {
      const auto& node = trie.nodes[i];
      detail::Stack& s = levels_[node.depth];
      s.copy_from(levels_[node.depth - 1u]);
      if (!detail::feed(P, s, node.byte)) {
        i = node.end;
        continue;
      }
      for (std::uint32_t k = node.ids_begin; k < node.ids_end; ++k) mask.set(trie.ids[k]);
      ++i;
    }
  }

  const VocabIndex* vocab_;
  std::vector<detail::Stack> levels_;  // levels_[d]: the state after the first d bytes
};

}  // namespace phial
