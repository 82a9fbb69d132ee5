// phial/chat/templates.hpp - the official Hugging Face chat templates of the Phi-4 family,
// re-implemented by hand, one small renderer per family, byte for byte.
//
// No Jinja engine: each template is a loop over the messages with one `if` per role, so the C++
// below follows the template text (quoted above each renderer) line by line. The renderers work
// on `TemplateMessage`, a message as the template sees it: each field is a Jinja value that may be
// undefined (key absent), none (JSON null), a string, or some other JSON value. That is what lets
// `phial prompt --jsonl` reproduce the templates' behaviour on odd input too (dropped roles, missing
// content, `tools: null`, ...), and raise where Jinja raises.
//
// The templates never read bos_token; eos_token is `<|endoftext|>` for Phi-4-mini and Phi-3.5
// (appended when add_generation_prompt is false) and unused by the Phi-4 14B templates.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>

namespace phial {

// The prompt formats phial renders.
enum class ChatFormat {
  phi4,            // Phi-4 14B, current HF template: <|im_start|>role<|im_sep|>...<|im_end|>
  phi4_dec2024,    // Phi-4 14B, original Dec-2024 template (user turn opens the assistant header)
  phi4_reasoning,  // Phi-4-reasoning(-plus): fixed system prompt, caller system messages dropped
  phi4_mini,       // Phi-4-mini-instruct / -reasoning / -flash-reasoning: <|role|>...<|end|>, tools
  phi35_mini,      // Phi-3 / Phi-3.5-mini: <|role|>\n...<|end|>\n
};

// "phi-4", "phi-4-dec2024", "phi-4-reasoning", "phi-4-mini", "phi-3.5-mini" (the golden files' names).
std::string_view chat_format_name(ChatFormat f) noexcept;
// Accepts the names above (and the enum spellings, e.g. "phi4_mini"); nullopt for anything else.
std::optional<ChatFormat> parse_chat_format(std::string_view name) noexcept;

// Picks the format of a loaded model: from its chat template text when there is one (the template
// is what the model was fine-tuned with), else from its variant / family / name.
// Throws UnsupportedModelError when nothing identifies a Phi format.
ChatFormat choose_chat_format(const ModelConfig& config);
// Same, from a chat template alone; nullopt when the text is not one of the known templates.
std::optional<ChatFormat> chat_format_from_template(std::string_view chat_template);

// The eos_token the official tokenizer_config passes to the template.
std::string_view template_eos_token(ChatFormat f) noexcept;
// Text that ends an assistant turn (what generation should stop on).
std::string_view end_of_turn_text(ChatFormat f) noexcept;  // "<|im_end|>" or "<|end|>"

// The fixed system prompt Phi-4-reasoning's template always emits.
inline constexpr std::string_view phi4_reasoning_system_prompt =
    "You are Phi, a language model trained by Microsoft to help users. Your role as an assistant involves "
    "thoroughly exploring questions through a systematic thinking process before providing the final precise "
    "and accurate solutions. This requires engaging in a comprehensive cycle of analysis, summarizing, "
    "exploration, reassessment, reflection, backtracing, and iteration to develop well-considered thinking "
    "process. Please structure your response into two main sections: Thought and Solution using the specified "
    "format: <think> {Thought section} </think> {Solution section}. In the Thought section, detail your "
    "reasoning process in steps. Each step should include detailed considerations such as analysing questions, "
    "summarizing relevant findings, brainstorming new ideas, verifying the accuracy of the current steps, "
    "refining any errors, and revisiting previous steps. In the Solution section, based on various attempts, "
    "explorations, and reflections from the Thought section, systematically present the final solution that "
    "you deem correct. The Solution section should be logical, accurate, and concise and detail necessary "
    "steps needed to reach the conclusion. Now, try to solve the following question through the above "
    "guidelines:";

namespace detail {

// A value as a Jinja template sees it.
struct JinjaValue {
  enum class Kind { undefined, none, string, other } kind = Kind::undefined;
  std::string str;          // kind == string
  bool truthy = false;      // Python truthiness (kind == other: non-empty containers, non-zero numbers, true)
  std::string type_name;    // Python type name, for error messages

