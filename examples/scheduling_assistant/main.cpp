// scheduling_assistant - a calendar agent over a real iCalendar (.ics) file.
//
//   scheduling_assistant [--model PATH] [--calendar FILE.ics] [REQUEST...]
//
// The tools are plain C++ functions over examples::Calendar; the agent calls them, each change is
// saved to the .ics file at once, and the program prints the tool calls as they happen, the final
// answer and the calendar file afterwards. Without --calendar it works on a copy of sample.ics.
// Without --model it uses the bundled demo model, which was trained on exactly these tools and
// this system prompt (examples/demo_model/tools.json); real Phi-4 / Phi-4-mini GGUFs work too.
#include "calendar_tools.hpp"

#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <unistd.h>

namespace json = boost::json;
using examples::Calendar;
using scheduling::kSystemPrompt;

namespace {

int usage() {
  std::cerr << "usage: scheduling_assistant [--model PATH] [--calendar FILE.ics] [--max-steps N] [REQUEST...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path = PHIAL_DEMO_MODEL, calendar_path, request;
  std::size_t max_steps = 6;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_path = value();
    else if (a == "--calendar") calendar_path = value();
    else if (a == "--max-steps") max_steps = std::stoul(value());
    else if (a == "-h" || a == "--help") return usage(), 0;
    else if (a.rfind("--", 0) == 0) return usage();
    else request += (request.empty() ? "" : " ") + a;
  }
  if (request.empty()) request = "Schedule Design review on 2025-11-27 at 14:00 for 60 minutes.";
  if (calendar_path.empty()) {  // work on a copy of the sample calendar
    auto dir = std::filesystem::temp_directory_path() / ("phial-scheduling-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    calendar_path = (dir / "calendar.ics").string();
    std::filesystem::copy_file(PHIAL_SAMPLE_ICS, calendar_path, std::filesystem::copy_options::overwrite_existing);
  }

  Calendar cal = Calendar::load(calendar_path);
  std::cout << "calendar: " << calendar_path << " (" << cal.events().size() << " events)\n"
            << "model:    " << model_path << "\n"
            << "request:  " << request << "\n\n"
            << std::flush;

  auto model = phial::Model::load(model_path);
  boost::asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = kSystemPrompt;
  options.max_steps = max_steps;
  phial::Agent agent(io.get_executor(), model, options);
  std::mutex calendar_mutex;
  scheduling::register_tools(agent.tools(), cal, calendar_mutex);

  phial::RunResult result;
  std::exception_ptr failure;
  agent.async_run(
      phial::RunRequest(request,
                        [](const phial::AgentEvent& ev) {
                          if (auto* c = std::get_if<phial::ToolCallEvent>(&ev))
                            std::cout << "-> " << c->call.name << " " << json::serialize(c->call.arguments) << "\n"
                                      << std::flush;
                          else if (auto* r = std::get_if<phial::ToolResultEvent>(&ev))
                            std::cout << "<- " << (r->result.ok() ? json::serialize(r->result.value) : r->result.error)
                                      << "\n"
                                      << std::flush;
                        }),
      [&](std::exception_ptr e, phial::RunResult r) {
        failure = e;
        result = std::move(r);
      });
  io.run();
  if (failure) std::rethrow_exception(failure);

  std::cout << "\nanswer: " << result.answer << "\n";
  if (result.stop != phial::RunStop::final_answer)
    std::cout << "(stopped: " << (result.stop == phial::RunStop::max_steps ? "step limit" : "token limit or cancelled")
              << ")\n";
  std::ifstream in(calendar_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string ics = text.str();
  std::erase(ics, '\r');
  std::cout << "\n--- " << calendar_path << " ---\n" << ics;
  return result.stop == phial::RunStop::final_answer ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "scheduling_assistant: " << e.what() << "\n";
  return 1;
}
