// phial/agent/phi_chat_model.hpp - the agent's model for the Phi-4 family: prompt rendering
// (chat/prompt.hpp), tokenization, KV-cache reuse, constrained generation (sample/generate.hpp) and
// output parsing (chat/output_parser.hpp) behind the ChatModelSession interface.
//
// Each turn, a session renders the whole conversation to token ids, keeps the longest prefix its
// KV cache already holds and prefills only the rest: normally just the messages appended since the
// last turn (tool results, the next user message) plus the generation header. Rendering is
// token-exact for generated turns (their token ids are reused as they were sampled), so the cache
// stays valid across tool rounds.
//
// Untrusted text: user messages and tool results are tokenized with Tokenizer::encode, never
// special-token parsing, so a tool result that contains "<|tool_call|>" or "<|im_end|>" is plain
// text to the model and cannot forge a call or close a turn. Only phial's own template text (role
// headers, end-of-turn markers, the tool list) is tokenized with encode_with_special.
//
// Tools: Phi-4-mini gets its native format (<|tool|> list in the system message, calls as
// <|tool_call|>[...]<|/tool_call|>); Phi-4, Phi-4-reasoning and Phi-3.5 get phial's text convention
// (docs/prompts.md). Generation is grammar-constrained lazily: free text until the call marker,
// then the tool-call grammar built from the offered tools' JSON Schemas.
#pragma once
#include <phial/agent/chat_model.hpp>
#include <phial/chat/output_parser.hpp>
#include <phial/chat/prompt.hpp>
#include <phial/model/evaluator.hpp>
#include <phial/model/executor.hpp>
#include <phial/sample/generate.hpp>
#include <phial/sample/json_schema.hpp>
#include <phial/tokenizer/tokenizer.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace phial {

struct PhiChatOptions {
  // Sampler, stop tokens, reasoning budget; max_tokens and grammar are set per turn by the agent.
  // Empty stop_token_ids: the family's defaults.
  GenerateOptions generate;
};

class PhiChatModel : public ChatModel {
 public:
  using EvaluatorFactory = std::function<std::unique_ptr<Evaluator>()>;

  // Sessions get their evaluators from `make_evaluator` (normally a phial::Session of one shared
  // Executor; tests pass deterministic doubles).
  PhiChatModel(EvaluatorFactory make_evaluator, Tokenizer tokenizer, ChatFormat format, PhiChatOptions options = {})
      : make_evaluator_(std::move(make_evaluator)),
        tokenizer_(std::move(tokenizer)),
        format_(format),
        options_(std::move(options)),
        vocab_(vocab_bytes(tokenizer_), added_ids(tokenizer_)) {
    const bool big = format_ == ChatFormat::phi4 || format_ == ChatFormat::phi4_dec2024 ||
                     format_ == ChatFormat::phi4_reasoning;
    if (options_.generate.stop_token_ids.empty())
      options_.generate.stop_token_ids = GenerateOptions::default_stop_tokens(big ? Family::phi4 : Family::phi4_mini);
    if (format_ == ChatFormat::phi4_mini) {
      call_format_ = ToolCallFormat::phi4_mini();
      if (auto id = tokenizer_.token_id("<|tool_call|>")) call_format_.open.token_id = *id;
      if (auto id = tokenizer_.token_id("<|/tool_call|>")) call_format_.close.token_id = *id;
    } else {
      call_format_ = ToolCallFormat::text_tags();
    }
  }

