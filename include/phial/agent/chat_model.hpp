// phial/agent/chat_model.hpp - what the agent loop needs from "a model holding a conversation",
// and the conversation's messages.
//
// The loop (agent.hpp) only ever asks a ChatModelSession for the next assistant turn given the
// history; how that turn is rendered, tokenized, prefilled, generated and parsed is the model's
// business. phial's implementation for the Phi-4 family is PhiChatModel (phi_chat_model.hpp): it
// keeps the session's tokens and KV cache and prefills only what was appended since the last turn.
// Tests use a scripted double.
//
// Threading: ChatModel::new_session and ChatModelSession::generate run on the agent's compute
// thread(s), never on the caller's io_context thread. One session is never used by two threads at
// once; different sessions of one ChatModel may generate concurrently.
#pragma once
#include <phial/agent/tool_registry.hpp>
#include <phial/chat/tools.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace phial {

// One message of a conversation as the agent keeps it.
struct AgentMessage {
  enum class Role { system, user, assistant, tool };
  Role role = Role::user;
  std::string content;               // user/system text, the assistant's answer text, a tool's observation
  std::string reasoning;             // assistant: the reasoning trace (<think>...</think>), if any
  std::vector<ToolCall> tool_calls;  // assistant: the calls it made
  std::string tool_name;             // tool: which tool answered
  std::string tool_call_id;          // tool: which call it answers
  // assistant: the model's exact output (text and token ids). Rendering reuses them so that the KV
  // cache of a generated turn stays valid; empty for messages that did not come from the model.
  std::string raw;
  std::vector<std::int32_t> tokens;

  static AgentMessage system(std::string text) { return {Role::system, std::move(text), {}, {}, {}, {}, {}, {}}; }
  static AgentMessage user(std::string text) { return {Role::user, std::move(text), {}, {}, {}, {}, {}, {}}; }
  static AgentMessage tool(std::string name, std::string call_id, std::string observation) {
    return {Role::tool, std::move(observation), {}, {}, std::move(name), std::move(call_id), {}, {}};
  }

  friend bool operator==(const AgentMessage& a, const AgentMessage& b) {
    return a.role == b.role && a.content == b.content && a.reasoning == b.reasoning && a.tool_calls == b.tool_calls &&
           a.tool_name == b.tool_name && a.tool_call_id == b.tool_call_id && a.raw == b.raw && a.tokens == b.tokens;
  }
};

inline const char* role_name(AgentMessage::Role r) {
  switch (r) {
    case AgentMessage::Role::system: return "system";
    case AgentMessage::Role::user: return "user";
    case AgentMessage::Role::assistant: return "assistant";
    case AgentMessage::Role::tool: return "tool";
  }
  return "user";
}

enum class ToolChoice {
  auto_,     // the model decides; the tool-call grammar switches on lazily at the call marker
  required,  // the turn must be tool calls (the grammar is active from the first token)
  none,      // no tools offered this turn
};

// What one assistant turn may do.
struct TurnOptions {
  std::vector<std::shared_ptr<const Tool>> tools;  // offered (and grammar-constrained) this turn
  ToolChoice tool_choice = ToolChoice::auto_;
  std::size_t max_tokens = 1024;                   // generated tokens, reasoning included
  std::size_t max_calls = 0;                       // calls in one turn (grammar-enforced); 0 = no limit
};

enum class DeltaKind { reasoning, answer };
// Streamed text of the turn being generated, as it is decoded (called on the compute thread).
using DeltaSink = std::function<void(DeltaKind, std::string_view)>;

// The result of one assistant turn.
struct ModelTurn {
  enum class Finish { stop, length, cancelled };
  AgentMessage message;                // role assistant: content, reasoning, tool_calls, raw, tokens
  std::vector<std::string> malformed;  // tool calls that could not be parsed: why, quoting the text
  Finish finish = Finish::stop;
  std::size_t tokens_generated = 0;
  std::size_t prompt_tokens = 0;       // tokens of the conversation before this turn's output
  std::size_t prefilled_tokens = 0;    // how many of them were evaluated now (not already cached)
};

