// tests/support/json_subset_validator.hpp - an independent validator of the JSON Schema subset
// phial's grammars compile (written from the JSON Schema spec, not from phial's code): type, enum,
// const, anyOf/oneOf, properties, required, additionalProperties false, items, min/maxItems,
// format date / date-time. Used by unit-grammar and unit-generate to check generated JSON.
#pragma once
#include <boost/json.hpp>

#include <cmath>
#include <string>
#include <string_view>

namespace phial::test {

namespace json = boost::json;

inline bool is_integer(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::floor(v.get_double()) == v.get_double();
}

// Hand-written rather than std::regex: GCC 12 reports a false -Wmaybe-uninitialized inside
// <regex> under -fsanitize=address, which -Werror turns into a build failure.
inline bool digits_at(const std::string& s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}
inline int number_at(const std::string& s, std::size_t pos, std::size_t n) { return std::stoi(s.substr(pos, n)); }

// YYYY-MM-DD, month 01-12, day 01-31.
inline bool valid_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!digits_at(s, 0, 4) || !digits_at(s, 5, 2) || !digits_at(s, 8, 2)) return false;
  const int mo = number_at(s, 5, 2), d = number_at(s, 8, 2);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}
// YYYY-MM-DDTHH:MM:SS then Z or +HH:MM / -HH:MM.
inline bool valid_date_time(const std::string& s) {
  if (s.size() != 20 && s.size() != 25) return false;
  if (!valid_date(s.substr(0, 10)) || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  if (!digits_at(s, 11, 2) || !digits_at(s, 14, 2) || !digits_at(s, 17, 2)) return false;
  if (number_at(s, 11, 2) > 23 || number_at(s, 14, 2) > 59 || number_at(s, 17, 2) > 59) return false;
  if (s.size() == 20) return s[19] == 'Z';
  if ((s[19] != '+' && s[19] != '-') || s[22] != ':' || !digits_at(s, 20, 2) || !digits_at(s, 23, 2)) return false;
  return number_at(s, 20, 2) <= 23 && number_at(s, 23, 2) <= 59;
}

inline bool validate(const json::value& v, const json::value& schema);

inline bool validate_type(const json::value& v, const json::object& s, std::string_view type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_bool();
  if (type == "integer") return is_integer(v);
  if (type == "number") return v.is_number();
  if (type == "string") {
    if (!v.is_string()) return false;
    if (const auto* f = s.if_contains("format")) {
      const std::string str(v.get_string());
      if (f->as_string() == "date") return valid_date(str);
      if (f->as_string() == "date-time") return valid_date_time(str);
    }
    return true;
  }
  if (type == "array") {
    if (!v.is_array()) return false;
    const auto& a = v.get_array();
    if (const auto* mn = s.if_contains("minItems"); mn && a.size() < mn->to_number<std::size_t>()) return false;
    if (const auto* mx = s.if_contains("maxItems"); mx && a.size() > mx->to_number<std::size_t>()) return false;
    if (const auto* it = s.if_contains("items"))
      for (const auto& e : a)
        if (!validate(e, *it)) return false;
    return true;
  }
  if (type == "object") {
    if (!v.is_object()) return false;
    const auto& o = v.get_object();
    const auto* props = s.if_contains("properties");
    if (const auto* r = s.if_contains("required"))
      for (const auto& name : r->as_array())
        if (!o.contains(name.as_string())) return false;
    for (const auto& kv : o) {
      if (props && props->as_object().contains(kv.key())) {
        if (!validate(kv.value(), props->as_object().at(kv.key()))) return false;
      } else if (const auto* ap = s.if_contains("additionalProperties"); ap && ap->is_bool() && !ap->get_bool()) {
        return false;
      }
    }
    return true;
  }
  return false;
}

inline bool validate(const json::value& v, const json::value& schema) {
  if (schema.is_bool()) return schema.get_bool();
  const auto& s = schema.as_object();
  if (const auto* c = s.if_contains("const")) return v == *c;
  if (const auto* e = s.if_contains("enum")) {
    for (const auto& x : e->as_array())
      if (v == x) return true;
    return false;
  }
  for (const char* kw : {"anyOf", "oneOf"}) {
    if (const auto* a = s.if_contains(kw)) {
      for (const auto& alt : a->as_array())
        if (validate(v, alt)) return true;
      return false;
    }
  }
  if (const auto* t = s.if_contains("type")) {
    if (t->is_string()) return validate_type(v, s, t->get_string());
    for (const auto& name : t->as_array())
      if (validate_type(v, s, name.as_string())) return true;
    return false;
  }
  if (s.contains("properties")) return validate_type(v, s, "object");
  return true;
}

}  // namespace phial::test
