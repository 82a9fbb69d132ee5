// bench-output-parser: throughput of phial::OutputParser on a realistic agent stream (a reasoning
// trace, answer text, Phi-4-mini tool calls), fed in token-sized deltas (1-6 bytes, as a
// streaming detokenizer produces them). Prints one JSON object per line:
//   {"bench": "output_parser", "case": ..., "bytes": ..., "delta_bytes_avg": ..., "seconds": ...,
//    "mb_per_s": ..., "deltas_per_s": ..., "events": ...}
// For scale: decoding at 100 tokens/s produces ~400 bytes/s of text.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <phial/chat/output_parser.hpp>

namespace {

std::string make_stream(bool with_reasoning, bool with_tools) {
  std::string s;
  if (with_reasoning) {
    s += "<think>";
    for (int i = 0; i < 20; ++i)
      s += "The user wants the weather in Paris and a calendar entry; I should call get_weather first, then "
           "create_event with start 2026-11-23T09:30 < 10:00. ";
    s += "</think>\n\n";
  }
  for (int i = 0; i < 10; ++i)
    s += "Here is a plain answer sentence with some <b>markup</b>, numbers like 3 < 4 and 5 > 2, and unicode: "
         "日本語, Ελληνικά, 🌍.\n";
  if (with_tools) {
    s += "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris]\", \"units\": \"metric\"}}, "
         "{\"name\": \"create_event\", \"arguments\": {\"title\": \"Standup\", \"start\": \"2026-11-23T09:30\", "
         "\"duration_minutes\": 30, \"attendees\": [\"a@example.com\", \"b@example.com\"]}}]<|/tool_call|>";
  }
  return s;
}

void run_case(const char* name, const std::string& stream, phial::OutputParserOptions opts) {
  // Token-sized deltas, fixed once so every repetition sees the same chunking.
  std::mt19937 rng(7);
  std::vector<std::string_view> deltas;
  for (std::size_t i = 0; i < stream.size();) {
    std::size_t n = std::uniform_int_distribution<std::size_t>(1, 6)(rng);
    n = std::min(n, stream.size() - i);
    deltas.emplace_back(stream.data() + i, n);
    i += n;
  }
  phial::OutputParser parser(opts);
  std::vector<phial::OutputEvent> events;
  std::size_t total_bytes = 0, total_events = 0, reps = 0;
  auto t0 = std::chrono::steady_clock::now();
  double seconds = 0;
  do {
    for (auto d : deltas) {
      events.clear();
      parser.feed(d, events);
      total_events += events.size();
    }
    events.clear();
    parser.finish(events);
    total_events += events.size();
    total_bytes += stream.size();
    ++reps;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (seconds < 0.5);
  std::printf(
      "{\"bench\": \"output_parser\", \"case\": \"%s\", \"bytes\": %zu, \"delta_bytes_avg\": %.2f, \"seconds\": %.4f, "
      "\"mb_per_s\": %.2f, \"deltas_per_s\": %.0f, \"events\": %zu}\n",
      name, total_bytes, double(stream.size()) / double(deltas.size()), seconds, double(total_bytes) / seconds / 1e6,
      double(deltas.size() * reps) / seconds, total_events);
}

}  // namespace

int main() {
  auto mini = phial::OutputParserOptions::for_format(phial::ChatFormat::phi4_mini);
  run_case("text_only", make_stream(false, false), mini);
  run_case("reasoning_text_tools", make_stream(true, true), mini);
  std::string calls;
  for (int i = 0; i < 20; ++i) calls += make_stream(false, true).substr(make_stream(false, false).size());
  run_case("tool_calls_only", calls, mini);
  return 0;
}
