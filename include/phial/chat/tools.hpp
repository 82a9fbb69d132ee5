// phial/chat/tools.hpp - tool definitions (OpenAI-style JSON Schema) and tool calls, and how they
// are written into prompts: Python-`json.dumps`-style serialisation, Phi-4-mini's compact tool
// list, and the plain-text convention phial uses for families that were never trained on tools.
//
// A tool is described once, in the shape users know from the OpenAI API:
//   {"type": "function", "function": {"name": "get_weather", "description": "...",
//                                     "parameters": {"type": "object", "properties": {...}, "required": [...]}}}
// and rendered into whatever each family expects (see docs/prompts.md).
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include <phial/config.hpp>
#include <phial/error.hpp>

namespace phial {

// One function the model may call. Stored as the OpenAI JSON object (boost::json), validated on
// construction: "type" is "function" and "function" holds a non-empty string "name".
class ToolSpec {
 public:
  ToolSpec() = default;

  // From the OpenAI shape {"type":"function","function":{...}}, or from the bare function object
  // {"name", "description", "parameters"} (wrapped). Throws InvalidArgument naming what is missing.
  static ToolSpec from_json(const boost::json::value& v);
  // From JSON text (throws InvalidArgument on a syntax error).
  static ToolSpec parse(std::string_view json_text);
  // Build one: `parameters` is a JSON Schema object (an empty object means "no arguments").
  static ToolSpec make(std::string name, std::string description, boost::json::object parameters = {});

  const boost::json::object& json() const noexcept { return json_; }
  std::string_view name() const;
  std::string_view description() const;      // "" when absent
  const boost::json::object& parameters() const;  // empty object when absent

 private:
  boost::json::object json_;
};

// One call the model made: a function name and its arguments as a JSON object.
struct ToolCall {
  std::string name;
  boost::json::object arguments;
  std::string id;  // optional: a caller-assigned id (never rendered into Phi prompts)

  friend bool operator==(const ToolCall& a, const ToolCall& b) {
    return a.name == b.name && a.arguments == b.arguments && a.id == b.id;
  }
};

// ---- JSON text exactly as Python's json.dumps(x, ensure_ascii=False) writes it ----
// Separators ", " and ": ", floats as Python's repr, object keys in stored order. Microsoft's
// examples (and most of the model's training data for tools) were produced this way, so phial
// writes tool lists and tool calls in this style.
void append_python_json(std::string& out, const boost::json::value& v);
std::string python_json(const boost::json::value& v);

// ---- Phi-4-mini's native tool list (the string between <|tool|> and <|/tool|>) ----
// Microsoft's compact style from the model card:
//   [{"name": "get_weather_updates", "description": "...",
//     "parameters": {"city": {"description": "...", "type": "str", "default": "London"}}}]
// Each JSON-Schema property becomes {"description", "type" (Python type name), "default" (when the
// schema has one), "enum" (when it has one)}; properties not in "required" and without a default
// get "default": null, so the model can tell required from optional arguments.
std::string phi4_mini_tools_string(const std::vector<ToolSpec>& tools);
// The call syntax Phi-4-mini emits: <|tool_call|>[{"name": ..., "arguments": {...}}]<|/tool_call|>
std::string phi4_mini_tool_calls_text(const std::vector<ToolCall>& calls);

// ---- phial's convention for Phi-4 / Phi-4-reasoning / Phi-3.5 (never trained on tools) ----
// A "# Tools" section (one OpenAI tool JSON per line inside <tools></tools>) that asks for calls as
//   <tool_call>
//   {"name": "...", "arguments": {...}}
//   </tool_call>
// and announces results as <tool_response>...</tool_response>. See docs/prompts.md.
std::string text_tools_section(const std::vector<ToolSpec>& tools);
std::string text_tool_calls_text(const std::vector<ToolCall>& calls);
std::string text_tool_response(std::string_view content);

}  // namespace phial

