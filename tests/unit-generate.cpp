// The generation loop over Evaluator doubles: stop tokens / strings, max tokens, UTF-8-safe
// streaming, reasoning budget, cancellation, seeded reproducibility, and grammar-constrained tool
// calls over vocabularies built from the o200k_base ranks that must always parse and validate.
#include <phial/agent/json_validate.hpp>
#include <phial/chat/output_parser.hpp>
#include <phial/model/executor.hpp>
#include <phial/sample/generate.hpp>
#include <phial/sample/json_schema.hpp>
#include <phial/tokenizer/tokenizer.hpp>

#include <catch2/catch.hpp>
#include <support/json_subset_validator.hpp>
#include <support/phi4_mini_vocab.hpp>
#include <support/tiny_model.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace json = boost::json;

namespace {

const phial::test::Phi4MiniVocab& phi4_mini_vocab_bytes() {
  static const phial::test::Phi4MiniVocab v =
      phial::test::load_phi4_mini_vocab(std::string(PHIAL_TEST_DATA_DIR) + "/tokenizer/o200k_base.tiktoken.gz");
  return v;
}

// Phi-4-mini's 200,064 ids: the ranks, the holes, and the 12 added tokens (spec §4.2).
constexpr std::int32_t kEnd = 200020, kEot = 199999, kCall = 200025, kCallEnd = 200026;
std::shared_ptr<phial::VocabIndex> phi4_mini_vocab() {
  static std::shared_ptr<phial::VocabIndex> v =
      std::make_shared<phial::VocabIndex>(phi4_mini_vocab_bytes().bytes, phi4_mini_vocab_bytes().specials);
  return v;
}

// A smaller vocabulary for the many-seed runs: the first 20,000 ranks (all 256 bytes included)
// and three specials at 20000..20002 playing <|tool_call|>, <|/tool_call|>, <|end|>.
constexpr std::int32_t kSmallCall = 20000, kSmallCallEnd = 20001, kSmallEnd = 20002;
std::shared_ptr<phial::VocabIndex> small_vocab() {
  static std::shared_ptr<phial::VocabIndex> v = [] {
    const auto& all = phi4_mini_vocab_bytes().bytes;  // ids < 20000 are plain o200k ranks
    std::vector<std::string> bytes(all.begin(), all.begin() + 20000);
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
  static std::unordered_map<const phial::VocabIndex*, std::unique_ptr<phial::test::LongestMatchTokenizer>> tokenizers;
  auto& t = tokenizers[&vocab];
  if (!t) {
    std::vector<std::string> bytes;
    std::vector<std::int32_t> specials;
    for (std::int32_t i = 0; i < vocab.size(); ++i) {
      bytes.emplace_back(vocab.token_bytes(i));
      if (vocab.is_special(i)) specials.push_back(i);
    }
    t = std::make_unique<phial::test::LongestMatchTokenizer>(bytes, specials);
  }
  std::vector<std::int32_t> out;
  REQUIRE_NOTHROW(out = (*t)(text));
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

// (The 200-seed run is the real executor's, below; this one covers a second vocabulary, max_calls
// and many lazy activations cheaply.)
TEST_CASE("tool-call grammar over a 20k vocabulary, random logits: 60 seeds, every call parses and validates") {
  auto vocab = small_vocab();
  phial::ToolCallFormat fmt{{kSmallCall, "<|tool_call|>"}, {kSmallCallEnd, "<|/tool_call|>"}, true, 3};
  const auto ts = tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, fmt);
  int masks = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
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

// ---- the real executor on a random-weight model with the real Phi-4-mini vocabulary ----

namespace {

// Three tools of an agenda assistant: nested objects, enums, arrays (of strings and of objects),
// formats, anyOf, required and optional properties.
const char* kAgendaCreateEvent = R"({
  "type": "object",
  "properties": {
    "title": {"type": "string"},
    "start": {"type": "string", "format": "date-time"},
    "duration_minutes": {"type": "integer"},
    "calendar": {"enum": ["work", "personal", "family"]},
    "attendees": {"type": "array", "maxItems": 3, "items": {
      "type": "object",
      "properties": {"email": {"type": "string"}, "optional": {"type": "boolean"}},
      "required": ["email"], "additionalProperties": false}},
    "reminder": {"type": "object",
      "properties": {"minutes_before": {"type": "integer"}, "method": {"enum": ["popup", "email"]}},
      "required": ["minutes_before", "method"], "additionalProperties": false},
    "location": {"anyOf": [{"type": "string"}, {"type": "null"}]}
  },
  "required": ["title", "start", "duration_minutes"],
  "additionalProperties": false
})";
const char* kAgendaWeather = R"({
  "type": "object",
  "properties": {
    "city": {"type": "string"},
    "units": {"enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer"}
  },
  "required": ["city"],
  "additionalProperties": false
})";
const char* kAgendaSearch = R"({
  "type": "object",
  "properties": {
    "query": {"type": "string"},
    "filters": {"type": "object", "properties": {
      "extensions": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
      "modified_after": {"type": "string", "format": "date"},
      "max_results": {"type": "integer"},
      "include_hidden": {"type": "boolean"}}, "additionalProperties": false}
  },
  "required": ["query"],
  "additionalProperties": false
})";