class ChatModelSession {
 public:
  virtual ~ChatModelSession() = default;
  // Generates the next assistant turn after `history` (which ends with a user or tool message).
  // Checks `stop` between tokens and returns Finish::cancelled once it is set.
  virtual ModelTurn generate(const std::vector<AgentMessage>& history, const TurnOptions& options,
                             const DeltaSink& on_delta, const std::atomic<bool>& stop) = 0;
  // Tokens currently held in the KV cache.
  virtual std::size_t cached_tokens() const = 0;
  // Forgets the KV cache (the next turn prefills the whole conversation).
  virtual void reset() = 0;
};

class ChatModel {
 public:
  virtual ~ChatModel() = default;
  virtual std::unique_ptr<ChatModelSession> new_session() = 0;
  // Whether the model writes reasoning traces (Phi-4-reasoning, Phi-4-mini-reasoning).
  virtual bool reasons() const { return false; }
};

// ---- JSON form of messages (session save / restore) ----

inline boost::json::object to_json_object(const AgentMessage& m) {
  boost::json::object o{{"role", role_name(m.role)}, {"content", m.content}};
  if (!m.reasoning.empty()) o["reasoning"] = m.reasoning;
  if (!m.tool_calls.empty()) {
    boost::json::array calls;
    for (const auto& c : m.tool_calls) calls.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    o["tool_calls"] = std::move(calls);
  }
  if (!m.tool_name.empty()) o["name"] = m.tool_name;
  if (!m.tool_call_id.empty()) o["tool_call_id"] = m.tool_call_id;
  if (!m.raw.empty()) o["raw"] = m.raw;
  if (!m.tokens.empty()) {
    boost::json::array t;
    t.reserve(m.tokens.size());
    for (auto id : m.tokens) t.push_back(id);
    o["tokens"] = std::move(t);
  }
  return o;
}

inline AgentMessage agent_message_from_json(const boost::json::value& v) {
  auto fail = [](const std::string& what) { throw InvalidArgument("saved session message: " + what); };
  if (!v.is_object()) fail("expected an object");
  const auto& o = v.get_object();
  auto str = [&](const char* key) -> std::string {
    const auto* f = o.if_contains(key);
    if (!f) return {};
    if (!f->is_string()) fail(std::string("\"") + key + "\" must be a string");
    return std::string(f->get_string());
  };
  AgentMessage m;
  const std::string role = str("role");
  if (role == "system") m.role = AgentMessage::Role::system;
  else if (role == "user") m.role = AgentMessage::Role::user;
  else if (role == "assistant") m.role = AgentMessage::Role::assistant;
  else if (role == "tool") m.role = AgentMessage::Role::tool;
  else fail("unknown role \"" + role + "\"");
  m.content = str("content");
  m.reasoning = str("reasoning");
  m.tool_name = str("name");
  m.tool_call_id = str("tool_call_id");
  m.raw = str("raw");
  if (const auto* calls = o.if_contains("tool_calls")) {
    if (!calls->is_array()) fail("\"tool_calls\" must be an array");
    for (const auto& c : calls->get_array()) {
      if (!c.is_object() || !c.get_object().contains("name") || !c.at("name").is_string()) fail("bad tool call");
      ToolCall call;
      call.name = std::string(c.at("name").get_string());
      if (const auto* a = c.get_object().if_contains("arguments"); a && a->is_object()) call.arguments = a->get_object();
      if (const auto* id = c.get_object().if_contains("id"); id && id->is_string()) call.id = std::string(id->get_string());
      m.tool_calls.push_back(std::move(call));
    }
  }
  if (const auto* t = o.if_contains("tokens")) {
    if (!t->is_array()) fail("\"tokens\" must be an array");
    for (const auto& id : t->get_array()) {
      if (!id.is_int64() || id.get_int64() < 0 || id.get_int64() > INT32_MAX) fail("token ids must be integers >= 0");
      m.tokens.push_back(static_cast<std::int32_t>(id.get_int64()));
    }
  }
  return m;
}

}  // namespace phial