  static JinjaValue undefined() { return {}; }
  static JinjaValue string(std::string s) {
    JinjaValue v;
    v.kind = Kind::string;
    v.truthy = !s.empty();
    v.str = std::move(s);
    v.type_name = "str";
    return v;
  }
  static JinjaValue from_json(const boost::json::value* v);  // null pointer = undefined
  bool is_string() const noexcept { return kind == Kind::string; }
  bool equals(std::string_view s) const noexcept { return kind == Kind::string && str == s; }
};

// One message as the templates see it: message['role'], message['content'], message['tools'].
struct TemplateMessage {
  JinjaValue role, content, tools;
  static TemplateMessage from_json(const boost::json::value& message);
};

// Renders the part before the message loop (only Phi-4-reasoning has one).
void render_template_header(ChatFormat f, std::string& out);
// Renders one loop iteration. Throws InvalidArgument where Jinja raises (TypeError/UndefinedError).
void render_template_message(ChatFormat f, const TemplateMessage& m, std::size_t index, std::string& out);
// Renders the part after the loop.
void render_template_tail(ChatFormat f, bool add_generation_prompt, std::string& out);

}  // namespace detail

// Renders a conversation given as JSON (a list of message objects, as passed to transformers'
// apply_chat_template) exactly as the official template does. Throws InvalidArgument where the
// template raises.
std::string render_template_json(ChatFormat f, const boost::json::array& messages, bool add_generation_prompt);

}  // namespace phial

// ================================================================================================
#if PHIAL_HEADER_ONLY
namespace phial {

PHIAL_INLINE std::string_view chat_format_name(ChatFormat f) noexcept {
  switch (f) {
    case ChatFormat::phi4: return "phi-4";
    case ChatFormat::phi4_dec2024: return "phi-4-dec2024";
    case ChatFormat::phi4_reasoning: return "phi-4-reasoning";
    case ChatFormat::phi4_mini: return "phi-4-mini";
    case ChatFormat::phi35_mini: return "phi-3.5-mini";
  }
  return "unknown";
}

PHIAL_INLINE std::optional<ChatFormat> parse_chat_format(std::string_view n) noexcept {
  if (n == "phi-4" || n == "phi4") return ChatFormat::phi4;
  if (n == "phi-4-dec2024" || n == "phi4_dec2024") return ChatFormat::phi4_dec2024;
  if (n == "phi-4-reasoning" || n == "phi4_reasoning" || n == "phi-4-reasoning-plus") return ChatFormat::phi4_reasoning;
  if (n == "phi-4-mini" || n == "phi4_mini" || n == "phi-4-mini-instruct" || n == "phi-4-mini-reasoning" ||
      n == "phi-4-mini-flash-reasoning")
    return ChatFormat::phi4_mini;
  if (n == "phi-3.5-mini" || n == "phi35_mini" || n == "phi-3.5-mini-instruct" || n == "phi-3-mini") return ChatFormat::phi35_mini;
  return std::nullopt;
}

PHIAL_INLINE std::optional<ChatFormat> chat_format_from_template(std::string_view t) {
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>") || has("<|im_sep|>")) {
    if (has("Thought and Solution") || has("You are Phi, a language model trained by Microsoft")) return ChatFormat::phi4_reasoning;
    // The Dec-2024 template has no generation-prompt branch: its user turn opens the assistant header.
    if (!has("add_generation_prompt")) return ChatFormat::phi4_dec2024;
    return ChatFormat::phi4;
  }
  if (has("<|end|>") || has("<|assistant|>")) {
    // Phi-4-mini builds '<|' + role + '|>' and has the <|tool|> branch; Phi-3.x spells each role
    // followed by a newline (a literal LF, or "\n" in JSON-escaped copies).
    if (has("<|tool|>") || has("message['role'] + '|>'") || has("message[\"role\"] + \"|>\"")) return ChatFormat::phi4_mini;
    if (has("<|assistant|>\n") || has("<|assistant|>\\n") || has("<|system|>\n") || has("<|user|>\\n")) return ChatFormat::phi35_mini;
    return ChatFormat::phi4_mini;
  }
  return std::nullopt;
}