// ================================================================================================
#if PHIAL_HEADER_ONLY
namespace phial {

namespace detail {

// Python's json encoder escapes exactly these (ensure_ascii=False): " \ and the C0 controls.
PHIAL_INLINE void append_python_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// float.__repr__: shortest round-trip digits; fixed notation for decimal exponents in [-4, 16),
// with ".0" on integral values; otherwise d.ddde+XX (at least two exponent digits).
PHIAL_INLINE void append_python_float(std::string& out, double d) {
  if (std::isnan(d)) { out += "NaN"; return; }
  if (std::isinf(d)) { out += d < 0 ? "-Infinity" : "Infinity"; return; }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // "-1.2345e+02"
  bool negative = !sci.empty() && sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  auto epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits.push_back(c);
  int exp10 = std::stoi(std::string(sci.substr(epos + 1)));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (negative) out.push_back('-');
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      std::string int_part = digits.substr(0, std::min<std::size_t>(digits.size(), static_cast<std::size_t>(exp10) + 1));
      while (int_part.size() < static_cast<std::size_t>(exp10) + 1) int_part.push_back('0');
      std::string frac = digits.size() > static_cast<std::size_t>(exp10) + 1 ? digits.substr(static_cast<std::size_t>(exp10) + 1) : "0";
      out += int_part;
      out.push_back('.');
      out += frac;
    } else {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp10 - 1), '0');
      out += digits;
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(exp10 < 0 ? '-' : '+');
    int a = exp10 < 0 ? -exp10 : exp10;
    if (a < 10) out.push_back('0');
    out += std::to_string(a);
  }
}

PHIAL_INLINE const boost::json::object& empty_json_object() {
  static const boost::json::object empty;
  return empty;
}

// JSON Schema type -> the Python type names of Microsoft's compact tool style.
PHIAL_INLINE boost::json::value python_type_name(const boost::json::value& type) {
  auto one = [](std::string_view t) -> std::string {
    if (t == "string") return "str";
    if (t == "integer") return "int";
    if (t == "number") return "float";
    if (t == "boolean") return "bool";
    if (t == "array") return "list";
    if (t == "object") return "dict";
    if (t == "null") return "None";
    return std::string(t);
  };
  if (type.is_string()) return boost::json::value(one(type.get_string()));
  if (type.is_array()) {  // ["string", "null"] -> "str | None"
    std::string joined;
    for (auto& t : type.get_array()) {
      if (!t.is_string()) continue;
      if (!joined.empty()) joined += " | ";
      joined += one(t.get_string());
    }
    return boost::json::value(joined);
  }
  return boost::json::value("any");
}

}  // namespace detail

PHIAL_INLINE void append_python_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: detail::append_python_float(out, v.get_double()); break;
    case boost::json::kind::string: detail::append_python_json_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (auto& x : v.get_array()) {
        if (!first) out += ", ";
        first = false;
        append_python_json(out, x);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (auto& kv : v.get_object()) {
        if (!first) out += ", ";
        first = false;
        detail::append_python_json_string(out, kv.key());
        out += ": ";
        append_python_json(out, kv.value());
      }
      out.push_back('}');
      break;
    }
  }
}

PHIAL_INLINE std::string python_json(const boost::json::value& v) {
  std::string s;
  append_python_json(s, v);
  return s;
}

// ---- ToolSpec ----

PHIAL_INLINE ToolSpec ToolSpec::from_json(const boost::json::value& v) {
  if (!v.is_object()) throw InvalidArgument("tool spec: expected a JSON object, got " + std::string(boost::json::to_string(v.kind())));
  const auto& o = v.get_object();
  boost::json::object fn;
  if (auto* f = o.if_contains("function")) {
    if (!f->is_object()) throw InvalidArgument("tool spec: \"function\" must be an object");
    if (auto* t = o.if_contains("type"); t && !(t->is_string() && t->get_string() == "function"))
      throw InvalidArgument("tool spec: \"type\" must be \"function\"");
    fn = f->get_object();
  } else {
    fn = o;  // the bare function object
  }
  auto* name = fn.if_contains("name");
  if (!name || !name->is_string() || name->get_string().empty())
    throw InvalidArgument("tool spec: \"function.name\" must be a non-empty string");
  if (auto* d = fn.if_contains("description"); d && !d->is_string())
    throw InvalidArgument("tool spec '" + std::string(name->get_string()) + "': \"description\" must be a string");
  if (auto* p = fn.if_contains("parameters"); p && !p->is_object())
    throw InvalidArgument("tool spec '" + std::string(name->get_string()) + "': \"parameters\" must be a JSON Schema object");
  ToolSpec spec;
  spec.json_["type"] = "function";
  spec.json_["function"] = std::move(fn);
  return spec;
}

PHIAL_INLINE ToolSpec ToolSpec::parse(std::string_view json_text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(boost::json::string_view(json_text.data(), json_text.size()), ec);
  if (ec) throw InvalidArgument("tool spec: invalid JSON: " + ec.message());
  return from_json(v);
}

