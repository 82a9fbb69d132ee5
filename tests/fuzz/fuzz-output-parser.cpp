// libFuzzer target for phial::OutputParser.
//
// Input: one byte of options, one byte seeding the chunk sizes, then the model output. Checks that
// the parser never crashes or throws, holds back at most 12 bytes in text mode, closes every
// tool_call_begin, and produces the same events (after merging adjacent deltas) whether the text
// arrives in one piece or in small chunks.
//
//   CXX=clang++ cmake -S . -B build-fuzz-chat -DPHIAL_BUILD_FUZZERS=ON -DPHIAL_BUILD_EXAMPLES=OFF -DPHIAL_BUILD_BENCHMARKS=OFF
//   cmake --build build-fuzz-chat --target fuzz-output-parser
//   build-fuzz-chat/tests/fuzz-output-parser -max_total_time=60 tests/fuzz/seeds-output-parser
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <phial/chat/output_parser.hpp>

namespace {

bool is_delta(phial::OutputEventKind k) {
  return k == phial::OutputEventKind::text || k == phial::OutputEventKind::reasoning || k == phial::OutputEventKind::tool_args;
}

std::vector<std::string> describe(const std::vector<phial::OutputEvent>& events) {
  std::vector<phial::OutputEvent> merged;
  int open_blocks = 0;
  for (const auto& e : events) {
    if (is_delta(e.kind) && e.text.empty()) std::abort();  // empty deltas are never emitted
    if (e.kind == phial::OutputEventKind::tool_call_begin) ++open_blocks;
    if (e.kind == phial::OutputEventKind::tool_call_end || e.kind == phial::OutputEventKind::error) --open_blocks;
    if (open_blocks < 0 || open_blocks > 1) std::abort();  // blocks do not nest and always close
    if (e.kind == phial::OutputEventKind::tool_call_end && e.calls.empty()) std::abort();
    if (is_delta(e.kind) && !merged.empty() && merged.back().kind == e.kind && merged.back().index == e.index)
      merged.back().text += e.text;
    else
      merged.push_back(e);
  }
  if (open_blocks != 0) std::abort();
  std::vector<std::string> out;
  for (const auto& e : merged) {
    std::string s = std::to_string(int(e.kind)) + "#" + std::to_string(e.index) + ":" + e.text + "|" + e.message;
    for (auto& c : e.calls) s += "|" + c.name + "=" + boost::json::serialize(c.arguments);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  std::uint32_t seed = data[1];
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  phial::OutputParserOptions opts;
  opts.parse_reasoning = flags & 1;
  opts.starts_in_reasoning = flags & 2;
  opts.native_tool_calls = !(flags & 4);
  opts.text_tool_calls = !(flags & 8);
  opts.functools_tool_calls = flags & 16;
  if (flags & 32) opts.tool_names = {"get_weather", "a"};
  opts.max_depth = (flags & 64) ? 4 : 64;

  phial::OutputParser whole(opts);
  std::vector<phial::OutputEvent> a;
  whole.feed(text, a);
  whole.finish(a);

  phial::OutputParser pieces(opts);
  std::vector<phial::OutputEvent> b;
  for (std::size_t i = 0; i < text.size();) {
    seed = seed * 1103515245u + 12345u;
    std::size_t n = 1 + (seed >> 16) % 7;
    pieces.feed(text.substr(i, n), b);
    i += n;
  }
  pieces.finish(b);

  if (describe(a) != describe(b)) std::abort();
  return 0;
}