PHIAL_INLINE ChatFormat choose_chat_format(const ModelConfig& config) {
  if (!config.chat_template.empty())
    if (auto f = chat_format_from_template(config.chat_template)) return *f;
  switch (config.variant) {
    case Variant::phi4: return ChatFormat::phi4;
    case Variant::phi4_reasoning: return ChatFormat::phi4_reasoning;
    case Variant::phi4_mini_instruct:
    case Variant::phi4_mini_reasoning: return ChatFormat::phi4_mini;
    case Variant::unknown: break;
  }
  // Fall back on the model name, then the family.
  std::string name;
  for (char c : config.name) name.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  auto has = [&](std::string_view s) { return name.find(s) != std::string::npos; };
  if (has("phi-4-reasoning") || has("phi4-reasoning") || has("phi_4_reasoning")) return ChatFormat::phi4_reasoning;
  switch (config.family) {
    case Family::phi4: return ChatFormat::phi4;
    case Family::phi4_mini: return ChatFormat::phi4_mini;
    case Family::phi3: return ChatFormat::phi35_mini;
    case Family::unknown: break;
  }
  if (has("phi-4-mini") || has("phi4-mini") || has("phi-4-multimodal")) return ChatFormat::phi4_mini;
  if (has("phi-3")) return ChatFormat::phi35_mini;
  if (has("phi-4") || has("phi4")) return ChatFormat::phi4;
  throw UnsupportedModelError("cannot choose a chat format for model '" + config.name +
                              "': its chat template, variant and family are not a known Phi format "
                              "(pass a ChatFormat explicitly)");
}

PHIAL_INLINE std::string_view template_eos_token(ChatFormat f) noexcept {
  switch (f) {
    case ChatFormat::phi4:
    case ChatFormat::phi4_dec2024:
    case ChatFormat::phi4_reasoning: return "<|im_end|>";
    case ChatFormat::phi4_mini:
    case ChatFormat::phi35_mini: return "<|endoftext|>";
  }
  return "";
}

PHIAL_INLINE std::string_view end_of_turn_text(ChatFormat f) noexcept {
  switch (f) {
    case ChatFormat::phi4:
    case ChatFormat::phi4_dec2024:
    case ChatFormat::phi4_reasoning: return "<|im_end|>";
    case ChatFormat::phi4_mini:
    case ChatFormat::phi35_mini: return "<|end|>";
  }
  return "";
}

