// Prompt rendering: the official chat templates byte for byte (golden renderings made with Jinja2,
// tests/data/templates/golden-public.jsonl), Jinja's behaviour on odd input, phial's tool
// conventions, and the append-only property of PromptBuilder.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <phial/chat/prompt.hpp>

#include <catch2/catch.hpp>

namespace {

std::string data_path(const std::string& name) { return std::string(PHIAL_TEST_DATA_DIR) + "/templates/" + name; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<boost::json::object> golden_cases() {
  std::vector<boost::json::object> cases;
  std::istringstream in(read_file(data_path("golden-public.jsonl")));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) cases.push_back(boost::json::parse(line).as_object());
  return cases;
}

phial::ChatFormat format_of(const boost::json::object& c) {
  auto f = phial::parse_chat_format(std::string_view(c.at("template").as_string()));
  REQUIRE(f.has_value());
  return *f;
}

// A golden message as a typed ChatMessage (only possible for string roles/contents).
phial::ChatMessage typed(const boost::json::value& v) {
  const auto& o = v.as_object();
  phial::ChatMessage m(std::string(o.at("role").as_string()), std::string(o.at("content").as_string()));
  if (auto* t = o.if_contains("tools"); t && t->is_string()) m.tools = std::string(t->get_string());
  return m;
}

boost::json::array slice(const boost::json::array& a, std::size_t n) {
  boost::json::array out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(a[i]);
  return out;
}

}  // namespace

TEST_CASE("every public golden case renders byte-exact") {
  auto cases = golden_cases();
  REQUIRE(cases.size() == 60);
  int per_format[5] = {};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    auto f = format_of(c);
    per_format[static_cast<int>(f)]++;
    INFO("case " << i << " template " << c.at("template").as_string());
    std::string got = phial::render_template_json(f, c.at("messages").as_array(), c.at("add_generation_prompt").as_bool());
    CHECK(got == std::string(c.at("expected").as_string()));
  }
  for (int n : per_format) CHECK(n > 0);  // every family is covered
}

TEST_CASE("the typed API renders the golden cases identically") {
  for (const auto& c : golden_cases()) {
    auto f = format_of(c);
    std::vector<phial::ChatMessage> msgs;
    for (auto& m : c.at("messages").as_array()) msgs.push_back(typed(m));
    INFO(boost::json::serialize(c));
    CHECK(phial::render_prompt(f, msgs, c.at("add_generation_prompt").as_bool()) == std::string(c.at("expected").as_string()));
  }
}

TEST_CASE("PromptBuilder text only grows, and equals the template's rendering at every turn") {
  for (const auto& c : golden_cases()) {
    auto f = format_of(c);
    const auto& msgs = c.at("messages").as_array();
    phial::PromptBuilder pb(f);
    std::string previous;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      auto m = typed(msgs[i]);
      INFO("case " << boost::json::serialize(c) << " message " << i);
      if (m.role == "assistant" && pb.generating()) {
        // the model's reply closes the open turn
        pb.append_generated(m.content);
      } else if (m.role == "assistant" || !pb.generating()) {
        pb.append(m);
      } else {
        continue;  // a non-assistant message right after a generation prompt: not a real agent turn
      }
      CHECK(pb.text().compare(0, previous.size(), previous) == 0);
      previous = pb.text();
      // After a user (or tool) turn the agent asks for a reply: the prompt with the header open
      // must be what the template renders with add_generation_prompt=true.
      if (m.role != "assistant" && i + 1 < msgs.size() && std::string_view(msgs[i + 1].as_object().at("role").as_string()) == "assistant") {
        pb.add_generation_prompt();
        CHECK(pb.text() == phial::render_template_json(f, slice(msgs, i + 1), true));
        CHECK(pb.text().compare(0, previous.size(), previous) == 0);
        previous = pb.text();
      }
    }
    // Whatever happened, the builder's text plus the header is the template's rendering with
    // add_generation_prompt=true, unless the header was left open (then it already ends with it).
    if (!pb.generating()) CHECK(pb.generation_prompt() == phial::render_template_json(f, msgs, true));
  }
}

