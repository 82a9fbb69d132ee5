// phial/agent/agent.hpp - the agent: an asynchronous Boost.Asio loop that runs a Phi-4 model,
// dispatches its tool calls to registered C++ tools and feeds the results back.
//
//   phial::Agent agent(io.get_executor(), model);
//   agent.tools().add("add", "Adds two integers", {{"a", "first"}, {"b", "second"}},
//                     [](int a, int b) { return a + b; });
//   agent.async_run("What is 2 + 40?", [](std::exception_ptr, phial::RunResult r) { ... });
//
// One run, smolagents-style: the user's message goes into the session's history, then
//   repeat: generate an assistant turn (streaming; constrained to the tools' schemas once a call starts)
//           no tool calls -> that is the final answer
//           otherwise run every call of the turn concurrently, append their results, go again
// until a final answer, the step limit, the token budget, or cancellation. Tool failures of every
// kind (unknown tool, malformed call, invalid arguments, exception, timeout, denied approval) become
// error observations the model reads; they never escape to the caller.
//
// Threading: the loop runs as a coroutine on a strand of the caller's executor (one per session),
// where every event handler, hook and the completion handler run. Model compute runs on the
// agent's compute thread(s); synchronous tools run on the agent's tool threads; results are posted
// back. Nothing blocks the caller's io_context. See docs/agent.md.
#pragma once
#include <phial/agent/chat_model.hpp>
#include <phial/agent/detail/offload.hpp>
#include <phial/agent/phi_chat_model.hpp>
#include <phial/agent/tool_registry.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace phial {

// ---- what a run produces ----

struct ToolResult {
  enum class Status { ok, unknown_tool, malformed_call, invalid_arguments, denied, error, timeout, cancelled };
  ToolCall call;
  Status status = Status::ok;
  boost::json::value value;  // the tool's result (status ok)
  std::string error;         // what went wrong (other statuses)
  std::string observation;   // the text the model reads next
  std::chrono::microseconds elapsed{0};
  bool ok() const { return status == Status::ok; }
};

// One model turn and the tool calls it made (smolagents' ActionStep).
struct ActionStep {
  std::size_t index = 0;  // 1-based within the run
  AgentMessage output;    // the assistant message: answer text, reasoning, calls
  std::vector<ToolResult> results;
  std::size_t tokens_generated = 0;
  std::size_t prompt_tokens = 0;     // conversation tokens before the turn's output
  std::size_t prefilled_tokens = 0;  // of which evaluated in this turn (the rest came from the KV cache)
  bool is_final() const { return results.empty(); }
};

enum class RunStop {
  final_answer,  // the model answered without calling tools
  max_steps,     // AgentOptions::max_steps model turns, still calling tools
  max_tokens,    // the run's token budget or a turn's token limit ran out
  cancelled,     // the run's cancellation slot was emitted
};

inline const char* run_stop_name(RunStop r) {
  switch (r) {
    case RunStop::final_answer: return "final_answer";
    case RunStop::max_steps: return "max_steps";
    case RunStop::max_tokens: return "max_tokens";
    case RunStop::cancelled: return "cancelled";
  }
  return "?";
}

struct RunResult {
  RunStop stop = RunStop::final_answer;
  std::string answer;     // the final answer's text (empty unless stop == final_answer)
  std::string reasoning;  // the final turn's reasoning trace, if any
  std::vector<ActionStep> steps;
  std::size_t tokens_generated = 0;
  std::size_t tokens_prefilled = 0;
};

// ---- events, streamed to RunRequest::on_event on the session's strand ----

struct ReasoningDelta { std::string text; };
struct AnswerDelta { std::string text; };
struct ToolCallEvent { const ToolCall& call; };
struct ToolResultEvent { const ToolResult& result; };
struct StepEvent { const ActionStep& step; };
struct FinalEvent { const RunResult& result; };
using AgentEvent = std::variant<ReasoningDelta, AnswerDelta, ToolCallEvent, ToolResultEvent, StepEvent, FinalEvent>;
using EventHandler = std::function<void(const AgentEvent&)>;

