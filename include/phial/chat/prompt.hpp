// phial/chat/prompt.hpp - conversations rendered into prompts for each Phi format, incrementally.
//
//   phial::PromptBuilder pb(phial::ChatFormat::phi4_mini, tools);
//   pb.append({"system", "You are a helpful assistant."});
//   pb.append({"user", "Weather in Paris?"});
//   pb.add_generation_prompt();          // text() now ends with "<|assistant|>"
//   ... generate `out` until <|end|> ...
//   pb.append_generated(out);            // closes the assistant turn exactly as the template would
//   pb.append({"tool", R"({"temp_c": 11})"});
//   pb.add_generation_prompt();          // the text only ever grows: the KV cache stays valid
//
// Messages are rendered by the official templates (chat/templates.hpp) one at a time; tools,
// tool calls and tool results are first turned into the text each family expects (chat/tools.hpp):
//   - Phi-4-mini: the tool list goes on the system message's `tools` key (between <|tool|> and
//     <|/tool|>), calls are <|tool_call|>[...]<|/tool_call|>, results are role "tool" (<|tool|>...<|end|>,
//     the template's literal behaviour).
//   - Phi-4 / Phi-4-dec2024 / Phi-4-reasoning / Phi-3.5 (never trained on tools): phial's text
//     convention - a "# Tools" section in the system message (for Phi-4-reasoning, whose template
//     drops system messages, a user turn), calls in <tool_call>{...}</tool_call>, results as user turns
//     wrapped in <tool_response>...</tool_response>. See docs/prompts.md.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <phial/chat/templates.hpp>
#include <phial/chat/tools.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>

namespace phial {

struct ChatMessage {
  // "system", "user", "assistant", "tool"; other roles are passed to the template as they are
  // (Phi-4-mini renders any role as <|role|>, the other templates drop them).
  std::string role;
  std::string content;
  // The template-level `tools` key of a system message: a JSON *string* pasted verbatim between
  // <|tool|> and <|/tool|> by Phi-4-mini's template (ignored by the other templates). Usually left
  // empty: give PromptBuilder ToolSpecs instead and it fills this in.
  std::optional<std::string> tools;
  // Assistant turns: calls rendered after `content` in the family's call syntax. To keep the KV
  // cache valid, prefer putting the model's raw output in `content` and leaving this empty.
  std::vector<ToolCall> tool_calls;
  // Tool results: which tool answered (informational; not rendered by any Phi template).
  std::string name;

  ChatMessage() = default;
  ChatMessage(std::string r, std::string c) : role(std::move(r)), content(std::move(c)) {}
};

// Renders a whole conversation the way the official template does (including Phi-4-mini's and
// Phi-3.5's trailing eos when add_generation_prompt is false). `tools` (may be empty) are placed
// as PromptBuilder places them.
std::string render_prompt(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt,
                          const std::vector<ToolSpec>& tools = {});

// Append-only prompt text across the turns of one conversation. Never emits the eos that
// Phi-4-mini's / Phi-3.5's template appends without a generation prompt, so the text of turn N is a
// prefix of the text of turn N+1 and the KV cache of turn N stays valid.
class PromptBuilder {
 public:
  explicit PromptBuilder(ChatFormat format, std::vector<ToolSpec> tools = {});

  ChatFormat format() const noexcept { return format_; }
  const std::vector<ToolSpec>& tools() const noexcept { return tools_; }
  const std::string& text() const noexcept { return text_; }
  // True between add_generation_prompt() and append_generated()/append(assistant message).
  bool generating() const noexcept { return open_; }

  // Appends one message; returns the text it added. Tools are rendered with the first message
  // (into it when it is a system message, else as a system message of their own). Throws
  // InvalidArgument for a message the template cannot render (e.g. a non-assistant message while
  // a generation prompt is open).
  std::string_view append(const ChatMessage& message);
  // Opens the assistant turn (no-op text for Phi-4-dec2024, whose user turn already did).
  std::string_view add_generation_prompt();
  // Closes the open assistant turn with the model's output (`content` as generated, without the
  // end-of-turn token): appends content + the end-of-turn text.
  std::string_view append_generated(std::string_view content);
  // Text of the prompt as it would be sent for generation now: text() + the generation header if
  // it is not already open.
  std::string generation_prompt() const;

 private:
  void render_one(const ChatMessage& m, std::string& out);
  ChatFormat format_;
  std::vector<ToolSpec> tools_;
  std::string text_;
  bool started_ = false;      // header rendered
  bool tools_done_ = false;   // tool list rendered
  bool open_ = false;         // generation header appended, assistant turn not closed
  std::size_t count_ = 0;     // messages rendered (for error messages)
};

namespace detail {
// ChatMessage -> what the template sees, with phial's tool conventions applied.
TemplateMessage to_template_message(ChatFormat f, const ChatMessage& m, const std::vector<ToolSpec>* tools_here);
// The assistant header that add_generation_prompt appends.
std::string_view generation_header(ChatFormat f) noexcept;
}  // namespace detail

}  // namespace phial