std::vector<phial::ToolSchema> agenda_tools() {
  return {{"create_event", json::parse(kAgendaCreateEvent)},
          {"get_weather", json::parse(kAgendaWeather)},
          {"search_files", json::parse(kAgendaSearch)}};
}

const phial::Tokenizer& phi4_mini_tokenizer() {
  static const phial::Tokenizer tok = phial::Tokenizer::from_tiktoken(
      std::string(PHIAL_TEST_DATA_DIR) + "/tokenizer/o200k_base.tiktoken.gz", phial::Family::phi4_mini);
  return tok;
}

// A Phi-4-mini tool prompt (spec §5.3 layout), encoded by the real tokenizer.
std::vector<std::int32_t> agenda_prompt(const std::vector<phial::ToolSchema>& tools) {
  json::array list;
  for (const auto& t : tools) list.push_back(json::object{{"name", t.name}, {"description", "tool " + t.name}, {"parameters", t.parameters}});
  const std::string text = "<|system|>You are an agenda assistant. Call tools when useful.<|tool|>" + json::serialize(list) +
                           "<|/tool|><|end|><|user|>Plan the quarterly review with Alice on Friday, check the weather in "
                           "Zürich and find last week's slides.<|end|><|assistant|>";
  return phi4_mini_tokenizer().encode_with_special(text);
}

// A random model has no reason to ever close a string: this bias plays the part of training
// (every token containing a quote or a closing bracket is likelier), so that calls stay short; a
// repetition penalty keeps it out of loops. The grammar alone decides what is valid.
std::unordered_map<std::int32_t, float> closing_bias(const phial::VocabIndex& vocab, float amount) {
  std::unordered_map<std::int32_t, float> bias;
  for (std::int32_t id = 0; id < vocab.size(); ++id) {
    const auto b = vocab.token_bytes(id);
    if (!vocab.is_special(id) && b.find_first_of("\"}]") != std::string_view::npos) bias[id] = amount;
  }
  return bias;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PHIAL_GENERATE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define PHIAL_GENERATE_SANITIZED 1
#endif
#endif

}  // namespace

