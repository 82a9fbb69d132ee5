// phial/agent/json_schema_of.hpp - JSON Schema and JSON <-> C++ conversion derived from C++ types.
//
// A tool's parameter schema is written once, by its C++ signature. `json_traits<T>` knows, for every
// supported type T, three things:
//   schema()        the JSON Schema fragment describing T (the subset the validator and grammar know)
//   from_json(v)    the C++ value of an already-validated JSON value (throws InvalidArgument otherwise)
//   to_json(x)      the JSON value of a C++ value (tool results)
//
// Supported: bool, integers, floating point, std::string, std::vector<T>, std::optional<T> (a
// parameter / member that may be absent or null), enums described with BOOST_DESCRIBE_ENUM (their
// names as a string enum), aggregate structs described with BOOST_DESCRIBE_STRUCT (an object with
// one property per member, optional members not required), and boost::json::value / object as-is.
#pragma once
#include <phial/config.hpp>
#include <phial/error.hpp>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace phial {

template <class T, class Enable = void>
struct json_traits;  // specialised below for every supported type

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
inline constexpr bool is_described_struct_v =
    std::is_class_v<T> && boost::describe::has_describe_members<T>::value;
template <class T>
inline constexpr bool is_described_enum_v =
    std::is_enum_v<T> && boost::describe::has_describe_enumerators<T>::value;

// A short name of a JSON value's kind for error messages ("string", "number", ...).
inline const char* json_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64: return "integer";
    case boost::json::kind::double_: return "number";
    case boost::json::kind::string: return "string";
    case boost::json::kind::array: return "array";
    case boost::json::kind::object: return "object";
  }
  return "unknown";
}

[[noreturn]] inline void conversion_error(const char* expected, const boost::json::value& v) {
  throw InvalidArgument(std::string("expected ") + expected + ", got " + json_kind_name(v));
}
}  // namespace detail

// Does T have a json_traits specialisation (i.e. can it be a tool parameter / result)?
template <class T, class = void>
struct is_json_convertible : std::false_type {};
template <class T>
struct is_json_convertible<T, std::void_t<decltype(json_traits<T>::schema())>> : std::true_type {};

// ---- scalars ----

template <>
struct json_traits<bool> {
  static boost::json::object schema() { return {{"type", "boolean"}}; }
  static bool from_json(const boost::json::value& v) {
    if (!v.is_bool()) detail::conversion_error("boolean", v);
    return v.get_bool();
  }
  static boost::json::value to_json(bool b) { return b; }
};

template <class T>
struct json_traits<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static boost::json::object schema() {
    boost::json::object s{{"type", "integer"}};
    // Narrow types carry their range so that the validator rejects 300 for a std::uint8_t.
    if constexpr (sizeof(T) < sizeof(std::int64_t)) {
      s["minimum"] = static_cast<std::int64_t>(std::numeric_limits<T>::min());
      s["maximum"] = static_cast<std::int64_t>(std::numeric_limits<T>::max());
    } else if constexpr (std::is_unsigned_v<T>) {
      s["minimum"] = 0;
    }
    return s;
  }
  static T from_json(const boost::json::value& v) {
    if (v.is_int64()) {
      const std::int64_t x = v.get_int64();
      if constexpr (std::is_unsigned_v<T>) {
        if (x < 0 || static_cast<std::uint64_t>(x) > std::numeric_limits<T>::max())
          throw InvalidArgument("integer " + std::to_string(x) + " out of range");
      } else {
        if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max())
          throw InvalidArgument("integer " + std::to_string(x) + " out of range");
      }
      return static_cast<T>(x);
    }
    if (v.is_uint64()) {
      const std::uint64_t x = v.get_uint64();
      if (x > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw InvalidArgument("integer " + std::to_string(x) + " out of range");
      return static_cast<T>(x);
    }
    if (v.is_double()) {  // JSON Schema: 3.0 is an integer
      const double d = v.get_double();
      if (std::floor(d) != d || !(d >= static_cast<double>(std::numeric_limits<T>::min())) ||
          !(d <= static_cast<double>(std::numeric_limits<T>::max())))
        throw InvalidArgument("number " + std::to_string(d) + " is not an integer in range");
      return static_cast<T>(d);
    }
    detail::conversion_error("integer", v);
  }
  static boost::json::value to_json(T x) { return x; }
};

template <class T>
struct json_traits<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static boost::json::object schema() { return {{"type", "number"}}; }
  static T from_json(const boost::json::value& v) {
    if (v.is_double()) return static_cast<T>(v.get_double());
    if (v.is_int64()) return static_cast<T>(v.get_int64());
    if (v.is_uint64()) return static_cast<T>(v.get_uint64());
    detail::conversion_error("number", v);
  }
  static boost::json::value to_json(T x) {
    if (!std::isfinite(x)) return nullptr;  // JSON has no NaN / Inf
    return static_cast<double>(x);
  }
};

template <>
struct json_traits<std::string> {
  static boost::json::object schema() { return {{"type", "string"}}; }
  static std::string from_json(const boost::json::value& v) {
    if (!v.is_string()) detail::conversion_error("string", v);
    return std::string(v.get_string());
  }
  static boost::json::value to_json(const std::string& s) { return boost::json::string(s); }
};

// ---- JSON itself (raw tools, free-form results) ----

