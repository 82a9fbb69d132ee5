// phial/sample/json_schema.hpp - JSON Schema (a subset) -> byte grammar, and the tool-call grammar.
//
// Supported keywords:
//   type (a name or a list of names): object, array, string, number, integer, boolean, null
//   properties (generated in declared order; optional ones may be skipped), required
//   additionalProperties: undeclared properties are never generated, whatever its value;
//     an object schema without "properties" accepts any object (free keys and values), unless
//     additionalProperties is false, which makes it exactly {}
//   items, minItems, maxItems
//   enum, const (any JSON values; matched as their compact serialization)
//   anyOf / oneOf (alternatives must start with different bytes, e.g. string vs null vs number;
//     alternatives that contain one another are merged: integer into number, string enums into a
//     free string; two object alternatives are rejected with GrammarError)
//   format: date, date-time (RFC 3339: YYYY-MM-DDTHH:MM:SS then Z or +HH:MM, no fraction)
//   true / {} (any JSON value)
// Annotations (description, title, default, examples, $schema, $id, ...) are ignored. Validation
// keywords this compiler does not enforce (pattern, minLength, minimum, multipleOf, ...) make
// compilation fail when `strict` is set; by default they are ignored and documented as such.
// $ref, allOf, not, if/then/else, patternProperties, prefixItems: always a GrammarError.
#pragma once
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/sample/grammar.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace phial {

struct SchemaOptions {
  bool strict = false;  // fail on validation keywords that the grammar does not enforce
};

namespace detail {

class SchemaCompiler {
 public:
  explicit SchemaCompiler(SchemaOptions opts) : opts_(opts) {
    // Helper nodes for free values; any_object and any_array must follow any_value (see step_frame).
    P_.any_value = add(NodeKind::any);
    add(NodeKind::any_object);
    add(NodeKind::any_array);
    P_.any_string = add(NodeKind::string);
    P_.any_number = add(NodeKind::number);
    P_.any_literal = add_literals({"false", "null", "true"});
  }

  std::uint32_t compile(const boost::json::value& schema, const std::string& where, int depth = 0) {
    if (depth > 24) fail(where, "nested deeper than 24 levels");
    if (schema.is_bool()) {
      if (!schema.get_bool()) fail(where, "schema `false` accepts nothing");
      return P_.any_value;
    }
    if (!schema.is_object()) fail(where, "a schema must be an object or a boolean");
    const auto& o = schema.get_object();
    for (const char* kw : {"$ref", "allOf", "not", "if", "then", "else", "patternProperties", "prefixItems",
                           "dependentSchemas", "unevaluatedProperties", "contains"})
      if (o.contains(kw)) fail(where, std::string("keyword \"") + kw + "\" is not supported");
    if (opts_.strict) {
      for (const char* kw : {"pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
                             "exclusiveMaximum", "multipleOf", "uniqueItems", "minProperties", "maxProperties",
                             "dependentRequired"})
        if (o.contains(kw)) fail(where, std::string("keyword \"") + kw + "\" is not enforced (strict mode)");
    }

    if (const auto* c = o.if_contains("const")) return add_literals({boost::json::serialize(*c)});
    if (const auto* e = o.if_contains("enum")) {
      if (!e->is_array() || e->get_array().empty()) fail(where, "\"enum\" must be a non-empty array");
      std::vector<std::string> lits;
      for (const auto& v : e->get_array()) lits.push_back(boost::json::serialize(v));
      return add_literals(std::move(lits));
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (const auto* a = o.if_contains(kw)) {
        if (!a->is_array() || a->get_array().empty()) fail(where, std::string("\"") + kw + "\" must be a non-empty array");
        std::vector<std::uint32_t> alts;
        std::size_t i = 0;
        for (const auto& alt : a->get_array()) alts.push_back(compile(alt, where + "/" + kw + "/" + std::to_string(i++), depth + 1));
        return any_of(std::move(alts), where);
      }
    }

    if (const auto* t = o.if_contains("type")) {
      if (t->is_string()) return compile_type(o, std::string(t->get_string()), where, depth);
      if (t->is_array()) {
        std::vector<std::uint32_t> alts;
        for (const auto& name : t->get_array()) {
          if (!name.is_string()) fail(where, "\"type\" list must hold strings");
          alts.push_back(compile_type(o, std::string(name.get_string()), where, depth));
        }
        if (alts.empty()) fail(where, "\"type\" list is empty");
        return any_of(std::move(alts), where);
      }
      fail(where, "\"type\" must be a string or a list of strings");
    }
    if (o.contains("properties")) return compile_type(o, "object", where, depth);
    if (o.contains("items")) return compile_type(o, "array", where, depth);
    return P_.any_value;
  }

  // {"name": <one of the names>, "arguments": <its schema>}
  std::uint32_t tagged(std::vector<std::pair<std::string, std::uint32_t>> calls) {
    std::sort(calls.begin(), calls.end());
    const std::uint32_t id = add(NodeKind::tagged);
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (i > 0 && calls[i].first == calls[i - 1].first) throw GrammarError("tool-call grammar: duplicate tool name " + calls[i].first);
      P_.nodes[id].lits.push_back(calls[i].first);
      P_.nodes[id].children.push_back(calls[i].second);
    }
    if (calls.empty()) throw GrammarError("tool-call grammar: no tools");
    set_first(id, '{');
    return id;
  }
  std::uint32_t array_of(std::uint32_t item, std::uint32_t min_items, std::uint32_t max_items) {
    const std::uint32_t id = add(NodeKind::array);
    P_.nodes[id].item = item;
    P_.nodes[id].min_items = min_items;
    P_.nodes[id].max_items = max_items;
    set_first(id, '[');
    return id;
  }
  std::uint32_t special(std::int32_t token_id) {
    const std::uint32_t id = add(NodeKind::special);
    P_.nodes[id].special_id = token_id;
    return id;
  }
  std::uint32_t sequence(std::vector<std::uint32_t> children) {
    const std::uint32_t id = add(NodeKind::sequence);
    P_.nodes[id].children = std::move(children);
    return id;
  }
  std::uint32_t add_literals(std::vector<std::string> lits) {
    std::sort(lits.begin(), lits.end());
    lits.erase(std::unique(lits.begin(), lits.end()), lits.end());
    const std::uint32_t id = add(NodeKind::literals);
    for (const auto& l : lits) {
      if (l.empty()) throw GrammarError("grammar: empty literal");
      set_first(id, static_cast<std::uint8_t>(l[0]));
    }
    P_.nodes[id].lits = std::move(lits);
    return id;
  }

  std::shared_ptr<const Program> finish(std::uint32_t root, std::string source) {
    if (P_.nodes.size() >= 0xFFFF) throw GrammarError("grammar: more than 65535 nodes");
    P_.root = root;
    P_.source = std::move(source);
    return std::make_shared<const Program>(std::move(P_));
  }

 private:
  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw GrammarError("JSON schema at " + (where.empty() ? std::string("#") : where) + ": " + what);
  }

  std::uint32_t add(NodeKind k) {
    P_.nodes.emplace_back();
    P_.nodes.back().kind = k;
    auto& f = P_.nodes.back().first;
    auto set = [&f](unsigned char c) { f[c >> 6] |= 1ull << (c & 63); };
    switch (k) {
      case NodeKind::any: for (unsigned char c : std::string_view("{[\"-0123456789tfn")) set(c); break;
      case NodeKind::any_object: case NodeKind::object: set('{'); break;
      case NodeKind::any_array: set('['); break;
      case NodeKind::string: set('"'); break;
      case NodeKind::number: for (unsigned char c : std::string_view("-0123456789")) set(c); break;
      default: break;
    }
    return static_cast<std::uint32_t>(P_.nodes.size() - 1);
  }
  void set_first(std::uint32_t id, std::uint8_t c) { P_.nodes[id].first[c >> 6] |= 1ull << (c & 63); }

  std::uint32_t compile_type(const boost::json::object& o, const std::string& type, const std::string& where, int depth) {
    if (type == "string") {
      StringFormat fmt = StringFormat::none;
      if (const auto* f = o.if_contains("format"); f && f->is_string()) {
        if (f->get_string() == "date") fmt = StringFormat::date;
        else if (f->get_string() == "date-time") fmt = StringFormat::date_time;
        else if (opts_.strict) fail(where, "string format \"" + std::string(f->get_string()) + "\" is not enforced (strict mode)");
      }
      if (fmt == StringFormat::none) return P_.any_string;
      const std::uint32_t id = add(NodeKind::string);
      P_.nodes[id].format = fmt;
      return id;
    }
    if (type == "number") return P_.any_number;
    if (type == "integer") {
      const std::uint32_t id = add(NodeKind::number);
      P_.nodes[id].integer = true;
      return id;
    }
    if (type == "boolean") return add_literals({"false", "true"});
    if (type == "null") return add_literals({"null"});
    if (type == "array") {
      std::uint32_t item = P_.any_value;
      if (const auto* it = o.if_contains("items")) item = compile(*it, where + "/items", depth + 1);
      const std::uint32_t min_items = count_keyword(o, "minItems", 0, where);
      const std::uint32_t max_items = count_keyword(o, "maxItems", 0xFFFFFFFFu, where);
      if (min_items > max_items) fail(where, "minItems > maxItems");
      return array_of(item, min_items, max_items);
    }
    if (type == "object") {
      const auto* props = o.if_contains("properties");
      const auto* addl = o.if_contains("additionalProperties");
      const bool closed = addl && addl->is_bool() && !addl->get_bool();
      if (!props) return closed ? add_literals({"{}"}) : P_.any_value + 1;
      if (!props->is_object()) fail(where, "\"properties\" must be an object");
      std::vector<std::string> required;
      if (const auto* r = o.if_contains("required")) {
        if (!r->is_array()) fail(where, "\"required\" must be an array");
        for (const auto& name : r->get_array()) {
          if (!name.is_string()) fail(where, "\"required\" must hold strings");
          if (!props->get_object().contains(name.get_string()))
            fail(where, "required property \"" + std::string(name.get_string()) + "\" is not declared in \"properties\"");
          required.emplace_back(name.get_string());
        }
      }
      if (props->get_object().size() > 64) fail(where, "more than 64 properties");
      std::vector<Property> list;
      for (const auto& kv : props->get_object()) {
        Property p;
        p.key = boost::json::serialize(boost::json::string(kv.key()));
        p.required = std::find(required.begin(), required.end(), std::string(kv.key())) != required.end();
        p.node = compile(kv.value(), where + "/properties/" + std::string(kv.key()), depth + 1);
        list.push_back(std::move(p));
      }
      if (list.empty()) return add_literals({"{}"});
      const std::uint32_t id = add(NodeKind::object);
      P_.nodes[id].props = std::move(list);
      return id;
    }
    fail(where, "unknown type \"" + type + "\"");
  }

  static std::uint32_t count_keyword(const boost::json::object& o, const char* kw, std::uint32_t dflt, const std::string& where) {
    const auto* v = o.if_contains(kw);
    if (!v) return dflt;
    if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= 0xFFFFFFF) return static_cast<std::uint32_t>(v->get_int64());
    if (v->is_uint64() && v->get_uint64() <= 0xFFFFFFF) return static_cast<std::uint32_t>(v->get_uint64());
    fail(where, std::string("\"") + kw + "\" must be a small non-negative integer");
  }

  static bool overlaps(const Node& a, const Node& b) {
    for (int i = 0; i < 4; ++i)
      if (a.first[static_cast<std::size_t>(i)] & b.first[static_cast<std::size_t>(i)]) return true;
    return false;
  }
  // Whether everything `a` accepts is also accepted by `b` (the cheap cases only).
  bool subsumed(std::uint32_t a, std::uint32_t b) const {
    if (a == b) return true;
    const Node& na = P_.nodes[a];
    const Node& nb = P_.nodes[b];
    if (nb.kind == NodeKind::any) return true;
    if (nb.kind == NodeKind::string && nb.format == StringFormat::none) {
      if (na.kind == NodeKind::string) return true;
      if (na.kind == NodeKind::literals) {
        for (const auto& l : na.lits) {
          auto v = boost::json::parse(l);
          if (!v.is_string()) return false;
        }
        return true;
      }
    }
    if (nb.kind == NodeKind::number && !nb.integer) {
      if (na.kind == NodeKind::number) return true;
      if (na.kind == NodeKind::literals) {
        for (const auto& l : na.lits) {
          auto v = boost::json::parse(l);
          if (!v.is_number()) return false;
        }
        return true;
      }
    }
    if (nb.kind == NodeKind::number && nb.integer && na.kind == NodeKind::number && na.integer) return true;
    return false;
  }

  std::uint32_t any_of(std::vector<std::uint32_t> alts, const std::string& where) {
    // Flatten nested anyOf, merge literal sets, drop alternatives contained in another.
    std::vector<std::uint32_t> flat;
    for (auto a : alts) {
      if (P_.nodes[a].kind == NodeKind::any_of) flat.insert(flat.end(), P_.nodes[a].children.begin(), P_.nodes[a].children.end());
      else flat.push_back(a);
    }
    std::vector<std::string> lits;
    std::vector<std::uint32_t> rest;
    for (auto a : flat) {
      if (P_.nodes[a].kind == NodeKind::literals) lits.insert(lits.end(), P_.nodes[a].lits.begin(), P_.nodes[a].lits.end());
      else rest.push_back(a);
    }
    if (!lits.empty()) rest.push_back(add_literals(std::move(lits)));
    std::vector<std::uint32_t> kept;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      bool drop = false;
      for (std::size_t j = 0; j < rest.size() && !drop; ++j)
        if (i != j && subsumed(rest[i], rest[j]) && !(subsumed(rest[j], rest[i]) && j > i)) drop = true;
      if (!drop) kept.push_back(rest[i]);
    }
    if (kept.size() == 1) return kept[0];
    for (std::size_t i = 0; i < kept.size(); ++i)
      for (std::size_t j = i + 1; j < kept.size(); ++j)
        if (overlaps(P_.nodes[kept[i]], P_.nodes[kept[j]]))
          fail(where, "anyOf/oneOf alternatives must start with different characters (e.g. two object or two "
                      "array alternatives are not supported)");
    const std::uint32_t id = add(NodeKind::any_of);
    for (auto k : kept)
      for (int w = 0; w < 4; ++w) P_.nodes[id].first[static_cast<std::size_t>(w)] |= P_.nodes[k].first[static_cast<std::size_t>(w)];
    P_.nodes[id].children = std::move(kept);
    return id;
  }

  SchemaOptions opts_;
  Program P_;
};