TEST_CASE("turn N's prompt is a prefix of turn N+1's in a tool loop, for every format") {
  using phial::ChatFormat;
  std::vector<phial::ToolSpec> tools = {phial::ToolSpec::parse(
      R"({"type":"function","function":{"name":"get_weather","description":"Weather for a city.",
          "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}})")};
  for (auto f : {ChatFormat::phi4, ChatFormat::phi4_dec2024, ChatFormat::phi4_reasoning, ChatFormat::phi4_mini, ChatFormat::phi35_mini}) {
    INFO(phial::chat_format_name(f));
    phial::PromptBuilder pb(f, tools);
    std::vector<std::string> prompts;
    pb.append({"system", "Be brief."});
    pb.append({"user", "Weather in Paris and Oslo?"});
    pb.add_generation_prompt();
    prompts.push_back(pb.text());
    phial::ChatMessage call("assistant", "");
    call.tool_calls.push_back({"get_weather", boost::json::object{{"city", "Paris"}}, ""});
    pb.append(call);  // closes the open turn
    pb.append({"tool", R"({"temp_c": 11})"});
    pb.add_generation_prompt();
    prompts.push_back(pb.text());
    pb.append_generated("It is 11 °C in Paris.");
    pb.append({"user", "Thanks!"});
    pb.add_generation_prompt();
    prompts.push_back(pb.text());
    for (std::size_t i = 0; i + 1 < prompts.size(); ++i) CHECK(prompts[i + 1].compare(0, prompts[i].size(), prompts[i]) == 0);
    // No eos anywhere: the next turn would have to remove it.
    CHECK(pb.text().find("<|endoftext|>") == std::string::npos);
    // And the whole conversation rendered at once (with the generation prompt) is the same text.
    std::vector<phial::ChatMessage> all = {{"system", "Be brief."}, {"user", "Weather in Paris and Oslo?"}, call,
                                           {"tool", R"({"temp_c": 11})"}, {"assistant", "It is 11 °C in Paris."}, {"user", "Thanks!"}};
    CHECK(phial::render_prompt(f, all, true, tools) == pb.text());
  }
}

TEST_CASE("tools are rendered per family") {
  std::vector<phial::ToolSpec> tools = {phial::ToolSpec::parse(
      R"({"type":"function","function":{"name":"create_event","description":"Create a calendar event.",
          "parameters":{"type":"object","properties":{
             "title":{"type":"string","description":"Short title"},
             "minutes":{"type":"integer","description":"Length","default":30},
             "tags":{"type":"array","description":"Labels"}},"required":["title"]}}})")};
  SECTION("Phi-4-mini: compact Microsoft style on the system message, calls and results native") {
    // Expected text written by hand from the model card's example format.
    const std::string tools_text =
        R"([{"name": "create_event", "description": "Create a calendar event.", "parameters": {"title": {"description": "Short title", "type": "str"}, )"
        R"("minutes": {"description": "Length", "type": "int", "default": 30}, "tags": {"description": "Labels", "type": "list", "default": null}}}])";
    CHECK(phial::phi4_mini_tools_string(tools) == tools_text);
    phial::ChatMessage call("assistant", "");
    call.tool_calls.push_back({"create_event", boost::json::object{{"title", "Standup"}}, ""});
    std::vector<phial::ChatMessage> msgs = {{"system", "Hi."}, {"user", "Book it"}, call, {"tool", R"({"ok": true})"}};
    CHECK(phial::render_prompt(phial::ChatFormat::phi4_mini, msgs, true, tools) ==
          "<|system|>Hi.<|tool|>" + tools_text + "<|/tool|><|end|><|user|>Book it<|end|>"
          R"(<|assistant|><|tool_call|>[{"name": "create_event", "arguments": {"title": "Standup"}}]<|/tool_call|><|end|>)"
          R"(<|tool|>{"ok": true}<|end|><|assistant|>)");
    // No system message: the tools get an empty one (a shape the golden set covers).
    std::vector<phial::ChatMessage> only_user = {{"user", "Book it"}};
    CHECK(phial::render_prompt(phial::ChatFormat::phi4_mini, only_user, true, tools) ==
          "<|system|><|tool|>" + tools_text + "<|/tool|><|end|><|user|>Book it<|end|><|assistant|>");
  }
  SECTION("Phi-4: text convention in the system message; results as user turns") {
    phial::ChatMessage call("assistant", "Let me check.");
    call.tool_calls.push_back({"create_event", boost::json::object{{"title", "Standup"}}, ""});
    std::vector<phial::ChatMessage> msgs = {{"system", "Hi."}, {"user", "Book it"}, call, {"tool", "done"}};
    std::string p = phial::render_prompt(phial::ChatFormat::phi4, msgs, true, tools);
    CHECK(p.rfind("<|im_start|>system<|im_sep|>Hi.\n\n# Tools\n\n", 0) == 0);
    CHECK(p.find(R"({"type": "function", "function": {"name": "create_event")") != std::string::npos);
    CHECK(p.find("<|im_start|>assistant<|im_sep|>Let me check.\n<tool_call>\n"
                 R"({"name": "create_event", "arguments": {"title": "Standup"}})"
                 "\n</tool_call><|im_end|><|im_start|>user<|im_sep|><tool_response>\ndone\n</tool_response><|im_end|>"
                 "<|im_start|>assistant<|im_sep|>") != std::string::npos);
  }
  SECTION("Phi-4-reasoning: the fixed system prompt stays; tools arrive in a user turn") {
    std::vector<phial::ChatMessage> msgs = {{"system", "Hi."}, {"user", "Book it"}};
    std::string p = phial::render_prompt(phial::ChatFormat::phi4_reasoning, msgs, true, tools);
    std::string head = "<|im_start|>system<|im_sep|>" + std::string(phial::phi4_reasoning_system_prompt) +
                       "<|im_end|><|im_start|>user<|im_sep|>Hi.\n\n# Tools";
    CHECK(p.rfind(head, 0) == 0);
    // without tools the caller's system message is dropped, as the template does
    CHECK(phial::render_prompt(phial::ChatFormat::phi4_reasoning, msgs, true) ==
          "<|im_start|>system<|im_sep|>" + std::string(phial::phi4_reasoning_system_prompt) +
              "<|im_end|><|im_start|>user<|im_sep|>Book it<|im_end|><|im_start|>assistant<|im_sep|>");
  }
}