  // One Executor (weights shared, compute serialized by its thread pool) for every session.
  // `model` must outlive this object.
  // Sampling defaults to the family's recommendation (GenerateOptions::defaults_for).
  template <class LoadedModel>
  static std::shared_ptr<PhiChatModel> from_model(const LoadedModel& model, ExecutorOptions executor_options = {}) {
    PhiChatOptions options;
    options.generate = GenerateOptions::defaults_for(model.config().variant);
    return from_model(model, executor_options, std::move(options));
  }
  template <class LoadedModel>
  static std::shared_ptr<PhiChatModel> from_model(const LoadedModel& model, ExecutorOptions executor_options,
                                                  PhiChatOptions options) {
    auto executor = std::make_shared<Executor>(model, executor_options);
    return std::make_shared<PhiChatModel>([executor] { return std::make_unique<Session>(*executor); },
                                          Tokenizer::from_model(model), choose_chat_format(model.config()),
                                          std::move(options));
  }

  // PHIAL_INLINE here too, so header-only TUs emit the vtable only where it is used (see executor.hpp).
  PHIAL_INLINE std::unique_ptr<ChatModelSession> new_session() override;
  bool reasons() const override { return format_ == ChatFormat::phi4_reasoning; }

  const Tokenizer& tokenizer() const { return tokenizer_; }
  ChatFormat format() const { return format_; }
  const VocabIndex& vocab() const { return vocab_; }

  // The conversation as token ids, ending with the generation header: what a session feeds the model.
  std::vector<std::int32_t> render(const std::vector<AgentMessage>& history,
                                   const std::vector<std::shared_ptr<const Tool>>& tools) const;

 private:
  friend class PhiChatSession;

  static std::vector<std::string> vocab_bytes(const Tokenizer& t) {
    std::vector<std::string> bytes(static_cast<std::size_t>(t.vocab_size()));
    for (std::int32_t id = 0; id < t.vocab_size(); ++id) bytes[static_cast<std::size_t>(id)] = std::string(t.token_bytes(id));
    return bytes;
  }
  static std::vector<std::int32_t> added_ids(const Tokenizer& t) {
    std::vector<std::int32_t> ids;
    for (std::int32_t id = 0; id < t.vocab_size(); ++id)
      if (t.is_added(id)) ids.push_back(id);
    return ids;
  }

  // Appends `text` rendered by phial (template markup: special tokens parsed).
  void append_trusted(std::string_view text, std::vector<std::int32_t>& out) const {
    auto ids = tokenizer_.encode_with_special(text);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  void append_message(PromptBuilder& pb, const AgentMessage& m, std::vector<std::int32_t>& out) const;
  std::string call_text(const std::vector<ToolCall>& calls) const {
    if (calls.empty()) return {};
    return format_ == ChatFormat::phi4_mini ? phi4_mini_tool_calls_text(calls) : text_tool_calls_text(calls);
  }

  EvaluatorFactory make_evaluator_;
  Tokenizer tokenizer_;
  ChatFormat format_;
  PhiChatOptions options_;
  VocabIndex vocab_;
  ToolCallFormat call_format_;
};

class PhiChatSession : public ChatModelSession {
 public:
  explicit PhiChatSession(const PhiChatModel& model) : m_(model), evaluator_(model.make_evaluator_()) {
    if (const auto* s = dynamic_cast<const Session*>(evaluator_.get())) capacity_ = static_cast<std::size_t>(s->capacity());
  }

  PHIAL_INLINE ModelTurn generate(const std::vector<AgentMessage>& history, const TurnOptions& options,
                                  const DeltaSink& on_delta, const std::atomic<bool>& stop) override;
  std::size_t cached_tokens() const override { return cached_.size(); }
  void reset() override {
    evaluator_->truncate(0);
    cached_.clear();
  }

