// The generation loop over Evaluator doubles: stop tokens / strings, max tokens, UTF-8-safe
// streaming, reasoning budget, cancellation, seeded reproducibility, and grammar-constrained tool
// calls over vocabularies built from the o200k_base ranks that must always parse and validate.
#include <phial/agent/json_validate.hpp>
#include <phial/model/executor.hpp>
#include <phial/sample/generate.hpp>
#include <phial/sample/json_schema.hpp>
#include <phial/tokenizer/detail/gzip.hpp>
#include <phial/tokenizer/tokenizer.hpp>

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace json = boost::json;

namespace {

std::string base64_decode(std::string_view in) {
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

// o200k_base ranks (id = rank), as shipped in tests/data/tokenizer.
const std::vector<std::string>& o200k_ranks() {
  static const std::vector<std::string> ranks = [] {
    const std::string path = std::string(PHIAL_TEST_DATA_DIR) + "/tokenizer/o200k_base.tiktoken.gz";
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string text = phial::detail::gunzip(ss.str(), path);
    std::vector<std::string> out(199998);
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      const auto sp = line.find(' ');
      const long rank = std::stol(line.substr(sp + 1));
      out.at(static_cast<std::size_t>(rank)) = base64_decode(line.substr(0, sp));
    }
    return out;
  }();
  return ranks;
}

// Phi-4-mini's 200,064 ids: the ranks, the holes, and the 12 added tokens (spec §4.2).
constexpr std::int32_t kEnd = 200020, kEot = 199999, kCall = 200025, kCallEnd = 200026;
std::shared_ptr<phial::VocabIndex> phi4_mini_vocab() {
  static std::shared_ptr<phial::VocabIndex> v = [] {
    std::vector<std::string> bytes(o200k_ranks());
    bytes.resize(200064);
    std::vector<std::int32_t> specials;
    const std::pair<std::int32_t, const char*> added[] = {
        {199999, "<|endoftext|>"}, {200018, "<|endofprompt|>"}, {200019, "<|assistant|>"}, {200020, "<|end|>"},
        {200021, "<|user|>"}, {200022, "<|system|>"}, {200023, "<|tool|>"}, {200024, "<|/tool|>"},
        {200025, "<|tool_call|>"}, {200026, "<|/tool_call|>"}, {200027, "<|tool_response|>"}, {200028, "<|tag|>"}};
    for (const auto& [id, text] : added) {
      bytes[static_cast<std::size_t>(id)] = text;
      specials.push_back(id);
    }
    return std::make_shared<phial::VocabIndex>(std::move(bytes), std::move(specials));
  }();
  return v;
}

// A smaller vocabulary for the many-seed runs: the first 20,000 ranks (all 256 bytes included)
// and three specials at 20000..20002 playing <|tool_call|>, <|/tool_call|>, <|end|>.
constexpr std::int32_t kSmallCall = 20000, kSmallCallEnd = 20001, kSmallEnd = 20002;
std::shared_ptr<phial::VocabIndex> small_vocab() {
  static std::shared_ptr<phial::VocabIndex> v = [] {
    std::vector<std::string> bytes(o200k_ranks().begin(), o200k_ranks().begin() + 20000);
    bytes.push_back("<|tool_call|>");
    bytes.push_back("<|/tool_call|>");
    bytes.push_back("<|end|>");
    return std::make_shared<phial::VocabIndex>(std::move(bytes), std::vector<std::int32_t>{kSmallCall, kSmallCallEnd, kSmallEnd});
  }();
  return v;
}

// Random logits from a seeded RNG (a function of the seed and the sequence so far, like a model),
// nudged the way a trained model would be: tokens that close strings / containers are likelier,
// the trigger becomes likely after a few free tokens, and the stop token is unlikely until the
// call is done.
class RandomEvaluator : public phial::Evaluator {
 public:
  RandomEvaluator(const phial::VocabIndex& vocab, std::uint64_t seed, std::int32_t trigger, std::int32_t stop)
      : vocab_(vocab), seed_(seed), trigger_(trigger), stop_(stop), logits_(static_cast<std::size_t>(vocab.size())) {
    closing_.assign(static_cast<std::size_t>(vocab.size()), 0);
    for (std::int32_t id = 0; id < vocab.size(); ++id) {
      const auto b = vocab.token_bytes(id);
      if (!vocab.is_special(id) && b.find_first_of("\"}]") != std::string_view::npos) closing_[static_cast<std::size_t>(id)] = 1;
    }
  }
  std::span<const float> eval(std::span<const std::int32_t> tokens) override {
    for (auto t : tokens) {
      REQUIRE(t >= 0);
      REQUIRE(t < vocab_.size());
      seq_.push_back(t);
      hash_ = (hash_ ^ static_cast<std::uint64_t>(t)) * 0x100000001B3ull;
    }
    phial::Rng rng(seed_ ^ hash_);
    for (std::size_t i = 0; i < logits_.size(); ++i) {
      logits_[i] = static_cast<float>(rng.uniform01() * 6.0) + (closing_[i] ? 7.0f : 0.0f);
    }
    if (trigger_ >= 0 && seq_.size() > 8) logits_[static_cast<std::size_t>(trigger_)] = 20.0f;
    if (stop_ >= 0) logits_[static_cast<std::size_t>(stop_)] = -5.0f;
    return logits_;
  }
  void truncate(std::size_t n) override { seq_.resize(std::min(n, seq_.size())); }
  std::size_t size() const override { return seq_.size(); }
  std::int32_t vocab_size() const override { return vocab_.size(); }
  const std::vector<std::int32_t>& seq() const { return seq_; }