struct RunRequest {
  std::string message;   // the user's message
  EventHandler on_event;  // optional
  RunRequest(std::string m, EventHandler h = {}) : message(std::move(m)), on_event(std::move(h)) {}
  RunRequest(const char* m, EventHandler h = {}) : message(m), on_event(std::move(h)) {}
};

// Whether reasoning traces of earlier runs stay in the prompt. Within one run they are kept (the
// model needs them between tool calls); Phi-4-reasoning's card and DeepSeek-R1 practice drop them
// from earlier turns, which costs one re-prefill of the turns after the first trace.
enum class ReasoningHistory { strip, keep };

struct AgentOptions {
  std::string system_prompt;                // first message of every new session ("" = none)
  std::size_t max_steps = 10;               // model turns per run
  std::size_t max_tokens_per_turn = 1024;   // generated tokens per model turn
  std::size_t token_budget = 0;             // generated tokens per run; 0 = unlimited
  // Tool calls in one model turn, enforced by the grammar (Phi-4-mini's call list is closed after
  // this many); 0 = no limit. 1 is OpenAI's parallel_tool_calls = false.
  std::size_t max_calls_per_turn = 0;
  std::chrono::milliseconds tool_timeout{30000};  // for tools whose ToolOptions::timeout is 0
  ToolChoice tool_choice = ToolChoice::auto_;  // for the first model turn of a run
  // After a turn with tool calls, later turns use ToolChoice::auto_ (a `required` choice would
  // otherwise force calls forever; the OpenAI Agents SDK's reset_tool_choice).
  bool reset_tool_choice = true;
  ReasoningHistory reasoning_history = ReasoningHistory::strip;
  std::size_t compute_threads = 1;  // sessions generating at the same time
  std::size_t tool_threads = 2;     // synchronous tools running at the same time
};

// Approval before a tool marked ToolOptions::needs_approval runs (may itself be asynchronous).
using ApprovalHook = std::function<boost::asio::awaitable<bool>(const ToolCall&, const Tool&)>;
using StepObserver = std::function<void(const ActionStep&)>;

// ---- a conversation ----

class AgentSession {
 public:
  // Read these while no run of the session is in flight (or from its event handlers).
  const std::vector<AgentMessage>& messages() const { return messages_; }
  // One entry per model turn: (tokens in the conversation before the turn, tokens prefilled for it).
  struct TurnStats {
    std::size_t conversation_tokens = 0;
    std::size_t prefilled_tokens = 0;
  };
  const std::vector<TurnStats>& turn_stats() const { return turn_stats_; }
  bool busy() const { return busy_.load(); }

  // {"version": 1, "messages": [...]} with each generated message's exact token ids. The KV cache is
  // not saved: a restored session prefills its conversation once, on its next turn.
  boost::json::value save() const {
    boost::json::array msgs;
    for (const auto& m : messages_) msgs.push_back(to_json_object(m));
    return boost::json::object{{"version", 1}, {"messages", std::move(msgs)}};
  }
  void restore(const boost::json::value& saved) {
    if (busy()) throw InvalidArgument("AgentSession::restore: a run is in flight");
    if (!saved.is_object() || !saved.get_object().contains("messages") || !saved.at("messages").is_array())
      throw InvalidArgument("saved session: expected {\"version\": 1, \"messages\": [...]}");
    std::vector<AgentMessage> msgs;
    for (const auto& m : saved.at("messages").get_array()) msgs.push_back(agent_message_from_json(m));
    messages_ = std::move(msgs);
    turn_stats_.clear();
  }

 private:
  friend class Agent;
  explicit AgentSession(boost::asio::any_io_executor ex) : strand_(boost::asio::make_strand(ex)) {}

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  std::unique_ptr<ChatModelSession> model_;  // created on the compute thread at the first turn
  std::vector<AgentMessage> messages_;
  std::vector<TurnStats> turn_stats_;
  std::atomic<bool> busy_{false};
};

