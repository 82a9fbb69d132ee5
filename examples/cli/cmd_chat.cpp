// phial chat - an interactive conversation: one line per user turn, the answer streamed, the
// reasoning of reasoning models shown dimmed (or collapsed to one line: /reasoning toggles), tool
// calls and results shown as they happen. `/quit` (or end of input) leaves. With --calendar
// FILE.ics the agent gets the scheduling example's calendar tools.
#include "cli.hpp"

#include <common/agent_cli.hpp>
#include <scheduling_assistant/calendar_tools.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>

namespace {

int chat(int argc, char** argv) {
  auto valued = examples::model_options();
  valued.insert(valued.end(), {"system", "calendar", "max-steps"});
  const phial::cli::Args args(argc, argv, valued, {"hide-reasoning"});
  if (!args.positional().empty()) throw phial::cli::UsageError("unexpected argument '" + args.positional()[0] + "'");
  const auto style = examples::Style::for_stdout();

  // The calendar first: a bad .ics path fails before the model loads.
  std::optional<examples::Calendar> calendar;
  std::mutex calendar_mutex;
  std::string system = args.get_or("system", "");
  if (auto path = args.get("calendar")) {
    calendar = examples::Calendar::load(*path);
    if (!args.has("system")) system = scheduling::kSystemPrompt;
  }
  auto model = examples::load_model(examples::model_path(args));
  boost::asio::io_context io;
  phial::Agent agent(io.get_executor(), examples::make_chat_model(model, args),
                     examples::agent_options(args, system, static_cast<std::size_t>(args.get_int("max-steps", 6))));
  if (calendar) scheduling::register_tools(agent.tools(), *calendar, calendar_mutex);

  examples::TranscriptPrinter printer(std::cout, style, /*stream_answer=*/true, !args.has("hide-reasoning"));
  const bool interactive = phial::cli::stdin_is_terminal();
  if (interactive)
    std::cout << style.dim() << model.config().name << ": /quit leaves, /reasoning shows or hides reasoning"
              << style.reset() << "\n";
  for (;;) {
    if (interactive) std::cout << style.bold() << "> " << style.reset() << std::flush;
    std::string line;
    if (!std::getline(std::cin, line) || line == "/quit" || line == "/exit") break;
    if (line.empty()) continue;
    if (line == "/reasoning") {
      printer.set_show_reasoning(!printer.show_reasoning());
      std::cout << style.dim() << "(reasoning " << (printer.show_reasoning() ? "shown" : "hidden") << ")"
                << style.reset() << "\n";
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto result = examples::run_agent(agent, io, line, printer);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char stats[160];
    std::snprintf(stats, sizeof stats, "(%zu tokens prefilled, %zu generated, %.1f s%s%s)", result.tokens_prefilled,
                  result.tokens_generated, secs, result.stop == phial::RunStop::final_answer ? "" : "; ",
                  result.stop == phial::RunStop::final_answer ? "" : examples::describe_stop(result.stop));
    std::cout << style.dim() << stats << style.reset() << "\n" << std::flush;
  }
  return 0;
}

const std::string kUsage =
    std::string(
        "phial chat [--model PATH] [--system TEXT] [--calendar FILE.ics] [--max-steps N] [--hide-reasoning] "
        "[--max-tokens N] [--temperature T] [--seed N] [--threads N]\n"
        "  Reads one message per line from stdin; /quit ends, /reasoning shows or hides reasoning.\n"
        "  Streams the answer; reasoning is dimmed, tool calls (->) and results (<-) appear as they\n"
        "  happen. Colours only on a terminal and never with NO_COLOR; progress bars on stderr when\n"
        "  it is a terminal.\n") +
    examples::kModelOptionsHelp +
    "  --system TEXT       system prompt\n"
    "  --calendar FILE.ics give the agent the scheduling example's calendar tools (and its system prompt)\n"
    "  --max-steps N       model turns per message (default 6)\n"
    "  --hide-reasoning    start with reasoning collapsed to one line";

phial::cli::Register reg{{"chat", "Talk with a model interactively (streaming; /quit leaves)", kUsage, &chat}};

}  // namespace
