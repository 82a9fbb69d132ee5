// phial/chat/output_parser.hpp - a streaming parser of model output: reasoning traces, answer
// text and tool calls, fed text deltas as the model produces them.
//
//   phial::OutputParser parser(phial::OutputParserOptions::for_format(phial::ChatFormat::phi4_mini));
//   std::vector<phial::OutputEvent> events;
//   for (each generated piece of text) parser.feed(piece, events);   // events grow as things are known
//   parser.finish(events);                                           // end of message: flush, close
//
// Event model (docs/prompts.md has the full grammar):
//   text            answer text delta
//   reasoning       reasoning text delta (inside <think> ... </think>, or from the start when the
//                   prompt opened the trace: OutputParserOptions::starts_in_reasoning)
//   reasoning_end   </think> seen; message = "unterminated" when the message ended inside the trace
//   tool_call_begin a tool-call block started; text = the marker (<|tool_call|>, <tool_call>, functools[)
//   tool_name       index = call number in this message, text = the function name (as soon as known)
//   tool_args       index, text = a delta of the raw JSON text of the arguments (a preview)
//   tool_call_end   the block is complete: calls = every parsed call (name + arguments object),
//                   text = the raw block
//   error           a block could not be used: text = the raw block, message = what is wrong.
// Every tool_call_begin is closed by exactly one tool_call_end or error. Deltas of one kind may be
// split differently depending on how the input was chunked; everything else is identical.
//
// Tool-call dialects understood: Phi-4-mini's native <|tool_call|>[{"name": ..., "arguments": {...}}]
// <|/tool_call|>; a missing closing tag; several calls as comma- or newline-separated objects
// without brackets; "parameters" instead of "arguments"; arguments given as a JSON string; the
// OpenAI shape {"type": "function", "function": {...}}; functools[...] (vLLM's prompt); phial's text
// convention <tool_call>{...}</tool_call> for Phi-4 / Phi-4-reasoning. The JSON is delimited by a
// bracket- and string-aware scanner (a `]` or a tag inside an argument string is just content) and
// parsed with Boost.JSON's stream_parser.
//
// The parser holds back only text that might be the start of a tag (at most 12 bytes), and never
// throws: malformed output becomes an error event whose raw text the agent can send back.
// Argument values are not checked against the tools' JSON Schemas here: the agent validates them
// (it knows the schemas and reports mismatches to the model).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include <phial/chat/templates.hpp>
#include <phial/chat/tools.hpp>
#include <phial/config.hpp>

namespace phial {

enum class OutputEventKind { text, reasoning, reasoning_end, tool_call_begin, tool_name, tool_args, tool_call_end, error };

std::string_view output_event_kind_name(OutputEventKind k) noexcept;

struct OutputEvent {
  OutputEventKind kind = OutputEventKind::text;
  std::string text;             // delta / name / marker / raw block (see above)
  int index = -1;               // tool_name, tool_args: the call's number in this message (0, 1, ...)
  std::vector<ToolCall> calls;  // tool_call_end
  std::string message;          // error: what is wrong; reasoning_end: "unterminated" or ""
};

struct OutputParserOptions {
  bool parse_reasoning = true;       // recognise <think> ... </think>
  bool starts_in_reasoning = false;  // the prompt already opened <think>: output starts inside the trace
  bool native_tool_calls = true;     // <|tool_call|> ... <|/tool_call|>
  bool text_tool_calls = true;       // <tool_call> ... </tool_call> (phial's convention)
  bool functools_tool_calls = false; // functools[...]
  // When not empty, a call to any other name is an error.
  std::vector<std::string> tool_names;
  std::size_t max_call_bytes = std::size_t(1) << 20;  // one call's JSON text
  std::size_t max_depth = 64;                         // JSON nesting

  // Defaults for a format: every tag dialect everywhere; functools[ only for Phi-4-mini, which
  // vLLM-style prompts teach it (elsewhere it is too likely to be ordinary Python text).
  static OutputParserOptions for_format(ChatFormat f);
};

class OutputParser {
 public:
  explicit OutputParser(OutputParserOptions options = {});