// ---- the agent ----

class Agent {
 public:
  using executor_type = boost::asio::any_io_executor;

  Agent(executor_type ex, std::shared_ptr<ChatModel> model, AgentOptions options = {})
      : ex_(std::move(ex)),
        model_(std::move(model)),
        options_(std::move(options)),
        compute_(std::max<std::size_t>(1, options_.compute_threads)),
        tool_pool_(std::max<std::size_t>(1, options_.tool_threads)) {
    if (!model_) throw InvalidArgument("Agent: no model");
  }
  // An agent over a loaded phial::Model (which must outlive it): one Executor shared by every
  // session, the model's tokenizer and chat format, the family's recommended sampling.
  template <class LoadedModel>
    requires requires(const LoadedModel& m) { m.config(); m.weights(); }
  Agent(executor_type ex, const LoadedModel& model, AgentOptions options = {}, ExecutorOptions executor_options = {})
      : Agent(std::move(ex), PhiChatModel::from_model(model, executor_options), std::move(options)) {}
  // Joins the compute and tool threads. Destroy the agent only when no run is in flight (and
  // before the io_context its executor belongs to).
  ~Agent() {
    compute_.join();
    tool_pool_.join();
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  executor_type get_executor() const { return ex_; }
  ToolRegistry& tools() { return tools_; }
  AgentOptions& options() { return options_; }

  // Hooks: set them before running.
  void set_approval(ApprovalHook hook) { approval_ = std::move(hook); }
  void set_approval(std::function<bool(const ToolCall&, const Tool&)> hook) {
    approval_ = [hook = std::move(hook)](const ToolCall& c, const Tool& t) -> boost::asio::awaitable<bool> {
      co_return hook(c, t);
    };
  }
  void on_step(StepObserver observer) { on_step_ = std::move(observer); }

  std::shared_ptr<AgentSession> new_session() { return std::shared_ptr<AgentSession>(new AgentSession(ex_)); }
  // The session async_run(request, token) uses.
  const std::shared_ptr<AgentSession>& session() {
    if (!default_session_) default_session_ = new_session();
    return default_session_;
  }

  // Runs one user message to completion on `session`. Completion signature
  // void(std::exception_ptr, RunResult): the exception is set only for failures of the machinery
  // (the model threw, the session was busy); cancellation completes normally with
  // RunStop::cancelled and the steps so far. Works with any completion token; honours the
  // token's cancellation slot (terminal, partial and total cancellation all stop the run).
  template <class CompletionToken>
  auto async_run(std::shared_ptr<AgentSession> session, RunRequest request, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, RunResult)>(
        [this](auto handler, std::shared_ptr<AgentSession> s, RunRequest req) {
          auto strand = s->strand_;
          boost::asio::co_spawn(strand, run_loop(std::move(s), std::move(req)), std::move(handler));
        },
        token, std::move(session), std::move(request));
  }
  template <class CompletionToken>
  auto async_run(RunRequest request, CompletionToken&& token) {
    return async_run(session(), std::move(request), std::forward<CompletionToken>(token));
  }

 private:
  // Calls the run's event handler; an exception it throws ends the run (rethrown by the loop).
  struct Events {
    EventHandler handler;
    std::exception_ptr error;
    void operator()(const AgentEvent& e) {
      if (!handler || error) return;
      try {
        handler(e);
      } catch (...) {
        error = std::current_exception();
      }
    }
    void rethrow() const {
      if (error) std::rethrow_exception(error);
    }
  };

  static boost::asio::awaitable<bool> cancelled() {
    auto state = co_await boost::asio::this_coro::cancellation_state;
    co_return state.cancelled() != boost::asio::cancellation_type::none;
  }

  // Sets up a coroutine to see every kind of cancellation and to check for it itself.
  static boost::asio::awaitable<void> own_cancellation() {
    co_await boost::asio::this_coro::reset_cancellation_state(boost::asio::enable_total_cancellation());
    co_await boost::asio::this_coro::throw_if_cancelled(false);
  }

