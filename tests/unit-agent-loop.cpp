// The agent loop against a scripted, text-level model double: tool dispatch, concurrency,
// timeouts, errors, limits, approval, cancellation, completion tokens, sessions.
#include <phial/agent/agent.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using phial::AgentMessage;
using phial::RunStop;
using phial::ToolResult;

namespace {

// What the scripted model says in one turn.
struct Say {
  Say(std::string c = {}, std::vector<phial::ToolCall> k = {}, std::string r = {})
      : content(std::move(c)), calls(std::move(k)), reasoning(std::move(r)) {}
  std::string content;
  std::vector<phial::ToolCall> calls;
  std::string reasoning;
  std::vector<std::string> malformed;
  std::chrono::milliseconds per_token{0};  // delay per streamed character (one "token")
};

phial::ToolCall call(std::string name, std::string_view args) {
  return phial::ToolCall{std::move(name), json::parse(args).as_object(), {}};
}

// Each streamed character is one token; a conversation's "tokens" are the characters of its
// messages, and a session "caches" the conversation it last saw when it is a prefix of the next.
class ScriptedModel : public phial::ChatModel {
 public:
  using Script = std::function<Say(const std::vector<AgentMessage>& history, std::size_t turn)>;
  explicit ScriptedModel(Script s) : script_(std::move(s)) {}

  class Session : public phial::ChatModelSession {
   public:
    explicit Session(ScriptedModel& m) : m_(m) {}
    phial::ModelTurn generate(const std::vector<AgentMessage>& history, const phial::TurnOptions& opts,
                              const phial::DeltaSink& on_delta, const std::atomic<bool>& stop) override {
      phial::ModelTurn t;
      std::size_t total = 0;
      for (const auto& m : history) total += m.content.size() + m.raw.size() + 1;
      t.prompt_tokens = total;
      t.prefilled_tokens = total - std::min(cached_, total);
      Say say = m_.script_(history, m_.turns_.fetch_add(1));
      m_.tools_offered_ = opts.tools.size();
      auto stream = [&](phial::DeltaKind kind, const std::string& text, std::string& into) {
        for (char c : text) {
          if (stop.load()) return false;
          if (t.tokens_generated >= opts.max_tokens) {
            t.finish = phial::ModelTurn::Finish::length;
            return false;
          }
          if (say.per_token.count()) std::this_thread::sleep_for(say.per_token);
          into.push_back(c);
          ++t.tokens_generated;
          on_delta(kind, std::string_view(&c, 1));
        }
        return true;
      };
      t.message.role = AgentMessage::Role::assistant;
      const bool whole = stream(phial::DeltaKind::reasoning, say.reasoning, t.message.reasoning) &&
                         stream(phial::DeltaKind::answer, say.content, t.message.content);
      if (stop.load()) t.finish = phial::ModelTurn::Finish::cancelled;
      if (whole && !stop.load()) {
        t.message.tool_calls = say.calls;
        t.malformed = say.malformed;
      }
      t.message.raw = t.message.content;
      cached_ = total + t.message.raw.size() + 1;
      return t;
    }
    std::size_t cached_tokens() const override { return cached_; }
    void reset() override { cached_ = 0; }

   private:
    ScriptedModel& m_;
    std::size_t cached_ = 0;
  };

  std::unique_ptr<phial::ChatModelSession> new_session() override { return std::make_unique<Session>(*this); }

  Script script_;
  std::atomic<std::size_t> turns_{0};
  std::atomic<std::size_t> tools_offered_{0};
};

// Calls `tool_turns` tools, one per turn, then answers with the last observation.
ScriptedModel::Script call_then_answer(std::vector<std::vector<phial::ToolCall>> turns) {
  return [turns](const std::vector<AgentMessage>& h, std::size_t i) {
    if (i < turns.size()) return Say{"", turns[i]};
    return Say{"answer: " + h.back().content};
  };
}

template <class F>
phial::RunResult run_sync(asio::io_context& io, phial::Agent& agent, phial::RunRequest req, F&& before_run = [] {}) {
  auto fut = agent.async_run(std::move(req), asio::use_future);
  before_run();
  io.run();
  io.restart();
  return fut.get();
}

phial::RunResult run_sync(asio::io_context& io, phial::Agent& agent, phial::RunRequest req) {
  return run_sync(io, agent, std::move(req), [] {});
}

}  // namespace