  // Feeds the next piece of model output; appends the events it completes to `out`.
  void feed(std::string_view delta, std::vector<OutputEvent>& out);
  // End of the message: releases held-back text, closes an open trace or tool call.
  // The parser is then reset for the next message.
  void finish(std::vector<OutputEvent>& out);
  std::vector<OutputEvent> feed(std::string_view delta);
  std::vector<OutputEvent> finish();
  // Forgets everything (starts a new message).
  void reset();

  const OutputParserOptions& options() const noexcept { return options_; }
  // Bytes fed but not yet reported as text/reasoning (a possible tag start, or an open tool call).
  std::size_t pending_bytes() const noexcept { return pending_.size(); }

 private:
  enum class Mode { text, reasoning, block, recovery };
  enum class BlockState { after_marker, between_calls, in_call, after_call, after_body };
  enum class Phase { key, in_key, colon, value, in_value, after_value };
  enum class ValueRole { other, name, args };

  void process(std::vector<OutputEvent>& out, bool final);
  bool step_text(std::vector<OutputEvent>& out, bool final, bool reasoning);
  bool step_block(std::vector<OutputEvent>& out, bool final);
  bool step_recovery(std::vector<OutputEvent>& out, bool final);
  void begin_block(std::string_view marker, bool functools, std::vector<OutputEvent>& out);
  void start_call();
  // Scans one character of a call object; false when the character is not valid there.
  bool scan_call_char(char c, std::vector<OutputEvent>& out);
  void start_value(char c);
  void end_value();
  void finish_call(std::vector<OutputEvent>& out);
  void end_block(std::vector<OutputEvent>& out);
  void fail_block(std::vector<OutputEvent>& out, std::string message);
  void emit_delta(std::vector<OutputEvent>& out, OutputEventKind kind, std::string_view text, int index = -1);
  void flush_args(std::vector<OutputEvent>& out);

  OutputParserOptions options_;
  Mode mode_ = Mode::text;
  std::string pending_;          // input not processed yet
  std::size_t out_start_ = 0;    // events before this index belong to the caller (never merged into)
  std::vector<std::string_view> text_markers_;

  // The current tool-call block.
  std::string raw_;
  bool array_mode_ = false;
  BlockState bstate_ = BlockState::after_marker;
  std::vector<ToolCall> calls_;
  std::string error_;
  int next_index_ = 0;

  // The current call object.
  std::string call_text_;
  std::size_t call_fed_ = 0;  // bytes of call_text_ written to the stream parser
  boost::json::stream_parser json_;
  bool json_failed_ = false;
  std::vector<char> stack_;   // open '{' / '['
  bool in_string_ = false, escaped_ = false;
  Phase phase_ = Phase::key;
  ValueRole role_ = ValueRole::other;
  bool value_scalar_ = false;  // a number/true/false/null: ends at a delimiter
  std::string key_, name_raw_, args_pending_;
  bool name_emitted_ = false;
  int call_index_ = -1;
};

}  // namespace phial

// ================================================================================================
#if PHIAL_HEADER_ONLY
namespace phial {

namespace detail {
inline constexpr std::string_view think_open = "<think>";
inline constexpr std::string_view think_close = "</think>";
inline constexpr std::string_view native_call_open = "<|tool_call|>";
inline constexpr std::string_view text_call_open = "<tool_call>";
inline constexpr std::string_view functools_open = "functools[";
inline constexpr std::string_view call_close_tags[] = {"<|/tool_call|>", "</tool_call>"};

// Length of the longest suffix of `s` that is a proper prefix of one of `markers`.
template <class Markers>
std::size_t partial_marker_suffix(std::string_view s, const Markers& markers) {
  std::size_t longest = 0;
  for (std::string_view m : markers) longest = std::max(longest, m.size());
  std::size_t max_k = std::min(s.size(), longest == 0 ? 0 : longest - 1);
  for (std::size_t k = max_k; k > 0; --k) {
    std::string_view tail = s.substr(s.size() - k);
    for (std::string_view m : markers)
      if (m.size() > k && m.compare(0, k, tail) == 0) return k;
  }
  return 0;
}

PHIAL_INLINE bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
// Characters that may appear outside strings in a JSON value besides the structural ones.
PHIAL_INLINE bool is_json_literal_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}
}  // namespace detail

