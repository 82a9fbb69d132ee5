// The streaming output parser: each dialect gives the expected events (written by hand), and the
// same events under EVERY split of the input into two chunks, byte-by-byte feeding and a few
// random chunkings (after merging adjacent text deltas, whose boundaries follow the chunks).
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <phial/chat/output_parser.hpp>

#include <catch2/catch.hpp>

namespace {

using phial::OutputEvent;
using phial::OutputEventKind;
using phial::OutputParser;
using phial::OutputParserOptions;

bool is_delta(OutputEventKind k) {
  return k == OutputEventKind::text || k == OutputEventKind::reasoning || k == OutputEventKind::tool_args;
}

// One line per event: kind[#index]:payload. Adjacent deltas of one kind and index are merged.
std::vector<std::string> describe(const std::vector<OutputEvent>& events) {
  std::vector<OutputEvent> merged;
  for (const auto& e : events) {
    REQUIRE(!(is_delta(e.kind) && e.text.empty()));  // no empty deltas
    if (!merged.empty() && is_delta(e.kind) && merged.back().kind == e.kind && merged.back().index == e.index)
      merged.back().text += e.text;
    else
      merged.push_back(e);
  }
  std::vector<std::string> out;
  for (const auto& e : merged) {
    std::string s(phial::output_event_kind_name(e.kind));
    if (e.index >= 0) s += "#" + std::to_string(e.index);
    s += ":";
    switch (e.kind) {
      case OutputEventKind::tool_call_end: {
        boost::json::array calls;
        for (auto& c : e.calls) calls.push_back(boost::json::object{{"name", c.name}, {"arguments", c.arguments}});
        s += boost::json::serialize(calls);
        break;
      }
      case OutputEventKind::reasoning_end: s += e.message; break;
      case OutputEventKind::error: s += e.text; break;
      default: s += e.text;
    }
    out.push_back(s);
  }
  return out;
}

std::vector<OutputEvent> run_chunks(const OutputParserOptions& opts, const std::vector<std::string>& chunks) {
  OutputParser p(opts);
  std::vector<OutputEvent> ev;
  for (auto& c : chunks) p.feed(c, ev);
  p.finish(ev);
  return ev;
}

// Checks the expected events under every chunking we can think of.
void check_all_chunkings(const OutputParserOptions& opts, const std::string& input, const std::vector<std::string>& expected) {
  INFO("input: " << input);
  CHECK(describe(run_chunks(opts, {input})) == expected);
  for (std::size_t k = 0; k <= input.size(); ++k) {
    INFO("split at " << k);
    auto got = describe(run_chunks(opts, {input.substr(0, k), input.substr(k)}));
    REQUIRE(got == expected);
  }
  std::vector<std::string> bytes;
  for (char c : input) bytes.emplace_back(1, c);
  CHECK(describe(run_chunks(opts, bytes)) == expected);
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string> chunks;
    for (std::size_t i = 0; i < input.size();) {
      std::size_t n = std::uniform_int_distribution<std::size_t>(1, 6)(rng);
      chunks.push_back(input.substr(i, n));
      i += n;
    }
    CHECK(describe(run_chunks(opts, chunks)) == expected);
  }
}

OutputParserOptions mini() { return OutputParserOptions::for_format(phial::ChatFormat::phi4_mini); }
OutputParserOptions phi4() { return OutputParserOptions::for_format(phial::ChatFormat::phi4); }

}  // namespace

TEST_CASE("plain text, and text that only looks like the start of a tag") {
  check_all_chunkings(phi4(), "Hello, world!", {"text:Hello, world!"});
  check_all_chunkings(phi4(), "a < b and <thin k> <|tool x </think> functools[1]",
                      {"text:a < b and <thin k> <|tool x </think> functools[1]"});
  check_all_chunkings(phi4(), "ends with a partial tag <|tool_ca", {"text:ends with a partial tag <|tool_ca"});
}

TEST_CASE("holds back only what may start a tag") {
  OutputParser p(phi4());
  auto ev = p.feed("Hello <thi");
  REQUIRE(describe(ev) == std::vector<std::string>{"text:Hello "});
  CHECK(p.pending_bytes() == 4);
  ev = p.feed("s is not a tag");
  CHECK(describe(ev) == std::vector<std::string>{"text:<this is not a tag"});
  CHECK(p.pending_bytes() == 0);
  // However text arrives, at most 12 bytes (the longest tag minus one) wait.
  std::string text = "x <<|<t<|tool_call<tool_cal <think <|too </thi";
  OutputParser q(phi4());
  for (char c : text) {
    q.feed(std::string_view(&c, 1));
    CHECK(q.pending_bytes() <= 12);
  }
}