TEST_CASE("a final answer with no tool call ends the run; events stream in order (use_future)") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](auto&, std::size_t) { return Say{"Hello there", {}, "thinking"}; });
  phial::Agent agent(io.get_executor(), model);
  std::string answer, reasoning, kinds;
  auto r = run_sync(io, agent, phial::RunRequest("hi", [&](const phial::AgentEvent& e) {
                      if (auto* d = std::get_if<phial::AnswerDelta>(&e)) answer += d->text;
                      if (auto* d = std::get_if<phial::ReasoningDelta>(&e)) reasoning += d->text;
                      if (std::holds_alternative<phial::StepEvent>(e)) kinds += 'S';
                      if (std::holds_alternative<phial::FinalEvent>(e)) kinds += 'F';
                    }));
  CHECK(r.stop == RunStop::final_answer);
  CHECK(r.answer == "Hello there");
  CHECK(r.reasoning == "thinking");
  CHECK(answer == "Hello there");
  CHECK(reasoning == "thinking");
  CHECK(kinds == "SF");
  REQUIRE(r.steps.size() == 1);
  CHECK(r.steps[0].tokens_generated == std::string("thinkingHello there").size());
  auto& h = agent.session()->messages();
  REQUIRE(h.size() == 2);
  CHECK(h[0].role == AgentMessage::Role::user);
  CHECK(h[1].role == AgentMessage::Role::assistant);
}

TEST_CASE("tool results go back to the model and the loop continues (callback token)") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer({{call("add", R"({"a": 2, "b": 40})")}}));
  phial::AgentOptions opts;
  opts.system_prompt = "You add numbers.";
  phial::Agent agent(io.get_executor(), model, opts);
  agent.tools().add("add", "Adds two integers", {{"a", "first"}, {"b", "second"}}, [](int a, int b) { return a + b; });
  std::vector<std::string> seen;
  std::optional<phial::RunResult> result;
  std::thread::id handler_thread;
  agent.async_run(phial::RunRequest("What is 2 + 40?",
                                    [&](const phial::AgentEvent& e) {
                                      if (auto* c = std::get_if<phial::ToolCallEvent>(&e)) seen.push_back("call " + c->call.name);
                                      if (auto* t = std::get_if<phial::ToolResultEvent>(&e)) seen.push_back("result " + t->result.observation);
                                    }),
                  [&](std::exception_ptr e, phial::RunResult r) {
                    CHECK_FALSE(e);
                    handler_thread = std::this_thread::get_id();
                    result = std::move(r);
                  });
  io.run();
  REQUIRE(result);
  CHECK(handler_thread == std::this_thread::get_id());  // completed on the io_context's thread
  CHECK(result->answer == "answer: 42");
  CHECK(result->steps.size() == 2);
  CHECK(result->steps[0].results.at(0).ok());
  CHECK(result->steps[0].results.at(0).value == 42);
  CHECK(seen == std::vector<std::string>{"call add", "result 42"});
  const auto& h = agent.session()->messages();
  REQUIRE(h.size() == 5);  // system, user, assistant(call), tool, assistant
  CHECK(h[0].content == "You add numbers.");
  CHECK(h[3].role == AgentMessage::Role::tool);
  CHECK(h[3].tool_name == "add");
  CHECK(h[3].tool_call_id == h[2].tool_calls.at(0).id);
  CHECK(model->tools_offered_ == 1);
}

TEST_CASE("use_awaitable: the run is awaited inside a coroutine") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer({{call("echo", R"({"s": "x"})")}}));
  phial::Agent agent(io.get_executor(), model);
  agent.tools().add("echo", "", {{"s", ""}}, [](std::string s) -> asio::awaitable<std::string> { co_return s + s; });
  auto fut = asio::co_spawn(
      io, [&]() -> asio::awaitable<std::string> { co_return (co_await agent.async_run("go", asio::use_awaitable)).answer; },
      asio::use_future);
  io.run();
  CHECK(fut.get() == "answer: xx");
}