 private:
  const PhiChatModel& m_;
  std::unique_ptr<Evaluator> evaluator_;
  std::vector<std::int32_t> cached_;  // the token ids the evaluator holds, in order
  std::size_t capacity_ = SIZE_MAX;   // KV cache capacity in tokens (phial::Session), else unknown
};

// ================================================================================================
#if PHIAL_HEADER_ONLY

namespace detail {
// Marks where a message's content goes when locating it in rendered template text.
inline constexpr std::string_view content_sentinel = "\x1dphial-content\x1d";
}  // namespace detail

PHIAL_INLINE std::unique_ptr<ChatModelSession> PhiChatModel::new_session() {
  return std::make_unique<PhiChatSession>(*this);
}

PHIAL_INLINE void PhiChatModel::append_message(PromptBuilder& pb, const AgentMessage& m,
                                               std::vector<std::int32_t>& out) const {
  using Role = AgentMessage::Role;
  if (m.role == Role::assistant) {
    append_trusted(pb.add_generation_prompt(), out);
    if (!m.tokens.empty()) {  // exactly what was generated, then the template's end of turn
      const std::string added(pb.append_generated(m.raw));
      out.insert(out.end(), m.tokens.begin(), m.tokens.end());
      append_trusted(std::string_view(added).substr(std::min(added.size(), m.raw.size())), out);
    } else {  // re-rendered (reasoning stripped, restored session): the model's own syntax
      std::string text = m.content;
      if (!m.reasoning.empty()) text = "<think>" + m.reasoning + "</think>" + text;
      append_trusted(pb.append_generated(text + call_text(m.tool_calls)), out);
    }
    return;
  }
  ChatMessage cm(m.role == Role::system ? "system" : m.role == Role::user ? "user" : "tool", m.content);
  cm.name = m.tool_name;
  if (m.role == Role::system) {  // written by the developer: trusted
    append_trusted(pb.append(cm), out);
    return;
  }
  // User text and tool results are untrusted: find the content inside the rendered text (render
  // once more with a sentinel in its place) and tokenize only the template around it with
  // special tokens.
  PromptBuilder probe = pb;
  ChatMessage marked = cm;
  marked.content = std::string(detail::content_sentinel);
  const std::string shape(probe.append(marked));
  const std::string real(pb.append(cm));
  const auto at = shape.find(detail::content_sentinel);
  if (at == std::string::npos) {  // the template dropped the message
    if (shape != real) throw InvalidArgument("PhiChatModel: cannot locate message content in the rendered prompt");
    append_trusted(real, out);
    return;
  }
  const std::string_view prefix = std::string_view(shape).substr(0, at);
  const std::string_view suffix = std::string_view(shape).substr(at + detail::content_sentinel.size());
  if (real.size() != prefix.size() + m.content.size() + suffix.size() || real.compare(0, prefix.size(), prefix) != 0 ||
      real.compare(real.size() - suffix.size(), suffix.size(), suffix) != 0)
    throw InvalidArgument("PhiChatModel: the template transforms message content; cannot tokenize it safely");
  append_trusted(prefix, out);
  tokenizer_.encode(m.content, out);
  append_trusted(suffix, out);
}

PHIAL_INLINE std::vector<std::int32_t> PhiChatModel::render(const std::vector<AgentMessage>& history,
                                                            const std::vector<std::shared_ptr<const Tool>>& tools) const {
  std::vector<ToolSpec> specs;
  for (const auto& t : tools) specs.push_back(ToolSpec::make(t->name(), t->description(), t->parameters()));
  PromptBuilder pb(format_, std::move(specs));
  std::vector<std::int32_t> out;
  for (const auto& m : history) append_message(pb, m, out);
  append_trusted(pb.add_generation_prompt(), out);
  return out;
}

PHIAL_INLINE ModelTurn PhiChatSession::generate(const std::vector<AgentMessage>& history, const TurnOptions& options,
                                                const DeltaSink& on_delta, const std::atomic<bool>& stop) {
  ModelTurn turn;
  const std::vector<std::shared_ptr<const Tool>> no_tools;
  const auto& tools = options.tool_choice == ToolChoice::none ? no_tools : options.tools;
  const std::vector<std::int32_t> prompt = m_.render(history, tools);

  // Reuse the longest cached prefix; at least one token is evaluated to get fresh logits.
  std::size_t keep = 0;
  while (keep < cached_.size() && keep < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
  if (keep == prompt.size()) --keep;
  evaluator_->truncate(keep);
  cached_.resize(keep);
  turn.prompt_tokens = prompt.size();
  turn.prefilled_tokens = prompt.size() - keep;

  // The turn may not outgrow the KV cache: generation stops (Finish::length) when it is full.
  if (prompt.size() >= capacity_)
    throw InvalidArgument("agent: the conversation (" + std::to_string(prompt.size()) +
                          " tokens) does not fit the KV cache (" + std::to_string(capacity_) +
                          " tokens; raise ExecutorOptions::kv_capacity or start a new session)");
  GenerateOptions g = m_.options_.generate;
  g.max_tokens = static_cast<std::int32_t>(std::min({options.max_tokens, capacity_ - prompt.size(), std::size_t(INT32_MAX)}));
  g.cancel = &stop;
  if (!tools.empty()) {
    std::vector<ToolSchema> schemas;
    for (const auto& t : tools) schemas.push_back({t->name(), t->parameters()});
    ToolCallFormat call_format = m_.call_format_;
    if (options.max_calls > 0 && call_format.json_list)
      call_format.max_calls = static_cast<std::int32_t>(std::min<std::size_t>(options.max_calls, INT32_MAX));
    g.grammar = tool_call_grammar(schemas, call_format);
    if (options.tool_choice == ToolChoice::required) {
      g.grammar_mode = GrammarMode::from_start;
    } else {
      g.grammar_mode = GrammarMode::lazy;
      g.trigger_token = m_.call_format_.open.token_id;
      if (g.trigger_token < 0) g.trigger_text = "<tool_call>";
    }
  }

  OutputParser parser(OutputParserOptions::for_format(m_.format_));
  std::vector<OutputEvent> events;
  AgentMessage& msg = turn.message;
  msg.role = AgentMessage::Role::assistant;
  auto consume = [&] {
    for (auto& e : events) {
      switch (e.kind) {
        case OutputEventKind::text:
          msg.content += e.text;
          if (on_delta) on_delta(DeltaKind::answer, e.text);
          break;
        case OutputEventKind::reasoning:
          msg.reasoning += e.text;
          if (on_delta) on_delta(DeltaKind::reasoning, e.text);
          break;
        case OutputEventKind::tool_call_end:
          for (auto& c : e.calls) msg.tool_calls.push_back(std::move(c));
          break;
        case OutputEventKind::error:
          turn.malformed.push_back(e.message + " in: " + e.text);
          break;
        default: break;
      }
    }
    events.clear();
  };
  const std::span<const std::int32_t> fresh(prompt.data() + keep, prompt.size() - keep);
  GenerateResult r = phial::generate(*evaluator_, fresh, m_.vocab_, g, [&](std::int32_t, std::string_view delta) {
    parser.feed(delta, events);
    consume();
    return true;
  });
  parser.finish(events);
  consume();

  cached_.insert(cached_.end(), fresh.begin(), fresh.end());
  cached_.insert(cached_.end(), r.tokens.begin(), r.tokens.begin() + static_cast<std::ptrdiff_t>(r.n_evaluated));
  if (evaluator_->size() != cached_.size()) {  // keep our mirror honest whatever the generator did
    evaluator_->truncate(0);
    cached_.clear();
  }
  msg.raw = r.text;
  msg.tokens = r.tokens;
  turn.tokens_generated = r.tokens.size();
  turn.finish = r.reason == StopReason::cancelled  ? ModelTurn::Finish::cancelled
                : r.reason == StopReason::max_tokens ? ModelTurn::Finish::length
                                                     : ModelTurn::Finish::stop;
  // Trim the whitespace models put around an answer that follows a trace.
  while (!msg.content.empty() && (msg.content.front() == '\n' || msg.content.front() == ' ')) msg.content.erase(0, 1);
  return turn;
}

#endif  // PHIAL_HEADER_ONLY
}  // namespace phial