// A small process-wide cache of compiled grammars, keyed by their source text.
class GrammarCache {
 public:
  static GrammarCache& instance() {
    static GrammarCache cache;
    return cache;
  }
  std::shared_ptr<const Program> find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
  }
  void put(const std::string& key, std::shared_ptr<const Program> p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= 256) map_.clear();  // crude bound; compiling again is cheap
    map_[key] = std::move(p);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Program>> map_;
};

}  // namespace detail

// Compiles a JSON Schema (as a Boost.JSON value) to a grammar of one JSON value.
inline Grammar json_schema_grammar(const boost::json::value& schema, SchemaOptions opts = {}) {
  const std::string key = std::string(opts.strict ? "schema/strict:" : "schema:") + boost::json::serialize(schema);
  if (auto p = detail::GrammarCache::instance().find(key)) return Grammar(p);
  detail::SchemaCompiler c(opts);
  const std::uint32_t root = c.compile(schema, "#");
  auto program = c.finish(root, boost::json::serialize(schema));
  detail::GrammarCache::instance().put(key, program);
  return Grammar(std::move(program));
}

// Same, from schema text (cached by the text).
inline Grammar json_schema_grammar(std::string_view schema_text, SchemaOptions opts = {}) {
  const std::string key = std::string(opts.strict ? "text/strict:" : "text:") + std::string(schema_text);
  if (auto p = detail::GrammarCache::instance().find(key)) return Grammar(p);
  boost::system::error_code ec;
  auto v = boost::json::parse(schema_text, ec);
  if (ec) throw GrammarError("JSON schema: not valid JSON: " + ec.message());
  Grammar g = json_schema_grammar(v, opts);
  detail::GrammarCache::instance().put(key, g.shared_program());
  return g;
}