 private:
  const phial::VocabIndex& vocab_;
  std::uint64_t seed_, hash_ = 0xcbf29ce484222325ull;
  std::int32_t trigger_, stop_;
  std::vector<float> logits_;
  std::vector<std::uint8_t> closing_;
  std::vector<std::int32_t> seq_;
};

// Emits a fixed script (one-hot logits), then `fallback` forever.
class ScriptedEvaluator : public phial::Evaluator {
 public:
  ScriptedEvaluator(std::int32_t n_vocab, std::vector<std::int32_t> script, std::int32_t fallback)
      : n_(n_vocab), script_(std::move(script)), fallback_(fallback), logits_(static_cast<std::size_t>(n_vocab)) {}
  std::span<const float> eval(std::span<const std::int32_t> tokens) override {
    seq_.insert(seq_.end(), tokens.begin(), tokens.end());
    ++calls_;
    std::fill(logits_.begin(), logits_.end(), 0.0f);
    const std::size_t k = generated_++;
    const std::int32_t next = k < script_.size() ? script_[k] : fallback_;
    logits_[static_cast<std::size_t>(next)] = 30.0f;
    return logits_;
  }
  void truncate(std::size_t n) override { seq_.resize(std::min(n, seq_.size())); }
  std::size_t size() const override { return seq_.size(); }
  std::int32_t vocab_size() const override { return n_; }
  std::vector<std::int32_t> seq_;
  int calls_ = 0;

 private:
  std::int32_t n_;
  std::vector<std::int32_t> script_;
  std::int32_t fallback_;
  std::vector<float> logits_;
  std::size_t generated_ = 0;
};

// Greedy longest-match tokenization over a vocabulary (test scripts only).
std::vector<std::int32_t> tokenize(const phial::VocabIndex& vocab, std::string_view text) {
  static std::unordered_map<const phial::VocabIndex*, std::unordered_map<std::string, std::int32_t>> maps;
  auto& ids = maps[&vocab];
  if (ids.empty())
    for (std::int32_t i = 0; i < vocab.size(); ++i)
      if (!vocab.is_special(i) && !vocab.token_bytes(i).empty()) ids.emplace(std::string(vocab.token_bytes(i)), i);
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t len = std::min<std::size_t>(24, text.size() - i);
    for (; len > 0; --len)
      if (auto it = ids.find(std::string(text.substr(i, len))); it != ids.end()) {
        out.push_back(it->second);
        break;
      }
    REQUIRE(len > 0);
    i += len;
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  boost::system::error_code ec;
  json::parse(json::serialize(json::string(s)), ec);  // Boost.JSON rejects invalid UTF-8 on input
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

const char* kCreateEvent = R"({
  "type": "object",
  "properties": {
    "title": {"type": "string"},
    "start": {"type": "string", "format": "date-time"},
    "duration_minutes": {"type": "integer"},
    "calendar": {"enum": ["work", "personal"]},
    "attendees": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    "location": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "all_day": {"type": "boolean"}
  },
  "required": ["title", "start", "duration_minutes"]
})";