PHIAL_INLINE std::string_view output_event_kind_name(OutputEventKind k) noexcept {
  switch (k) {
    case OutputEventKind::text: return "text";
    case OutputEventKind::reasoning: return "reasoning";
    case OutputEventKind::reasoning_end: return "reasoning_end";
    case OutputEventKind::tool_call_begin: return "tool_call_begin";
    case OutputEventKind::tool_name: return "tool_name";
    case OutputEventKind::tool_args: return "tool_args";
    case OutputEventKind::tool_call_end: return "tool_call_end";
    case OutputEventKind::error: return "error";
  }
  return "?";
}

PHIAL_INLINE OutputParserOptions OutputParserOptions::for_format(ChatFormat f) {
  OutputParserOptions o;
  o.functools_tool_calls = f == ChatFormat::phi4_mini;
  return o;
}

namespace detail {
PHIAL_INLINE boost::json::parse_options output_parser_json_options(std::size_t max_depth) {
  boost::json::parse_options po;
  po.max_depth = max_depth + 1;
  return po;
}
}  // namespace detail

PHIAL_INLINE OutputParser::OutputParser(OutputParserOptions options)
    : options_(std::move(options)), json_(boost::json::storage_ptr(), detail::output_parser_json_options(options_.max_depth)) {
  reset();
}

PHIAL_INLINE void OutputParser::reset() {
  mode_ = options_.starts_in_reasoning && options_.parse_reasoning ? Mode::reasoning : Mode::text;
  pending_.clear();
  text_markers_.clear();
  if (options_.parse_reasoning) text_markers_.push_back(detail::think_open);
  if (options_.native_tool_calls) text_markers_.push_back(detail::native_call_open);
  if (options_.text_tool_calls) text_markers_.push_back(detail::text_call_open);
  if (options_.functools_tool_calls) text_markers_.push_back(detail::functools_open);
  raw_.clear();
  calls_.clear();
  error_.clear();
  bstate_ = BlockState::after_marker;
  next_index_ = 0;
  call_text_.clear();
  stack_.clear();
  args_pending_.clear();
}

PHIAL_INLINE std::vector<OutputEvent> OutputParser::feed(std::string_view delta) {
  std::vector<OutputEvent> out;
  feed(delta, out);
  return out;
}

PHIAL_INLINE std::vector<OutputEvent> OutputParser::finish() {
  std::vector<OutputEvent> out;
  finish(out);
  return out;
}

PHIAL_INLINE void OutputParser::feed(std::string_view delta, std::vector<OutputEvent>& out) {
  out_start_ = out.size();
  try {
    pending_.append(delta.data(), delta.size());
    process(out, false);
  } catch (const std::exception& e) {  // never past the interface: report and start over
    OutputEvent ev;
    ev.kind = OutputEventKind::error;
    ev.text = raw_ + pending_;
    ev.message = std::string("internal parser error: ") + e.what();
    out.push_back(std::move(ev));
    reset();
  }
}

PHIAL_INLINE void OutputParser::finish(std::vector<OutputEvent>& out) {
  out_start_ = out.size();
  try {
    process(out, true);
    switch (mode_) {
      case Mode::text: break;
      case Mode::reasoning: {
        OutputEvent ev;
        ev.kind = OutputEventKind::reasoning_end;
        ev.message = "unterminated";
        out.push_back(std::move(ev));
        break;
      }
      case Mode::block:
        flush_args(out);
        if (bstate_ == BlockState::after_call || bstate_ == BlockState::after_body) {
          end_block(out);  // a missing closing tag (and maybe a missing ']') at the end of the message
        } else {
          fail_block(out, bstate_ == BlockState::in_call ? "unterminated JSON in tool call" : "tool call block without a call");
          OutputEvent ev;
          ev.kind = OutputEventKind::error;
          ev.text = raw_;
          ev.message = error_;
          out.push_back(std::move(ev));
        }
        break;
      case Mode::recovery: {
        OutputEvent ev;
        ev.kind = OutputEventKind::error;
        ev.text = raw_;
        ev.message = error_;
        out.push_back(std::move(ev));
        break;
      }
    }
  } catch (const std::exception& e) {
    OutputEvent ev;
    ev.kind = OutputEventKind::error;
    ev.text = raw_ + pending_;
    ev.message = std::string("internal parser error: ") + e.what();
    out.push_back(std::move(ev));
  }
  reset();
}