// ---------------------------------------------------------------------------------------------
// The tool-call grammar.

// A wrapper around the call list: a special token (by id) or literal text.
struct GrammarTerminal {
  std::int32_t token_id = -1;  // >= 0: this special token
  std::string text;            // otherwise this text (empty and no id: nothing)
};

struct ToolCallFormat {
  GrammarTerminal open;   // e.g. <|tool_call|> (id 200025)
  GrammarTerminal close;  // e.g. <|/tool_call|> (id 200026)
  bool json_list = true;  // [call, call, ...] (true) or a single call object
  std::int32_t max_calls = -1;  // list mode: at most this many calls (-1: no limit)

  // Phi-4-mini: <|tool_call|>[{"name": ..., "arguments": {...}}, ...]<|/tool_call|> (spec §5.3).
  static ToolCallFormat phi4_mini() { return {{200025, "<|tool_call|>"}, {200026, "<|/tool_call|>"}, true, -1}; }
  // The plain-text convention phial's prompts use for families never trained on tools (Phi-4,
  // Phi-4-reasoning; docs/prompts.md, include/phial/chat/tools.hpp):
  //   <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>    (one call per block)
  static ToolCallFormat text_tags() { return {{-1, "<tool_call>\n"}, {-1, "\n</tool_call>"}, false, 1}; }
};

