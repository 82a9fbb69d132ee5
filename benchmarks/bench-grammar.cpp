// bench-grammar: microseconds per token of constrained sampling over the full Phi-4-mini vocabulary
// (200,064 ids: the o200k_base ranks + the 12 added tokens), for a calendar create_event tool call.
//
//   bench-grammar [path/to/o200k_base.tiktoken[.gz]]
//
// It tokenizes a realistic call (longest match over the vocabulary), replays it token by token,
// and at every position measures
//   fast_path: the sampled token is checked against the grammar and the state advanced (what a
//              step costs when the model's choice is accepted, the common case);
//   full_mask: the allowed-token mask over all 200,064 ids (what a rejected choice costs);
// plus the sampler itself over 200,064 logits (greedy, and temperature 0.8 + top_p 0.95), and a
// masked re-sample; then, for comparison, the real executor's decode step on random-weight models
// with the real vocabulary and a tiny body, and whole generation steps (sample + grammar + decode)
// with and without the tool-call grammar. One JSON object per line; medians.
#include <phial/model/executor.hpp>
#include <phial/sample/generate.hpp>
#include <phial/sample/json_schema.hpp>
#include <support/phi4_mini_vocab.hpp>
#include <support/tiny_model.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void line(const std::string& name, const std::vector<double>& us, const std::string& extra = "") {
  std::printf("{\"bench\":\"grammar\",\"case\":\"%s\",\"n\":%zu,\"median_us\":%.3f,\"p90_us\":%.3f,\"max_us\":%.3f%s}\n",
              name.c_str(), us.size(), median(us), percentile(us, 0.9), us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()),
              extra.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "tests/data/tokenizer/o200k_base.tiktoken.gz";
  auto t0 = clock_type::now();
  const auto loaded = phial::test::load_phi4_mini_vocab(path);
  const phial::test::LongestMatchTokenizer tokenize(loaded.bytes, loaded.specials);
  phial::VocabIndex vocab(loaded.bytes, loaded.specials);
  auto t1 = clock_type::now();
  vocab.tables();
  auto t2 = clock_type::now();
  std::printf("{\"bench\":\"grammar\",\"case\":\"vocab_index_build\",\"vocab\":%d,\"trie_nodes\":%zu,\"load_ms\":%.1f,\"tables_ms\":%.1f}\n",
              vocab.size(), vocab.tables().trie.nodes.size(),
              std::chrono::duration<double, std::milli>(t1 - t0).count(), std::chrono::duration<double, std::milli>(t2 - t1).count());

  const char* schema = R"({
    "type": "object",
    "properties": {
      "title": {"type": "string", "description": "Short title"},
      "start": {"type": "string", "format": "date-time"},
      "duration_minutes": {"type": "integer"},
      "calendar": {"enum": ["work", "personal", "family"]},
      "attendees": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
      "location": {"anyOf": [{"type": "string"}, {"type": "null"}]},
      "all_day": {"type": "boolean"},
      "reminder": {"type": "object", "properties": {"minutes_before": {"type": "integer"}, "method": {"enum": ["popup", "email"]}}, "required": ["minutes_before"]},
      "notes": {"type": "string"}
    },
    "required": ["title", "start", "duration_minutes"]
  })";
  std::vector<phial::ToolSchema> tools{
      {"create_event", boost::json::parse(schema)},
      {"list_events", boost::json::parse(R"({"type":"object","properties":{"day":{"type":"string","format":"date"}},"required":["day"]})")},
      {"send_email", boost::json::parse(R"({"type":"object","properties":{"to":{"type":"string"},"subject":{"type":"string"},"body":{"type":"string"}},"required":["to","subject","body"]})")}};
  auto t3 = clock_type::now();
  const phial::Grammar g = phial::tool_call_grammar(tools, phial::ToolCallFormat::phi4_mini());
  auto t4 = clock_type::now();
  std::printf("{\"bench\":\"grammar\",\"case\":\"compile_tool_grammar\",\"ms\":%.3f}\n",
              std::chrono::duration<double, std::milli>(t4 - t3).count());

  const std::string call =
      R"J([{"name": "create_event", "arguments": {"title": "Quarterly planning with the platform team (Zürich office)", )J"
      R"J("start": "2025-03-14T09:30:00+01:00", "duration_minutes": 90, "calendar": "work", )J"
      R"J("attendees": ["alice@example.com", "bob@example.com", "chloé.martin@example.org"], "location": null, )J"
      R"J("all_day": false, "reminder": {"minutes_before": 15, "method": "popup"}, )J"
      R"J("notes": "Agenda: roadmap review, hiring plan, on-call rotation.\nBring the Q1 numbers."}}])J";
  std::vector<std::int32_t> tokens{200025};
  for (auto t : tokenize(call)) tokens.push_back(t);
  tokens.push_back(200026);

  phial::TokenMasker masker(vocab);
  phial::TokenMask mask;
  std::vector<double> fast, full, full_string, full_struct;
  std::size_t allowed_total = 0;
  double worst_us = 0;
  std::string worst_at;
  for (int rep = 0; rep < 5; ++rep) {
    auto st = g.start();
    std::string so_far;
    for (auto t : tokens) {
      // full mask
      const auto& top = st.stack();
      const bool in_string = top.depth > 0 && st.program()->nodes[top.top().node].kind == phial::detail::NodeKind::string &&
                             top.top().phase == 1;
      auto a = clock_type::now();
      masker.compute(st, mask);
      auto b = clock_type::now();
      const double us = std::chrono::duration<double, std::micro>(b - a).count();
      full.push_back(us);
      (in_string ? full_string : full_struct).push_back(us);
      if (!mask.test(t)) {
        std::fprintf(stderr, "token %d rejected by the mask\n", t);
        return 1;
      }
      allowed_total += mask.count();
      if (rep > 0 && us > worst_us) {
        worst_us = us;
        worst_at = so_far.substr(so_far.size() > 40 ? so_far.size() - 40 : 0);
      }
      so_far += vocab.token_bytes(t);
      // fast path: check + advance
      a = clock_type::now();
      const bool ok = st.accepts_token(t, vocab);
      phial::GrammarState next = st;
      next.advance_token(t, vocab);
      b = clock_type::now();
      if (!ok) return 1;
      fast.push_back(std::chrono::duration<double, std::micro>(b - a).count());
      st = next;
    }
    if (!st.is_complete()) {
      std::fprintf(stderr, "call not complete\n");
      return 1;
    }
  }
  line("fast_path_check_and_advance", fast, ",\"tokens_per_call\":" + std::to_string(tokens.size()));
  line("full_mask", full, ",\"mean_allowed\":" + std::to_string(allowed_total / full.size()));
  line("full_mask_inside_string", full_string);
  line("full_mask_structural", full_struct);
  std::printf("{\"bench\":\"grammar\",\"case\":\"full_mask_slowest\",\"us\":%.1f,\"after\":%s}\n", worst_us,
              boost::json::serialize(boost::json::string(worst_at)).c_str());

  // The sampler over 200,064 logits.
  phial::Rng rng(1);
  std::vector<float> logits(static_cast<std::size_t>(vocab.size()));
  for (auto& x : logits) x = static_cast<float>(rng.uniform01() * 12.0 - 6.0);
  logits[1000] = 14.0f;  // a peaked distribution, as real logits are
  logits[2000] = 12.5f;
  std::vector<double> greedy_us, topp_us, masked_us;
  phial::Sampler greedy;
  auto cfg = phial::SamplerConfig::defaults_for(phial::Variant::phi4_mini_reasoning);
  phial::Sampler topp(cfg);
  auto st = g.start();
  st.advance_special(200025);
  st.advance("[{\"name\": \"create_event\", \"arguments\": {\"title\": ");
  masker.compute(st, mask);
  for (int i = 0; i < 50; ++i) {
    auto a = clock_type::now();
    volatile auto t1v = greedy.sample(logits);
    auto b = clock_type::now();
    volatile auto t2v = topp.sample(logits);
    auto c = clock_type::now();
    volatile auto t3v = greedy.sample(logits, &mask);
    auto d = clock_type::now();
    (void)t1v;
    (void)t2v;
    (void)t3v;
    greedy_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    topp_us.push_back(std::chrono::duration<double, std::micro>(c - b).count());
    masked_us.push_back(std::chrono::duration<double, std::micro>(d - c).count());
  }
  line("sampler_greedy_200k", greedy_us);
  line("sampler_t0.8_topp0.95_200k", topp_us);
  line("sampler_greedy_masked_200k", masked_us);

  // ---- next to the executor's decode step ----
  // A random-weight model with the real vocabulary and a tiny body (tests/support/tiny_model.hpp):
  // its decode step is mostly the 200,064-row output head. Phi-4-mini itself decodes at ~420 ms
  // per token on this machine (docs/performance.md: Q4_0, 1 thread, 2.37 tokens/s, loaded).
  const double fast_us = median(fast), full_us = median(full);
  const std::vector<std::int32_t> prompt = tokenize("Plan the quarterly review with Alice on Friday at 9:30.");
  std::vector<std::int32_t> chat{200021};  // <|user|> ... <|end|><|assistant|>
  chat.insert(chat.end(), prompt.begin(), prompt.end());
  chat.push_back(200020);
  chat.push_back(200019);
  const auto closing_bias = [&] {
    std::unordered_map<std::int32_t, float> bias;  // plays the part of training (see unit-generate)
    for (std::int32_t id = 0; id < vocab.size(); ++id)
      if (!vocab.is_special(id) && vocab.token_bytes(id).find_first_of("\"}]") != std::string_view::npos) bias[id] = 12.0f;
    return bias;
  }();
  for (const int hidden : {32, 64}) {
    const int layers = hidden == 32 ? 1 : 2;
    phial::test::TinyRealVocabModel model(1, hidden, layers);
    phial::ExecutorOptions eo;
    eo.threads = 1;
    eo.kv_capacity = 2048;
    phial::Executor exec(model.config, model.weights, eo);
    char shape[96];
    std::snprintf(shape, sizeof shape, ",\"hidden\":%d,\"layers\":%d,\"vocab\":%d,\"threads\":1", hidden, layers, vocab.size());

    // Raw decode: one token through Session::eval (no sampling).
    std::vector<double> decode_us;
    {
      phial::Session session(exec);
      auto logits = session.eval(chat);
      for (int i = 0; i < 100; ++i) {
        const auto next = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        auto a = clock_type::now();
        logits = session.eval(std::span(&next, 1));
        auto b = clock_type::now();
        decode_us.push_back(std::chrono::duration<double, std::micro>(b - a).count());
      }
    }
    line("executor_decode_tiny", decode_us, shape);
    const double dec = median(decode_us);
    std::printf("{\"bench\":\"grammar\",\"case\":\"grammar_vs_decode\",\"decode_tiny_median_us\":%.1f,"
                "\"fast_path_pct_of_tiny_decode\":%.4f,\"full_mask_pct_of_tiny_decode\":%.3f,"
                "\"phi4_mini_q4_0_decode_ms\":422,\"fast_path_pct_of_phi4_mini_decode\":%.6f,"
                "\"full_mask_pct_of_phi4_mini_decode\":%.5f%s}\n",
                dec, 100.0 * fast_us / dec, 100.0 * full_us / dec, 100.0 * fast_us / 422000.0, 100.0 * full_us / 422000.0, shape);

    // Whole generation steps (sample + grammar + decode), per token, T 0.8 / top_p 0.95: free text
    // vs a required tool call under the grammar. The step time is the interval between callbacks.
    for (const bool constrained : {false, true}) {
      std::vector<double> step_us;
      long tokens_total = 0, masks_total = 0, incomplete = 0;
      for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        phial::Session session(exec);
        auto o = phial::GenerateOptions::defaults_for(phial::Variant::phi4_mini_reasoning);
        o.sampler.seed = seed;
        o.sampler.logit_bias = closing_bias;
        o.sampler.repetition_penalty = 1.5f;
        o.stop_token_ids.clear();
        o.max_tokens = constrained ? 384 : 48;
        if (constrained) {
          o.grammar = g;
          o.grammar_mode = phial::GrammarMode::from_start;
        }
        auto last = clock_type::now();
        bool first = true;
        const auto r = phial::generate(session, chat, vocab, o, [&](std::int32_t, std::string_view) {
          const auto now = clock_type::now();
          if (!first) step_us.push_back(std::chrono::duration<double, std::micro>(now - last).count());
          first = false;
          last = now;
          return true;
        });
        if (constrained && r.reason != phial::StopReason::grammar_complete) ++incomplete;
        tokens_total += static_cast<long>(r.tokens.size());
        masks_total += r.full_masks;
      }
      line(constrained ? "generate_step_tool_grammar" : "generate_step_free", step_us,
           std::string(shape) + ",\"tokens\":" + std::to_string(tokens_total) + ",\"full_masks\":" + std::to_string(masks_total) +
               ",\"calls_not_complete_in_384_tokens\":" + std::to_string(incomplete));
    }
  }
  return 0;
}