TEST_CASE("all calls of a step run concurrently; results keep call order") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer(
      {{call("slow", R"({"ms": 300, "tag": "a"})"), call("slow", R"({"ms": 300, "tag": "b"})"),
        call("wait", R"({"ms": 300})"), call("wait", R"({"ms": 300})")}}));
  phial::AgentOptions opts;
  opts.tool_threads = 2;
  phial::Agent agent(io.get_executor(), model, opts);
  agent.tools().add("slow", "", {{"ms", ""}, {"tag", ""}}, [](int ms, std::string tag) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return tag;
  });
  agent.tools().add("wait", "", {{"ms", ""}}, [](int ms) -> asio::awaitable<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await t.async_wait(asio::use_awaitable);
    co_return ms;
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_sync(io, agent, "go");
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed < 900ms);  // serial would be 1200 ms
  REQUIRE(r.steps.size() == 2);
  const auto& results = r.steps[0].results;
  REQUIRE(results.size() == 4);
  CHECK(results[0].value == "a");
  CHECK(results[1].value == "b");
  CHECK(results[2].value == 300);
  for (const auto& res : results) CHECK(res.ok());
}

TEST_CASE("per-tool timeouts become error observations, for blocking and coroutine tools") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(
      call_then_answer({{call("hang", "{}"), call("hang_async", "{}"), call("quick", "{}")}}));
  phial::Agent agent(io.get_executor(), model);
  agent.tools().add("hang", "", {}, [] { std::this_thread::sleep_for(400ms); return 1; }, {.timeout = 50ms});
  agent.tools().add("hang_async", "", {}, []() -> asio::awaitable<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, 10s);
    co_await t.async_wait(asio::use_awaitable);
    co_return 1;
  }, {.timeout = 50ms});
  agent.tools().add("quick", "", {}, [] { return 7; }, {.timeout = 2000ms});
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_sync(io, agent, "go");
  CHECK(std::chrono::steady_clock::now() - t0 < 350ms);  // did not wait for the hung tool
  const auto& res = r.steps.at(0).results;
  REQUIRE(res.size() == 3);
  CHECK(res[0].status == ToolResult::Status::timeout);
  CHECK(res[0].observation == "Error: hang did not finish within 50 ms");
  CHECK(res[1].status == ToolResult::Status::timeout);
  CHECK(res[2].ok());
  CHECK(r.stop == RunStop::final_answer);
}

TEST_CASE("throwing tools, unknown tools, invalid arguments and malformed calls are observations") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](const std::vector<AgentMessage>& h, std::size_t i) {
    if (i == 0) {
      Say s{"", {call("boom", "{}"), call("nope", "{}"), call("add", R"({"a": "two", "b": 1})")}};
      s.malformed = {"expected ',' or '}' at offset 12 in {\"name\": \"add\" \"arguments\""};
      return s;
    }
    std::string all;
    for (const auto& m : h)
      if (m.role == AgentMessage::Role::tool) all += m.content + "\n";
    return Say{all};
  });
  phial::Agent agent(io.get_executor(), model);
  agent.tools().add("boom", "", {}, []() -> int { throw std::runtime_error("disk on fire"); });
  agent.tools().add("boom_async", "", {}, []() -> asio::awaitable<int> {
    throw std::runtime_error("x");
    co_return 0;
  });
  agent.tools().add("add", "", {{"a", ""}, {"b", ""}}, [](int a, int b) { return a + b; });
  auto r = run_sync(io, agent, "go");
  CHECK(r.stop == RunStop::final_answer);
  const auto& res = r.steps.at(0).results;
  REQUIRE(res.size() == 4);
  CHECK(res[0].status == ToolResult::Status::malformed_call);
  CHECK(res[1].status == ToolResult::Status::error);
  CHECK(res[1].observation == "Error: boom failed: disk on fire");
  CHECK(res[2].status == ToolResult::Status::unknown_tool);
  CHECK(res[2].observation == "Error: there is no tool named \"nope\"; available tools: boom, boom_async, add");
  CHECK(res[3].status == ToolResult::Status::invalid_arguments);
  CHECK(res[3].observation == "Error: invalid arguments for add: $.a: expected integer, got string");
  CHECK(r.answer.find("disk on fire") != std::string::npos);  // the model saw the observations
  CHECK(r.answer.find("could not be parsed") != std::string::npos);
}

TEST_CASE("a coroutine tool that throws becomes an error observation too") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer({{call("boom", "{}")}}));
  phial::Agent agent(io.get_executor(), model);
  agent.tools().add("boom", "", {}, []() -> asio::awaitable<int> {
    throw std::runtime_error("async failure");
    co_return 0;
  });
  auto r = run_sync(io, agent, "go");
  CHECK(r.steps.at(0).results.at(0).observation == "Error: boom failed: async failure");
  CHECK(r.answer == "answer: Error: boom failed: async failure");
}