std::vector<phial::ToolSchema> tools() {
  return {{"create_event", json::parse(kCreateEvent)},
          {"get_weather", json::parse(R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]})")},
          {"now", json::value()}};
}

// Parses `[{"name":..., "arguments":...}, ...]` and validates every call against its tool.
void check_calls(std::string_view list_text) {
  INFO("calls: " << list_text);
  json::value v;
  REQUIRE_NOTHROW(v = json::parse(list_text));
  REQUIRE(v.is_array());
  REQUIRE_FALSE(v.get_array().empty());
  for (const auto& call : v.get_array()) {
    REQUIRE(call.is_object());
    const auto& o = call.get_object();
    REQUIRE(o.size() == 2);
    const std::string name(o.at("name").as_string());
    bool found = false;
    for (const auto& t : tools()) {
      if (t.name != name) continue;
      found = true;
      const auto& args = o.at("arguments");
      REQUIRE(args.is_object());
      if (t.parameters.is_null()) {
        CHECK(args.get_object().empty());
      } else {
        const auto r = phial::validate_json(args, t.parameters.get_object());
        INFO(r.message());
        CHECK(r.ok());
      }
    }
    CHECK(found);
  }
}

}  // namespace

TEST_CASE("VocabIndex::from_tokenizer matches the ranks and the added tokens") {
  const auto tok = phial::Tokenizer::from_tiktoken(std::string(PHIAL_TEST_DATA_DIR) + "/tokenizer/o200k_base.tiktoken.gz",
                                                   phial::Family::phi4_mini);
  const auto from_tok = phial::VocabIndex::from_tokenizer(tok);
  const auto ours = phi4_mini_vocab();
  REQUIRE(from_tok.size() == ours->size());
  for (std::int32_t id = 0; id < ours->size(); ++id) {
    if (from_tok.token_bytes(id) != ours->token_bytes(id) || from_tok.is_special(id) != ours->is_special(id)) {
      FAIL("token " << id << " differs");
    }
  }
}

TEST_CASE("stop token ends generation and is not part of the text") {
  auto vocab = small_vocab();
  const auto script = tokenize(*vocab, "Hello there");
  auto s = script;
  s.push_back(kSmallEnd);
  ScriptedEvaluator ev(vocab->size(), s, 0);
  phial::GenerateOptions o;
  o.stop_token_ids = {kSmallEnd};
  const std::int32_t prompt[] = {1, 2, 3};
  const auto r = phial::generate(ev, prompt, *vocab, o);
  CHECK(r.reason == phial::StopReason::stop_token);
  CHECK(r.stop_token == kSmallEnd);
  CHECK(r.text == "Hello there");
  CHECK(r.tokens == script);
  CHECK(r.n_evaluated == script.size());
  CHECK(ev.seq_.size() == 3 + script.size());
  CHECK(phial::GenerateOptions::default_stop_tokens(phial::Family::phi4_mini) == std::vector<std::int32_t>{kEnd, kEot});
  CHECK(phial::GenerateOptions::default_stop_tokens(phial::Family::phi4) == std::vector<std::int32_t>{100265, 100257});
}

