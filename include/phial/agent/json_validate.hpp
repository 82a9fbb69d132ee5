// phial/agent/json_validate.hpp - validates tool arguments against the JSON Schema subset that
// json_schema_of.hpp generates (plus a few common keywords hand-written schemas of raw tools use).
//
// Keywords: type (a name or an array of names), enum, const, properties, required,
// additionalProperties (bool or schema), items, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, minLength, maxLength (in code points), minItems, maxItems, anyOf.
// Annotations (description, title, default, ...) are ignored; unknown keywords are ignored.
// A property that is not required may be null (read as "absent"), matching json_traits<optional>.
//
// Errors are plain sentences with a path, e.g. `$.city: expected string, got integer`: they go
// back to the model as an observation, so they should say what to fix.
#pragma once
#include <phial/agent/json_schema_of.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace phial {

struct ValidationResult {
  std::vector<std::string> errors;  // empty when valid
  bool ok() const { return errors.empty(); }
  // "a; b; c" for an observation.
  std::string message() const {
    std::string m;
    for (const auto& e : errors) {
      if (!m.empty()) m += "; ";
      m += e;
    }
    return m;
  }
};

namespace detail {

class SchemaValidator {
 public:
  explicit SchemaValidator(std::size_t max_errors) : max_errors_(max_errors) {}

  void check(const boost::json::value& v, const boost::json::object& schema, const std::string& path) {
    if (errors.size() >= max_errors_) return;
    if (const auto* t = schema.if_contains("type"); t && !type_matches(v, *t)) {
      fail(path, "expected " + type_text(*t) + ", got " + json_kind_name(v));
      return;  // the other keywords assume the right type
    }
    if (const auto* e = schema.if_contains("enum"); e && e->is_array()) {
      bool found = false;
      for (const auto& allowed : e->get_array()) found = found || json_equal(v, allowed);
      if (!found) fail(path, "must be one of " + boost::json::serialize(*e));
    }
    if (const auto* c = schema.if_contains("const"); c && !json_equal(v, *c))
      fail(path, "must be " + boost::json::serialize(*c));
    if (const auto* any = schema.if_contains("anyOf"); any && any->is_array()) check_any_of(v, any->get_array(), path);
    if (v.is_number()) check_number(v, schema, path);
    if (v.is_string()) check_string(v.get_string(), schema, path);
    if (v.is_array()) check_array(v.get_array(), schema, path);
    if (v.is_object()) check_object(v.get_object(), schema, path);
  }

  std::vector<std::string> errors;

 private:
  void fail(const std::string& path, const std::string& what) {
    if (errors.size() < max_errors_) errors.push_back(path + ": " + what);
  }

  static bool is_integral_number(const boost::json::value& v) {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::isfinite(v.get_double()) && std::floor(v.get_double()) == v.get_double();
  }

  static bool type_name_matches(const boost::json::value& v, boost::json::string_view name) {
    if (name == "object") return v.is_object();
    if (name == "array") return v.is_array();
    if (name == "string") return v.is_string();
    if (name == "boolean") return v.is_bool();
    if (name == "null") return v.is_null();
    if (name == "number") return v.is_number();
    if (name == "integer") return is_integral_number(v);
    return false;
  }

  static bool type_matches(const boost::json::value& v, const boost::json::value& type) {
    if (type.is_string()) return type_name_matches(v, type.get_string());
    if (type.is_array()) {
      for (const auto& t : type.get_array())
        if (t.is_string() && type_name_matches(v, t.get_string())) return true;
      return false;
    }
    return true;  // a malformed "type" constrains nothing
  }

  static std::string type_text(const boost::json::value& type) {
    if (type.is_string()) return std::string(type.get_string());
    std::string s;
    if (type.is_array())
      for (const auto& t : type.get_array())
        if (t.is_string()) s += (s.empty() ? "" : " or ") + std::string(t.get_string());
    return s;
  }

  static double as_double(const boost::json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    if (v.is_double()) return v.get_double();
    return 0.0;
  }

  // Numbers compare by value (1 == 1.0), everything else structurally.
  static bool json_equal(const boost::json::value& a, const boost::json::value& b) {
    if (a.is_number() && b.is_number()) return as_double(a) == as_double(b);
    return a == b;
  }