  boost::asio::awaitable<RunResult> run_loop(std::shared_ptr<AgentSession> s, RunRequest req) {
    co_await own_cancellation();
    if (s->busy_.exchange(true)) throw InvalidArgument("Agent::async_run: the session already has a run in flight");
    struct Idle {
      AgentSession& s;
      ~Idle() { s.busy_.store(false); }
    } idle{*s};
    auto events = std::make_shared<Events>(Events{std::move(req.on_event), nullptr});
    const auto tools = tools_.tools();  // this run's tools, even if the registry changes

    begin_run(*s, std::move(req.message));
    RunResult result;
    for (std::size_t index = 1;; ++index) {
      if (co_await cancelled()) { result.stop = RunStop::cancelled; break; }
      if (index > options_.max_steps) { result.stop = RunStop::max_steps; break; }
      const std::size_t budget_left = options_.token_budget == 0 ? SIZE_MAX
                                      : options_.token_budget > result.tokens_generated
                                          ? options_.token_budget - result.tokens_generated : 0;
      if (budget_left == 0) { result.stop = RunStop::max_tokens; break; }

      const ToolChoice choice =
          index > 1 && options_.reset_tool_choice ? ToolChoice::auto_ : options_.tool_choice;
      TurnOptions turn_options{tools, choice, std::min(options_.max_tokens_per_turn, budget_left),
                               options_.max_calls_per_turn};
      ModelTurn turn = co_await generate_turn(s, std::move(turn_options), events);
      events->rethrow();
      ActionStep step = record_turn(*s, index, turn, result);
      if (turn.finish == ModelTurn::Finish::cancelled) {  // the partial turn is not kept in the history
        result.steps.push_back(std::move(step));
        result.stop = RunStop::cancelled;
        break;
      }
      s->messages_.push_back(turn.message);

      if (turn.message.tool_calls.empty() && turn.malformed.empty()) {  // the final answer
        result.answer = turn.message.content;
        result.reasoning = turn.message.reasoning;
        result.stop = turn.finish == ModelTurn::Finish::length ? RunStop::max_tokens : RunStop::final_answer;
        (*events)(StepEvent{step});
        if (on_step_) on_step_(step);
        result.steps.push_back(std::move(step));
        break;
      }

      for (const auto& call : step.output.tool_calls) (*events)(ToolCallEvent{call});
      step.results = co_await run_tools(s, tools, step.output.tool_calls, turn.malformed);
      for (const auto& r : step.results) {
        s->messages_.push_back(AgentMessage::tool(r.call.name, r.call.id, r.observation));
        (*events)(ToolResultEvent{r});
      }
      (*events)(StepEvent{step});
      if (on_step_) on_step_(step);
      result.steps.push_back(std::move(step));
      events->rethrow();
    }
    (*events)(FinalEvent{result});
    events->rethrow();
    co_return result;
  }

  // A new user message; a new session first gets the system prompt; earlier reasoning is stripped
  // by policy.
  void begin_run(AgentSession& s, std::string message) {
    if (s.messages_.empty() && !options_.system_prompt.empty())
      s.messages_.push_back(AgentMessage::system(options_.system_prompt));
    if (options_.reasoning_history == ReasoningHistory::strip) {
      for (auto& m : s.messages_) {
        if (m.role != AgentMessage::Role::assistant || m.reasoning.empty()) continue;
        m.reasoning.clear();  // re-rendered from content + calls, so the exact tokens no longer apply
        m.raw.clear();
        m.tokens.clear();
      }
    }
    s.messages_.push_back(AgentMessage::user(std::move(message)));
  }