TEST_CASE("max tokens, stop strings and UTF-8-safe streaming deltas") {
  auto vocab = small_vocab();
  // Split a multi-byte character across tokens: "é" = C3 A9 as two single-byte tokens.
  std::vector<std::int32_t> script = tokenize(*vocab, "caf");
  script.push_back(tokenize(*vocab, "\xC3")[0]);
  script.push_back(tokenize(*vocab, "\xA9")[0]);
  for (auto t : tokenize(*vocab, " au lait STOP and more")) script.push_back(t);
  {
    ScriptedEvaluator ev(vocab->size(), script, 0);
    phial::GenerateOptions o;
    o.stop_strings = {"STOP", "never"};
    std::string streamed;
    std::vector<std::string> deltas;
    const std::int32_t prompt[] = {5};
    const auto r = phial::generate(ev, prompt, *vocab, o, [&](std::int32_t, std::string_view d) {
      deltas.emplace_back(d);
      streamed += d;
      return true;
    });
    CHECK(r.reason == phial::StopReason::stop_string);
    CHECK(r.text == "café au lait ");
    CHECK(streamed == r.text);
    for (const auto& d : deltas) CHECK(valid_utf8(d));
    for (const auto& d : deltas) CHECK(d.find('S') == std::string::npos);  // "S" of STOP was held back
  }
  {
    ScriptedEvaluator ev(vocab->size(), script, 0);
    phial::GenerateOptions o;
    const auto n_caf = static_cast<std::int32_t>(tokenize(*vocab, "caf").size());
    o.max_tokens = n_caf + 1;  // stops right after the lone C3: the callback never sees half a character
    std::string streamed;
    const std::int32_t prompt[] = {5};
    const auto r = phial::generate(ev, prompt, *vocab, o, [&](std::int32_t, std::string_view d) {
      streamed += d;
      return true;
    });
    CHECK(r.reason == phial::StopReason::max_tokens);
    CHECK(r.tokens.size() == static_cast<std::size_t>(n_caf + 1));
    CHECK(r.text == "caf\xC3");
    CHECK(streamed == "caf");
    CHECK(r.n_evaluated == static_cast<std::size_t>(n_caf));  // the last sampled token was not evaluated
  }
}

TEST_CASE("reasoning budget closes the trace with the caller's tokens, then the answer follows") {
  auto vocab = small_vocab();
  const auto thinking = tokenize(*vocab, " hmm");
  const auto close = tokenize(*vocab, "</think>\n");
  ScriptedEvaluator ev(vocab->size(), {}, thinking[0]);  // would think forever
  phial::GenerateOptions o;
  o.max_tokens = 20;
  o.reasoning.max_tokens = 5;
  o.reasoning.starts_open = true;
  o.reasoning.close_tokens = close;
  const std::int32_t prompt[] = {7};
  const auto r = phial::generate(ev, prompt, *vocab, o);
  CHECK(r.reasoning_truncated);
  CHECK(r.reasoning_tokens == 5);
  CHECK(r.tokens.size() == 20);
  CHECK(r.text.find("</think>\n") == 5 * vocab->token_bytes(thinking[0]).size());  // five tokens, then the close
  CHECK(std::count(r.text.begin(), r.text.end(), '<') == 1);
  // The injected tokens went through the evaluator.
  CHECK(std::search(ev.seq_.begin(), ev.seq_.end(), close.begin(), close.end()) != ev.seq_.end());

  // A trace the model closes itself is not cut, and its tokens are counted.
  auto script = tokenize(*vocab, "<think> a b</think> done");
  ScriptedEvaluator ev2(vocab->size(), script, kSmallEnd);
  phial::GenerateOptions o2;
  o2.stop_token_ids = {kSmallEnd};
  o2.reasoning.max_tokens = 100;
  o2.reasoning.close_tokens = close;
  const auto r2 = phial::generate(ev2, prompt, *vocab, o2);
  CHECK_FALSE(r2.reasoning_truncated);
  CHECK(r2.text == "<think> a b</think> done");
  CHECK(r2.reasoning_tokens > 0);
}

TEST_CASE("cancellation and the callback stop generation between tokens") {
  auto vocab = small_vocab();
  ScriptedEvaluator ev(vocab->size(), {}, 100);
  std::atomic<bool> cancel{false};
  phial::GenerateOptions o;
  o.cancel = &cancel;
  int n = 0;
  const std::int32_t prompt[] = {7};
  auto r = phial::generate(ev, prompt, *vocab, o, [&](std::int32_t, std::string_view) {
    if (++n == 3) cancel = true;
    return true;
  });
  CHECK(r.reason == phial::StopReason::cancelled);
  CHECK(r.tokens.size() == 3);

  std::stop_source src;
  phial::GenerateOptions o2;
  o2.stop = src.get_token();
  src.request_stop();
  ScriptedEvaluator ev2(vocab->size(), {}, 100);
  CHECK(phial::generate(ev2, prompt, *vocab, o2).tokens.empty());

  ScriptedEvaluator ev3(vocab->size(), {}, 100);
  r = phial::generate(ev3, prompt, *vocab, {}, [&](std::int32_t, std::string_view) { return false; });
  CHECK(r.reason == phial::StopReason::callback);
  CHECK(r.tokens.size() == 1);
}