PHIAL_INLINE void OutputParser::emit_delta(std::vector<OutputEvent>& out, OutputEventKind kind, std::string_view text, int index) {
  if (text.empty()) return;
  if (out.size() > out_start_ && out.back().kind == kind && out.back().index == index) {
    out.back().text.append(text.data(), text.size());
    return;
  }
  OutputEvent ev;
  ev.kind = kind;
  ev.text = std::string(text);
  ev.index = index;
  out.push_back(std::move(ev));
}

PHIAL_INLINE void OutputParser::flush_args(std::vector<OutputEvent>& out) {
  if (args_pending_.empty()) return;
  emit_delta(out, OutputEventKind::tool_args, args_pending_, call_index_);
  args_pending_.clear();
}

PHIAL_INLINE void OutputParser::process(std::vector<OutputEvent>& out, bool final) {
  // Each step consumes from pending_; it returns false when it needs more input.
  for (;;) {
    bool progressed = false;
    switch (mode_) {
      case Mode::text: progressed = step_text(out, final, false); break;
      case Mode::reasoning: progressed = step_text(out, final, true); break;
      case Mode::block: progressed = step_block(out, final); break;
      case Mode::recovery: progressed = step_recovery(out, final); break;
    }
    if (!progressed) break;
  }
  if (mode_ == Mode::block) flush_args(out);
}