PHIAL_INLINE ToolSpec ToolSpec::make(std::string name, std::string description, boost::json::object parameters) {
  boost::json::object fn;
  fn["name"] = name;
  fn["description"] = description;
  fn["parameters"] = std::move(parameters);
  return from_json(boost::json::value(std::move(fn)));
}

PHIAL_INLINE std::string_view ToolSpec::name() const {
  auto* f = json_.if_contains("function");
  if (!f) return {};
  auto* n = f->get_object().if_contains("name");
  return n && n->is_string() ? std::string_view(n->get_string()) : std::string_view();
}

PHIAL_INLINE std::string_view ToolSpec::description() const {
  auto* f = json_.if_contains("function");
  if (!f) return {};
  auto* d = f->get_object().if_contains("description");
  return d && d->is_string() ? std::string_view(d->get_string()) : std::string_view();
}

PHIAL_INLINE const boost::json::object& ToolSpec::parameters() const {
  auto* f = json_.if_contains("function");
  if (!f) return detail::empty_json_object();
  auto* p = f->get_object().if_contains("parameters");
  return p && p->is_object() ? p->get_object() : detail::empty_json_object();
}

// ---- Phi-4-mini ----

PHIAL_INLINE std::string phi4_mini_tools_string(const std::vector<ToolSpec>& tools) {
  boost::json::array list;
  for (const auto& t : tools) {
    boost::json::object entry;
    entry["name"] = t.name();
    entry["description"] = t.description();
    boost::json::object params;
    const auto& schema = t.parameters();
    const boost::json::array* required = nullptr;
    if (auto* r = schema.if_contains("required"); r && r->is_array()) required = &r->get_array();
    if (auto* props = schema.if_contains("properties"); props && props->is_object()) {
      for (auto& kv : props->get_object()) {
        boost::json::object p;
        const boost::json::object* ps = kv.value().is_object() ? &kv.value().get_object() : nullptr;
        auto* desc = ps ? ps->if_contains("description") : nullptr;
        p["description"] = desc && desc->is_string() ? desc->get_string() : boost::json::string();
        auto* type = ps ? ps->if_contains("type") : nullptr;
        p["type"] = type ? detail::python_type_name(*type) : boost::json::value("any");
        if (auto* e = ps ? ps->if_contains("enum") : nullptr) p["enum"] = *e;
        bool is_required = false;
        if (required)
          for (auto& r : *required)
            if (r.is_string() && r.get_string() == kv.key()) is_required = true;
        if (auto* d = ps ? ps->if_contains("default") : nullptr)
          p["default"] = *d;
        else if (!is_required)
          p["default"] = nullptr;
        params[kv.key()] = std::move(p);
      }
    }
    entry["parameters"] = std::move(params);
    list.push_back(std::move(entry));
  }
  return python_json(list);
}

PHIAL_INLINE std::string phi4_mini_tool_calls_text(const std::vector<ToolCall>& calls) {
  boost::json::array list;
  for (const auto& c : calls) list.push_back(boost::json::object{{"name", c.name}, {"arguments", c.arguments}});
  return "<|tool_call|>" + python_json(list) + "<|/tool_call|>";
}

// ---- the text convention ----

PHIAL_INLINE std::string text_tools_section(const std::vector<ToolSpec>& tools) {
  std::string s =
      "# Tools\n\n"
      "You may call one or more functions to help with the user query. "
      "The available functions are described by these JSON Schemas:\n<tools>\n";
  for (const auto& t : tools) {
    append_python_json(s, t.json());
    s.push_back('\n');
  }
  s +=
      "</tools>\n\n"
      "To call a function, reply with a JSON object holding its name and arguments between <tool_call> "
      "and </tool_call> tags, one block per call:\n"
      "<tool_call>\n{\"name\": \"<function-name>\", \"arguments\": {\"<argument-name>\": <value>}}\n</tool_call>\n"
      "Each result comes back in the next user turn between <tool_response> and </tool_response> tags.";
  return s;
}

PHIAL_INLINE std::string text_tool_calls_text(const std::vector<ToolCall>& calls) {
  std::string s;
  for (const auto& c : calls) {
    if (!s.empty()) s.push_back('\n');
    s += "<tool_call>\n";
    append_python_json(s, boost::json::object{{"name", c.name}, {"arguments", c.arguments}});
    s += "\n</tool_call>";
  }
  return s;
}

PHIAL_INLINE std::string text_tool_response(std::string_view content) {
  std::string s = "<tool_response>\n";
  s += content;
  s += "\n</tool_response>";
  return s;
}

}  // namespace phial
#endif  // PHIAL_HEADER_ONLY