TEST_CASE("seeded sampling is reproducible") {
  auto vocab = small_vocab();
  auto run = [&](std::uint64_t seed) {
    RandomEvaluator ev(*vocab, 77, -1, kSmallEnd);
    phial::GenerateOptions o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_reasoning);
    o.sampler.seed = seed;
    o.max_tokens = 40;
    const std::int32_t prompt[] = {1, 2};
    return phial::generate(ev, prompt, *vocab, o).tokens;
  };
  CHECK(run(3) == run(3));
  CHECK(run(3) != run(4));
}

TEST_CASE("tool-call grammar, lazy on <|tool_call|>: 200 seeds, every call parses and validates") {
  auto vocab = small_vocab();
  phial::ToolCallFormat fmt{{kSmallCall, "<|tool_call|>"}, {kSmallCallEnd, "<|/tool_call|>"}, true, 3};
  const auto ts = tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, fmt);
  int masks = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    RandomEvaluator ev(*vocab, seed * 7919, kSmallCall, kSmallEnd);
    phial::GenerateOptions o;
    o.sampler.greedy = false;
    o.sampler.seed = seed;
    o.max_tokens = 3000;
    o.stop_token_ids = {kSmallEnd};
    o.grammar = g;
    o.grammar_mode = seed % 4 == 0 ? phial::GrammarMode::from_start : phial::GrammarMode::lazy;
    o.trigger_token = kSmallCall;
    const std::int32_t prompt[] = {1, 2, 3};
    const auto r = phial::generate(ev, prompt, *vocab, o);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);
    const auto open = r.text.find("<|tool_call|>");
    REQUIRE(open != std::string::npos);
    if (o.grammar_mode == phial::GrammarMode::from_start) CHECK(open == 0);
    REQUIRE(r.text.size() >= open + 13 + 14);
    CHECK(r.text.substr(r.text.size() - 14) == "<|/tool_call|>");
    check_calls(std::string_view(r.text).substr(open + 13, r.text.size() - open - 13 - 14));
    masks += r.full_masks;
  }
  CHECK(masks > 0);  // the random model was corrected, so the constraint did work
}

TEST_CASE("continue_after_grammar: free text again, then another call") {
  auto vocab = small_vocab();
  phial::ToolCallFormat fmt{{kSmallCall, "<|tool_call|>"}, {kSmallCallEnd, "<|/tool_call|>"}, true, 1};
  const auto ts = tools();
  RandomEvaluator ev(*vocab, 5, kSmallCall, kSmallEnd);
  phial::GenerateOptions o;
  o.sampler.greedy = false;
  o.sampler.seed = 9;
  o.max_tokens = 4000;
  o.grammar = phial::tool_call_grammar(ts, fmt);
  o.grammar_mode = phial::GrammarMode::lazy;
  o.trigger_token = kSmallCall;
  o.continue_after_grammar = true;
  std::string text;
  const std::int32_t prompt[] = {1};
  // Stop once a second call starts: the grammar switched off after the first and on again.
  const auto r = phial::generate(ev, prompt, *vocab, o, [&](std::int32_t, std::string_view d) {
    text += d;
    const auto first = text.find("<|tool_call|>");
    return first == std::string::npos || text.find("<|tool_call|>", first + 1) == std::string::npos;
  });
  CHECK(r.grammar_complete);
  CHECK(r.reason == phial::StopReason::callback);
  const auto open = r.text.find("<|tool_call|>");
  const auto close = r.text.find("<|/tool_call|>");
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  check_calls(std::string_view(r.text).substr(open + 13, close - open - 13));
  CHECK(r.text.find("<|tool_call|>", close) != std::string::npos);
}

