// Tools: JSON Schema derived from C++ signatures, argument validation, invocation (plain,
// Describe structs, coroutines, raw JSON).
#include <phial/agent/tool_registry.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/describe.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace json = boost::json;

namespace demo {
enum class Unit { celsius, fahrenheit };
BOOST_DESCRIBE_ENUM(Unit, celsius, fahrenheit)

struct Location {
  std::string city;
  std::optional<std::string> country;
};
BOOST_DESCRIBE_STRUCT(Location, (), (city, country))

struct Forecast {
  Location where;
  std::vector<double> highs;
  Unit unit;
  bool rain;
};
BOOST_DESCRIBE_STRUCT(Forecast, (), (where, highs, unit, rain))
}  // namespace demo

static json::value parse(std::string_view s) { return json::parse(s); }

TEST_CASE("schemas of scalar and container types are hand-checked") {
  CHECK(phial::json_schema_of<bool>() == parse(R"({"type":"boolean"})"));
  CHECK(phial::json_schema_of<double>() == parse(R"({"type":"number"})"));
  CHECK(phial::json_schema_of<std::string>() == parse(R"({"type":"string"})"));
  CHECK(phial::json_schema_of<std::int64_t>() == parse(R"({"type":"integer"})"));
  CHECK(phial::json_schema_of<int>() ==
        parse(R"({"type":"integer","minimum":-2147483648,"maximum":2147483647})"));
  CHECK(phial::json_schema_of<std::uint8_t>() == parse(R"({"type":"integer","minimum":0,"maximum":255})"));
  CHECK(phial::json_schema_of<std::vector<std::string>>() == parse(R"({"type":"array","items":{"type":"string"}})"));
  CHECK(phial::json_schema_of<std::optional<bool>>() == parse(R"({"type":"boolean"})"));
  CHECK(phial::json_schema_of<std::vector<std::vector<double>>>() ==
        parse(R"({"type":"array","items":{"type":"array","items":{"type":"number"}}})"));
}

TEST_CASE("Boost.Describe enums and structs become string enums and objects") {
  CHECK(phial::json_schema_of<demo::Unit>() == parse(R"({"type":"string","enum":["celsius","fahrenheit"]})"));
  CHECK(phial::json_schema_of<demo::Location>() == parse(R"({"type":"object",
        "properties":{"city":{"type":"string"},"country":{"type":"string"}},
        "required":["city"],"additionalProperties":false})"));
  CHECK(phial::json_schema_of<demo::Forecast>() == parse(R"({"type":"object","properties":{
        "where":{"type":"object","properties":{"city":{"type":"string"},"country":{"type":"string"}},
                 "required":["city"],"additionalProperties":false},
        "highs":{"type":"array","items":{"type":"number"}},
        "unit":{"type":"string","enum":["celsius","fahrenheit"]},
        "rain":{"type":"boolean"}},
        "required":["where","highs","unit","rain"],"additionalProperties":false})"));
}

TEST_CASE("conversions round-trip and reject wrong kinds") {
  demo::Forecast f{{"Paris", std::nullopt}, {21.5, 19}, demo::Unit::fahrenheit, true};
  const json::value v = phial::to_json(f);
  // Absent optionals are left out, not written as null.
  CHECK(v == parse(R"({"where":{"city":"Paris"},"highs":[21.5,19.0],"unit":"fahrenheit","rain":true})"));
  auto back = phial::from_json<demo::Forecast>(v);
  CHECK(back.where.city == "Paris");
  CHECK_FALSE(back.where.country);
  CHECK(back.highs == std::vector<double>{21.5, 19.0});
  CHECK(back.unit == demo::Unit::fahrenheit);
  CHECK(phial::from_json<int>(parse("3.0")) == 3);  // JSON Schema: 3.0 is an integer
  CHECK_THROWS_AS(phial::from_json<int>(parse("3.5")), phial::InvalidArgument);
  CHECK_THROWS_AS(phial::from_json<std::uint8_t>(parse("300")), phial::InvalidArgument);
  CHECK_THROWS_AS(phial::from_json<demo::Unit>(parse(R"("kelvin")")), phial::InvalidArgument);
  CHECK_THROWS_AS(phial::from_json<std::string>(parse("1")), phial::InvalidArgument);
  CHECK(phial::to_json(std::numeric_limits<double>::quiet_NaN()).is_null());
}

