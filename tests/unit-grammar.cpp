// JSON Schema -> byte grammar -> token masks: accept/reject tables, masks against brute force,
// and random walks under the mask that must always produce JSON that parses and validates.
#include <phial/sample/json_schema.hpp>

#include <catch2/catch.hpp>
#include <support/json_subset_validator.hpp>

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace json = boost::json;
using phial::Grammar;
using phial::GrammarState;

namespace {

using phial::test::validate;

bool accepts_all(const Grammar& g, std::string_view text) {
  auto st = g.start();
  return st.advance(text) && st.can_end();
}

// ---- a small vocabulary: every printable ASCII byte, some UTF-8, and JSON-ish multi-byte tokens ----
// (Like o200k, it can finish every UTF-8 sequence it can start: lone lead and continuation bytes.)
std::vector<std::string> small_vocab() {
  std::vector<std::string> v;
  for (int c = 0x20; c < 0x7F; ++c) v.emplace_back(1, static_cast<char>(c));
  for (const char* t : {"\"", "\",", "\"}", "\"]", "\":", "\": ", "\", \"", "{\"", "[{\"", "}]", "}}", "}, {",
                        "name", "arguments", "\"name\": \"", "\"arguments\": {", "true", "false", "null", "nul",
                        "12", "345", "-1", "0.", "e+", "1e", "2024", "-01", "-12-", "T09", ":30", ":00Z", "+02:00",
                        "\\n", "\\u00e9", "\\ud83d", "\\", "é", "日本", "\xF0\x9F\x98\x80", "\xE6", "\x97\xA5", "\xC3", "\xA9", "\x80",
                        "\n", "\t", "  ", " \"", "red", "green", "blue\"", "\"red\"", "title", "start", "attendees",
                        "get_weather", "\"get_weather\"", "city", "\"city\": \"", "Paris", "daily", "weekly"})
    v.emplace_back(t);
  v.emplace_back("<|tool_call|>");   // specials: their bytes are display text only
  v.emplace_back("<|/tool_call|>");
  v.emplace_back("<|end|>");
  v.emplace_back("");                // a hole
  return v;
}

const std::vector<std::int32_t>& small_specials() {
  static const std::vector<std::int32_t> s{static_cast<std::int32_t>(small_vocab().size()) - 4,
                                           static_cast<std::int32_t>(small_vocab().size()) - 3,
                                           static_cast<std::int32_t>(small_vocab().size()) - 2};
  return s;
}

const char* kEventSchema = R"({
  "type": "object",
  "properties": {
    "title": {"type": "string"},
    "start": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "duration_minutes": {"type": "integer"},
    "priority": {"enum": ["low", "normal", "high"]},
    "attendees": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    "location": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "reminder": {"type": "object", "properties": {"minutes": {"type": "number"}, "sound": {"type": "boolean"}},
                 "required": ["minutes"]},
    "recurrence": {"type": ["string", "null"], "enum": ["daily", "weekly", null]},
    "meta": {"type": "object"},
    "extra": {}
  },
  "required": ["title", "start", "duration_minutes"]
})";

}  // namespace

