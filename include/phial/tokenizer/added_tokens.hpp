// phial/tokenizer/added_tokens.hpp - added (special) tokens: the built-in tables of both families
// (spec §4.1, §4.2) and the splitter that finds them in text as Hugging Face tokenizers does.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/model/config.hpp>
#include <phial/tokenizer/detail/utf8.hpp>

namespace phial {

// A token added on top of the BPE vocabulary, matched in text before BPE (encode_with_special).
struct AddedToken {
  std::int32_t id = -1;
  std::string content;  // its text, matched literally
  bool special = true;  // control token (decode can skip it); false for Phi-4-mini's tool tokens
  bool lstrip = false;  // swallows the White_Space before it (not past the previous added token)
  bool rstrip = false;  // swallows the White_Space after it
  bool single_word = false;  // only matches between non-word characters
  bool normalized = false;   // matched in a second pass (after the non-normalized ones), as HF does
};

// The number of embedding rows of each family's models (ids >= the BPE vocabulary are added
// tokens or holes).
inline std::int32_t family_vocab_size(Family family) {
  switch (family) {
    case Family::phi4: return 100352;
    case Family::phi4_mini: return 200064;
    default: return 0;
  }
}

// Number of BPE (tiktoken rank) tokens of each family: 100256 for cl100k, 199998 for o200k.
inline std::int32_t family_bpe_size(Family family) {
  switch (family) {
    case Family::phi4: return 100256;
    case Family::phi4_mini: return 199998;
    default: return 0;
  }
}

// The added tokens of each family, as its Hugging Face tokenizer.json / tokenizer_config.json
// declare them. Phi-4: ids 100256..100351, all special with lstrip and rstrip. Phi-4-mini: 12 tokens.
inline std::vector<AddedToken> family_added_tokens(Family family) {
  std::vector<AddedToken> out;
  if (family == Family::phi4) {
    auto add = [&](std::int32_t id, std::string text) { out.push_back(AddedToken{id, std::move(text), true, true, true, false, false}); };
    add(100256, "<|dummy_0|>");
    add(100257, "<|endoftext|>");
    add(100258, "<|fim_prefix|>");
    add(100259, "<|fim_middle|>");
    add(100260, "<|fim_suffix|>");
    for (int k = 1; k <= 3; ++k) add(100260 + k, "<|dummy_" + std::to_string(k) + "|>");
    add(100264, "<|im_start|>");
    add(100265, "<|im_end|>");
    add(100266, "<|im_sep|>");
    for (int k = 4; k <= 12; ++k) add(100263 + k, "<|dummy_" + std::to_string(k) + "|>");
    add(100276, "<|endofprompt|>");
    for (int k = 13; k <= 87; ++k) add(100264 + k, "<|dummy_" + std::to_string(k) + "|>");
  } else if (family == Family::phi4_mini) {
    auto add = [&](std::int32_t id, const char* text, bool special, bool rstrip) {
      out.push_back(AddedToken{id, text, special, false, rstrip, false, false});
    };
    add(199999, "<|endoftext|>", true, false);
    add(200018, "<|endofprompt|>", true, false);
    add(200019, "<|assistant|>", true, true);
    add(200020, "<|end|>", true, true);
    add(200021, "<|user|>", true, true);
    add(200022, "<|system|>", true, true);
    add(200023, "<|tool|>", false, true);
    add(200024, "<|/tool|>", false, true);
    add(200025, "<|tool_call|>", false, true);
    add(200026, "<|/tool_call|>", false, true);
    add(200027, "<|tool_response|>", false, true);
    add(200028, "<|tag|>", true, true);
  }
  return out;
}

namespace detail {

// True for Unicode White_Space (Rust's char::is_whitespace, which HF's lstrip/rstrip use).
PHIAL_ALWAYS_INLINE bool is_white_space(const DecodedChar& c) { return c.cls == cc_ws || c.cls == cc_crlf; }

// One piece of text after added-token splitting: an added token (id >= 0) or plain text (id < 0).
struct Segment {
  std::int32_t id;
  std::size_t begin, end;  // byte range in the text (for a token: including stripped whitespace)
};

// Finds the added tokens of one pass (non-normalized or normalized) in text, leftmost-longest and
// non-overlapping, as Hugging Face's AddedVocabulary::find_matches does with aho-corasick.
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      if (tokens_[i].content.empty()) continue;
      by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(std::uint32_t(i));
    }
    for (auto& v : by_first_byte_)  // longest first: the first that matches is the longest
      std::stable_sort(v.begin(), v.end(), [&](std::uint32_t a, std::uint32_t b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
  }
  bool empty() const noexcept { return tokens_.empty(); }

  // Splits text [begin, end) of `text` into segments, appending them to `out`.
  void split(std::string_view text, std::size_t begin, std::size_t end, std::vector<Segment>& out) const {
    std::size_t start_offset = begin;  // end of the previous token (lstrip never goes before it)
    std::size_t pos = begin;
    while (pos < end) {
      // Leftmost-longest match at or after pos.
      std::size_t mstart = end;
      const AddedToken* tok = nullptr;
      for (std::size_t i = pos; i < end && tok == nullptr; ++i) {
        const auto& cands = by_first_byte_[static_cast<unsigned char>(text[i])];
        for (std::uint32_t k : cands) {
          const std::string& c = tokens_[k].content;
          if (c.size() <= end - i && text.compare(i, c.size(), c) == 0) {
            tok = &tokens_[k];
            mstart = i;
            break;
          }
        }
      }
      if (tok == nullptr) break;
      std::size_t start = mstart, stop = mstart + tok->content.size();
      pos = stop;  // the search resumes after the match, whatever happens to it
      if (tok->single_word && !(is_word_boundary_before(text, begin, start) && is_word_boundary_after(text, stop, end))) continue;
      if (tok->lstrip) {
        std::size_t s = start;
        while (s > begin) {
          std::size_t prev = s - 1;
          while (prev > begin && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
          if (!is_white_space(char_at(text, prev, end))) break;
          s = prev;
        }
        start = std::max(s, start_offset);
      }
      if (tok->rstrip) {
        while (stop < end) {
          DecodedChar c = char_at(text, stop, end);
          if (!is_white_space(c)) break;
          stop += c.len;
        }
      }
      if (start_offset < start) out.push_back(Segment{-1, start_offset, start});
      out.push_back(Segment{tok->id, start, stop});
      start_offset = stop;
      if (pos < stop) pos = stop;
    }
    if (start_offset < end) out.push_back(Segment{-1, start_offset, end});
  }

 private:
  static DecodedChar char_at(std::string_view text, std::size_t i, std::size_t end) {
    auto p = reinterpret_cast<const unsigned char*>(text.data());
    return next_char(p + i, p + end, char_class_table());
  }
  static bool is_word_char(const DecodedChar& c) { return in_set(c.cls, kSetL | kSetN) || c.cp == '_'; }
  static bool is_word_boundary_before(std::string_view text, std::size_t begin, std::size_t start) {
    if (start == begin) return true;
    std::size_t prev = start - 1;
    while (prev > begin && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
    return !is_word_char(char_at(text, prev, start));
  }
  static bool is_word_boundary_after(std::string_view text, std::size_t stop, std::size_t end) {
    return stop >= end || !is_word_char(char_at(text, stop, end));
  }

  std::vector<AddedToken> tokens_;
  std::array<std::vector<std::uint32_t>, 256> by_first_byte_;
};

}  // namespace detail
}  // namespace phial