TEST_CASE("a tool's schema comes from its signature and parameter list") {
  auto tool = phial::make_tool(
      "get_weather", "Current weather", {{"city", "City name"}, {"unit", "Temperature unit"}, {"days", ""}},
      [](std::string city, std::optional<demo::Unit> unit, std::vector<int> days) {
        return city + (unit ? "/unit" : "") + "/" + std::to_string(days.size());
      });
  CHECK(tool.name() == "get_weather");
  CHECK_FALSE(tool.is_coroutine());
  CHECK(json::value(tool.parameters()) == parse(R"({"type":"object","properties":{
      "city":{"type":"string","description":"City name"},
      "unit":{"type":"string","enum":["celsius","fahrenheit"],"description":"Temperature unit"},
      "days":{"type":"array","items":{"type":"integer","minimum":-2147483648,"maximum":2147483647}}},
      "required":["city","days"],"additionalProperties":false})"));
  CHECK(json::value(tool.openai_schema()).at("type") == "function");
  CHECK(json::value(tool.openai_schema()).at("function").at("name") == "get_weather");

  CHECK(tool.call(parse(R"({"city":"Oslo","days":[1,2]})").as_object()) == "Oslo/2");
  CHECK(tool.call(parse(R"({"city":"Oslo","unit":"celsius","days":[]})").as_object()) == "Oslo/unit/0");
  CHECK(tool.call(parse(R"({"city":"Oslo","unit":null,"days":[]})").as_object()) == "Oslo/0");
}

TEST_CASE("registration errors are ToolErrors") {
  CHECK_THROWS_AS(phial::make_tool("f", "", {{"a", ""}}, [](int, int) { return 0; }), phial::ToolError);
  CHECK_THROWS_AS(phial::make_tool("bad name", "", {}, [] { return 0; }), phial::ToolError);
  CHECK_THROWS_AS(phial::make_tool("f", "", {{"a", ""}, {"a", ""}}, [](int, int) { return 0; }), phial::ToolError);
  phial::ToolRegistry r;
  r.add("f", "", {}, [] { return 1; });
  CHECK_THROWS_AS(r.add("f", "", {}, [] { return 2; }), phial::ToolError);
  CHECK(r.find("f") != nullptr);
  CHECK(r.find("g") == nullptr);
}

TEST_CASE("a single Describe struct parameter provides the parameters") {
  auto tool = phial::make_tool("locate", "Where", {{"city", "The city"}},
                               [](demo::Location loc) { return loc.city + "," + loc.country.value_or("?"); });
  CHECK(json::value(tool.parameters()) == parse(R"({"type":"object",
        "properties":{"city":{"type":"string","description":"The city"},"country":{"type":"string"}},
        "required":["city"],"additionalProperties":false})"));
  CHECK(tool.call(parse(R"({"city":"Lyon","country":"FR"})").as_object()) == "Lyon,FR");
  CHECK_THROWS_AS(phial::make_tool("x", "", {{"nope", ""}}, [](demo::Location) { return 0; }), phial::ToolError);
}

TEST_CASE("results of every supported type are converted to JSON") {
  auto forecast = phial::make_tool("f", "", {}, [] {
    return demo::Forecast{{"Rome", "IT"}, {30}, demo::Unit::celsius, false};
  });
  CHECK(forecast.call({}) == parse(R"({"where":{"city":"Rome","country":"IT"},"highs":[30.0],"unit":"celsius","rain":false})"));
  int calls = 0;
  auto nothing = phial::make_tool("n", "", {}, [&calls] { ++calls; });
  CHECK(nothing.call({}).is_null());
  CHECK(calls == 1);
  auto opt = phial::make_tool("o", "", {}, []() -> std::optional<int> { return std::nullopt; });
  CHECK(opt.call({}).is_null());
}