TEST_CASE("reasoning traces") {
  check_all_chunkings(phi4(), "<think>step 1\nstep 2</think>\n\nThe answer is 4.",
                      {"reasoning:step 1\nstep 2", "reasoning_end:", "text:\n\nThe answer is 4."});
  check_all_chunkings(phi4(), "<think></think>Empty trace.", {"reasoning_end:", "text:Empty trace."});
  check_all_chunkings(phi4(), "<think>never closes <tool_call>{}", {"reasoning:never closes <tool_call>{}", "reasoning_end:unterminated"});
  auto opened = phi4();
  opened.starts_in_reasoning = true;  // the prompt ended with <think>
  check_all_chunkings(opened, "so x = 2.</think>x = 2", {"reasoning:so x = 2.", "reasoning_end:", "text:x = 2"});
  auto off = phi4();
  off.parse_reasoning = false;
  check_all_chunkings(off, "<think>a</think>b", {"text:<think>a</think>b"});
}

TEST_CASE("Phi-4-mini native tool calls") {
  // a ']' and tags inside an argument string are just content
  check_all_chunkings(mini(), R"(Sure.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris]}", "note": "<|/tool_call|>"}}]<|/tool_call|>)",
                      {"text:Sure.", "tool_call_begin:<|tool_call|>", "tool_name#0:get_weather",
                       R"(tool_args#0:{"city": "Paris]}", "note": "<|/tool_call|>"})",
                       R"(tool_call_end:[{"name":"get_weather","arguments":{"city":"Paris]}","note":"<|/tool_call|>"}}])"});
  // parallel calls in one list, text after the block
  check_all_chunkings(mini(), R"(<|tool_call|>[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": [true, null]}}]<|/tool_call|>done)",
                      {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_args#0:{"x": 1})", "tool_name#1:b",
                       R"(tool_args#1:{"y": [true, null]})",
                       R"(tool_call_end:[{"name":"a","arguments":{"x":1}},{"name":"b","arguments":{"y":[true,null]}}])", "text:done"});
}

TEST_CASE("deviations the models produce") {
  SECTION("missing closing tag at the end of the message") {
    check_all_chunkings(mini(), R"(<|tool_call|>[{"name": "f", "arguments": {"q": "x"}}])",
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:f", R"(tool_args#0:{"q": "x"})",
                         R"(tool_call_end:[{"name":"f","arguments":{"q":"x"}}])"});
    check_all_chunkings(mini(), R"(<|tool_call|>[{"name": "f", "arguments": {}})",  // and no ']'
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:f", "tool_args#0:{}", R"(tool_call_end:[{"name":"f","arguments":{}}])"});
    check_all_chunkings(mini(), R"(<|tool_call|>[{"name": "f", "arguments": {}}]<|/tool_)",  // a cut-off closing tag
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:f", "tool_args#0:{}", R"(tool_call_end:[{"name":"f","arguments":{}}])"});
  }
  SECTION("comma- or newline-separated objects without brackets") {
    check_all_chunkings(mini(), "<|tool_call|>{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}\n{\"name\": \"c\"}<|/tool_call|>",
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_args#0:{"x": 1})", "tool_name#1:b", "tool_args#1:{}",
                         "tool_name#2:c",
                         R"(tool_call_end:[{"name":"a","arguments":{"x":1}},{"name":"b","arguments":{}},{"name":"c","arguments":{}}])"});
  }
  SECTION("\"parameters\" instead of \"arguments\", arguments before the name") {
    check_all_chunkings(mini(), R"(<|tool_call|>[{"parameters": {"x": [1, 2]}, "name": "a"}]<|/tool_call|>)",
                        {"tool_call_begin:<|tool_call|>", R"(tool_args#0:{"x": [1, 2]})", "tool_name#0:a",
                         R"(tool_call_end:[{"name":"a","arguments":{"x":[1,2]}}])"});
  }
  SECTION("arguments given as a JSON string") {
    check_all_chunkings(mini(), R"(<|tool_call|>[{"name": "a", "arguments": "{\"x\": \"y]\"}"}]<|/tool_call|>)",
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_args#0:"{\"x\": \"y]\"}")",
                         R"(tool_call_end:[{"name":"a","arguments":{"x":"y]"}}])"});
  }
  SECTION("OpenAI shape inside the block") {
    check_all_chunkings(mini(), R"(<|tool_call|>[{"type": "function", "function": {"name": "a", "arguments": "{}"}}]<|/tool_call|>)",
                        {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_call_end:[{"name":"a","arguments":{}}])"});
  }
  SECTION("functools[...] (vLLM's prompt), Phi-4-mini only by default") {
    check_all_chunkings(mini(), "functools[{\"name\": \"a\", \"arguments\": {\"k\": \"v\"}}]\nDone.",
                        {"tool_call_begin:functools[", "tool_name#0:a", R"(tool_args#0:{"k": "v"})",
                         R"(tool_call_end:[{"name":"a","arguments":{"k":"v"}}])", "text:Done."});
    check_all_chunkings(phi4(), "functools[0]", {"text:functools[0]"});
  }
}

