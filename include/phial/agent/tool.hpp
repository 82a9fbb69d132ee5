// phial/agent/tool.hpp - a tool: an ordinary C++ callable the model may call, with a JSON Schema
// derived from its signature.
//
//   auto add = phial::make_tool("add", "Adds two integers", {{"a", "first"}, {"b", "second"}},
//                               [](int a, int b) { return a + b; });
//
// Parameter names cannot be read from C++, so they are listed once, in order, with a description;
// their types (and hence the schema) come from the signature. Three more shapes are accepted:
//   - one Boost.Describe struct parameter: its members are the parameters (the list, if given,
//     only adds descriptions to members named in it);
//   - a coroutine returning boost::asio::awaitable<R>: awaited on the agent's executor, cancelled
//     (through Asio's cancellation slots) when it times out or the run is cancelled;
//   - make_json_tool: a callable taking a raw boost::json::object with a hand-written schema.
// Results may be any supported type (json_schema_of.hpp), boost::json::value, or void.
#pragma once
#include <phial/agent/json_schema_of.hpp>
#include <phial/agent/json_validate.hpp>
#include <phial/error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace phial {

// One parameter of a tool: its name in the JSON arguments and what the model should put there.
struct Param {
  std::string name;
  std::string description;
};

struct ToolOptions {
  // Longest a call may run before it becomes an error observation; 0 = the agent's default.
  std::chrono::milliseconds timeout{0};
  // Ask the agent's approval hook before every call of this tool.
  bool needs_approval = false;
};

// A registered tool, type-erased. Immutable once built; shared by the agents that use it.
class Tool {
 public:
  using SyncFn = std::function<boost::json::value(const boost::json::object& args)>;
  using AsyncFn = std::function<boost::asio::awaitable<boost::json::value>(boost::json::object args)>;

  Tool(std::string name, std::string description, boost::json::object parameters, SyncFn sync, AsyncFn async,
       ToolOptions options)
      : name_(std::move(name)),
        description_(std::move(description)),
        parameters_(std::move(parameters)),
        sync_(std::move(sync)),
        async_(std::move(async)),
        options_(options) {
    check_name(name_);
  }

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  // JSON Schema of the arguments object: {"type":"object","properties":...,"required":[...]}.
  const boost::json::object& parameters() const { return parameters_; }
  const ToolOptions& options() const { return options_; }
  bool is_coroutine() const { return static_cast<bool>(async_); }

  // {"name", "description", "parameters"}: the OpenAI "function" object (also what Phi-4-mini's
  // <|tool|> block lists).
  boost::json::object function_schema() const {
    return {{"name", name_}, {"description", description_}, {"parameters", parameters_}};
  }
  // {"type": "function", "function": {...}}: the OpenAI tools-array entry.
  boost::json::object openai_schema() const { return {{"type", "function"}, {"function", function_schema()}}; }

  ValidationResult validate(const boost::json::value& args) const { return validate_json(args, parameters_); }

  // Calls a synchronous tool with already-validated arguments (may throw whatever the tool throws).
  boost::json::value call(const boost::json::object& args) const {
    if (!sync_) throw ToolError("tool \"" + name_ + "\" is a coroutine: use call_async");
    return sync_(args);
  }
  // Calls any tool as a coroutine (synchronous tools run inline: the agent offloads those itself).
  boost::asio::awaitable<boost::json::value> call_async(boost::json::object args) const {
    if (async_) return async_(std::move(args));
    return call_sync_as_coroutine(sync_, std::move(args));
  }

 private:
  static boost::asio::awaitable<boost::json::value> call_sync_as_coroutine(SyncFn fn, boost::json::object args) {
    co_return fn(args);
  }

  static void check_name(const std::string& name) {
    // OpenAI's function-name rule; also keeps names safe inside prompts.
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    if (!ok) throw ToolError("tool name \"" + name + "\" must be 1-64 characters of [A-Za-z0-9_-]");
  }

  std::string name_;
  std::string description_;
  boost::json::object parameters_;
  SyncFn sync_;
  AsyncFn async_;
  ToolOptions options_;
};