TEST_CASE("Jinja semantics on odd input") {
  using phial::ChatFormat;
  auto render = [](ChatFormat f, const char* json, bool gen = true) {
    return phial::render_template_json(f, boost::json::parse(json).as_array(), gen);
  };
  // dropped roles never read their content
  CHECK(render(ChatFormat::phi4, R"([{"role":"tool"},{"role":"user","content":"x"},{"content":5}])") ==
        "<|im_start|>user<|im_sep|>x<|im_end|><|im_start|>assistant<|im_sep|>");
  CHECK(render(ChatFormat::phi4_reasoning, R"([{"role":"system","content":null}])") ==
        "<|im_start|>system<|im_sep|>" + std::string(phial::phi4_reasoning_system_prompt) + "<|im_end|><|im_start|>assistant<|im_sep|>");
  // rendered messages need a string content
  CHECK_THROWS_AS(render(ChatFormat::phi4, R"([{"role":"user","content":null}])"), phial::InvalidArgument);
  CHECK_THROWS_AS(render(ChatFormat::phi4, R"([{"role":"user"}])"), phial::InvalidArgument);
  CHECK_THROWS_AS(render(ChatFormat::phi4_dec2024, R"([{"role":"assistant","content":[{"type":"text","text":"a"}]}])"), phial::InvalidArgument);
  // Phi-4-mini renders any role and needs one
  CHECK(render(ChatFormat::phi4_mini, R"([{"role":"weird role","content":"x"}])", false) == "<|weird role|>x<|end|><|endoftext|>");
  CHECK_THROWS_AS(render(ChatFormat::phi4_mini, R"([{"content":"x"}])"), phial::InvalidArgument);
  CHECK_THROWS_AS(render(ChatFormat::phi4_mini, R"([{"role":"system","content":"x","tools":[]}])"), phial::InvalidArgument);
  CHECK(render(ChatFormat::phi4_mini, R"([{"role":"system","content":"x","tools":""}])") == "<|system|>x<|tool|><|/tool|><|end|><|assistant|>");
  CHECK(render(ChatFormat::phi4_mini, R"([{"role":"user","content":"x","tools":"[1]"}])") == "<|user|>x<|end|><|assistant|>");
  // Phi-3.5 drops a falsy system message without reading it further, keeps whitespace
  CHECK(render(ChatFormat::phi35_mini, R"([{"role":"system"},{"role":"system","content":null},{"role":"system","content":" "}])") ==
        "<|system|>\n <|end|>\n<|assistant|>\n");
  CHECK_THROWS_AS(render(ChatFormat::phi35_mini, R"([{"role":"system","content":7}])"), phial::InvalidArgument);
  // Dec-2024 ignores add_generation_prompt
  CHECK(render(ChatFormat::phi4_dec2024, R"([{"role":"user","content":"q"}])", false) ==
        "<|im_start|>user<|im_sep|>q<|im_end|><|im_start|>assistant<|im_sep|>");
  // non-object messages are all-undefined
  CHECK(render(ChatFormat::phi4, R"(["user", 3, null])") == "<|im_start|>assistant<|im_sep|>");
}