TEST_CASE("schema compile: accept and reject whole documents") {
  struct Case {
    const char* schema;
    std::vector<const char*> good, bad;
  };
  const std::vector<Case> cases = {
      {R"({"type":"string"})", {R"("")", R"("abc")", R"("a\"b\\c\n\u00e9")", "\"日本\"", R"("\/")"},
       {R"(abc)", R"("a)", "\"a\x01\"", R"("\x")", R"("\ud800")", "\"\xC3\x28\"", "\"\xED\xA0\x80\"", "\"\xC0\xAF\""}},
      {R"({"type":"integer"})", {"0", "-7", "123456789012345"}, {"01", "1.5", "1e3", "-", "1234567890123456", "+1"}},
      {R"({"type":"number"})", {"0", "-0.5", "1e10", "2.5E-3", "12.0"}, {".5", "1.", "1e", "00", "1e1234"}},
      {R"({"type":"boolean"})", {"true", "false"}, {"True", "tru", "null"}},
      {R"({"type":"null"})", {"null"}, {"nul", "none"}},
      {R"({"enum":["a","ab",1,null,{"x":1}]})", {R"("a")", R"("ab")", "1", "null", R"({"x":1})"},
       {R"("b")", "2", R"({"x": 1})", R"("a" )"}},
      {R"({"const":"fixed"})", {R"("fixed")"}, {R"("fix")", R"("fixed2")"}},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})", {"[1]", "[1,2]", "[1, 2]"},
       {"[]", "[1,2,3]", "[1,,2]", "[1,  2]", "[ 1]"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["b"]})",
       {R"({"b":"x"})", R"({"a":1,"b":"x"})", R"({"a": 1, "b": "x"})"},
       {R"({})", R"({"a":1})", R"({"b":"x","a":1})", R"({"c":1,"b":"x"})", R"({"b" :"x"})", R"({ "b":"x"})"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"}}})", {"{}", R"({"a":5})"}, {R"({"a":5,})"}},
      {R"({"type":"object"})", {"{}", R"({"k": [1, {"z": null}], "j": "s"})"}, {"{k:1}", "[]"}},
      {R"({"type":"object","additionalProperties":false})", {"{}"}, {R"({"k":1})"}},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]})", {R"("s")", "12", "null"}, {"true", "1.5"}},
      {R"({"type":["number","integer","null"]})", {"1.5", "2", "null"}, {R"("2")"}},
      {R"({"type":"string","format":"date"})", {R"("2024-02-29")", R"("1999-12-31")"},
       {R"("2024-13-01")", R"("2024-00-10")", R"("2024-01-32")", R"("2024-1-01")", R"("24-01-01")"}},
      {R"({"type":"string","format":"date-time"})", {R"("2024-05-01T09:30:00Z")", R"("2024-05-01T23:59:59+02:00")"},
       {R"("2024-05-01T24:00:00Z")", R"("2024-05-01 09:30:00Z")", R"("2024-05-01T09:30:00")", R"("2024-05-01T09:30:00Z+")"}},
      {"true", {"1", R"({"a":[true]})", R"("x")"}, {"tru", "{"}},
  };
  for (const auto& c : cases) {
    INFO("schema " << c.schema);
    const Grammar g = phial::json_schema_grammar(std::string_view(c.schema));
    for (const char* s : c.good) {
      INFO("good " << s);
      CHECK(accepts_all(g, s));
    }
    for (const char* s : c.bad) {
      INFO("bad " << s);
      CHECK_FALSE(accepts_all(g, s));
    }
  }
}

TEST_CASE("state API: accepts does not change the state, advance is all-or-nothing") {
  const Grammar g = phial::json_schema_grammar(std::string_view(R"({"type":"integer"})"));
  auto st = g.start();
  CHECK(st.accepts("12"));
  CHECK_FALSE(st.can_end());
  CHECK(st.advance("12"));
  CHECK(st.can_end());
  CHECK_FALSE(st.is_complete());  // a number can always go on
  CHECK_FALSE(st.advance("3x"));
  CHECK(st.advance("3"));  // "3x" left nothing behind
  CHECK_FALSE(st.accepts(" "));
  const Grammar o = phial::json_schema_grammar(std::string_view(R"({"type":"string"})"));
  auto so = o.start();
  CHECK(so.advance("\"hi\""));
  CHECK(so.is_complete());
  CHECK_FALSE(so.accepts("x"));
}

TEST_CASE("unsupported schemas fail with GrammarError naming the place") {
  using phial::GrammarError;
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"$ref":"#/x"})")), GrammarError);
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"anyOf":[{"type":"object","properties":{"a":{}}},{"type":"object","properties":{"b":{}}}]})")), GrammarError);
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"type":"object","properties":{},"required":["x"]})")), GrammarError);
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"type":"strin"})")), GrammarError);
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"type":)")), GrammarError);
  CHECK_THROWS_WITH(phial::json_schema_grammar(std::string_view(R"({"properties":{"a":{"type":"int"}}})")),
                    Catch::Contains("#/properties/a"));
  phial::SchemaOptions strict;
  strict.strict = true;
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(R"({"type":"string","maxLength":3})"), strict), GrammarError);
  CHECK_NOTHROW(phial::json_schema_grammar(std::string_view(R"({"type":"string","maxLength":3})")));
}

TEST_CASE("compiled grammars are cached by schema text") {
  const char* s = R"({"type":"array","items":{"type":"boolean"}})";
  CHECK(phial::json_schema_grammar(std::string_view(s)).program() == phial::json_schema_grammar(std::string_view(s)).program());
}

