// cmd_prompt.cpp - `phial prompt`: render conversations with the Phi-4 family's chat templates.
//
//   phial prompt --jsonl < cases.jsonl
//       Each input line: {"template": "phi-4" | "phi-4-dec2024" | "phi-4-reasoning" | "phi-4-mini" |
//       "phi-3.5-mini", "messages": [...], "add_generation_prompt": bool}. Messages are rendered exactly
//       as the official Jinja template renders them (extra keys such as "tools" are seen as the
//       template sees them). Each output line: {"text": "<prompt>"}, or {"error": "..."} when the
//       template would raise / the line is not valid.
//   phial prompt --format NAME FILE.json
//       FILE.json: a list of messages, or {"messages": [...], "tools": [OpenAI tool specs],
//       "add_generation_prompt": bool (default true)}. Messages use phial's conventions (assistant
//       "tool_calls" in the OpenAI shape, role "tool" results); prints the prompt text.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include <phial/chat/prompt.hpp>
#include <phial/error.hpp>

#include "cli.hpp"

namespace {

// One JSON string, ASCII only: every non-ASCII character as \uXXXX (surrogate pairs above the
// BMP), so no reader can split a line on U+2028 / U+2029 / U+0085 inside it.
void append_ascii_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  auto u16 = [&](unsigned cp) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out.push_back(hex[(cp >> shift) & 15]);
  };
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) u16(c);
          else out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence (input came from a JSON parser, so it is valid; be safe anyway).
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    unsigned cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0Fu : len == 2 ? c & 0x1Fu : 0xFFFDu;
    if (len > 1 && i + static_cast<std::size_t>(len) > s.size()) { cp = 0xFFFD; len = 1; }
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3Fu);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u16(0xD800 + (cp >> 10));
      u16(0xDC00 + (cp & 0x3FF));
    } else {
      u16(cp);
    }
    i += static_cast<std::size_t>(len);
  }
  out.push_back('"');
}

bool python_truthy(const boost::json::value* v) {
  if (!v) return false;
  return phial::detail::JinjaValue::from_json(v).truthy;
}

boost::json::value parse_json_or_throw(std::string_view text, const std::string& what) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 256;
  auto v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec, {}, opts);
  if (ec) throw phial::InvalidArgument(what + ": invalid JSON: " + ec.message());
  return v;
}

std::string render_case(const boost::json::value& line) {
  if (!line.is_object()) throw phial::InvalidArgument("each line must be a JSON object");
  const auto& o = line.get_object();
  auto* t = o.if_contains("template");
  if (!t || !t->is_string()) throw phial::InvalidArgument("missing string \"template\"");
  auto format = phial::parse_chat_format(std::string_view(t->get_string()));
  if (!format) throw phial::InvalidArgument("unknown template '" + std::string(t->get_string()) + "'");
  static const boost::json::array none;
  const boost::json::array* messages = &none;  // an undefined `messages` iterates as empty in Jinja
  if (auto* m = o.if_contains("messages")) {
    if (!m->is_array()) throw phial::InvalidArgument("\"messages\" must be a list");
    messages = &m->get_array();
  }
  return phial::render_template_json(*format, *messages, python_truthy(o.if_contains("add_generation_prompt")));
}

