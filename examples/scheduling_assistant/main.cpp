// scheduling_assistant - a calendar agent over a real iCalendar (.ics) file.
//
//   scheduling_assistant [--model PATH] [--calendar FILE.ics] [--max-steps N] [REQUEST...]
//
// The tools are plain C++ functions over examples::Calendar (calendar_tools.hpp); the agent calls
// them, each change is saved to the .ics file at once, and the program prints the tool calls as
// they happen, the final answer and the calendar file afterwards. Without --calendar it works on a
// copy of sample.ics. Without --model it uses the bundled demo model, which was trained on exactly
// these tools and this system prompt (examples/demo_model/tools.json); real Phi-4 / Phi-4-mini
// GGUFs work too.
#include "calendar_tools.hpp"

#include <common/agent_cli.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

const std::string kUsage =
    std::string(
        "usage: scheduling_assistant [--model PATH] [--calendar FILE.ics] [--max-steps N] [REQUEST...]\n"
        "  A calendar agent: creates, lists, moves and cancels events and finds free slots in an .ics file.\n"
        "  REQUEST            what to do (default: \"Schedule Design review on 2025-11-27 at 14:00 for 60 minutes.\")\n"
        "  --calendar FILE    the .ics file to work on (default: a fresh copy of sample.ics in a temp directory)\n"
        "  --max-steps N      model turns (default 6)\n") +
    examples::kModelOptionsHelp;

int run(const phial::cli::Args& args) {
  const std::string request =
      examples::request_text(args, "Schedule Design review on 2025-11-27 at 14:00 for 60 minutes.");
  std::string calendar_path = args.get_or("calendar", "");
  if (calendar_path.empty()) {  // work on a copy of the sample calendar
    auto dir = fs::temp_directory_path() / ("phial-scheduling-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    calendar_path = (dir / "calendar.ics").string();
    fs::copy_file(PHIAL_SAMPLE_ICS, calendar_path, fs::copy_options::overwrite_existing);
  }
  examples::Calendar cal = examples::Calendar::load(calendar_path);
  const auto model_path = examples::model_path(args);
  std::cout << "calendar: " << calendar_path << " (" << cal.events().size() << " events)\n"
            << "model:    " << model_path.string() << "\n"
            << "request:  " << request << "\n\n"
            << std::flush;

  auto model = examples::load_model(model_path);
  boost::asio::io_context io;
  phial::Agent agent(io.get_executor(), examples::make_chat_model(model, args),
                     examples::agent_options(args, scheduling::kSystemPrompt,
                                             static_cast<std::size_t>(args.get_int("max-steps", 6))));
  std::mutex calendar_mutex;
  scheduling::register_tools(agent.tools(), cal, calendar_mutex);

  examples::TranscriptPrinter printer(std::cout, examples::Style::for_stdout(), /*stream_answer=*/false);
  const auto result = examples::run_agent(agent, io, request, printer);
  std::cout << "\nanswer: " << result.answer << "\n";
  if (result.stop != phial::RunStop::final_answer)
    std::cout << "(stopped: " << examples::describe_stop(result.stop) << ")\n";

  std::ifstream in(calendar_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string ics = text.str();
  std::erase(ics, '\r');
  std::cout << "\n--- " << calendar_path << " ---\n" << ics;
  return result.stop == phial::RunStop::final_answer ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return examples::agent_main("scheduling_assistant", kUsage.c_str(), argc, argv, {"calendar", "max-steps"}, {}, run);
}