TEST_CASE("the step limit and the token budget stop a model that never stops calling tools") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](auto&, std::size_t) { return Say{"again", {call("ping", "{}")}}; });
  phial::AgentOptions opts;
  opts.max_steps = 3;
  phial::Agent agent(io.get_executor(), model, opts);
  int pings = 0;
  agent.tools().add("ping", "", {}, [&pings] { return ++pings; });
  auto r = run_sync(io, agent, "go");
  CHECK(r.stop == RunStop::max_steps);
  CHECK(r.steps.size() == 3);
  CHECK(pings == 3);
  CHECK(r.answer.empty());

  agent.options().max_steps = 100;
  agent.options().token_budget = 12;  // "again" is 5 tokens per turn: 5 + 5 + 2
  auto r2 = run_sync(io, agent, "go");
  CHECK(r2.stop == RunStop::max_tokens);
  CHECK(r2.tokens_generated == 12);
}

TEST_CASE("approval hook: synchronous and asynchronous, approve and deny") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(
      call_then_answer({{call("delete_file", R"({"path": "a.txt"})"), call("delete_file", R"({"path": "b.txt"})"),
                         call("read", "{}")}}));
  phial::Agent agent(io.get_executor(), model);
  std::vector<std::string> deleted;
  agent.tools().add("delete_file", "", {{"path", ""}}, [&](std::string p) { deleted.push_back(p); return true; },
                    {.needs_approval = true});
  agent.tools().add("read", "", {}, [] { return 1; });
  std::vector<std::string> asked;
  SECTION("synchronous") {
    agent.set_approval(std::function<bool(const phial::ToolCall&, const phial::Tool&)>(
        [&](const phial::ToolCall& c, const phial::Tool&) {
          asked.push_back(c.arguments.at("path").as_string().c_str());
          return c.arguments.at("path") == "a.txt";
        }));
  }
  SECTION("asynchronous") {
    agent.set_approval([&](const phial::ToolCall& c, const phial::Tool&) -> asio::awaitable<bool> {
      asio::steady_timer t(co_await asio::this_coro::executor, 5ms);
      co_await t.async_wait(asio::use_awaitable);
      asked.push_back(c.arguments.at("path").as_string().c_str());
      co_return c.arguments.at("path") == "a.txt";
    });
  }
  auto r = run_sync(io, agent, "go");
  std::sort(asked.begin(), asked.end());
  CHECK(asked == std::vector<std::string>{"a.txt", "b.txt"});  // "read" needs no approval
  CHECK(deleted == std::vector<std::string>{"a.txt"});
  const auto& res = r.steps.at(0).results;
  CHECK(res[0].ok());
  CHECK(res[1].status == ToolResult::Status::denied);
  CHECK(res[1].observation == "Error: the user did not approve this call of delete_file");
  CHECK(res[2].ok());
}

TEST_CASE("cancellation while the model generates stops the run promptly") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](auto&, std::size_t) {
    Say s{std::string(2000, 'x')};
    s.per_token = 1ms;  // 2 s if not cancelled
    return s;
  });
  phial::Agent agent(io.get_executor(), model);
  asio::cancellation_signal signal;
  std::size_t deltas = 0;
  auto type = GENERATE(asio::cancellation_type::terminal, asio::cancellation_type::partial, asio::cancellation_type::total);
  auto fut = agent.async_run(phial::RunRequest("go",
                                               [&](const phial::AgentEvent& e) {
                                                 if (std::holds_alternative<phial::AnswerDelta>(e) && ++deltas == 20)
                                                   signal.emit(type);
                                               }),
                             asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  const auto t0 = std::chrono::steady_clock::now();
  io.run();
  auto r = fut.get();
  CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);
  CHECK(r.stop == RunStop::cancelled);
  CHECK(r.steps.size() == 1);
  CHECK(r.steps[0].tokens_generated < 2000);
  // The partial turn is not in the history: the next run starts from the user message.
  CHECK(agent.session()->messages().back().role == AgentMessage::Role::user);
  CHECK_FALSE(agent.session()->busy());
}