TEST_CASE("real executor, random weights, real 200k vocabulary: every seed's tool call parses and validates") {
#ifdef PHIAL_GENERATE_SANITIZED
  constexpr std::uint64_t kSeeds = 40;  // instrumented decode is ~10x slower; 200 in optimized builds
#else
  constexpr std::uint64_t kSeeds = 200;
#endif
  constexpr std::int32_t kMaxTokens = 256;  // a call that has not terminated by then fails the test
  auto vocab = phi4_mini_vocab();
  REQUIRE(vocab->size() == phial::test::kPhi4MiniVocabSize);
  phial::test::TinyRealVocabModel model(42);
  phial::ExecutorOptions eo;
  eo.threads = 1;  // a second thread only adds barrier stalls on a loaded 2-core CI machine
  eo.kv_capacity = 1024;
  phial::Executor exec(model.config, model.weights, eo);
  REQUIRE(exec.vocab_size() == vocab->size());

  const auto ts = agenda_tools();
  const phial::Grammar g = phial::tool_call_grammar(ts, phial::ToolCallFormat::phi4_mini());
  const auto bias = closing_bias(*vocab, 12.0f);
  const auto prompt = agenda_prompt(ts);
  REQUIRE(prompt.size() > 100);
  REQUIRE(prompt.back() == 200019);  // <|assistant|>, an added token

  // The prompt is prefilled once; every seed continues from it (the last prompt token is fed by
  // generate, so each run starts from the same logits).
  phial::Session session(exec);
  session.eval(std::span(prompt).first(prompt.size() - 1));
  const std::size_t base = session.size();

  auto parser_options = phial::OutputParserOptions::for_format(phial::ChatFormat::phi4_mini);
  for (const auto& t : ts) parser_options.tool_names.push_back(t.name);

  std::map<std::string, int> calls_per_tool;
  std::set<std::string> optional_seen, texts;
  int total_calls = 0, full_masks = 0, lazy_runs_with_text = 0;
  std::size_t total_tokens = 0, longest = 0;
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    session.truncate(base);
    auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_instruct);
    o.sampler = phial::SamplerConfig::defaults_for(phial::Variant::phi4_mini_reasoning);  // T 0.8, top_p 0.95
    o.sampler.greedy = seed % 10 == 0;
    o.sampler.seed = seed;
    o.sampler.logit_bias = bias;
    o.sampler.repetition_penalty = 1.5f;
    o.max_tokens = kMaxTokens;
    o.grammar = g;
    o.trigger_token = phial::ToolCallFormat::phi4_mini().open.token_id;
    if (seed % 4 == 0) {
      // Lazy: free text until the model itself writes <|tool_call|> (made likely, not forced); the
      // stop tokens are banned so that this model asked for a call does not end its turn first.
      o.grammar_mode = phial::GrammarMode::lazy;
      o.sampler.logit_bias[o.trigger_token] = 28.0f;
      for (auto stop : o.stop_token_ids) o.sampler.logit_bias[stop] = -std::numeric_limits<float>::infinity();
    } else {
      o.grammar_mode = phial::GrammarMode::from_start;  // a required call
    }
    phial::OutputParser parser(parser_options);
    std::vector<phial::OutputEvent> events;
    const std::int32_t last[] = {prompt.back()};
    const auto r = phial::generate(session, last, *vocab, o, [&](std::int32_t, std::string_view delta) {
      parser.feed(delta, events);
      return true;
    });
    parser.finish(events);
    INFO("seed " << seed << " text " << r.text);
    REQUIRE(r.reason == phial::StopReason::grammar_complete);  // terminated within kMaxTokens
    REQUIRE(r.tokens.size() <= static_cast<std::size_t>(kMaxTokens));
    CHECK(session.size() == base + 1 + r.n_evaluated);
    CHECK(r.tokens.back() == phial::ToolCallFormat::phi4_mini().close.token_id);
    full_masks += r.full_masks;
    total_tokens += r.tokens.size();
    longest = std::max(longest, r.tokens.size());
    texts.insert(r.text);

    // The block, cut from the text by hand and parsed by Boost.JSON.
    const auto open = r.text.find("<|tool_call|>");
    REQUIRE(open != std::string::npos);
    if (o.grammar_mode == phial::GrammarMode::from_start) CHECK(open == 0);
    if (open > 0) ++lazy_runs_with_text;
    REQUIRE(r.text.size() >= open + 13 + 14);
    REQUIRE(r.text.substr(r.text.size() - 14) == "<|/tool_call|>");
    json::value list;
    REQUIRE_NOTHROW(list = json::parse(std::string_view(r.text).substr(open + 13, r.text.size() - open - 13 - 14)));
    REQUIRE(list.is_array());

    // phial's OutputParser, fed the streamed deltas, sees exactly that block and those calls.
    std::vector<const phial::OutputEvent*> ends;
    for (const auto& e : events) {
      INFO("event " << phial::output_event_kind_name(e.kind) << " " << e.text << " " << e.message);
      CHECK(e.kind != phial::OutputEventKind::error);
      if (e.kind == phial::OutputEventKind::tool_call_end) ends.push_back(&e);
    }
    REQUIRE(ends.size() == 1);
    const auto& calls = ends[0]->calls;
    REQUIRE(calls.size() == list.as_array().size());
    REQUIRE_FALSE(calls.empty());
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const auto& call = calls[i];
      const auto& raw = list.as_array()[i].as_object();
      CHECK(raw.size() == 2);
      CHECK(raw.at("name") == json::value(call.name));
      CHECK(raw.at("arguments") == json::value(call.arguments));
      const phial::ToolSchema* tool = nullptr;
      for (const auto& t : ts)
        if (t.name == call.name) tool = &t;
      REQUIRE(tool != nullptr);
      ++calls_per_tool[call.name];
      ++total_calls;
      // Validated twice: the agent layer's validator and the test's independent one.
      const auto v = phial::validate_json(call.arguments, tool->parameters.get_object());
      INFO("arguments " << json::serialize(call.arguments) << ": " << v.message());
      CHECK(v.ok());
      CHECK(phial::test::validate(call.arguments, tool->parameters));
      const auto& required = tool->parameters.at("required").as_array();
      for (const auto& kv : call.arguments)
        if (std::find(required.begin(), required.end(), json::value(kv.key())) == required.end())
          optional_seen.insert(call.name + "." + std::string(kv.key()));
    }

    // Seeded: the same seed gives the same tokens again.
    if (seed % 25 == 1) {
      session.truncate(base);
      CHECK(phial::generate(session, last, *vocab, o).tokens == r.tokens);
    }
  }
  INFO("calls " << total_calls << ", optional properties seen " << optional_seen.size() << ", distinct texts "
                << texts.size() << ", full masks " << full_masks << ", tokens " << total_tokens << " (longest call "
                << longest << ")");
  // The runs explored the grammar: every tool, optional properties, and the constraint had to
  // correct the model (the sampled token was rejected and a full mask computed) many times.
  for (const auto& t : ts) CHECK(calls_per_tool[t.name] > 0);
  CHECK(optional_seen.size() >= 3);
  CHECK(full_masks > static_cast<int>(kSeeds));
  CHECK(lazy_runs_with_text > 0);
  // Different seeds give different calls (the greedy tenth are all the same call).
  CHECK(texts.size() >= kSeeds / 2);
  // The budget is far from binding (a call that hits it fails above): report the lengths.
  CHECK(longest < static_cast<std::size_t>(kMaxTokens));
  std::printf("unit-generate: %llu seeds, %d calls, %zu tokens, longest %zu, %d full masks, %zu distinct outputs\n",
              static_cast<unsigned long long>(kSeeds), total_calls, total_tokens, longest, full_masks, texts.size());
}

