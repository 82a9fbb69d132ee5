// agent_cli.hpp - what the example agents (scheduling_assistant, email_assistant, automation) and
// `phial run` / `phial chat` share: the model options every one of them takes, the default model
// (the bundled demo model), loading with a progress bar, long prefills with a progress bar, and
// running the agent while printing its events (common/terminal.hpp).
//
//   int main(int argc, char** argv) {
//     return examples::agent_main("my_agent", kUsage, argc, argv, {"calendar"}, {}, [](const phial::cli::Args& a) {
//       auto model = examples::load_model(examples::model_path(a));
//       phial::Agent agent(io.get_executor(), examples::make_chat_model(model, a), options);
//       ...
//       auto result = examples::run_agent(agent, io, request, printer);
//     });
//   }
#pragma once
#include <cli/cli.hpp>
#include <common/demo_model.hpp>
#include <common/terminal.hpp>

#include <phial/agent/agent.hpp>
#include <phial/agent/phi_chat_model.hpp>
#include <phial/error.hpp>
#include <phial/model/executor.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace examples {

// Options every agent program takes (besides its own), and their help text.
inline std::vector<std::string> model_options() { return {"model", "threads", "max-tokens", "temperature", "seed"}; }
inline constexpr const char* kModelOptionsHelp =
    "  --model PATH       GGUF file or Hugging Face model directory (default: the bundled demo model,\n"
    "                     examples/demo_model/phial-demo.gguf)\n"
    "  --threads N        compute threads (default: all cores)\n"
    "  --max-tokens N     longest model turn in tokens (default 1024)\n"
    "  --temperature T    0 = greedy (default: the model's recommended sampling)\n"
    "  --seed N           sampler seed (default 0)\n";

// --model, or the demo model; a missing demo model is one clear line, not a loader error.
inline std::filesystem::path model_path(const phial::cli::Args& args) { return model_or_demo(args.get("model")); }

// Reads the model's files once with a progress bar when stderr is a terminal: the pages the first
// forward pass needs are then in the page cache, and a multi-GB load shows progress instead of a
// silent first token. Piped: nothing is read ahead, Model::load maps the file lazily.
inline void read_ahead_with_progress(const std::filesystem::path& path) {
  if (!is_terminal(2)) return;
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  }
  std::uintmax_t total = 0;
  for (const auto& f : files) total += fs::file_size(f, ec);
  if (files.empty() || total == 0) return;
  ProgressBar bar("loading " + path.filename().string(), static_cast<double>(total), ProgressBar::Unit::mib);
  std::vector<char> buf(8u << 20);
  std::uintmax_t done = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      done += static_cast<std::uintmax_t>(in.gcount());
      bar.update(static_cast<double>(done));
    }
  }
  bar.update(static_cast<double>(total));
  bar.finish();
}

inline phial::Model load_model(const std::filesystem::path& path) {
  read_ahead_with_progress(path);
  return phial::Model::load(path);
}

// An Evaluator that prefills long inputs in chunks and draws a progress bar on stderr meanwhile.
// Short inputs (decode steps, the few tokens of a tool result) go straight through.
class ProgressEvaluator final : public phial::Evaluator {
 public:
  explicit ProgressEvaluator(std::unique_ptr<phial::Evaluator> inner, std::size_t min_tokens = 256,
                             std::size_t chunk = 256)
      : inner_(std::move(inner)), min_tokens_(min_tokens), chunk_(std::max<std::size_t>(1, chunk)) {}

  std::span<const float> eval(std::span<const std::int32_t> tokens) override {
    if (tokens.size() < min_tokens_) return inner_->eval(tokens);
    ProgressBar bar("prefill", static_cast<double>(tokens.size()));
    std::span<const float> logits;
    for (std::size_t i = 0; i < tokens.size(); i += chunk_) {
      bar.update(static_cast<double>(i));
      logits = inner_->eval(tokens.subspan(i, std::min(chunk_, tokens.size() - i)));
    }
    bar.update(static_cast<double>(tokens.size()));
    return logits;
  }
  void truncate(std::size_t n_tokens) override { inner_->truncate(n_tokens); }
  std::size_t size() const override { return inner_->size(); }
  std::int32_t vocab_size() const override { return inner_->vocab_size(); }

 private:
  std::unique_ptr<phial::Evaluator> inner_;
  std::size_t min_tokens_, chunk_;
};