TEST_CASE("phial's convention for Phi-4 / Phi-4-reasoning") {
  check_all_chunkings(phi4(),
                      "I'll check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
                      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
                      {"text:I'll check both.\n", "tool_call_begin:<tool_call>", "tool_name#0:get_weather", R"(tool_args#0:{"city": "Oslo"})",
                       R"(tool_call_end:[{"name":"get_weather","arguments":{"city":"Oslo"}}])", "text:\n", "tool_call_begin:<tool_call>",
                       "tool_name#1:get_time", "tool_args#1:{}", R"(tool_call_end:[{"name":"get_time","arguments":{}}])"});
  // Phi-4-reasoning: a trace, then the call
  check_all_chunkings(phi4(), "<think>Need the weather.</think>\n<tool_call>{\"name\": \"w\", \"arguments\": {\"c\": 1.5}}</tool_call>",
                      {"reasoning:Need the weather.", "reasoning_end:", "text:\n", "tool_call_begin:<tool_call>", "tool_name#0:w",
                       R"(tool_args#0:{"c": 1.5})", R"(tool_call_end:[{"name":"w","arguments":{"c":1.5E0}}])"});
}

TEST_CASE("malformed calls become error events carrying the raw text") {
  auto errors_of = [](const OutputParserOptions& o, const std::string& s) {
    std::vector<std::string> msgs;
    for (auto& e : run_chunks(o, {s}))
      if (e.kind == OutputEventKind::error) msgs.push_back(e.message);
    return msgs;
  };
  std::string s = R"(<|tool_call|>[{"name": "a", "arguments": {"x": "unterminated)";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_args#0:{"x": "unterminated)", "error:" + s});
  CHECK(errors_of(mini(), s) == std::vector<std::string>{"unterminated JSON in tool call"});

  s = R"(<|tool_call|>[{"name": "a" "arguments": {}}]<|/tool_call|>)";  // missing comma: balanced but invalid
  check_all_chunkings(mini(), s + "after", {"tool_call_begin:<|tool_call|>", "tool_name#0:a", "error:" + s, "text:after"});

  s = R"(<|tool_call|>[{"name": "a", "arguments": {"x": 1]}<|/tool_call|>)";  // bracket mismatch
  check_all_chunkings(mini(), s + " ok", {"tool_call_begin:<|tool_call|>", "tool_name#0:a", "tool_args#0:{\"x\": 1", "error:" + s, "text: ok"});

  s = R"(<|tool_call|>[{"name": "a", "arguments": {"x": 1}<|/tool_call|>)";  // a tag where JSON continues
  check_all_chunkings(mini(), s + " tail", {"tool_call_begin:<|tool_call|>", "tool_name#0:a", R"(tool_args#0:{"x": 1})", "error:" + s, "text: tail"});

  s = R"(<|tool_call|>get_weather(city="Paris")<|/tool_call|>)";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "error:" + s});

  s = R"(<|tool_call|>[{"name": "a", "arguments": [1]}]<|/tool_call|>)";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "tool_name#0:a", "tool_args#0:[1]", "error:" + s});
  CHECK(errors_of(mini(), s) == std::vector<std::string>{"arguments of tool 'a' must be a JSON object"});

  s = R"(<|tool_call|>[{"name": "a", "arguments": "not json"}]<|/tool_call|>)";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "tool_name#0:a", "tool_args#0:\"not json\"", "error:" + s});

  s = R"(<|tool_call|>[{"arguments": {}}]<|/tool_call|>)";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "tool_args#0:{}", "error:" + s});

  s = "<|tool_call|>[]<|/tool_call|>";
  check_all_chunkings(mini(), s, {"tool_call_begin:<|tool_call|>", "error:" + s});

  auto known = mini();
  known.tool_names = {"get_weather", "get_time"};
  s = R"(<|tool_call|>[{"name": "send_email", "arguments": {}}]<|/tool_call|>)";
  check_all_chunkings(known, s + "x", {"tool_call_begin:<|tool_call|>", "tool_name#0:send_email", "tool_args#0:{}", "error:" + s, "text:x"});
  CHECK(errors_of(known, s) == std::vector<std::string>{"unknown tool 'send_email' (available: get_weather, get_time)"});

  // Deep nesting is refused, not a stack overflow.
  std::string deep = "<|tool_call|>[{\"name\": \"a\", \"arguments\": " + std::string(200, '[') + "}]";
  auto ev = run_chunks(mini(), {deep});
  REQUIRE(!ev.empty());
  CHECK(ev.back().kind == OutputEventKind::error);
}

TEST_CASE("a parser is reusable after finish") {
  OutputParser p(mini());
  auto a = p.feed("<think>x");
  auto b = p.finish();
  CHECK(describe(a) == std::vector<std::string>{"reasoning:x"});
  CHECK(describe(b) == std::vector<std::string>{"reasoning_end:unterminated"});
  std::vector<OutputEvent> ev;
  p.feed("plain", ev);
  p.finish(ev);
  CHECK(describe(ev) == std::vector<std::string>{"text:plain"});
  // the raw text of a completed block is the block as written
  auto done = run_chunks(mini(), {"<|tool_call|>[{\"name\": \"f\"}]<|/tool_call|>"});
  REQUIRE(done.size() == 3);
  CHECK(done[2].text == "<|tool_call|>[{\"name\": \"f\"}]<|/tool_call|>");
}
