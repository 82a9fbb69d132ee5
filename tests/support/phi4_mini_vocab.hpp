// tests/support/phi4_mini_vocab.hpp - Phi-4-mini's 200,064-id vocabulary read straight from the
// o200k_base ranks file (independently of phial's tokenizer, which the tests cross-check against
// it), and a greedy longest-match tokenizer over any id -> bytes table. Shared by unit-generate and
// bench-grammar.
#pragma once
#include <phial/tokenizer/detail/gzip.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace phial::test {

inline std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    const int v = val(c);
    if (v < 0) continue;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

// Phi-4-mini's ids: the o200k ranks, holes, and these added tokens (spec §4.2).
constexpr std::int32_t kPhi4MiniVocabSize = 200064;
inline constexpr std::pair<std::int32_t, const char*> kPhi4MiniAdded[] = {
    {199999, "<|endoftext|>"}, {200018, "<|endofprompt|>"}, {200019, "<|assistant|>"}, {200020, "<|end|>"},
    {200021, "<|user|>"},      {200022, "<|system|>"},      {200023, "<|tool|>"},      {200024, "<|/tool|>"},
    {200025, "<|tool_call|>"}, {200026, "<|/tool_call|>"},  {200027, "<|tool_response|>"}, {200028, "<|tag|>"}};

// Bytes of each id of a `<base64> <rank>` tiktoken file (gzip or plain), `size` ids (holes empty).
inline std::vector<std::string> load_tiktoken_ranks(const std::string& path, std::size_t size) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string content = ss.str();
  if (phial::detail::is_gzip(content)) content = phial::detail::gunzip(content, path);
  std::vector<std::string> out(size);
  std::istringstream lines(content);
  std::string line;
  while (std::getline(lines, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const long rank = std::stol(line.substr(sp + 1));
    if (rank >= 0 && static_cast<std::size_t>(rank) < size) out[static_cast<std::size_t>(rank)] = base64_decode(line.substr(0, sp));
  }
  return out;
}

// The 200,064 token byte strings of Phi-4-mini (added tokens as their text) and the added ids.
struct Phi4MiniVocab {
  std::vector<std::string> bytes;
  std::vector<std::int32_t> specials;
};
inline Phi4MiniVocab load_phi4_mini_vocab(const std::string& o200k_path) {
  Phi4MiniVocab v;
  v.bytes = load_tiktoken_ranks(o200k_path, kPhi4MiniVocabSize);
  for (const auto& [id, text] : kPhi4MiniAdded) {
    v.bytes[static_cast<std::size_t>(id)] = text;
    v.specials.push_back(id);
  }
  return v;
}

// Greedy longest-match tokenization over non-special tokens (realistic token boundaries for test
// scripts and benchmarks; not BPE). Throws when a byte has no token.
class LongestMatchTokenizer {
 public:
  explicit LongestMatchTokenizer(const std::vector<std::string>& bytes, const std::vector<std::int32_t>& specials = {}) {
    std::vector<char> special(bytes.size(), 0);
    for (auto id : specials) special.at(static_cast<std::size_t>(id)) = 1;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (special[i] || bytes[i].empty()) continue;
      ids_.emplace(bytes[i], static_cast<std::int32_t>(i));
      longest_ = std::max(longest_, bytes[i].size());
    }
  }
  std::vector<std::int32_t> operator()(std::string_view text) const {
    std::vector<std::int32_t> out;
    for (std::size_t i = 0; i < text.size();) {
      std::size_t len = std::min(longest_, text.size() - i);
      for (; len > 0; --len)
        if (auto it = ids_.find(std::string(text.substr(i, len))); it != ids_.end()) {
          out.push_back(it->second);
          break;
        }
      if (len == 0) throw std::runtime_error("LongestMatchTokenizer: no token for byte " + std::to_string(i));
      i += len;
    }
    return out;
  }

 private:
  std::unordered_map<std::string, std::int32_t> ids_;
  std::size_t longest_ = 1;
};

}  // namespace phial::test
