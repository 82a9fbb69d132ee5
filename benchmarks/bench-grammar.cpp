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
// masked re-sample. One JSON object per line; medians.
#include <phial/sample/generate.hpp>
#include <phial/sample/json_schema.hpp>
#if __has_include(<phial/tokenizer/detail/gzip.hpp>)
#include <phial/tokenizer/detail/gzip.hpp>
#define BENCH_HAVE_GZIP 1
#endif

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

// Phi-4-mini's vocabulary: 200,064 ids; o200k ranks, then the added tokens (spec §4.2).
std::vector<std::string> load_phi4_mini_vocab(const std::string& path, std::vector<std::int32_t>& specials) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string content = ss.str();
#ifdef BENCH_HAVE_GZIP
  if (phial::detail::is_gzip(content)) content = phial::detail::gunzip(content, path);
#endif
  std::vector<std::string> vocab(200064);
  std::istringstream lines(content);
  std::string line;
  while (std::getline(lines, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const long rank = std::stol(line.substr(sp + 1));
    if (rank >= 0 && rank < 200064) vocab[static_cast<std::size_t>(rank)] = base64_decode(line.substr(0, sp));
  }
  const std::pair<std::int32_t, const char*> added[] = {
      {199999, "<|endoftext|>"}, {200018, "<|endofprompt|>"}, {200019, "<|assistant|>"}, {200020, "<|end|>"},
      {200021, "<|user|>"}, {200022, "<|system|>"}, {200023, "<|tool|>"}, {200024, "<|/tool|>"},
      {200025, "<|tool_call|>"}, {200026, "<|/tool_call|>"}, {200027, "<|tool_response|>"}, {200028, "<|tag|>"}};
  for (const auto& [id, text] : added) {
    vocab[static_cast<std::size_t>(id)] = text;
    specials.push_back(id);
  }
  return vocab;
}

// Greedy longest-match tokenization (good enough to get realistic token boundaries).
std::vector<std::int32_t> tokenize(std::string_view text, const std::unordered_map<std::string, std::int32_t>& ids) {
  std::vector<std::int32_t> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t len = std::min<std::size_t>(32, text.size() - i);
    for (; len > 0; --len) {
      auto it = ids.find(std::string(text.substr(i, len)));
      if (it != ids.end()) { out.push_back(it->second); break; }
    }
    if (len == 0) throw std::runtime_error("untokenizable byte");
    i += len;
  }
  return out;
}

void line(const std::string& name, const std::vector<double>& us, const std::string& extra = "") {
  std::printf("{\"bench\":\"grammar\",\"case\":\"%s\",\"n\":%zu,\"median_us\":%.3f,\"p90_us\":%.3f,\"max_us\":%.3f%s}\n",
              name.c_str(), us.size(), median(us), percentile(us, 0.9), us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()),
              extra.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "tests/data/tokenizer/o200k_base.tiktoken.gz";
  std::vector<std::int32_t> specials;
  auto t0 = clock_type::now();
  auto bytes = load_phi4_mini_vocab(path, specials);
  std::unordered_map<std::string, std::int32_t> ids;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (!bytes[i].empty()) ids.emplace(bytes[i], static_cast<std::int32_t>(i));
  phial::VocabIndex vocab(bytes, specials);
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
  for (auto t : tokenize(call, ids)) tokens.push_back(t);
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
  return 0;
}