  ActionStep record_turn(AgentSession& s, std::size_t index, ModelTurn& turn, RunResult& result) {
    for (std::size_t i = 0; i < turn.message.tool_calls.size(); ++i) {
      auto& call = turn.message.tool_calls[i];
      if (call.id.empty()) call.id = "call_" + std::to_string(s.turn_stats_.size() + 1) + "_" + std::to_string(i + 1);
    }
    ActionStep step;
    step.index = index;
    step.output = turn.message;
    step.tokens_generated = turn.tokens_generated;
    step.prompt_tokens = turn.prompt_tokens;
    step.prefilled_tokens = turn.prefilled_tokens;
    result.tokens_generated += turn.tokens_generated;
    result.tokens_prefilled += turn.prefilled_tokens;
    s.turn_stats_.push_back({turn.prompt_tokens, turn.prefilled_tokens});
    return step;
  }

  // One assistant turn on the compute thread; text deltas are posted back to the strand as events.
  // A plain function (not a coroutine) returning the operation: GCC 12 mishandles lambdas with
  // init-captures inside co_await expressions.
  boost::asio::awaitable<ModelTurn> generate_turn(std::shared_ptr<AgentSession> s, TurnOptions turn_options,
                                                  std::shared_ptr<Events> events) {
    auto strand = s->strand_;
    DeltaSink sink = [strand, events](DeltaKind kind, std::string_view text) {
      boost::asio::post(strand, [events, kind, text = std::string(text)]() mutable {
        if (kind == DeltaKind::reasoning) (*events)(ReasoningDelta{std::move(text)});
        else (*events)(AnswerDelta{std::move(text)});
      });
    };
    // The run's coroutine stays suspended until the compute thread is done: only it touches the session.
    auto compute = [model = model_, s = std::move(s), turn_options = std::move(turn_options),
                    sink = std::move(sink)](const std::atomic<bool>& stop) {
      if (!s->model_) s->model_ = model->new_session();
      return s->model_->generate(s->messages_, turn_options, sink, stop);
    };
    return detail::async_compute<ModelTurn>(compute_.get_executor(), std::move(compute), boost::asio::use_awaitable);
  }

