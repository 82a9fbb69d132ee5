// automation - a local automation agent: file tools confined to one work directory (absolute paths,
// "..", and symlinks that leave it are rejected by examples::Sandbox) and an allow-listed command
// runner that executes programs directly, without a shell, inside that directory.
//
//   automation [--model PATH] [--workdir DIR] [REQUEST...]
//
// Without --workdir it works on a copy of sample-workdir/ and lists the directory afterwards.
#include <common/sandbox.hpp>
#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <unistd.h>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const char* const kSystemPrompt =
    "You are a file automation assistant. You work only inside the user's work directory, with the tools. Paths "
    "are relative to that directory.";

std::string str(const json::object& a, const char* key, std::string fallback = "") {
  const auto* v = a.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : fallback;
}

// The four tools of tools.json["automation"], verbatim. Sandbox errors become {"error": ...}.
void register_tools(phial::ToolRegistry& tools, const examples::Sandbox& box, const examples::CommandRunner& runner) {
  auto guarded = [](auto fn) {
    return [fn](const json::object& a) -> json::value {
      try {
        return fn(a);
      } catch (const std::exception& e) {
        return json::object{{"error", e.what()}};
      }
    };
  };
  tools.add_json("list_files", "List the files in a directory.", json::parse(R"({"type": "object",
      "properties": {"path": {"type": "string", "description": "Directory path.", "default": "."}},
      "required": []})").as_object(),
                 guarded([&box](const json::object& a) -> json::value {
                   const std::string p = str(a, "path", ".");
                   json::array entries;
                   for (auto& e : box.list(p)) entries.push_back(json::string(e));
                   return json::object{{"path", p}, {"entries", std::move(entries)}};
                 }));
  tools.add_json("read_file", "Read a text file.", json::parse(R"({"type": "object",
      "properties": {"path": {"type": "string", "description": "File path."}},
      "required": ["path"]})").as_object(),
                 guarded([&box](const json::object& a) -> json::value {
                   const std::string p = str(a, "path");
                   return json::object{{"path", p}, {"content", box.read(p)}};
                 }));
  tools.add_json("write_file", "Write a text file, replacing it if it exists.", json::parse(R"({"type": "object",
      "properties": {
        "path": {"type": "string", "description": "File path."},
        "content": {"type": "string", "description": "Text to write."}},
      "required": ["path", "content"]})").as_object(),
                 guarded([&box](const json::object& a) -> json::value {
                   const std::string p = str(a, "path"), content = str(a, "content");
                   box.write(p, content);
                   return json::object{{"path", p}, {"bytes_written", content.size()}};
                 }));
  tools.add_json("run_command", "Run an allowed command (wc, sort, head, tail, grep) without a shell.",
                 json::parse(R"({"type": "object",
      "properties": {
        "name": {"type": "string", "description": "Command name.", "enum": ["wc", "sort", "head", "tail", "grep"]},
        "args": {"type": "array", "items": {"type": "string"}, "description": "Arguments."}},
      "required": ["name", "args"]})").as_object(),
                 guarded([&runner](const json::object& a) -> json::value {
                   std::vector<std::string> args;
                   for (const auto& v : a.at("args").as_array())
                     if (v.is_string()) args.emplace_back(v.get_string());
                   for (const auto& arg : args)  // no escapes through arguments either
                     if (arg.find("..") != std::string::npos)
                       return json::object{{"error", "path '" + arg + "' is outside the work directory"}};
                   auto r = runner.run(str(a, "name"), args);
                   return json::object{{"exit_code", r.exit_code}, {"stdout", r.output}, {"stderr", ""}};
                 }));
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path = PHIAL_DEMO_MODEL, workdir, request;
  std::size_t max_steps = 6;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_path = value();
    else if (a == "--workdir") workdir = value();
    else if (a == "--max-steps") max_steps = std::stoul(value());
    else if (a.rfind("-", 0) == 0) {
      std::cerr << "usage: automation [--model PATH] [--workdir DIR] [--max-steps N] [REQUEST...]\n";
      return a == "-h" || a == "--help" ? 0 : 2;
    } else request += (request.empty() ? "" : " ") + a;
  }
  if (request.empty()) request = "Copy notes.txt to plan.md.";
  if (workdir.empty()) {  // work on a copy of the sample directory
    auto dir = fs::temp_directory_path() / ("phial-automation-" + std::to_string(::getpid())) / "work";
    fs::create_directories(dir.parent_path());
    fs::copy(fs::path(PHIAL_EXAMPLE_DIR) / "sample-workdir", dir, fs::copy_options::recursive);
    workdir = dir.string();
  }
  examples::Sandbox box(workdir);
  examples::CommandRunner runner(workdir, {"wc", "sort", "head", "tail", "grep"});
  std::cout << "workdir: " << workdir << "\nmodel:   " << model_path << "\nrequest: " << request << "\n\n"
            << std::flush;

  auto model = phial::Model::load(model_path);
  boost::asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = kSystemPrompt;
  options.max_steps = max_steps;
  phial::Agent agent(io.get_executor(), model, options);
  register_tools(agent.tools(), box, runner);

  phial::RunResult result;
  std::exception_ptr failure;
  agent.async_run(phial::RunRequest(request,
                                    [](const phial::AgentEvent& ev) {
                                      if (auto* c = std::get_if<phial::ToolCallEvent>(&ev))
                                        std::cout << "-> " << c->call.name << " "
                                                  << json::serialize(c->call.arguments) << "\n"
                                                  << std::flush;
                                      else if (auto* r = std::get_if<phial::ToolResultEvent>(&ev))
                                        std::cout << "<- "
                                                  << (r->result.ok() ? json::serialize(r->result.value)
                                                                     : r->result.error)
                                                  << "\n"
                                                  << std::flush;
                                    }),
                  [&](std::exception_ptr e, phial::RunResult r) {
                    failure = e;
                    result = std::move(r);
                  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  std::cout << "\nanswer: " << result.answer << "\n\n" << workdir << ":\n";
  for (const auto& e : fs::recursive_directory_iterator(workdir))
    std::cout << "  " << fs::relative(e.path(), workdir).string() << (e.is_directory() ? "/" : "") << "\n";
  return result.stop == phial::RunStop::final_answer ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "automation: " << e.what() << "\n";
  return 1;
}