TEST_CASE("text trigger (<tool_call> convention) and structured output") {
  auto vocab = small_vocab();
  const auto ts = tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, phial::ToolCallFormat::text_tags());
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    // The "model" writes some prose and the tag, then random (nudged) tokens.
    auto script = tokenize(*vocab, "Let me check.<tool_call>");
    RandomEvaluator rnd(*vocab, seed, -1, kSmallEnd);
    struct Mixed : phial::Evaluator {
      ScriptedEvaluator* s;
      RandomEvaluator* r;
      std::size_t n = 0, script_len = 0;
      std::span<const float> eval(std::span<const std::int32_t> t) override {
        auto l = r->eval(t);
        return n++ < script_len ? s->eval(t) : l;
      }
      void truncate(std::size_t) override {}
      std::size_t size() const override { return r->size(); }
      std::int32_t vocab_size() const override { return r->vocab_size(); }
    } ev;
    ScriptedEvaluator sc(vocab->size(), script, 0);
    ev.s = &sc;
    ev.r = &rnd;
    ev.script_len = script.size();
    phial::GenerateOptions o;
    o.sampler.greedy = false;
    o.sampler.seed = seed;
    o.max_tokens = 3000;
    o.grammar = g;
    o.grammar_mode = phial::GrammarMode::lazy;
    o.trigger_text = "<tool_call>";
    const std::int32_t prompt[] = {1};
    const auto r = phial::generate(ev, prompt, *vocab, o);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);
    const auto open = r.text.find("<tool_call>\n");
    REQUIRE(open != std::string::npos);
    CHECK(r.text.substr(0, open) == "Let me check.");
    const std::string body = r.text.substr(open + 12, r.text.size() - open - 12 - 13);
    CHECK(r.text.substr(r.text.size() - 13) == "\n</tool_call>");
    check_calls("[" + body + "]");
  }

  // Structured output: the whole answer is one value of the schema.
  const phial::Grammar s = phial::json_schema_grammar(std::string_view(kCreateEvent));
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    RandomEvaluator ev(*vocab, seed, -1, kSmallEnd);
    phial::GenerateOptions o;
    o.sampler.greedy = false;
    o.sampler.seed = seed;
    o.max_tokens = 3000;
    o.grammar = s;
    o.grammar_mode = phial::GrammarMode::from_start;
    const std::int32_t prompt[] = {1};
    const auto r = phial::generate(ev, prompt, *vocab, o);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);
    const auto v = json::parse(r.text);
    CHECK(phial::validate_json(v, json::parse(kCreateEvent).get_object()).ok());
  }
}

TEST_CASE("the real Phi-4-mini vocabulary (200,064 ids): tool calls under the grammar") {
  auto vocab = phi4_mini_vocab();
  REQUIRE(vocab->size() == 200064);
  const auto ts = tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, phial::ToolCallFormat::phi4_mini());
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    RandomEvaluator ev(*vocab, seed, kCall, kEnd);
    auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_instruct);
    o.sampler.greedy = seed % 2 == 0;
    o.sampler.seed = seed;
    o.max_tokens = 2000;
    o.grammar = g;
    o.grammar_mode = phial::GrammarMode::lazy;
    o.trigger_token = kCall;
    const std::int32_t prompt[] = {200022, 200020, 200021};
    const auto r = phial::generate(ev, prompt, *vocab, o);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);
    CHECK(r.tokens.back() == kCallEnd);
    const auto open = r.text.find("<|tool_call|>");
    REQUIRE(open != std::string::npos);
    check_calls(std::string_view(r.text).substr(open + 13, r.text.size() - open - 13 - 14));
  }
}

namespace {

// A random-weight Phi-3-architecture model with the real vocabulary size (200,064) and a tiny body
// (hidden 32, one layer), f32 weights in memory: the real executor, the real vocabulary.
struct TinyRealVocabModel {
  phial::ModelConfig config;
  phial::ModelWeights weights;
  std::vector<std::vector<float>> storage;