template <>
struct json_traits<boost::json::value> {
  static boost::json::object schema() { return {}; }  // anything
  static boost::json::value from_json(const boost::json::value& v) { return v; }
  static boost::json::value to_json(const boost::json::value& v) { return v; }
};

template <>
struct json_traits<boost::json::object> {
  static boost::json::object schema() { return {{"type", "object"}}; }
  static boost::json::object from_json(const boost::json::value& v) {
    if (!v.is_object()) detail::conversion_error("object", v);
    return v.get_object();
  }
  static boost::json::value to_json(const boost::json::object& o) { return o; }
};

// ---- containers ----

template <class T>
struct json_traits<std::vector<T>> {
  static boost::json::object schema() {
    return {{"type", "array"}, {"items", json_traits<T>::schema()}};
  }
  static std::vector<T> from_json(const boost::json::value& v) {
    if (!v.is_array()) detail::conversion_error("array", v);
    std::vector<T> out;
    out.reserve(v.get_array().size());
    for (const auto& e : v.get_array()) out.push_back(json_traits<T>::from_json(e));
    return out;
  }
  static boost::json::value to_json(const std::vector<T>& xs) {
    boost::json::array a;
    a.reserve(xs.size());
    for (const auto& x : xs) a.push_back(json_traits<T>::to_json(x));
    return a;
  }
};

// std::optional<T>: the schema of T; "may be absent" is expressed by leaving the property out of
// "required" in the enclosing object. A null value is read as "absent" (lenient to small models).
template <class T>
struct json_traits<std::optional<T>> {
  static boost::json::object schema() { return json_traits<T>::schema(); }
  static std::optional<T> from_json(const boost::json::value& v) {
    if (v.is_null()) return std::nullopt;
    return json_traits<T>::from_json(v);
  }
  static boost::json::value to_json(const std::optional<T>& x) {
    if (!x) return nullptr;
    return json_traits<T>::to_json(*x);
  }
};

// ---- Boost.Describe enums: a string enum of the enumerator names ----

template <class E>
struct json_traits<E, std::enable_if_t<detail::is_described_enum_v<E>>> {
  static boost::json::object schema() {
    boost::json::array names;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>(
        [&](auto D) { names.emplace_back(D.name); });
    return {{"type", "string"}, {"enum", std::move(names)}};
  }
  static E from_json(const boost::json::value& v) {
    if (!v.is_string()) detail::conversion_error("string (enum)", v);
    const boost::json::string& s = v.get_string();
    std::optional<E> found;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>([&](auto D) {
      if (!found && s == D.name) found = D.value;
    });
    if (!found) throw InvalidArgument("\"" + std::string(s) + "\" is not one of the allowed values");
    return *found;
  }
  static boost::json::value to_json(E e) {
    const char* name = nullptr;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>([&](auto D) {
      if (!name && e == D.value) name = D.name;
    });
    if (!name) return static_cast<std::int64_t>(e);  // a value outside the described set
    return boost::json::string(name);
  }
};

// ---- Boost.Describe structs: an object, one property per public member ----

namespace detail {
template <class T>
using public_members_of =
    boost::describe::describe_members<T, boost::describe::mod_public | boost::describe::mod_inherited>;
}

template <class S>
struct json_traits<S, std::enable_if_t<detail::is_described_struct_v<S>>> {
  static boost::json::object schema() {
    boost::json::object properties;
    boost::json::array required;
    boost::mp11::mp_for_each<detail::public_members_of<S>>([&](auto D) {
      using M = std::remove_cvref_t<decltype(std::declval<S&>().*D.pointer)>;
      properties[D.name] = json_traits<M>::schema();
      if constexpr (!detail::is_optional<M>::value) required.emplace_back(D.name);
    });
    return {{"type", "object"},
            {"properties", std::move(properties)},
            {"required", std::move(required)},
            {"additionalProperties", false}};
  }
  static S from_json(const boost::json::value& v) {
    if (!v.is_object()) detail::conversion_error("object", v);
    const boost::json::object& o = v.get_object();
    S out{};
    boost::mp11::mp_for_each<detail::public_members_of<S>>([&](auto D) {
      using M = std::remove_cvref_t<decltype(out.*D.pointer)>;
      const boost::json::value* field = o.if_contains(D.name);
      if (!field) {
        if constexpr (!detail::is_optional<M>::value)
          throw InvalidArgument(std::string("missing required member \"") + D.name + "\"");
        return;
      }
      try {
        out.*D.pointer = json_traits<M>::from_json(*field);
      } catch (const InvalidArgument& e) {
        throw InvalidArgument(std::string(D.name) + ": " + e.what());
      }
    });
    return out;
  }
  static boost::json::value to_json(const S& s) {
    boost::json::object o;
    boost::mp11::mp_for_each<detail::public_members_of<S>>([&](auto D) {
      using M = std::remove_cvref_t<decltype(s.*D.pointer)>;
      if constexpr (detail::is_optional<M>::value) {
        if (!(s.*D.pointer)) return;  // absent, not null
      }
      o[D.name] = json_traits<M>::to_json(s.*D.pointer);
    });
    return o;
  }
};

// Convenience front-ends.
template <class T>
boost::json::object json_schema_of() {
  return json_traits<std::remove_cvref_t<T>>::schema();
}
template <class T>
T from_json(const boost::json::value& v) {
  return json_traits<T>::from_json(v);
}
template <class T>
boost::json::value to_json(const T& x) {
  return json_traits<T>::to_json(x);
}

}  // namespace phial