namespace detail {

PHIAL_INLINE JinjaValue JinjaValue::from_json(const boost::json::value* v) {
  JinjaValue j;
  if (!v) return j;
  switch (v->kind()) {
    case boost::json::kind::null: j.kind = Kind::none; j.type_name = "NoneType"; break;
    case boost::json::kind::string: return string(std::string(v->get_string()));
    case boost::json::kind::bool_: j.kind = Kind::other; j.truthy = v->get_bool(); j.type_name = "bool"; break;
    case boost::json::kind::int64: j.kind = Kind::other; j.truthy = v->get_int64() != 0; j.type_name = "int"; break;
    case boost::json::kind::uint64: j.kind = Kind::other; j.truthy = v->get_uint64() != 0; j.type_name = "int"; break;
    case boost::json::kind::double_: j.kind = Kind::other; j.truthy = v->get_double() != 0.0; j.type_name = "float"; break;
    case boost::json::kind::array: j.kind = Kind::other; j.truthy = !v->get_array().empty(); j.type_name = "list"; break;
    case boost::json::kind::object: j.kind = Kind::other; j.truthy = !v->get_object().empty(); j.type_name = "dict"; break;
  }
  return j;
}

PHIAL_INLINE TemplateMessage TemplateMessage::from_json(const boost::json::value& message) {
  TemplateMessage m;
  // message['key'] on something that is not a dict is undefined in Jinja (getitem falls back to
  // getattr, which finds nothing).
  if (const auto* o = message.if_object()) {
    m.role = JinjaValue::from_json(o->if_contains("role"));
    m.content = JinjaValue::from_json(o->if_contains("content"));
    m.tools = JinjaValue::from_json(o->if_contains("tools"));
  }
  return m;
}

// `'literal' + x` in the templates: x must be a str; Jinja raises otherwise.
PHIAL_INLINE const std::string& concat_operand(const JinjaValue& v, std::string_view key, std::size_t index) {
  if (v.kind == JinjaValue::Kind::string) return v.str;
  if (v.kind == JinjaValue::Kind::undefined)
    throw InvalidArgument("message " + std::to_string(index) + ": UndefinedError: 'dict object' has no attribute '" +
                          std::string(key) + "'");
  throw InvalidArgument("message " + std::to_string(index) + ": TypeError: can only concatenate str (not \"" + v.type_name +
                        "\") to str (message['" + std::string(key) + "'])");
}

PHIAL_INLINE void render_template_header(ChatFormat f, std::string& out) {
  if (f == ChatFormat::phi4_reasoning) {
    out += "<|im_start|>system<|im_sep|>";
    out += phi4_reasoning_system_prompt;
    out += "<|im_end|>";
  }
}

// ---- (a) Phi-4, current template (spec 5.1) ----
// {% for message in messages %}
//   {% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}
//   {% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}
//   {% elif (message['role'] == 'assistant') %}{{'<|im_start|>assistant<|im_sep|>' + message['content'] + '<|im_end|>'}}
//   {% endif %}
// {% endfor %}
// {% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}
PHIAL_INLINE void render_phi4(const TemplateMessage& m, std::size_t i, std::string& out) {
  if (m.role.equals("system")) {
    out += "<|im_start|>system<|im_sep|>" + concat_operand(m.content, "content", i) + "<|im_end|>";
  } else if (m.role.equals("user")) {
    out += "<|im_start|>user<|im_sep|>" + concat_operand(m.content, "content", i) + "<|im_end|>";
  } else if (m.role.equals("assistant")) {
    out += "<|im_start|>assistant<|im_sep|>" + concat_operand(m.content, "content", i) + "<|im_end|>";
  }  // any other role (tool, developer, ...) and a missing role: dropped, content never read
}

// ---- (b) Phi-4, original Dec-2024 template (spec 5.1) ----
// {% for message in messages %}
//   {% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}
//   {% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|><|im_start|>assistant<|im_sep|>'}}
//   {% elif (message['role'] == 'assistant') %}{{message['content'] + '<|im_end|>'}}
//   {% endif %}
// {% endfor %}
// (no add_generation_prompt branch at all)
PHIAL_INLINE void render_phi4_dec2024(const TemplateMessage& m, std::size_t i, std::string& out) {
  if (m.role.equals("system")) {
    out += "<|im_start|>system<|im_sep|>" + concat_operand(m.content, "content", i) + "<|im_end|>";
  } else if (m.role.equals("user")) {
    out += "<|im_start|>user<|im_sep|>" + concat_operand(m.content, "content", i) +
           "<|im_end|><|im_start|>assistant<|im_sep|>";
  } else if (m.role.equals("assistant")) {
    out += concat_operand(m.content, "content", i) + "<|im_end|>";
  }
}

// ---- (c) Phi-4-reasoning / -plus (spec 5.2) ----
// <|im_start|>system<|im_sep|>You are Phi, ... guidelines:<|im_end|>
// {% for message in messages %}
//   {% if (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}
//   {% elif (message['role'] == 'assistant') %}{{'<|im_start|>assistant<|im_sep|>'}}
//       {% generation %}{{message['content'] + '<|im_end|>'}}{% endgeneration %}
//   {% endif %}
// {% endfor %}
// {% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}
// ({% generation %} only marks assistant tokens for training masks: a no-op for rendering.)
PHIAL_INLINE void render_phi4_reasoning(const TemplateMessage& m, std::size_t i, std::string& out) {
  if (m.role.equals("user")) {
    out += "<|im_start|>user<|im_sep|>" + concat_operand(m.content, "content", i) + "<|im_end|>";
  } else if (m.role.equals("assistant")) {
    // The header is printed before the content is evaluated: Jinja streams output, but a raise
    // aborts the whole render anyway, so the order is not observable.
    out += "<|im_start|>assistant<|im_sep|>";
    out += concat_operand(m.content, "content", i) + "<|im_end|>";
  }  // system messages (and every other role) are dropped
}

// ---- (d) Phi-4-mini-instruct / -flash-reasoning (spec 5.3) ----
// {% for message in messages %}
//   {% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}
//     {{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}
//   {% else %}
//     {{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}
//   {% endif %}
// {% endfor %}
// {% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}
PHIAL_INLINE void render_phi4_mini(const TemplateMessage& m, std::size_t i, std::string& out) {
  bool with_tools = m.role.equals("system") && m.tools.kind != JinjaValue::Kind::undefined &&
                    m.tools.kind != JinjaValue::Kind::none;
  // Left-to-right evaluation: role is checked before content, content before tools.
  const std::string& role = concat_operand(m.role, "role", i);
  const std::string& content = concat_operand(m.content, "content", i);
  out += "<|";
  out += role;
  out += "|>";
  out += content;
  if (with_tools) {
    const std::string& tools = concat_operand(m.tools, "tools", i);
    out += "<|tool|>";
    out += tools;
    out += "<|/tool|>";
  }
  out += "<|end|>";
}

// ---- (e) Phi-3.5-mini-instruct (spec 5.7; full source: tokenizer_config.json) ----
// {% for message in messages %}
//   {% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}
//   {% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}
//   {% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}
//   {% endif %}
// {% endfor %}
// {% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}
// (the \n are literal line feeds inside the string literals)
PHIAL_INLINE void render_phi35_mini(const TemplateMessage& m, std::size_t i, std::string& out) {
  if (m.role.equals("system") && m.content.truthy) {
    out += "<|system|>\n" + concat_operand(m.content, "content", i) + "<|end|>\n";
  } else if (m.role.equals("user")) {
    out += "<|user|>\n" + concat_operand(m.content, "content", i) + "<|end|>\n";
  } else if (m.role.equals("assistant")) {
    out += "<|assistant|>\n" + concat_operand(m.content, "content", i) + "<|end|>\n";
  }  // an empty system message falls through every branch: dropped
}

PHIAL_INLINE void render_template_message(ChatFormat f, const TemplateMessage& m, std::size_t index, std::string& out) {
  switch (f) {
    case ChatFormat::phi4: render_phi4(m, index, out); break;
    case ChatFormat::phi4_dec2024: render_phi4_dec2024(m, index, out); break;
    case ChatFormat::phi4_reasoning: render_phi4_reasoning(m, index, out); break;
    case ChatFormat::phi4_mini: render_phi4_mini(m, index, out); break;
    case ChatFormat::phi35_mini: render_phi35_mini(m, index, out); break;
  }
}

PHIAL_INLINE void render_template_tail(ChatFormat f, bool add_generation_prompt, std::string& out) {
  switch (f) {
    case ChatFormat::phi4:
    case ChatFormat::phi4_reasoning:
      if (add_generation_prompt) out += "<|im_start|>assistant<|im_sep|>";
      break;
    case ChatFormat::phi4_dec2024: break;
    case ChatFormat::phi4_mini: out += add_generation_prompt ? "<|assistant|>" : "<|endoftext|>"; break;
    case ChatFormat::phi35_mini: out += add_generation_prompt ? "<|assistant|>\n" : "<|endoftext|>"; break;
  }
}

}  // namespace detail

PHIAL_INLINE std::string render_template_json(ChatFormat f, const boost::json::array& messages, bool add_generation_prompt) {
  std::string out;
  detail::render_template_header(f, out);
  for (std::size_t i = 0; i < messages.size(); ++i)
    detail::render_template_message(f, detail::TemplateMessage::from_json(messages[i]), i, out);
  detail::render_template_tail(f, add_generation_prompt, out);
  return out;
}

}  // namespace phial
#endif  // PHIAL_HEADER_ONLY