// ================================================================================================
#if PHIAL_HEADER_ONLY
namespace phial {
namespace detail {

PHIAL_INLINE std::string_view generation_header(ChatFormat f) noexcept {
  switch (f) {
    case ChatFormat::phi4:
    case ChatFormat::phi4_reasoning: return "<|im_start|>assistant<|im_sep|>";
    case ChatFormat::phi4_dec2024: return "";
    case ChatFormat::phi4_mini: return "<|assistant|>";
    case ChatFormat::phi35_mini: return "<|assistant|>\n";
  }
  return "";
}

PHIAL_INLINE TemplateMessage to_template_message(ChatFormat f, const ChatMessage& m, const std::vector<ToolSpec>* tools_here) {
  TemplateMessage t;
  std::string role = m.role;
  std::string content = m.content;
  std::optional<std::string> tools = m.tools;
  const bool has_specs = tools_here && !tools_here->empty();
  if (f == ChatFormat::phi4_mini) {
    if (has_specs && role == "system") tools = phi4_mini_tools_string(*tools_here);
    if (role == "assistant" && !m.tool_calls.empty()) content += phi4_mini_tool_calls_text(m.tool_calls);
    // role "tool" stays "tool": the template renders it as <|tool|>RESULT<|end|>.
  } else {
    if (has_specs && role == "system") {
      if (!content.empty()) content += "\n\n";
      content += text_tools_section(*tools_here);
      // Phi-4-reasoning drops every system message: the tool section goes into a user turn.
      if (f == ChatFormat::phi4_reasoning) role = "user";
    }
    if (role == "assistant" && !m.tool_calls.empty()) {
      if (!content.empty()) content += "\n";
      content += text_tool_calls_text(m.tool_calls);
    }
    if (role == "tool") {  // these templates drop role "tool": results come back as user turns
      role = "user";
      content = text_tool_response(content);
    }
  }
  t.role = JinjaValue::string(std::move(role));
  t.content = JinjaValue::string(std::move(content));
  if (tools) t.tools = JinjaValue::string(std::move(*tools));
  return t;
}

}  // namespace detail

PHIAL_INLINE std::string render_prompt(ChatFormat format, std::span<const ChatMessage> messages, bool add_generation_prompt,
                                       const std::vector<ToolSpec>& tools) {
  PromptBuilder pb(format, tools);
  for (const auto& m : messages) pb.append(m);
  std::string out = pb.text();
  // The builder leaves a generation header open only when asked; a full render follows the template.
  detail::render_template_tail(format, add_generation_prompt, out);
  return out;
}

PHIAL_INLINE PromptBuilder::PromptBuilder(ChatFormat format, std::vector<ToolSpec> tools)
    : format_(format), tools_(std::move(tools)) {}

PHIAL_INLINE void PromptBuilder::render_one(const ChatMessage& m, std::string& out) {
  const std::vector<ToolSpec>* tools_here = nullptr;
  if (!tools_done_ && !tools_.empty()) {
    tools_done_ = true;
    if (m.role == "system") {
      tools_here = &tools_;
    } else {  // no system message first: the tools get one of their own
      ChatMessage sys("system", "");
      detail::render_template_message(format_, detail::to_template_message(format_, sys, &tools_), count_++, out);
    }
  }
  detail::render_template_message(format_, detail::to_template_message(format_, m, tools_here), count_++, out);
}

PHIAL_INLINE std::string_view PromptBuilder::append(const ChatMessage& message) {
  std::string added;
  if (!started_) {
    detail::render_template_header(format_, added);
    started_ = true;
  }
  if (open_) {
    if (message.role != "assistant")
      throw InvalidArgument("PromptBuilder::append: a generation prompt is open; append the assistant's reply (role "
                            "\"assistant\") before a \"" + message.role + "\" message");
    // The header is already in the text: render the message and drop the header it starts with.
    std::string full;
    render_one(message, full);
    auto header = detail::generation_header(format_);
    added += full.substr(full.compare(0, header.size(), header) == 0 ? header.size() : 0);
    open_ = false;
  } else {
    render_one(message, added);
  }
  auto start = text_.size();
  text_ += added;
  return std::string_view(text_).substr(start);
}

PHIAL_INLINE std::string_view PromptBuilder::add_generation_prompt() {
  auto start = text_.size();
  if (!started_) {
    detail::render_template_header(format_, text_);
    started_ = true;
  }
  if (!open_) {
    text_ += detail::generation_header(format_);
    open_ = true;
  }
  return std::string_view(text_).substr(start);
}

PHIAL_INLINE std::string_view PromptBuilder::append_generated(std::string_view content) {
  if (!open_) add_generation_prompt();
  ChatMessage m("assistant", std::string(content));
  return append(m);
}

PHIAL_INLINE std::string PromptBuilder::generation_prompt() const {
  std::string s = text_;
  if (!started_) detail::render_template_header(format_, s);
  if (!open_) s += detail::generation_header(format_);
  return s;
}

}  // namespace phial
#endif  // PHIAL_HEADER_ONLY