TEST_CASE("validation reports every problem with a path") {
  auto tool = phial::make_tool("fc", "", {{"f", "forecast"}, {"n", "count"}},
                               [](demo::Forecast, std::uint8_t) { return 0; });
  CHECK(tool.validate(parse(R"({"f":{"where":{"city":"X"},"highs":[1,2.5],"unit":"celsius","rain":false},"n":3})")).ok());
  auto r = tool.validate(parse(R"({"f":{"where":{"town":"X"},"highs":[1,"2"],"unit":"kelvin","rain":false},"n":300,"extra":1})"));
  REQUIRE_FALSE(r.ok());
  const std::string m = r.message();
  CHECK(m.find("$.f.where: missing required property \"city\"") != std::string::npos);
  CHECK(m.find("$.f.where.town: unknown property (allowed: city, country)") != std::string::npos);
  CHECK(m.find("$.f.highs[1]: expected number, got string") != std::string::npos);
  CHECK(m.find("$.f.unit: must be one of [\"celsius\",\"fahrenheit\"]") != std::string::npos);
  CHECK(m.find("$.n: must be <= 255") != std::string::npos);
  CHECK(m.find("$.extra: unknown property") != std::string::npos);
  CHECK(tool.validate(parse("[1]")).message() == "$: expected object, got array");
  CHECK_FALSE(tool.validate(parse(R"({"n":1})")).ok());  // f missing
}

TEST_CASE("validator keywords beyond the generated subset") {
  const json::object schema = parse(R"({"type":"object","properties":{
      "s":{"type":"string","minLength":2,"maxLength":3},
      "a":{"type":"array","minItems":1,"maxItems":2},
      "x":{"type":["integer","null"],"exclusiveMinimum":0},
      "k":{"const":"yes"},
      "u":{"anyOf":[{"type":"string"},{"type":"integer"}]}},
      "additionalProperties":{"type":"number"}})").as_object();
  CHECK(phial::validate_json(parse(R"({"s":"éé","a":[1],"x":null,"k":"yes","u":3,"other":1.5})"), schema).ok());
  CHECK(phial::validate_json(parse(R"({"s":"a"})"), schema).message() == "$.s: must have at least 2 characters");
  CHECK(phial::validate_json(parse(R"({"s":"abcd"})"), schema).message() == "$.s: must have at most 3 characters");
  CHECK(phial::validate_json(parse(R"({"a":[]})"), schema).message() == "$.a: must have at least 1 items");
  CHECK(phial::validate_json(parse(R"({"x":0})"), schema).message() == "$.x: must be > 0");
  CHECK(phial::validate_json(parse(R"({"x":1.5})"), schema).message() == "$.x: expected integer or null, got number");
  CHECK(phial::validate_json(parse(R"({"k":"no"})"), schema).message() == "$.k: must be \"yes\"");
  CHECK(phial::validate_json(parse(R"({"u":true})"), schema).message() == "$.u: matches none of the allowed alternatives");
  CHECK(phial::validate_json(parse(R"({"other":"s"})"), schema).message() == "$.other: expected number, got string");
}

static boost::asio::awaitable<std::string> slow_echo(std::string s, int ms) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(boost::asio::use_awaitable);
  co_return s + "!";
}

TEST_CASE("coroutine tools are awaited") {
  auto tool = phial::make_tool("echo", "Echo later", {{"s", "text"}, {"ms", "delay"}}, &slow_echo);
  CHECK(tool.is_coroutine());
  CHECK(json::value(tool.parameters()).at("required") == parse(R"(["s","ms"])"));
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, tool.call_async(parse(R"({"s":"hi","ms":1})").as_object()),
                                   boost::asio::use_future);
  io.run();
  CHECK(fut.get() == "hi!");
  CHECK_THROWS_AS(tool.call({}), phial::ToolError);
}

TEST_CASE("raw JSON tools get the object and keep their hand-written schema") {
  phial::ToolRegistry r;
  r.add_json("sum", "Sums the numbers in xs",
             parse(R"({"properties":{"xs":{"type":"array","items":{"type":"number"}}},"required":["xs"]})").as_object(),
             [](const json::object& args) {
               double s = 0;
               for (const auto& x : args.at("xs").as_array()) s += x.to_number<double>();
               return s;
             });
  r.add_json("later", "", {}, [](json::object args) -> boost::asio::awaitable<json::value> {
    co_return json::value(args.size());
  });
  auto sum = r.find("sum");
  CHECK(json::value(sum->parameters()).at("type") == "object");
  CHECK(sum->validate(parse(R"({"xs":[1,"x"]})")).message() == "$.xs[1]: expected number, got string");
  CHECK(sum->call(parse(R"({"xs":[1,2.5]})").as_object()) == 3.5);
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, r.find("later")->call_async(parse(R"({"a":1,"b":2})").as_object()),
                                   boost::asio::use_future);
  io.run();
  CHECK(fut.get() == 2);
  CHECK(r.function_schemas().size() == 2);
  CHECK(r.openai_schemas()[0].at("function").at("name") == "sum");
}
