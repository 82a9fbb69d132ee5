// phial/tokenizer/detokenizer.hpp - incremental decoding for streaming generation.
//
// Byte-level BPE tokens often end inside a UTF-8 sequence (an emoji is usually 2-4 tokens). The
// StreamingDetokenizer keeps such an incomplete tail until the next token completes it, so every
// chunk it returns is valid UTF-8 and the chunks concatenate to decode(ids). Bytes that can never
// become valid UTF-8 (the model produced a broken sequence) come out as U+FFFD, one per maximal
// invalid subpart, as Hugging Face's decoder does.
//
//   phial::StreamingDetokenizer detok(tokenizer);
//   for (int32_t id : generated) std::fputs(detok.feed(id).c_str(), stdout);
//   std::fputs(detok.flush().c_str(), stdout);
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <phial/config.hpp>
#include <phial/tokenizer/tokenizer.hpp>

namespace phial {

namespace detail {

// Length a UTF-8 sequence starting with lead byte b must have (0 if b cannot start one).
PHIAL_ALWAYS_INLINE std::size_t utf8_sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// True when p[0..n) (n >= 1, shorter than its sequence) can still be completed into a valid character.
inline bool utf8_valid_prefix(const unsigned char* p, std::size_t n) {
  std::size_t need = utf8_sequence_length(p[0]);
  if (need == 0 || n >= need) return false;
  for (std::size_t i = 1; i < n; ++i) {
    unsigned char lo = 0x80, hi = 0xBF;
    if (i == 1) {
      if (p[0] == 0xE0) lo = 0xA0;
      if (p[0] == 0xED) hi = 0x9F;
      if (p[0] == 0xF0) lo = 0x90;
      if (p[0] == 0xF4) hi = 0x8F;
    }
    if (p[i] < lo || p[i] > hi) return false;
  }
  return true;
}

}  // namespace detail

class StreamingDetokenizer {
 public:
  // The tokenizer must outlive the detokenizer. skip_special: drop special added tokens.
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special = false)
      : tok_(&tokenizer), skip_special_(skip_special) {}

  // Adds one token; returns the text that became complete (possibly empty).
  std::string feed(std::int32_t id) {
    std::string out;
    feed(id, out);
    return out;
  }
  // Adds one token; appends the completed text to `out`.
  void feed(std::int32_t id, std::string& out) {
    std::string_view bytes = tok_->token_bytes(id);
    if (skip_special_ && tok_->is_special(id)) return;
    pending_.append(bytes);
    drain(out, false);
  }
  // End of stream: returns what is left (an incomplete sequence becomes U+FFFD).
  std::string flush() {
    std::string out;
    drain(out, true);
    return out;
  }
  // Forgets any pending bytes.
  void reset() { pending_.clear(); }
  // Bytes held back (0..3).
  std::size_t pending_bytes() const noexcept { return pending_.size(); }

 private:
  void drain(std::string& out, bool final) {
    auto p = reinterpret_cast<const unsigned char*>(pending_.data());
    const std::size_t n = pending_.size();
    std::size_t i = 0, valid_from = 0;
    auto replacement = [&] { out += "\xEF\xBF\xBD"; };
    while (i < n) {
      std::uint32_t len = 1;
      if (detail::decode_utf8(p + i, p + n, len) != detail::kInvalidCodePoint) {
        i += len;
        continue;
      }
      // Invalid here: either an incomplete sequence at the very end, or broken bytes.
      out.append(pending_, valid_from, i - valid_from);
      if (!final && detail::utf8_valid_prefix(p + i, n - i)) {
        pending_.erase(0, i);
        return;
      }
      // One U+FFFD per maximal invalid subpart: a valid prefix counts as one, else one byte.
      std::size_t skip = 1;
      for (std::size_t k = std::min<std::size_t>(n - i, 3); k >= 2; --k)
        if (detail::utf8_valid_prefix(p + i, k)) {
          skip = k;
          break;
        }
      replacement();
      i += skip;
      valid_from = i;
    }
    out.append(pending_, valid_from, n - valid_from);
    pending_.clear();
  }

  const Tokenizer* tok_;
  bool skip_special_;
  std::string pending_;  // (0..3 bytes) start of an incomplete UTF-8 sequence
};

}  // namespace phial