TEST_CASE("real executor: the same seed reproduces the same tokens, different seeds differ") {
  auto vocab = phi4_mini_vocab();
  phial::test::TinyRealVocabModel model(7);
  phial::ExecutorOptions eo;
  eo.threads = 1;  // a second thread only adds barrier stalls on a loaded 2-core CI machine
  eo.kv_capacity = 512;
  phial::Executor exec(model.config, model.weights, eo);
  const auto prompt = phi4_mini_tokenizer().encode_with_special("<|user|>Tell me a story.<|end|><|assistant|>");
  auto run = [&](phial::Session& session, std::uint64_t seed) {
    auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_reasoning);  // T 0.8, top_p 0.95
    o.sampler.seed = seed;
    o.max_tokens = 24;
    o.stop_token_ids.clear();  // always 24 tokens
    const auto r = phial::generate(session, prompt, *vocab, o);
    REQUIRE(r.tokens.size() == 24);
    return r.tokens;
  };
  std::vector<std::vector<std::int32_t>> first;
  for (std::uint64_t seed : {1u, 2u, 3u, 1000u}) {
    phial::Session a(exec);
    first.push_back(run(a, seed));
    phial::Session b(exec);  // a fresh session
    CHECK(run(b, seed) == first.back());
    b.truncate(0);           // a reused one
    CHECK(run(b, seed) == first.back());
  }
  for (std::size_t i = 0; i < first.size(); ++i)
    for (std::size_t j = i + 1; j < first.size(); ++j) CHECK(first[i] != first[j]);
  // Greedy is seed-independent.
  auto greedy = [&](std::uint64_t seed) {
    phial::Session s(exec);
    auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_instruct);
    o.sampler.seed = seed;
    o.max_tokens = 8;
    o.stop_token_ids.clear();
    return phial::generate(s, prompt, *vocab, o).tokens;
  };
  CHECK(greedy(1) == greedy(2));
}