TEST_CASE("tool-call grammar: special-token wrappers, names, per-tool arguments") {
  const auto vocab_bytes = small_vocab();
  phial::VocabIndex vocab(vocab_bytes, small_specials());
  const std::int32_t open = small_specials()[0], close = small_specials()[1], end = small_specials()[2];
  phial::ToolCallFormat fmt{{open, "<|tool_call|>"}, {close, "<|/tool_call|>"}, true, 2};
  std::vector<phial::ToolSchema> tools{
      {"get_weather", json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})")},
      {"get_time", json::value()}};
  const Grammar g = phial::tool_call_grammar(tools, fmt);
  auto st = g.start();
  CHECK_FALSE(st.accepts("["));
  CHECK_FALSE(st.accepts_special(end));
  CHECK(st.advance_special(open));
  CHECK(st.advance(R"([{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name":"get_time","arguments":{}}])"));
  CHECK_FALSE(st.is_complete());
  CHECK(st.accepts_special(close));
  CHECK(st.accepts_token(close, vocab));
  CHECK_FALSE(st.accepts_token(end, vocab));
  CHECK(st.advance_special(close));
  CHECK(st.is_complete());

  auto bad = g.start();
  CHECK(bad.advance_special(open));
  CHECK_FALSE(bad.accepts(R"([{"name": "get_time", "arguments": {"city": "Paris"}}])"));
  CHECK_FALSE(bad.accepts(R"([{"name": "nope")"));
  CHECK_FALSE(bad.accepts(R"([{"name": "get_weather", "arguments": {}}])"));
  CHECK_FALSE(bad.accepts(R"([{"arguments": {}, "name": "get_time"}])"));
  // max_calls = 2
  CHECK_FALSE(bad.accepts(R"([{"name":"get_time","arguments":{}},{"name":"get_time","arguments":{}},{)"));
  // The text wrapper convention.
  const Grammar t = phial::tool_call_grammar(tools, phial::ToolCallFormat::text_tags());
  CHECK(accepts_all(t, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"));
  CHECK_FALSE(accepts_all(t, "<tool_call>\n[{\"name\": \"get_time\", \"arguments\": {}}]\n</tool_call>"));
  CHECK_THROWS_AS(phial::tool_call_grammar(std::vector<phial::ToolSchema>{{"a", {}}, {"a", {}}}, fmt), phial::GrammarError);
}

TEST_CASE("token masks equal brute force over a small vocabulary, along random walks") {
  const auto vocab_bytes = small_vocab();
  phial::VocabIndex vocab(vocab_bytes, small_specials());
  phial::TokenMasker masker(vocab);
  const std::int32_t open = small_specials()[0], close = small_specials()[1];
  std::vector<phial::ToolSchema> tools{{"get_weather", json::parse(kEventSchema)}};
  const std::vector<Grammar> grammars{
      phial::json_schema_grammar(std::string_view(kEventSchema)),
      phial::json_schema_grammar(std::string_view(R"({"type":"array","items":{"type":"number"}})")),
      phial::json_schema_grammar(std::string_view("{}")),
      phial::tool_call_grammar(tools, phial::ToolCallFormat{{open, ""}, {close, ""}, true, -1}),
  };
  phial::Rng rng(11);
  phial::TokenMask mask;
  int checked_states = 0;
  for (const auto& g : grammars) {
    for (int walk = 0; walk < 20; ++walk) {
      auto st = g.start();
      for (int step = 0; step < 40 && !st.is_complete(); ++step) {
        masker.compute(st, mask);
        std::vector<std::int32_t> allowed;
        for (std::int32_t id = 0; id < vocab.size(); ++id) {
          const bool brute = st.accepts_token(id, vocab);
          REQUIRE(mask.test(id) == brute);
          if (brute) allowed.push_back(id);
        }
        ++checked_states;
        if (allowed.empty()) break;
        REQUIRE(st.advance_token(allowed[rng.below(allowed.size())], vocab));
      }
    }
  }
  CHECK(checked_states > 1000);
}

TEST_CASE("random walks under the mask always give JSON that parses and validates") {
  const auto vocab_bytes = small_vocab();
  phial::VocabIndex vocab(vocab_bytes, small_specials());
  phial::TokenMasker masker(vocab);
  const std::vector<const char*> schemas{
      kEventSchema,
      R"({"type":"array","items":{"type":"object","properties":{"x":{"type":"integer"},"y":{"enum":["red","green"]}},"required":["y"]},"maxItems":4})",
      R"({"anyOf":[{"type":"string","format":"date"},{"type":"number"},{"type":"boolean"},{"type":"null"}]})",
      R"({"type":"object","properties":{"deep":{"type":"object","properties":{"deeper":{"type":"array","items":{"type":"array","items":{"type":"string"}}}},"required":["deeper"]}},"required":["deep"]})",
      "{}",
  };
  phial::Rng rng(2024);
  phial::TokenMask mask;
  int documents = 0;
  for (const char* text : schemas) {
    const auto schema = json::parse(text);
    const Grammar g = phial::json_schema_grammar(schema);
    for (int walk = 0; walk < 60; ++walk) {
      auto st = g.start();
      std::string out;
      const int patience = static_cast<int>(rng.below(40));  // then prefer closing tokens
      for (int step = 0; step < 2000; ++step) {
        if (st.is_complete() || (step > patience && st.can_end())) break;
        masker.compute(st, mask);
        std::vector<std::int32_t> allowed, closing;
        for (std::int32_t id = 0; id < vocab.size(); ++id) {
          if (!mask.test(id)) continue;
          allowed.push_back(id);
          const auto b = vocab.token_bytes(id);
          if (b.find_first_of("\"}]") != std::string_view::npos || b == "null" || b == "0") closing.push_back(id);
        }
        INFO("schema " << text << "\noutput so far " << out);
        if (allowed.empty() && st.can_end()) break;  // e.g. a top-level number at its digit limit
        REQUIRE_FALSE(allowed.empty());
        const auto& pool = (step > patience && !closing.empty()) ? closing : allowed;
        const auto id = pool[rng.below(pool.size())];
        REQUIRE(st.advance_token(id, vocab));
        out += vocab.token_bytes(id);
      }
      INFO("schema " << text << "\noutput " << out);
      REQUIRE(st.can_end());
      json::value v;
      REQUIRE_NOTHROW(v = json::parse(out));
      CHECK(validate(v, schema));
      ++documents;
    }
  }
  CHECK(documents == 300);
}

TEST_CASE("the inside-a-string fast path agrees with the plain trie walk") {
  // Same vocabulary; masks computed from states inside strings must match brute force (this
  // exercises the precomputed per-lexer-state tables, including mid-escape and mid-UTF-8 states).
  const auto vocab_bytes = small_vocab();
  phial::VocabIndex vocab(vocab_bytes, small_specials());
  phial::TokenMasker masker(vocab);
  const Grammar g = phial::json_schema_grammar(std::string_view(R"({"type":"object","properties":{"s":{"type":"string"},"n":{"type":"integer"}}})"));
  for (const char* prefix : {R"({"s":")", R"({"s":"ab\)", R"({"s":"\u0)", R"({"s":"\uD)", "{\"s\":\"\xE6", "{\"s\":\"\xF0\x9F", "{\"s\":\"\xED"}) {
    auto st = g.start();
    REQUIRE(st.advance(prefix));
    phial::TokenMask mask;
    masker.compute(st, mask);
    for (std::int32_t id = 0; id < vocab.size(); ++id) {
      INFO("prefix " << prefix << " token " << id << " '" << vocab.token_bytes(id) << "'");
      CHECK(mask.test(id) == st.accepts_token(id, vocab));
    }
  }
}

TEST_CASE("malformed schemas raise GrammarError; random bytes never break a state") {
  for (const char* bad : {R"({"type":5})", R"({"properties":[]})", R"({"enum":[]})", R"({"type":"array","items":3})",
                          R"({"type":"array","minItems":3,"maxItems":1})", R"({"type":"array","minItems":-1})",
                          R"({"anyOf":{}})", R"({"type":[]})", R"({"type":["string",1]})", "false", "3", "[]",
                          R"({"type":"object","properties":{"a":{}},"required":"a"})"}) {
    INFO(bad);
    CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(bad)), phial::GrammarError);
  }
  std::string deep = R"({"type":"string"})";
  for (int i = 0; i < 30; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  CHECK_THROWS_AS(phial::json_schema_grammar(std::string_view(deep)), phial::GrammarError);

  // Deeply nested free values are cut off before the stack is full, and nothing crashes.
  const Grammar any = phial::json_schema_grammar(std::string_view("{}"));
  auto st = any.start();
  int depth = 0;
  while (st.advance("[")) ++depth;
  CHECK(depth > 10);
  CHECK(depth < phial::detail::kMaxDepth);

  phial::Rng rng(3);
  const std::vector<Grammar> grammars{any, phial::json_schema_grammar(std::string_view(kEventSchema))};
  for (const auto& g : grammars) {
    for (int walk = 0; walk < 2000; ++walk) {
      auto s = g.start();
      const std::size_t len = 1 + rng.below(12);
      std::string bytes;
      for (std::size_t i = 0; i < len; ++i) bytes.push_back(static_cast<char>(rng.below(256)));
      if (rng.below(2)) bytes = "{\"" + bytes;
      const bool ok = s.accepts(bytes);
      CHECK(ok == s.advance(bytes));
      (void)s.is_complete();
      (void)s.can_end();
    }
  }
}