int run_jsonl() {
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::string out;
    try {
      std::string text = render_case(parse_json_or_throw(line, "input"));
      out = "{\"text\": ";
      append_ascii_json_string(out, text);
    } catch (const std::exception& e) {
      out = "{\"error\": ";
      append_ascii_json_string(out, "line " + std::to_string(line_no) + ": " + e.what());
    }
    out += "}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

phial::ChatMessage message_from_json(const boost::json::value& v, std::size_t i) {
  const std::string where = "message " + std::to_string(i);
  if (!v.is_object()) throw phial::InvalidArgument(where + ": expected an object");
  const auto& o = v.get_object();
  phial::ChatMessage m;
  auto* role = o.if_contains("role");
  if (!role || !role->is_string()) throw phial::InvalidArgument(where + ": missing string \"role\"");
  m.role = std::string(role->get_string());
  if (auto* c = o.if_contains("content"); c && !c->is_null()) {
    if (!c->is_string()) throw phial::InvalidArgument(where + ": \"content\" must be a string");
    m.content = std::string(c->get_string());
  }
  if (auto* t = o.if_contains("tools"); t && !t->is_null()) {
    if (!t->is_string()) throw phial::InvalidArgument(where + ": \"tools\" must be a JSON string (the template pastes it verbatim)");
    m.tools = std::string(t->get_string());
  }
  if (auto* n = o.if_contains("name"); n && n->is_string()) m.name = std::string(n->get_string());
  if (auto* calls = o.if_contains("tool_calls"); calls && calls->is_array()) {
    for (auto& c : calls->get_array()) {
      const boost::json::object* fn = c.is_object() ? &c.get_object() : nullptr;
      if (fn && fn->contains("function") && fn->at("function").is_object()) fn = &fn->at("function").get_object();
      if (!fn || !fn->contains("name") || !fn->at("name").is_string())
        throw phial::InvalidArgument(where + ": each tool call needs a function name");
      phial::ToolCall call;
      call.name = std::string(fn->at("name").get_string());
      if (auto* a = fn->if_contains("arguments")) {
        boost::json::value args = *a;
        if (args.is_string()) args = parse_json_or_throw(std::string_view(a->get_string()), where + " arguments");
        if (!args.is_object()) throw phial::InvalidArgument(where + ": tool call arguments must be a JSON object");
        call.arguments = args.get_object();
      }
      m.tool_calls.push_back(std::move(call));
    }
  }
  return m;
}

int run_file(const std::string& format_name, const std::string& path) {
  auto format = phial::parse_chat_format(format_name);
  if (!format)
    throw phial::cli::UsageError("unknown format '" + format_name +
                                 "' (phi-4, phi-4-dec2024, phi-4-reasoning, phi-4-mini, phi-3.5-mini)");
  std::string text;
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw phial::IoError("cannot open conversation file '" + path + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto doc = parse_json_or_throw(text, path);
  const boost::json::array* msgs = nullptr;
  std::vector<phial::ToolSpec> tools;
  bool add_generation_prompt = true;
  if (doc.is_array()) {
    msgs = &doc.get_array();
  } else if (doc.is_object()) {
    auto& o = doc.get_object();
    if (auto* m = o.if_contains("messages"); m && m->is_array()) msgs = &m->get_array();
    if (auto* t = o.if_contains("tools"); t && t->is_array())
      for (auto& spec : t->get_array()) tools.push_back(phial::ToolSpec::from_json(spec));
    if (auto* g = o.if_contains("add_generation_prompt")) add_generation_prompt = python_truthy(g);
  }
  if (!msgs) throw phial::InvalidArgument(path + ": expected a list of messages or an object with \"messages\"");
  std::vector<phial::ChatMessage> messages;
  for (std::size_t i = 0; i < msgs->size(); ++i) messages.push_back(message_from_json((*msgs)[i], i));
  std::string prompt = phial::render_prompt(*format, messages, add_generation_prompt, tools);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  if (phial::cli::stdout_is_terminal()) std::fputc('\n', stdout);
  return 0;
}

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"format"}, {"jsonl"});
  if (args.has("jsonl")) return run_jsonl();
  if (!args.has("format")) throw phial::cli::UsageError("give --jsonl, or --format NAME and a conversation file");
  if (args.positional().size() != 1) throw phial::cli::UsageError("expected one conversation file (or -)");
  return run_file(*args.get("format"), args.positional()[0]);
}

phial::cli::Register reg{{"prompt", "Render conversations with the Phi-4 family's chat templates",
                          "phial prompt --jsonl < cases.jsonl | phial prompt --format NAME FILE.json\n\n"
                          "  --jsonl          read {\"template\", \"messages\", \"add_generation_prompt\"} lines on stdin,\n"
                          "                   write one {\"text\": ...} (or {\"error\": ...}) line each\n"
                          "  --format NAME    phi-4, phi-4-dec2024, phi-4-reasoning, phi-4-mini, phi-3.5-mini;\n"
                          "                   renders FILE.json (a message list, or {\"messages\", \"tools\",\n"
                          "                   \"add_generation_prompt\"}) with phial's tool conventions",
                          &run}};

}  // namespace