struct ToolSchema {
  std::string name;
  boost::json::value parameters;  // JSON Schema of the arguments object (null: no arguments, "{}")
};

inline Grammar tool_call_grammar(std::span<const ToolSchema> tools, const ToolCallFormat& format, SchemaOptions opts = {}) {
  boost::json::object keyobj;
  boost::json::array tl;
  for (const auto& t : tools) tl.push_back(boost::json::object{{"name", t.name}, {"parameters", t.parameters}});
  keyobj["tools"] = std::move(tl);
  keyobj["open"] = boost::json::array{format.open.token_id, boost::json::string(format.open.text)};
  keyobj["close"] = boost::json::array{format.close.token_id, boost::json::string(format.close.text)};
  keyobj["list"] = format.json_list;
  keyobj["max"] = format.max_calls;
  keyobj["strict"] = opts.strict;
  const std::string key = "tools:" + boost::json::serialize(keyobj);
  if (auto p = detail::GrammarCache::instance().find(key)) return Grammar(p);

  detail::SchemaCompiler c(opts);
  std::vector<std::pair<std::string, std::uint32_t>> calls;
  for (const auto& t : tools) {
    if (t.name.empty()) throw GrammarError("tool-call grammar: a tool has an empty name");
    // No parameters (null or {}): the arguments are exactly {}.
    const bool none = t.parameters.is_null() || (t.parameters.is_object() && t.parameters.get_object().empty());
    const std::uint32_t args = none ? c.add_literals({"{}"}) : c.compile(t.parameters, "tool " + t.name + " parameters");
    calls.emplace_back(boost::json::serialize(boost::json::string(t.name)), args);
  }
  const std::uint32_t call = c.tagged(std::move(calls));
  std::uint32_t body = call;
  if (format.json_list)
    body = c.array_of(call, 1, format.max_calls < 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(std::max(1, format.max_calls)));
  std::vector<std::uint32_t> seq;
  auto terminal = [&](const GrammarTerminal& t) {
    if (t.token_id >= 0) seq.push_back(c.special(t.token_id));
    else if (!t.text.empty()) seq.push_back(c.add_literals({t.text}));
  };
  terminal(format.open);
  seq.push_back(body);
  terminal(format.close);
  auto program = c.finish(c.sequence(std::move(seq)), key);
  detail::GrammarCache::instance().put(key, program);
  return Grammar(std::move(program));
}

}  // namespace phial
