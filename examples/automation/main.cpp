// automation - a local automation agent: file tools confined to one work directory (absolute paths,
// "..", and symlinks that leave it are rejected by examples::Sandbox) and an allow-listed command
// runner that executes programs directly, without a shell, inside that directory.
//
//   automation [--model PATH] [--workdir DIR] [--max-steps N] [REQUEST...]
//
// Without --workdir it works on a copy of sample-workdir/ and lists the directory afterwards.
#include <common/agent_cli.hpp>
#include <common/sandbox.hpp>

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

const std::string kUsage =
    std::string(
        "usage: automation [--model PATH] [--workdir DIR] [--max-steps N] [REQUEST...]\n"
        "  A file automation agent confined to one directory (list, read, write files; run wc, sort,\n"
        "  head, tail, grep without a shell).\n"
        "  REQUEST            what to do (default: \"Copy notes.txt to plan.md.\")\n"
        "  --workdir DIR      the directory to work in (default: a fresh copy of sample-workdir/)\n"
        "  --max-steps N      model turns (default 6)\n") +
    examples::kModelOptionsHelp;

int run(const phial::cli::Args& args) {
  const std::string request = examples::request_text(args, "Copy notes.txt to plan.md.");
  std::string workdir = args.get_or("workdir", "");
  if (workdir.empty()) {  // work on a copy of the sample directory
    auto dir = fs::temp_directory_path() / ("phial-automation-" + std::to_string(::getpid())) / "work";
    fs::remove_all(dir);
    fs::create_directories(dir.parent_path());
    fs::copy(fs::path(PHIAL_EXAMPLE_DIR) / "sample-workdir", dir, fs::copy_options::recursive);
    workdir = dir.string();
  }
  examples::Sandbox box(workdir);
  examples::CommandRunner runner(workdir, {"wc", "sort", "head", "tail", "grep"});
  const auto model_path = examples::model_path(args);
  std::cout << "workdir: " << workdir << "\nmodel:   " << model_path.string() << "\nrequest: " << request << "\n\n"
            << std::flush;

  auto model = examples::load_model(model_path);
  boost::asio::io_context io;
  phial::Agent agent(io.get_executor(), examples::make_chat_model(model, args),
                     examples::agent_options(args, kSystemPrompt, static_cast<std::size_t>(args.get_int("max-steps", 6))));
  register_tools(agent.tools(), box, runner);

  examples::TranscriptPrinter printer(std::cout, examples::Style::for_stdout(), /*stream_answer=*/false);
  const auto result = examples::run_agent(agent, io, request, printer);
  std::cout << "\nanswer: " << result.answer << "\n";
  if (result.stop != phial::RunStop::final_answer)
    std::cout << "(stopped: " << examples::describe_stop(result.stop) << ")\n";
  std::cout << "\n" << workdir << ":\n";
  for (const auto& e : fs::recursive_directory_iterator(workdir))
    std::cout << "  " << fs::relative(e.path(), workdir).string() << (e.is_directory() ? "/" : "") << "\n";
  return result.stop == phial::RunStop::final_answer ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return examples::agent_main("automation", kUsage.c_str(), argc, argv, {"workdir", "max-steps"}, {}, run);
}