// Answer text or reasoning text: report everything up to the earliest tag, hold back a tail that
// might be the start of one.
PHIAL_INLINE bool OutputParser::step_text(std::vector<OutputEvent>& out, bool final, bool reasoning) {
  const OutputEventKind kind = reasoning ? OutputEventKind::reasoning : OutputEventKind::text;
  std::string_view close_marker[] = {detail::think_close};
  std::size_t best = std::string_view::npos;
  std::string_view marker;
  if (reasoning) {
    best = pending_.find(detail::think_close);
    marker = detail::think_close;
  } else {
    for (std::string_view m : text_markers_) {
      auto p = pending_.find(m);
      if (p < best) best = p, marker = m;
    }
  }
  if (best != std::string::npos) {
    emit_delta(out, kind, std::string_view(pending_).substr(0, best));
    pending_.erase(0, best + marker.size());
    if (reasoning) {
      OutputEvent ev;
      ev.kind = OutputEventKind::reasoning_end;
      out.push_back(std::move(ev));
      mode_ = Mode::text;
    } else if (marker == detail::think_open) {
      mode_ = Mode::reasoning;
    } else {
      begin_block(marker, marker == detail::functools_open, out);
    }
    return true;
  }
  std::size_t hold = 0;
  if (!final)
    hold = reasoning ? detail::partial_marker_suffix(pending_, close_marker) : detail::partial_marker_suffix(pending_, text_markers_);
  emit_delta(out, kind, std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return false;
}

PHIAL_INLINE void OutputParser::begin_block(std::string_view marker, bool functools, std::vector<OutputEvent>& out) {
  mode_ = Mode::block;
  raw_.assign(marker.data(), marker.size());
  calls_.clear();
  error_.clear();
  array_mode_ = functools;
  bstate_ = functools ? BlockState::between_calls : BlockState::after_marker;
  OutputEvent ev;
  ev.kind = OutputEventKind::tool_call_begin;
  ev.text = std::string(marker);
  out.push_back(std::move(ev));
}

PHIAL_INLINE void OutputParser::fail_block(std::vector<OutputEvent>& out, std::string message) {
  flush_args(out);  // what was already scanned is reported the same way under every chunking
  if (error_.empty()) error_ = std::move(message);
  mode_ = Mode::recovery;
}

PHIAL_INLINE void OutputParser::start_call() {
  call_text_.clear();
  call_fed_ = 0;
  json_.reset();
  json_failed_ = false;
  stack_.clear();
  in_string_ = escaped_ = false;
  phase_ = Phase::key;
  role_ = ValueRole::other;
  value_scalar_ = false;
  key_.clear();
  name_raw_.clear();
  args_pending_.clear();
  name_emitted_ = false;
  call_index_ = next_index_++;
}

PHIAL_INLINE void OutputParser::start_value(char c) {
  phase_ = Phase::in_value;
  value_scalar_ = c != '"' && c != '{' && c != '[';
  if (key_ == "\"name\"" && c == '"')
    role_ = ValueRole::name;
  else if (key_ == "\"arguments\"" || key_ == "\"parameters\"")
    role_ = ValueRole::args;
  else
    role_ = ValueRole::other;
}

PHIAL_INLINE void OutputParser::end_value() {
  phase_ = Phase::after_value;
  role_ = ValueRole::other;
}

// The bracket- and string-aware scanner of one call object. It finds where the object ends and
// streams the name and the raw arguments; the stream parser does the real parsing.
PHIAL_INLINE bool OutputParser::scan_call_char(char c, std::vector<OutputEvent>& out) {
  const std::size_t depth = stack_.size();  // >= 1 while inside the call object
  if (in_string_) {
    if (role_ == ValueRole::args) args_pending_.push_back(c);
    if (depth == 1 && phase_ == Phase::in_key) key_.push_back(c);
    if (depth == 1 && role_ == ValueRole::name) name_raw_.push_back(c);
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
      if (depth == 1 && phase_ == Phase::in_key) {
        phase_ = Phase::colon;
      } else if (depth == 1 && phase_ == Phase::in_value) {
        if (role_ == ValueRole::name && !name_emitted_) {
          boost::system::error_code ec;
          auto v = boost::json::parse(name_raw_, ec);
          if (!ec && v.is_string()) {
            flush_args(out);
            OutputEvent ev;
            ev.kind = OutputEventKind::tool_name;
            ev.text = std::string(v.get_string());
            ev.index = call_index_;
            out.push_back(std::move(ev));
            name_emitted_ = true;
          }
        }
        end_value();
      }
    }
    return true;
  }
  if (detail::is_json_space(c)) {
    if (depth == 1 && phase_ == Phase::in_value && value_scalar_) end_value();
    if (role_ == ValueRole::args) args_pending_.push_back(c);
    return true;
  }
  switch (c) {
    case '"':
      in_string_ = true;
      if (depth == 1 && phase_ == Phase::key) {
        phase_ = Phase::in_key;
        key_ = "\"";
      } else if (depth == 1 && phase_ == Phase::value) {
        start_value(c);
        if (role_ == ValueRole::name) name_raw_ = "\"";
      } else if (depth == 1 && phase_ != Phase::in_value) {
        phase_ = Phase::in_value;  // a string where none belongs: the stream parser will reject it
        role_ = ValueRole::other;
      }
      if (role_ == ValueRole::args) args_pending_.push_back(c);
      return true;
    case '{':
    case '[':
      if (depth == 1 && phase_ == Phase::value) start_value(c);
      if (role_ == ValueRole::args) args_pending_.push_back(c);
      stack_.push_back(c);
      return stack_.size() <= options_.max_depth;
    case '}':
    case ']': {
      if (stack_.back() != (c == '}' ? '{' : '[')) return false;
      if (depth == 1 && phase_ == Phase::in_value && value_scalar_) end_value();
      if (role_ == ValueRole::args && depth >= 2) args_pending_.push_back(c);
      stack_.pop_back();
      if (stack_.size() == 1 && phase_ == Phase::in_value) end_value();  // a container value closed
      return true;
    }
    case ',':
      if (depth == 1) {
        if (phase_ == Phase::in_value && value_scalar_) end_value();
        phase_ = Phase::key;
      } else if (role_ == ValueRole::args) {
        args_pending_.push_back(c);
      }
      return true;
    case ':':
      if (depth == 1 && phase_ == Phase::colon) phase_ = Phase::value;
      else if (role_ == ValueRole::args) args_pending_.push_back(c);
      return true;
    default:
      if (!detail::is_json_literal_char(c)) return false;
      if (depth == 1 && phase_ == Phase::value) start_value(c);
      if (role_ == ValueRole::args) args_pending_.push_back(c);
      return true;
  }
}