TEST_CASE("the format is chosen from the chat template, the variant, the family") {
  using phial::ChatFormat;
  phial::ModelConfig c;
  const std::pair<const char*, ChatFormat> files[] = {{"phi-4.jinja", ChatFormat::phi4},
                                                      {"phi-4-dec2024.jinja", ChatFormat::phi4_dec2024},
                                                      {"phi-4-reasoning.jinja", ChatFormat::phi4_reasoning},
                                                      {"phi-4-mini.jinja", ChatFormat::phi4_mini},
                                                      {"phi-3.5-mini.jinja", ChatFormat::phi35_mini}};
  for (auto& [file, expected] : files) {
    c.chat_template = read_file(data_path(file));
    INFO(file);
    CHECK(phial::choose_chat_format(c) == expected);
  }
  // the JSON-escaped form of the Phi-3.5 template (as in tokenizer_config.json)
  c.chat_template = R"({% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %})";
  CHECK(phial::choose_chat_format(c) == ChatFormat::phi35_mini);
  c.chat_template.clear();
  c.variant = phial::Variant::phi4_reasoning;
  CHECK(phial::choose_chat_format(c) == ChatFormat::phi4_reasoning);
  c.variant = phial::Variant::unknown;
  c.family = phial::Family::phi4_mini;
  CHECK(phial::choose_chat_format(c) == ChatFormat::phi4_mini);
  c.family = phial::Family::unknown;
  c.name = "Phi-4-reasoning-plus";
  CHECK(phial::choose_chat_format(c) == ChatFormat::phi4_reasoning);
  c.name = "llama";
  CHECK_THROWS_AS(phial::choose_chat_format(c), phial::UnsupportedModelError);
  for (auto f : {ChatFormat::phi4, ChatFormat::phi4_dec2024, ChatFormat::phi4_reasoning, ChatFormat::phi4_mini, ChatFormat::phi35_mini})
    CHECK(phial::parse_chat_format(phial::chat_format_name(f)) == f);
}

TEST_CASE("JSON is written as Python's json.dumps writes it") {
  auto py = [](const char* json) { return phial::python_json(boost::json::parse(json)); };
  // Expected strings are what CPython 3 prints for json.dumps(json.loads(x), ensure_ascii=False).
  CHECK(py(R"({"a":[1,2.5,true,null],"b":{"c":"d\"e\n\u0001"}})") == R"({"a": [1, 2.5, true, null], "b": {"c": "d\"e\n\u0001"}})");
  CHECK(py("[1.0, 100.0, 1e16, 1.5e-5, 0.0001, 123456789012345.6, -0.5, 1e300]") ==
        "[1.0, 100.0, 1e+16, 1.5e-05, 0.0001, 123456789012345.6, -0.5, 1e+300]");
  CHECK(py(R"(["東京 🌍"])") == R"(["東京 🌍"])");
}

#include <phial/tokenizer/tokenizer.hpp>

TEST_CASE("turn N's tokens are a prefix of turn N+1's (Phi-4 and Phi-4-mini vocabularies)") {
  using phial::ChatFormat;
  const std::string dir = std::string(PHIAL_TEST_DATA_DIR) + "/tokenizer/";
  const auto phi4_tok = phial::Tokenizer::from_tiktoken(dir + "cl100k_base.tiktoken.gz", phial::Family::phi4);
  const auto mini_tok = phial::Tokenizer::from_tiktoken(dir + "o200k_base.tiktoken.gz", phial::Family::phi4_mini);
  std::vector<phial::ToolSpec> tools = {phial::ToolSpec::make(
      "get_weather", "Weather for a city.",
      boost::json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})").as_object())};
  for (auto f : {ChatFormat::phi4, ChatFormat::phi4_dec2024, ChatFormat::phi4_reasoning, ChatFormat::phi4_mini}) {
    INFO(phial::chat_format_name(f));
    const auto& tok = f == ChatFormat::phi4_mini ? mini_tok : phi4_tok;
    phial::PromptBuilder pb(f, tools);
    std::vector<std::string> prompts;
    pb.append({"system", "  You are helpful.\n"});
    pb.append({"user", " Hello  "});
    prompts.push_back(pb.generation_prompt());
    pb.add_generation_prompt();
    pb.append_generated("   I am an assistant   ");
    pb.append({"user", "\nWeather in Paris?\r\n"});
    pb.add_generation_prompt();
    prompts.push_back(pb.text());
    pb.append_generated(f == ChatFormat::phi4_mini ? R"(<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|>)"
                                                   : "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
    pb.append({"tool", R"({"temp_c": 11.5})"});
    pb.add_generation_prompt();
    prompts.push_back(pb.text());
    pb.append_generated("<think>easy</think> 11.5 °C");
    pb.append({"user", "日本語で?"});
    prompts.push_back(pb.generation_prompt());
    for (std::size_t i = 0; i + 1 < prompts.size(); ++i) {
      auto a = tok.encode_with_special(prompts[i]);
      auto b = tok.encode_with_special(prompts[i + 1]);
      INFO("turn " << i);
      REQUIRE(a.size() < b.size());
      CHECK(std::equal(a.begin(), a.end(), b.begin()));
    }
  }
}