  phial::TensorView tensor(const char* name, std::int64_t ne0, std::int64_t ne1, phial::Rng& rng, float scale, float mean = 0) {
    storage.emplace_back(static_cast<std::size_t>(ne0 * ne1));
    // sum of three uniforms: mean 0, variance 1/4 -> scaled to std `scale`
    for (auto& x : storage.back())
      x = mean + scale * 2.0f * static_cast<float>(rng.uniform01() + rng.uniform01() + rng.uniform01() - 1.5);
    phial::TensorView t;
    t.name = name;
    t.type = phial::TensorType::F32;
    t.n_dims = ne1 == 1 ? 1 : 2;
    t.ne = {ne0, ne1, 1, 1};
    t.data = reinterpret_cast<const std::byte*>(storage.back().data());
    t.nbytes = storage.back().size() * sizeof(float);
    return t;
  }

  explicit TinyRealVocabModel(std::uint64_t seed) {
    phial::Rng rng(seed);
    const int H = 32, I = 32, heads = 4, kv = 2, hd = 8, V = 200064;
    config.family = phial::Family::phi4_mini;
    config.variant = phial::Variant::phi4_mini_instruct;
    config.hidden_size = H;
    config.intermediate_size = I;
    config.n_layers = 1;
    config.n_heads = heads;
    config.n_kv_heads = kv;
    config.head_dim = hd;
    config.rotary_dim = hd;
    config.vocab_size = V;
    config.max_position_embeddings = 4096;
    config.tie_word_embeddings = true;
    weights.token_embd = tensor("token_embd.weight", H, V, rng, 1.0f);
    weights.output_norm = tensor("output_norm.weight", H, 1, rng, 0.1f, 1.0f);
    weights.output = weights.token_embd;
    phial::LayerWeights l;
    l.attn_norm = tensor("blk.0.attn_norm.weight", H, 1, rng, 0.1f, 1.0f);
    l.attn_qkv = tensor("blk.0.attn_qkv.weight", H, (heads + 2 * kv) * hd, rng, 0.3f);
    l.attn_output = tensor("blk.0.attn_output.weight", heads * hd, H, rng, 0.2f);
    l.ffn_norm = tensor("blk.0.ffn_norm.weight", H, 1, rng, 0.1f, 1.0f);
    l.ffn_up = tensor("blk.0.ffn_up.weight", H, 2 * I, rng, 0.3f);
    l.ffn_down = tensor("blk.0.ffn_down.weight", I, H, rng, 0.2f);
    weights.layers.push_back(l);
  }
};

}  // namespace

TEST_CASE("real executor, random weights, real 200k vocabulary: tool calls parse and validate") {
  auto vocab = phi4_mini_vocab();
  TinyRealVocabModel model(42);
  phial::ExecutorOptions eo;
  eo.threads = 2;
  eo.kv_capacity = 2048;
  phial::Executor exec(model.config, model.weights, eo);
  REQUIRE(exec.vocab_size() == vocab->size());
  const auto ts = tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, phial::ToolCallFormat::phi4_mini());
  // A random model has no reason to close strings: the bias plays the part of training.
  std::unordered_map<std::int32_t, float> bias;
  for (std::int32_t id = 0; id < vocab->size(); ++id) {
    const auto b = vocab->token_bytes(id);
    if (!vocab->is_special(id) && b.find_first_of("\"}]") != std::string_view::npos) bias[id] = 15.0f;
  }
  bias[kCall] = 50.0f;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    phial::Session session(exec);
    auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_instruct);
    o.sampler.greedy = seed % 2 == 0;
    o.sampler.seed = seed;
    o.sampler.logit_bias = bias;
    o.max_tokens = 1500;
    o.grammar = g;
    o.grammar_mode = seed <= 2 ? phial::GrammarMode::lazy : phial::GrammarMode::from_start;
    o.trigger_token = kCall;
    const std::int32_t prompt[] = {200022, 12345, 200020, 200021, 777, 200020, 200019};
    const auto r = phial::generate(session, prompt, *vocab, o);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);
    CHECK(session.size() == std::size(prompt) + r.n_evaluated);
    const auto open = r.text.find("<|tool_call|>");
    REQUIRE(open == 0);
    check_calls(std::string_view(r.text).substr(open + 13, r.text.size() - open - 13 - 14));
    // Seeded: the same seed gives the same call.
    phial::Session again(exec);
    CHECK(phial::generate(again, prompt, *vocab, o).tokens == r.tokens);
  }
}