// The agent's model: one Executor for `model` (which must outlive it), sampling from --temperature /
// --seed (default: the model family's recommendation), prefill progress bars on a terminal.
inline std::shared_ptr<phial::PhiChatModel> make_chat_model(const phial::Model& model, const phial::cli::Args& args) {
  phial::PhiChatOptions chat;
  chat.generate = phial::GenerateOptions::defaults_for(model.config().variant);
  if (args.has("temperature")) {
    const double t = args.get_double("temperature", 0.0);
    chat.generate.sampler.greedy = t <= 0.0;
    chat.generate.sampler.temperature = static_cast<float>(t > 0.0 ? t : 1.0);
  }
  chat.generate.sampler.seed = static_cast<std::uint64_t>(args.get_int("seed", 0));
  phial::ExecutorOptions exec;
  exec.threads = static_cast<int>(std::max<long long>(0, args.get_int("threads", 0)));
  auto executor = std::make_shared<phial::Executor>(model, exec);
  const bool bars = is_terminal(2);
  return std::make_shared<phial::PhiChatModel>(
      [executor, bars]() -> std::unique_ptr<phial::Evaluator> {
        auto session = std::make_unique<phial::Session>(*executor);
        if (!bars) return session;
        return std::make_unique<ProgressEvaluator>(std::move(session));
      },
      phial::Tokenizer::from_model(model), phial::choose_chat_format(model.config()), std::move(chat));
}

// AgentOptions from the shared flags (--max-tokens) plus the program's system prompt.
inline phial::AgentOptions agent_options(const phial::cli::Args& args, std::string system_prompt,
                                         std::size_t max_steps) {
  phial::AgentOptions o;
  o.system_prompt = std::move(system_prompt);
  o.max_steps = max_steps;
  o.max_tokens_per_turn = static_cast<std::size_t>(std::max<long long>(1, args.get_int("max-tokens", 1024)));
  return o;
}

// Sends one agent event to the printer.
inline void print_event(TranscriptPrinter& printer, const phial::AgentEvent& ev) {
  if (auto* r = std::get_if<phial::ReasoningDelta>(&ev)) {
    printer.reasoning(r->text);
  } else if (auto* a = std::get_if<phial::AnswerDelta>(&ev)) {
    printer.answer(a->text);
  } else if (auto* c = std::get_if<phial::ToolCallEvent>(&ev)) {
    printer.tool_call(c->call.name, boost::json::serialize(c->call.arguments));
  } else if (auto* t = std::get_if<phial::ToolResultEvent>(&ev)) {
    printer.tool_result(t->result.ok() ? boost::json::serialize(t->result.value) : t->result.error, t->result.ok());
  }
}

// Runs one request to the end on `io` (which must not be running elsewhere), printing events as
// they happen; rethrows what the run failed with.
inline phial::RunResult run_agent(phial::Agent& agent, boost::asio::io_context& io, std::string request,
                                  TranscriptPrinter& printer) {
  phial::RunResult result;
  std::exception_ptr failure;
  agent.async_run(phial::RunRequest(std::move(request), [&printer](const phial::AgentEvent& ev) { print_event(printer, ev); }),
                  [&](std::exception_ptr e, phial::RunResult r) {
                    failure = e;
                    result = std::move(r);
                  });
  io.run();
  io.restart();
  printer.end_turn();
  if (failure) std::rethrow_exception(failure);
  return result;
}

inline const char* describe_stop(phial::RunStop stop) {
  switch (stop) {
    case phial::RunStop::final_answer: return "final answer";
    case phial::RunStop::max_steps: return "step limit reached while still calling tools";
    case phial::RunStop::max_tokens: return "token limit reached";
    case phial::RunStop::cancelled: return "cancelled";
  }
  return "?";
}

// main() of an example program: parses `--model` & co. plus `valued`/`flags`, prints `usage` for
// --help (exit 0) and for bad usage (exit 2), and turns exceptions into one line on stderr (exit 1).
inline int agent_main(const char* program, const char* usage, int argc, char** argv, std::vector<std::string> valued,
                      std::vector<std::string> flags, const std::function<int(const phial::cli::Args&)>& body) {
  if (phial::cli::wants_help(argc - 1, argv + 1)) {
    std::cout << usage;
    return 0;
  }
  try {
    auto all = model_options();
    all.insert(all.end(), valued.begin(), valued.end());
    const phial::cli::Args args(argc - 1, argv + 1, std::move(all), std::move(flags));
    return body(args);
  } catch (const phial::cli::UsageError& e) {
    std::cerr << program << ": " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
}

// The positional arguments joined by spaces (a request given without quotes), or `fallback`.
inline std::string request_text(const phial::cli::Args& args, std::string fallback = "") {
  std::string r;
  for (const auto& p : args.positional()) r += (r.empty() ? "" : " ") + p;
  return r.empty() ? fallback : r;
}

}  // namespace examples
