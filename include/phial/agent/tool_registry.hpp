// phial/agent/tool_registry.hpp - the set of tools an agent offers the model.
//
//   phial::ToolRegistry tools;
//   tools.add("add", "Adds two integers", {{"a", "first"}, {"b", "second"}},
//             [](int a, int b) { return a + b; });
//
// Tools are held by shared_ptr<const Tool>: a run keeps the tools it started with even if the
// registry changes later. The registry itself is not synchronised: fill it before running agents.
#pragma once
#include <phial/agent/tool.hpp>

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace phial {

class ToolRegistry {
 public:
  // Registers a ready-made tool; throws ToolError if the name is taken.
  const Tool& add(Tool tool) {
    if (by_name_.count(tool.name())) throw ToolError("a tool named \"" + tool.name() + "\" is already registered");
    auto p = std::make_shared<const Tool>(std::move(tool));
    by_name_[p->name()] = p;
    tools_.push_back(p);
    return *p;
  }

  // Registers a C++ callable (see make_tool).
  template <class F>
  const Tool& add(std::string name, std::string description, std::vector<Param> params, F fn,
                  ToolOptions options = {}) {
    return add(make_tool(std::move(name), std::move(description), std::move(params), std::move(fn), options));
  }

  // Registers a callable taking the raw arguments object (see make_json_tool).
  template <class F>
  const Tool& add_json(std::string name, std::string description, boost::json::object parameters, F fn,
                       ToolOptions options = {}) {
    return add(make_json_tool(std::move(name), std::move(description), std::move(parameters), std::move(fn), options));
  }

  std::shared_ptr<const Tool> find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : it->second;
  }

  const std::vector<std::shared_ptr<const Tool>>& tools() const { return tools_; }
  std::size_t size() const { return tools_.size(); }
  bool empty() const { return tools_.empty(); }

  // [{"name","description","parameters"}, ...] in registration order.
  boost::json::array function_schemas() const {
    boost::json::array a;
    for (const auto& t : tools_) a.push_back(t->function_schema());
    return a;
  }
  // [{"type":"function","function":{...}}, ...]: the OpenAI tools array.
  boost::json::array openai_schemas() const {
    boost::json::array a;
    for (const auto& t : tools_) a.push_back(t->openai_schema());
    return a;
  }

 private:
  std::vector<std::shared_ptr<const Tool>> tools_;
  std::map<std::string, std::shared_ptr<const Tool>, std::less<>> by_name_;
};

}  // namespace phial
