// phial run - one prompt, the answer streamed to stdout.
#include "cli.hpp"

#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>

#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

// The bundled demo model, found relative to this source file (examples/demo_model/).
std::string demo_model_path() {
#ifdef PHIAL_DEMO_MODEL
  return PHIAL_DEMO_MODEL;
#else
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "demo_model" / "phial-demo.gguf").string();
#endif
}

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"model", "max-tokens", "temperature", "seed", "system"}, {});
  std::string prompt;
  for (const auto& p : args.positional()) prompt += (prompt.empty() ? "" : " ") + p;
  if (prompt == "-" || (prompt.empty() && !phial::cli::stdout_is_terminal())) {
    prompt.clear();
    for (std::string line; std::getline(std::cin, line);) prompt += (prompt.empty() ? "" : "\n") + line;
  }
  if (prompt.empty()) throw phial::cli::UsageError("no prompt");
  const bool colors = phial::cli::colors_enabled();

  auto model = phial::Model::load(args.get_or("model", demo_model_path()));
  phial::PhiChatOptions chat;
  chat.generate = phial::GenerateOptions::defaults_for(model.config().variant);
  if (args.has("temperature")) {
    const double t = args.get_double("temperature", 0.0);
    chat.generate.sampler.greedy = t <= 0.0;
    chat.generate.sampler.temperature = static_cast<float>(t > 0.0 ? t : 1.0);
  }
  chat.generate.sampler.seed = static_cast<std::uint64_t>(args.get_int("seed", 0));
  boost::asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = args.get_or("system", "");
  options.max_steps = 1;
  options.max_tokens_per_turn = static_cast<std::size_t>(std::max<long long>(1, args.get_int("max-tokens", 512)));
  phial::Agent agent(io.get_executor(), phial::PhiChatModel::from_model(model, {}, std::move(chat)), options);

  std::exception_ptr failure;
  bool in_reasoning = false;
  agent.async_run(phial::RunRequest(prompt,
                                    [&](const phial::AgentEvent& ev) {
                                      if (auto* r = std::get_if<phial::ReasoningDelta>(&ev)) {
                                        if (!in_reasoning && colors) std::cout << "\033[2m";
                                        in_reasoning = true;
                                        std::cout << r->text << std::flush;
                                      } else if (auto* a = std::get_if<phial::AnswerDelta>(&ev)) {
                                        if (in_reasoning) std::cout << (colors ? "\033[0m\n" : "\n");
                                        in_reasoning = false;
                                        std::cout << a->text << std::flush;
                                      }
                                    }),
                  [&](std::exception_ptr e, phial::RunResult) { failure = e; });
  io.run();
  if (in_reasoning && colors) std::cout << "\033[0m";
  std::cout << "\n";
  if (failure) std::rethrow_exception(failure);
  return 0;
}

phial::cli::Register reg{{"run", "Answer one prompt with a model (streams the answer)",
                          "phial run [--model PATH] [--max-tokens N] [--temperature T] [--seed N] [--system TEXT] "
                          "PROMPT|-\n"
                          "  --model PATH       GGUF file or Hugging Face directory (default: the bundled demo model)\n"
                          "  --max-tokens N     longest answer in tokens (default 512)\n"
                          "  --temperature T    0 = greedy (default: the model's recommended sampling)\n"
                          "  --seed N           sampler seed\n"
                          "  --system TEXT      system prompt\n",
                          &run}};

}  // namespace