namespace detail {

// ---- signature of a callable ----
template <class R, class... A>
struct signature {
  using result = R;
  using args = std::tuple<std::remove_cvref_t<A>...>;
  static constexpr std::size_t arity = sizeof...(A);
};
template <class F>
struct callable_traits : callable_traits<decltype(&std::remove_cvref_t<F>::operator())> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> : signature<R, A...> {};
template <class R, class... A>
struct callable_traits<R (*)(A...) noexcept> : signature<R, A...> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> : signature<R, A...> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> : signature<R, A...> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) noexcept> : signature<R, A...> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const noexcept> : signature<R, A...> {};

template <class T>
struct awaitable_value {
  static constexpr bool is_awaitable = false;
};
template <class T, class E>
struct awaitable_value<boost::asio::awaitable<T, E>> {
  static constexpr bool is_awaitable = true;
  using type = T;
};

template <class R>
boost::json::value result_to_json(R&& r) {
  return json_traits<std::remove_cvref_t<R>>::to_json(r);
}

// The value of argument `name` (null when absent: only optional parameters may be absent, and
// validation has already checked that).
inline const boost::json::value& argument(const boost::json::object& args, const std::string& name) {
  static const boost::json::value null_value;
  const boost::json::value* v = args.if_contains(name);
  return v ? *v : null_value;
}

template <class Arg>
Arg convert_argument(const boost::json::object& args, const std::string& name) {
  try {
    return json_traits<Arg>::from_json(argument(args, name));
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("argument \"" + name + "\": " + e.what());
  }
}

// The converted C++ arguments, in order, from the JSON arguments object. `names` is empty when the
// single parameter is a described struct built from the whole object.
template <class Args, std::size_t... I>
Args convert_arguments(const boost::json::object& args, const std::vector<std::string>& names,
                       std::index_sequence<I...>) {
  if (names.empty()) {
    if constexpr (std::tuple_size_v<Args> == 1) return Args{json_traits<std::tuple_element_t<0, Args>>::from_json(args)};
  }
  return Args{convert_argument<std::tuple_element_t<I, Args>>(args, names[I])...};
}

template <class F>
struct ToolAdapter {
  using traits = callable_traits<F>;
  using Args = typename traits::args;
  using R = typename traits::result;
  static constexpr std::size_t N = traits::arity;

  static Args convert(const boost::json::object& args, const std::vector<std::string>& names) {
    return convert_arguments<Args>(args, names, std::make_index_sequence<N>{});
  }

  static boost::json::value call_sync(const F& fn, const boost::json::object& args,
                                      const std::vector<std::string>& names) {
    Args converted = convert(args, names);
    if constexpr (std::is_void_v<R>) {
      std::apply(fn, std::move(converted));
      return nullptr;
    } else {
      return result_to_json(std::apply(fn, std::move(converted)));
    }
  }

  // A coroutine that owns copies of everything it uses (the tool may outlive nothing).
  static boost::asio::awaitable<boost::json::value> call_async(F fn, boost::json::object args,
                                                              std::vector<std::string> names) {
    using T = typename awaitable_value<R>::type;
    Args converted = convert(args, names);
    if constexpr (std::is_void_v<T>) {
      co_await std::apply(fn, std::move(converted));
      co_return nullptr;
    } else {
      T value = co_await std::apply(fn, std::move(converted));
      co_return result_to_json(std::move(value));
    }
  }
};

// A raw-JSON coroutine tool's call; owns copies of the callable and the arguments.
template <class Fn, class T>
boost::asio::awaitable<boost::json::value> call_json_coroutine(Fn fn, boost::json::object args) {
  if constexpr (std::is_void_v<T>) {
    co_await fn(std::move(args));
    co_return nullptr;
  } else {
    T value = co_await fn(std::move(args));
    co_return result_to_json(std::move(value));
  }
}

template <class Tuple, std::size_t... I>
void check_parameter_types(std::index_sequence<I...>) {
  static_assert((is_json_convertible<std::tuple_element_t<I, Tuple>>::value && ...),
                "every tool parameter must be bool, an integer, a floating-point type, std::string, "
                "std::vector<T>, std::optional<T>, a BOOST_DESCRIBE_ENUM enum, a BOOST_DESCRIBE_STRUCT "
                "struct, or boost::json::value/object");
}

