// phial run - one prompt, the answer streamed to stdout (reasoning dimmed on a terminal).
#include "cli.hpp"

#include <common/agent_cli.hpp>

#include <iostream>
#include <string>

namespace {

int run(int argc, char** argv) {
  auto valued = examples::model_options();
  valued.push_back("system");
  const phial::cli::Args args(argc, argv, valued, {"hide-reasoning"});
  std::string prompt = examples::request_text(args);
  if (prompt == "-" || (prompt.empty() && !phial::cli::stdin_is_terminal())) {
    prompt.clear();
    for (std::string line; std::getline(std::cin, line);) prompt += (prompt.empty() ? "" : "\n") + line;
  }
  if (prompt.empty()) throw phial::cli::UsageError("no prompt");

  auto model = examples::load_model(examples::model_path(args));
  boost::asio::io_context io;
  phial::Agent agent(io.get_executor(), examples::make_chat_model(model, args),
                     examples::agent_options(args, args.get_or("system", ""), 1));
  examples::TranscriptPrinter printer(std::cout, examples::Style::for_stdout(), /*stream_answer=*/true,
                                      /*show_reasoning=*/!args.has("hide-reasoning"));
  const auto result = examples::run_agent(agent, io, prompt, printer);
  if (result.stop != phial::RunStop::final_answer)
    std::cerr << "phial run: stopped: " << examples::describe_stop(result.stop) << "\n";
  return 0;
}

// Defined before `reg` in this file, so it is initialized first.
const std::string kUsage = std::string(
                               "phial run [--model PATH] [--system TEXT] [--max-tokens N] [--temperature T] [--seed N] "
                               "[--threads N] [--hide-reasoning] PROMPT|-\n"
                               "  PROMPT, or '-' (or nothing, when stdin is not a terminal) to read it from stdin.\n") +
                           examples::kModelOptionsHelp +
                           "  --system TEXT      system prompt\n"
                           "  --hide-reasoning   reasoning models: one dim line instead of the trace\n"
                           "Progress bars (loading, long prefills) go to stderr when it is a terminal; colours\n"
                           "only on a terminal and never with NO_COLOR.";

phial::cli::Register reg{{"run", "Answer one prompt with a model (streams the answer)", kUsage, &run}};

}  // namespace
