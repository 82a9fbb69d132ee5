// phial chat - an interactive conversation: one line per user turn, the answer streamed, the
// reasoning of reasoning models shown dimmed, tool calls shown as they happen. `/quit` (or end of
// input) leaves. With --calendar FILE.ics the agent gets the scheduling example's calendar tools.
#include "cli.hpp"

#include <scheduling_assistant/calendar_tools.hpp>

#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>

#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace {

std::string demo_model_path() {
#ifdef PHIAL_DEMO_MODEL
  return PHIAL_DEMO_MODEL;
#else
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "demo_model" / "phial-demo.gguf").string();
#endif
}

int chat(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"model", "max-tokens", "temperature", "seed", "system", "calendar"}, {});
  const bool colors = phial::cli::colors_enabled();
  const char* dim = colors ? "\033[2m" : "";
  const char* cyan = colors ? "\033[36m" : "";
  const char* reset = colors ? "\033[0m" : "";

  auto model = phial::Model::load(args.get_or("model", demo_model_path()));
  phial::PhiChatOptions chat_options;
  chat_options.generate = phial::GenerateOptions::defaults_for(model.config().variant);
  if (args.has("temperature")) {
    const double t = args.get_double("temperature", 0.0);
    chat_options.generate.sampler.greedy = t <= 0.0;
    chat_options.generate.sampler.temperature = static_cast<float>(t > 0.0 ? t : 1.0);
  }
  chat_options.generate.sampler.seed = static_cast<std::uint64_t>(args.get_int("seed", 0));

  boost::asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = args.get_or("system", "");
  options.max_tokens_per_turn = static_cast<std::size_t>(std::max<long long>(1, args.get_int("max-tokens", 1024)));
  std::optional<examples::Calendar> calendar;
  std::mutex calendar_mutex;
  if (auto path = args.get("calendar")) {
    calendar = examples::Calendar::load(*path);
    if (!args.has("system")) options.system_prompt = scheduling::kSystemPrompt;
  }
  phial::Agent agent(io.get_executor(), phial::PhiChatModel::from_model(model, {}, std::move(chat_options)), options);
  if (calendar) scheduling::register_tools(agent.tools(), *calendar, calendar_mutex);

  const bool interactive = phial::cli::stdout_is_terminal();
  for (;;) {
    if (interactive) std::cout << "> " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line) || line == "/quit" || line == "/exit") break;
    if (line.empty()) continue;
    bool in_reasoning = false;
    std::exception_ptr failure;
    auto end_reasoning = [&] {
      if (in_reasoning) std::cout << reset << "\n";
      in_reasoning = false;
    };
    agent.async_run(phial::RunRequest(line,
                                      [&](const phial::AgentEvent& ev) {
                                        if (auto* r = std::get_if<phial::ReasoningDelta>(&ev)) {
                                          if (!in_reasoning) std::cout << dim;
                                          in_reasoning = true;
                                          std::cout << r->text << std::flush;
                                        } else if (auto* a = std::get_if<phial::AnswerDelta>(&ev)) {
                                          end_reasoning();
                                          std::cout << a->text << std::flush;
                                        } else if (auto* c = std::get_if<phial::ToolCallEvent>(&ev)) {
                                          end_reasoning();
                                          std::cout << cyan << "[tool] " << c->call.name << " "
                                                    << boost::json::serialize(c->call.arguments) << reset << "\n"
                                                    << std::flush;
                                        } else if (auto* t = std::get_if<phial::ToolResultEvent>(&ev)) {
                                          std::cout << dim << "[result] "
                                                    << (t->result.ok() ? boost::json::serialize(t->result.value)
                                                                       : t->result.error)
                                                    << reset << "\n"
                                                    << std::flush;
                                        }
                                      }),
                    [&](std::exception_ptr e, phial::RunResult) { failure = e; });
    io.run();
    io.restart();
    end_reasoning();
    std::cout << "\n" << std::flush;
    if (failure) std::rethrow_exception(failure);
  }
  return 0;
}

phial::cli::Register reg{{"chat", "Talk with a model interactively (streaming; /quit leaves)",
                          "phial chat [--model PATH] [--system TEXT] [--max-tokens N] [--temperature T] [--seed N] "
                          "[--calendar FILE.ics]\n"
                          "  reads one message per line from stdin; /quit ends. Reasoning is shown dimmed and tool\n"
                          "  calls as they happen (colours only on a terminal, never with NO_COLOR).\n"
                          "  --calendar FILE.ics   give the agent the scheduling example's calendar tools\n",
                          &chat}};

}  // namespace