  // Every call of a step at once; results in call order.
  boost::asio::awaitable<std::vector<ToolResult>> run_tools(std::shared_ptr<AgentSession> s,
                                                            const std::vector<std::shared_ptr<const Tool>>& tools,
                                                            const std::vector<ToolCall>& calls,
                                                            const std::vector<std::string>& malformed) {
    std::vector<ToolResult> results;
    for (std::size_t i = 0; i < malformed.size(); ++i) {
      ToolResult r;
      r.call.id = "malformed_" + std::to_string(i + 1);
      r.status = ToolResult::Status::malformed_call;
      r.error = malformed[i];
      r.observation = "Error: the tool call could not be parsed: " + malformed[i] +
                      ". Call tools with valid JSON: {\"name\": ..., \"arguments\": {...}}.";
      results.push_back(std::move(r));
    }
    using Op = decltype(boost::asio::co_spawn(s->strand_, run_tool(nullptr, ToolCall{}), boost::asio::deferred));
    std::vector<Op> ops;
    for (const auto& call : calls) {
      std::shared_ptr<const Tool> tool;
      for (const auto& t : tools)
        if (t->name() == call.name) tool = t;
      ops.push_back(boost::asio::co_spawn(s->strand_, run_tool(tool, call, &tools), boost::asio::deferred));
    }
    if (ops.empty()) co_return results;
    auto [order, exceptions, values] = co_await boost::asio::experimental::make_parallel_group(std::move(ops))
                                           .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::deferred);
    (void)order;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (exceptions[i]) {  // run_tool catches everything; keep the loop total anyway
        ToolResult r;
        r.call = calls[i];
        r.status = ToolResult::Status::error;
        r.error = "internal error";
        r.observation = "Error: internal error while running the tool";
        results.push_back(std::move(r));
      } else {
        results.push_back(std::move(values[i]));
      }
    }
    co_return results;
  }

  static std::string available_tools(const std::vector<std::shared_ptr<const Tool>>* tools) {
    std::string names;
    if (tools)
      for (const auto& t : *tools) names += (names.empty() ? "" : ", ") + t->name();
    return names.empty() ? "none" : names;
  }

  static std::string observation_of(const boost::json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    return boost::json::serialize(v);
  }

  auto offload_sync_tool(std::shared_ptr<const Tool> tool, boost::json::object args) {
    return detail::async_offload<boost::json::value>(
        tool_pool_.get_executor(), [tool = std::move(tool), args = std::move(args)] { return tool->call(args); },
        boost::asio::deferred);
  }

  // One call: checks, approval, then the tool against its timeout. Never throws.
  boost::asio::awaitable<ToolResult> run_tool(std::shared_ptr<const Tool> tool, ToolCall call,
                                              const std::vector<std::shared_ptr<const Tool>>* tools = nullptr) {
    co_await own_cancellation();
    ToolResult r;
    r.call = std::move(call);
    const auto start = std::chrono::steady_clock::now();
    auto finish = [&](ToolResult::Status status, std::string error) {
      r.status = status;
      r.error = std::move(error);
      r.observation = "Error: " + r.error;
      r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    };
    if (!tool) {
      finish(ToolResult::Status::unknown_tool,
             "there is no tool named \"" + r.call.name + "\"; available tools: " + available_tools(tools));
      co_return r;
    }
    if (auto v = tool->validate(r.call.arguments); !v.ok()) {
      finish(ToolResult::Status::invalid_arguments, "invalid arguments for " + tool->name() + ": " + v.message());
      co_return r;
    }
    if (tool->options().needs_approval) {
      bool approved = false;
      try {
        approved = approval_ && co_await approval_(r.call, *tool);
      } catch (const std::exception& e) {
        finish(ToolResult::Status::denied, std::string("the approval check failed: ") + e.what());
        co_return r;
      }
      if (!approved) {
        finish(ToolResult::Status::denied, "the user did not approve this call of " + tool->name());
        co_return r;
      }
    }
    if (co_await cancelled()) {
      finish(ToolResult::Status::cancelled, "cancelled");
      co_return r;
    }

    const auto timeout = tool->options().timeout.count() > 0 ? tool->options().timeout : options_.tool_timeout;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, timeout);
    std::size_t first = 0;
    std::exception_ptr failure;
    boost::json::value value;
    if (tool->is_coroutine()) {
      auto [order, e, v, timer_ec] = co_await boost::asio::experimental::make_parallel_group(
          boost::asio::co_spawn(co_await boost::asio::this_coro::executor, tool->call_async(r.call.arguments),
                                boost::asio::deferred),
          timer.async_wait(boost::asio::deferred))
          .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::deferred);
      first = order[0];
      failure = e;
      value = std::move(v);
      if (first == 1 && timer_ec) first = 2;  // the timer was cancelled: the run is being cancelled
    } else {
      auto [order, e, v, timer_ec] = co_await boost::asio::experimental::make_parallel_group(
          offload_sync_tool(tool, r.call.arguments),
          timer.async_wait(boost::asio::deferred))
          .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::deferred);
      first = order[0];
      failure = e;
      value = std::move(v);
      if (first == 1 && timer_ec) first = 2;
    }

    if (first == 1) {
      finish(ToolResult::Status::timeout,
             tool->name() + " did not finish within " + std::to_string(timeout.count()) + " ms");
    } else if (first == 2 || (failure && co_await cancelled())) {
      finish(ToolResult::Status::cancelled, "cancelled");
    } else if (failure) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      finish(ToolResult::Status::error, tool->name() + " failed: " + what);
    } else {
      r.status = ToolResult::Status::ok;
      r.value = std::move(value);
      r.observation = observation_of(r.value);
      r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    }
    co_return r;
  }

  executor_type ex_;
  std::shared_ptr<ChatModel> model_;
  AgentOptions options_;
  ToolRegistry tools_;
  ApprovalHook approval_;
  StepObserver on_step_;
  std::shared_ptr<AgentSession> default_session_;
  boost::asio::thread_pool compute_;
  boost::asio::thread_pool tool_pool_;
};

}  // namespace phial