  void check_number(const boost::json::value& v, const boost::json::object& s, const std::string& path) {
    const double x = as_double(v);
    if (const auto* m = s.if_contains("minimum"); m && m->is_number() && x < as_double(*m))
      fail(path, "must be >= " + boost::json::serialize(*m));
    if (const auto* m = s.if_contains("maximum"); m && m->is_number() && x > as_double(*m))
      fail(path, "must be <= " + boost::json::serialize(*m));
    if (const auto* m = s.if_contains("exclusiveMinimum"); m && m->is_number() && x <= as_double(*m))
      fail(path, "must be > " + boost::json::serialize(*m));
    if (const auto* m = s.if_contains("exclusiveMaximum"); m && m->is_number() && x >= as_double(*m))
      fail(path, "must be < " + boost::json::serialize(*m));
  }

  static std::size_t code_points(boost::json::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  void check_string(boost::json::string_view str, const boost::json::object& s, const std::string& path) {
    const std::size_t n = code_points(str);
    if (const auto* m = s.if_contains("minLength"); m && m->is_number() && n < as_double(*m))
      fail(path, "must have at least " + boost::json::serialize(*m) + " characters");
    if (const auto* m = s.if_contains("maxLength"); m && m->is_number() && n > as_double(*m))
      fail(path, "must have at most " + boost::json::serialize(*m) + " characters");
  }

  void check_array(const boost::json::array& a, const boost::json::object& s, const std::string& path) {
    if (const auto* m = s.if_contains("minItems"); m && m->is_number() && a.size() < as_double(*m))
      fail(path, "must have at least " + boost::json::serialize(*m) + " items");
    if (const auto* m = s.if_contains("maxItems"); m && m->is_number() && a.size() > as_double(*m))
      fail(path, "must have at most " + boost::json::serialize(*m) + " items");
    if (const auto* items = s.if_contains("items"); items && items->is_object())
      for (std::size_t i = 0; i < a.size(); ++i)
        check(a[i], items->get_object(), path + "[" + std::to_string(i) + "]");
  }

  void check_object(const boost::json::object& o, const boost::json::object& s, const std::string& path) {
    const boost::json::object* properties = nullptr;
    if (const auto* p = s.if_contains("properties"); p && p->is_object()) properties = &p->get_object();
    std::vector<boost::json::string_view> required;
    if (const auto* r = s.if_contains("required"); r && r->is_array())
      for (const auto& name : r->get_array())
        if (name.is_string()) required.push_back(name.get_string());
    for (auto name : required)
      if (!o.contains(name)) fail(path, "missing required property \"" + std::string(name) + "\"");

    const boost::json::value* additional = s.if_contains("additionalProperties");
    for (const auto& [key, value] : o) {
      const std::string child = path + "." + std::string(key);
      const boost::json::value* prop = properties ? properties->if_contains(key) : nullptr;
      if (prop) {
        const bool is_required = std::find(required.begin(), required.end(), key) != required.end();
        if (value.is_null() && !is_required) continue;  // optional given as null = absent
        if (prop->is_object()) check(value, prop->get_object(), child);
      } else if (additional && additional->is_bool() && !additional->get_bool()) {
        std::string allowed;
        if (properties)
          for (const auto& kv : *properties) allowed += (allowed.empty() ? "" : ", ") + std::string(kv.key());
        fail(child, "unknown property (allowed: " + (allowed.empty() ? std::string("none") : allowed) + ")");
      } else if (additional && additional->is_object()) {
        check(value, additional->get_object(), child);
      }
    }
  }

  void check_any_of(const boost::json::value& v, const boost::json::array& options, const std::string& path) {
    for (const auto& option : options) {
      if (!option.is_object()) continue;
      SchemaValidator sub(1);
      sub.check(v, option.get_object(), path);
      if (sub.errors.empty()) return;
    }
    fail(path, "matches none of the allowed alternatives");
  }

  std::size_t max_errors_;
};

}  // namespace detail

// Validates `value` against `schema`; reports at most `max_errors` problems.
inline ValidationResult validate_json(const boost::json::value& value, const boost::json::object& schema,
                                            std::size_t max_errors = 8) {
  detail::SchemaValidator v(max_errors);
  v.check(value, schema, "$");
  return ValidationResult{std::move(v.errors)};
}

}  // namespace phial