// A call object is complete: parse and check it.
PHIAL_INLINE void OutputParser::finish_call(std::vector<OutputEvent>& out) {
  flush_args(out);
  boost::system::error_code ec;
  if (!json_failed_) {
    json_.write(call_text_.data() + call_fed_, call_text_.size() - call_fed_, ec);
    if (!ec) json_.finish(ec);
  }
  if (json_failed_ || ec) {
    fail_block(out, "invalid JSON in tool call");
    return;
  }
  boost::json::value v = json_.release();
  const boost::json::object* obj = &v.as_object();  // the scanner saw '{' ... '}'
  if (!obj->contains("name"))
    if (auto* f = obj->if_contains("function"); f && f->is_object()) obj = &f->get_object();  // OpenAI shape
  auto* name = obj->if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty()) {
    fail_block(out, "tool call without a \"name\" string");
    return;
  }
  ToolCall call;
  call.name = std::string(name->get_string());
  const boost::json::value* args = obj->if_contains("arguments");
  if (!args) args = obj->if_contains("parameters");
  if (args && args->is_string()) {  // arguments given as a JSON string
    boost::system::error_code ec2;
    boost::json::parse_options po;
    po.max_depth = options_.max_depth;
    auto parsed = boost::json::parse(args->get_string(), ec2, {}, po);
    if (ec2 || !parsed.is_object()) {
      fail_block(out, "arguments of tool '" + call.name + "' are a string that is not a JSON object");
      return;
    }
    call.arguments = std::move(parsed.get_object());
  } else if (args && args->is_object()) {
    call.arguments = args->get_object();
  } else if (args && !args->is_null()) {
    fail_block(out, "arguments of tool '" + call.name + "' must be a JSON object");
    return;
  }
  if (!options_.tool_names.empty()) {
    bool known = false;
    for (auto& n : options_.tool_names) known = known || n == call.name;
    if (!known) {
      std::string list;
      for (auto& n : options_.tool_names) list += (list.empty() ? "" : ", ") + n;
      fail_block(out, "unknown tool '" + call.name + "' (available: " + list + ")");
      return;
    }
  }
  if (!name_emitted_) {
    OutputEvent ev;
    ev.kind = OutputEventKind::tool_name;
    ev.text = call.name;
    ev.index = call_index_;
    out.push_back(std::move(ev));
    name_emitted_ = true;
  }
  calls_.push_back(std::move(call));
  bstate_ = BlockState::after_call;
}

PHIAL_INLINE void OutputParser::end_block(std::vector<OutputEvent>& out) {
  OutputEvent ev;
  if (calls_.empty()) {
    ev.kind = OutputEventKind::error;
    ev.message = "tool call block without a call";
  } else {
    ev.kind = OutputEventKind::tool_call_end;
    ev.calls = std::move(calls_);
  }
  ev.text = std::move(raw_);
  out.push_back(std::move(ev));
  raw_.clear();
  calls_.clear();
  error_.clear();
  mode_ = Mode::text;
}