// Builds the parameters schema and the list of argument names for callable F.
template <class F>
std::pair<boost::json::object, std::vector<std::string>> parameters_of(const std::string& tool,
                                                                       const std::vector<Param>& params) {
  using A = ToolAdapter<F>;
  check_parameter_types<typename A::Args>(std::make_index_sequence<A::N>{});

  // One described struct as the only parameter: its members are the parameters.
  if constexpr (A::N == 1) {
    using S = std::tuple_element_t<0, typename A::Args>;
    if constexpr (is_described_struct_v<S>) {
      boost::json::object schema = json_traits<S>::schema();
      auto& properties = schema["properties"].as_object();
      for (const auto& p : params) {
        auto* prop = properties.if_contains(p.name);
        if (!prop) throw ToolError("tool \"" + tool + "\": struct parameter has no member \"" + p.name + "\"");
        prop->as_object()["description"] = p.description;
      }
      return {std::move(schema), {}};
    }
  }

  if (params.size() != A::N)
    throw ToolError("tool \"" + tool + "\": " + std::to_string(params.size()) + " parameter descriptions for " +
                    std::to_string(A::N) + " parameters");
  boost::json::object properties;
  boost::json::array required;
  std::vector<std::string> names;
  std::size_t i = 0;
  auto add = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Param& p = params[i++];
    if (properties.contains(p.name)) throw ToolError("tool \"" + tool + "\": duplicate parameter \"" + p.name + "\"");
    boost::json::object s = json_traits<T>::schema();
    if (!p.description.empty()) s["description"] = p.description;
    properties[p.name] = std::move(s);
    if constexpr (!is_optional<T>::value) required.emplace_back(p.name);
    names.push_back(p.name);
  };
  std::apply([&](auto... tags) { (add(tags), ...); },
             []<std::size_t... I>(std::index_sequence<I...>) {
               return std::tuple<std::type_identity<std::tuple_element_t<I, typename A::Args>>...>{};
             }(std::make_index_sequence<A::N>{}));
  return {boost::json::object{{"type", "object"},
                              {"properties", std::move(properties)},
                              {"required", std::move(required)},
                              {"additionalProperties", false}},
          std::move(names)};
}

}  // namespace detail

// A tool from an ordinary callable or a coroutine (returning boost::asio::awaitable<R>).
template <class F>
Tool make_tool(std::string name, std::string description, std::vector<Param> params, F fn, ToolOptions options = {}) {
  using Fn = std::decay_t<F>;
  using A = detail::ToolAdapter<Fn>;
  auto [schema, names] = detail::parameters_of<Fn>(name, params);
  if constexpr (detail::awaitable_value<typename A::R>::is_awaitable) {
    Tool::AsyncFn async = [fn = Fn(std::move(fn)), names = names](boost::json::object args) {
      return A::call_async(fn, std::move(args), names);
    };
    return Tool(std::move(name), std::move(description), std::move(schema), nullptr, std::move(async), options);
  } else {
    Tool::SyncFn sync = [fn = Fn(std::move(fn)), names = names](const boost::json::object& args) {
      return A::call_sync(fn, args, names);
    };
    return Tool(std::move(name), std::move(description), std::move(schema), std::move(sync), nullptr, options);
  }
}

// A tool that takes the arguments object as-is; `parameters` is its hand-written JSON Schema
// (still enforced by the validator and the grammar). F: R(boost::json::object) or
// awaitable<R>(boost::json::object).
template <class F>
Tool make_json_tool(std::string name, std::string description, boost::json::object parameters, F fn,
                    ToolOptions options = {}) {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&, boost::json::object>;
  if (!parameters.contains("type")) parameters["type"] = "object";
  if constexpr (detail::awaitable_value<R>::is_awaitable) {
    using T = typename detail::awaitable_value<R>::type;
    Tool::AsyncFn async = [fn = Fn(std::move(fn))](boost::json::object args) {
      return detail::call_json_coroutine<Fn, T>(fn, std::move(args));
    };
    return Tool(std::move(name), std::move(description), std::move(parameters), nullptr, std::move(async), options);
  } else {
    Tool::SyncFn sync = [fn = Fn(std::move(fn))](const boost::json::object& args) -> boost::json::value {
      if constexpr (std::is_void_v<R>) {
        fn(args);
        return nullptr;
      } else {
        return detail::result_to_json(fn(args));
      }
    };
    return Tool(std::move(name), std::move(description), std::move(parameters), std::move(sync), nullptr, options);
  }
}

}  // namespace phial