TEST_CASE("cancellation while tools run cancels them and ends the run") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer({{call("wait", "{}"), call("block", "{}")}}));
  phial::Agent agent(io.get_executor(), model);
  std::atomic<bool> tool_cancelled{false};
  agent.tools().add("wait", "", {}, [&]() -> asio::awaitable<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, 10s);
    try {
      co_await t.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error&) {
      tool_cancelled = true;
      throw;
    }
    co_return 1;
  });
  agent.tools().add("block", "", {}, [] { std::this_thread::sleep_for(300ms); return 2; });
  asio::cancellation_signal signal;
  auto fut = agent.async_run(phial::RunRequest("go",
                                               [&](const phial::AgentEvent& e) {
                                                 if (std::holds_alternative<phial::ToolCallEvent>(e)) {
                                                   // emit once the calls are under way
                                                   asio::post(io, [&] { asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); }); });
                                                 }
                                               }),
                             asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  const auto t0 = std::chrono::steady_clock::now();
  io.run();
  auto r = fut.get();
  CHECK(std::chrono::steady_clock::now() - t0 < 250ms);
  CHECK(r.stop == RunStop::cancelled);
  CHECK(tool_cancelled);
  const auto& res = r.steps.at(0).results;
  REQUIRE(res.size() == 2);
  CHECK(res[0].status == ToolResult::Status::cancelled);
  CHECK(res[1].status == ToolResult::Status::cancelled);
}

TEST_CASE("one session runs one request at a time; sessions run concurrently") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](const std::vector<AgentMessage>& h, std::size_t) {
    Say s{"echo " + h.back().content};
    s.per_token = 1ms;
    return s;
  });
  phial::AgentOptions opts;
  opts.compute_threads = 2;
  phial::Agent agent(io.get_executor(), model, opts);
  auto s1 = agent.new_session();
  auto s2 = agent.new_session();
  auto f1 = agent.async_run(s1, "one", asio::use_future);
  auto f2 = agent.async_run(s2, "two", asio::use_future);
  auto f3 = agent.async_run(s1, "three", asio::use_future);  // s1 is busy
  io.run();
  CHECK(f1.get().answer == "echo one");
  CHECK(f2.get().answer == "echo two");
  CHECK_THROWS_AS(f3.get(), phial::InvalidArgument);
  CHECK(s1->messages().size() == 2);
  CHECK(s2->messages().size() == 2);
}

TEST_CASE("sessions save and restore their messages; reasoning of earlier runs is stripped") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>([](const std::vector<AgentMessage>& h, std::size_t) {
    return Say{"seen " + std::to_string(h.size()), {}, "hmm"};
  });
  phial::Agent agent(io.get_executor(), model);
  auto s = agent.new_session();
  auto f = agent.async_run(s, "first", asio::use_future);
  io.run();
  io.restart();
  CHECK(f.get().answer == "seen 1");
  CHECK(s->messages().back().reasoning == "hmm");
  const json::value saved = s->save();
  CHECK(saved.at("messages").as_array().size() == 2);
  CHECK(saved.at("messages").at(1).at("reasoning") == "hmm");

  auto restored = agent.new_session();
  restored->restore(json::parse(json::serialize(saved)));
  CHECK(restored->messages() == s->messages());
  auto f2 = agent.async_run(restored, "second", asio::use_future);
  io.run();
  CHECK(f2.get().answer == "seen 3");
  CHECK(restored->messages().at(1).reasoning.empty());  // stripped at the start of the next run
  CHECK(restored->messages().at(3).reasoning == "hmm");
  CHECK_THROWS_AS(restored->restore(json::parse(R"({"messages":[{"role":"wizard"}]})")), phial::InvalidArgument);
}

TEST_CASE("KV accounting: each turn prefills only what was appended") {
  asio::io_context io;
  auto model = std::make_shared<ScriptedModel>(call_then_answer({{call("n", "{}")}, {call("n", "{}")}}));
  phial::Agent agent(io.get_executor(), model);
  agent.tools().add("n", "", {}, [] { return 5; });
  auto r = run_sync(io, agent, "go");
  REQUIRE(r.steps.size() == 3);
  CHECK(r.steps[0].prefilled_tokens == r.steps[0].prompt_tokens);  // first turn: everything
  for (std::size_t i = 1; i < 3; ++i) CHECK(r.steps[i].prefilled_tokens < r.steps[i].prompt_tokens);
  CHECK(agent.session()->turn_stats().size() == 3);
}