PHIAL_INLINE bool OutputParser::step_block(std::vector<OutputEvent>& out, bool final) {
  std::size_t i = 0;
  auto consume = [&](std::size_t n) {
    raw_.append(pending_, i, n);
    i += n;
  };
  while (i < pending_.size() && mode_ == Mode::block) {
    const char c = pending_[i];
    switch (bstate_) {
      case BlockState::after_marker:
        if (detail::is_json_space(c)) {
          consume(1);
        } else if (c == '[') {
          array_mode_ = true;
          bstate_ = BlockState::between_calls;
          consume(1);
        } else if (c == '{') {
          array_mode_ = false;
          bstate_ = BlockState::between_calls;
        } else {
          fail_block(out, "expected '[' or '{' after the tool call marker");
        }
        break;
      case BlockState::between_calls:
        if (detail::is_json_space(c)) {
          consume(1);
        } else if (c == '{') {
          start_call();
          bstate_ = BlockState::in_call;
        } else if (c == ']' && array_mode_) {
          bstate_ = BlockState::after_body;
          consume(1);
        } else {
          fail_block(out, "expected a tool call object {\"name\": ..., \"arguments\": {...}}");
        }
        break;
      case BlockState::in_call: {
        if (stack_.empty()) {  // the opening '{'
          stack_.push_back('{');
          call_text_.push_back(c);
          consume(1);
          break;
        }
        // Scan as far as this call goes within the available input.
        std::size_t j = i;
        bool bad = false;
        while (j < pending_.size() && !stack_.empty()) {
          if (!scan_call_char(pending_[j], out)) {
            bad = true;
            break;
          }
          ++j;
        }
        call_text_.append(pending_, i, j - i);
        consume(j - i);
        if (bad) {
          fail_block(out, std::string("unexpected '") + pending_[i] + "' in tool call JSON");
          break;
        }
        if (call_text_.size() > options_.max_call_bytes) {
          fail_block(out, "tool call longer than " + std::to_string(options_.max_call_bytes) + " bytes");
          break;
        }
        if (stack_.empty()) {
          finish_call(out);
        } else if (!json_failed_ && call_text_.size() > call_fed_) {
          // Feed the stream parser what arrived; act on its verdict only when the object ends, so
          // the events never depend on how the input was chunked.
          boost::system::error_code ec;
          json_.write(call_text_.data() + call_fed_, call_text_.size() - call_fed_, ec);
          call_fed_ = call_text_.size();
          if (ec) json_failed_ = true;
        }
        break;
      }
      case BlockState::after_call:
        if (detail::is_json_space(c)) {
          consume(1);
        } else if (c == ',') {
          bstate_ = BlockState::between_calls;
          consume(1);
        } else if (c == ']' && array_mode_) {
          bstate_ = BlockState::after_body;
          consume(1);
        } else if (c == '{' && !array_mode_) {
          bstate_ = BlockState::between_calls;  // newline-separated objects
        } else {
          bstate_ = BlockState::after_body;  // e.g. a missing ']' before the closing tag
        }
        break;
      case BlockState::after_body: {
        if (detail::is_json_space(c)) {
          consume(1);
          break;
        }
        std::string_view rest = std::string_view(pending_).substr(i);
        bool waiting = false;
        for (std::string_view tag : detail::call_close_tags) {
          if (rest.substr(0, tag.size()) == tag) {
            consume(tag.size());
            end_block(out);
            break;
          }
          if (tag.size() > rest.size() && tag.compare(0, rest.size(), rest) == 0) {
            if (final) consume(rest.size());  // a closing tag cut off by the end of the message
            waiting = true;
            break;
          }
        }
        if (mode_ != Mode::block) break;
        if (waiting) {
          if (final) end_block(out);
          pending_.erase(0, i);
          return mode_ != Mode::block;
        }
        end_block(out);  // no closing tag: the block ended with its JSON
        break;
      }
    }
  }
  pending_.erase(0, i);
  return mode_ != Mode::block;  // a new mode continues with the rest; otherwise all input is used
}

// After a malformed call: everything up to the closing tag (or the end of the message) belongs
// to the failed block and goes into the error event.
PHIAL_INLINE bool OutputParser::step_recovery(std::vector<OutputEvent>& out, bool final) {
  std::size_t best = std::string::npos, best_len = 0;
  for (std::string_view tag : detail::call_close_tags) {
    auto p = pending_.find(tag);
    if (p < best) best = p, best_len = tag.size();
  }
  if (best != std::string::npos) {
    raw_.append(pending_, 0, best + best_len);
    pending_.erase(0, best + best_len);
    OutputEvent ev;
    ev.kind = OutputEventKind::error;
    ev.text = std::move(raw_);
    ev.message = std::move(error_);
    out.push_back(std::move(ev));
    raw_.clear();
    error_.clear();
    calls_.clear();
    mode_ = Mode::text;
    return true;
  }
  std::size_t hold = final ? 0 : detail::partial_marker_suffix(pending_, detail::call_close_tags);
  raw_.append(pending_, 0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return false;
}

}  // namespace phial
#endif  // PHIAL_HEADER_ONLY
