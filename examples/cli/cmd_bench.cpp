// cmd_bench.cpp - `phial bench`: prefill and decode throughput in the style of llama-bench.
//
//   pp<P>: one batched prefill of P tokens into an empty KV cache; tokens/s = P / time.
//   tg<N>: N one-token decode steps starting from an empty cache; tokens/s = N / time.
// Token ids are random (as llama-bench does); no sampling is timed. Each test runs once untimed
// (warm-up: page faults of mmapped weights, thread start) and then REPS timed repetitions, each in a
// fresh session; the result is mean ± sample standard deviation of the per-repetition tokens/s.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <phial/error.hpp>
#include <phial/model/executor.hpp>
#include <phial/model/model.hpp>

#include "cli.hpp"

#include <common/demo_model.hpp>

namespace {

constexpr const char* kUsage =
    "phial bench [--model PATH] [-p 512] [-n 128] [-t THREADS[,THREADS...]] [-r REPS] [--json] [--memory mmap|read|locked] [--kv-f16] [--prefill-f32]\n"
    "\n"
    "Measures prefill (pp<P>) and decode (tg<N>) throughput in tokens/s, mean ± sd over REPS runs.\n"
    "  --model PATH     GGUF file or Hugging Face directory (default: the bundled demo model)\n"
    "  -p N             prompt tokens for the prefill test (0 skips it; default 512)\n"
    "  -n N             generated tokens for the decode test (0 skips it; default 128)\n"
    "  -t LIST          thread counts, comma-separated (default: all cores)\n"
    "  -r N             repetitions (default 5)\n"
    "  --json           one JSON object per test on standard output:\n"
    "                   {\"model\": ..., \"test\": \"pp512\", \"threads\": N, \"tokens_per_s\": mean, \"stddev\": sd}\n"
    "  --memory M       mmap (default), read (copy into anonymous memory) or locked (read + mlock)\n"
    "  --kv-f16         16-bit KV cache\n"
    "  --prefill-f32    prefill with f32 sgemm even where phial's int8 GEMM applies (Q4_0/Q4_1/Q4_K)";

std::vector<int> parse_list(const std::string& text, const char* what) {
  std::vector<int> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 1024)
      throw phial::cli::UsageError(std::string(what) + ": '" + item + "' is not a number between 1 and 1024");
    out.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  return out;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
      continue;
    }
    o += c;
  }
  return o;
}

struct Stats {
  double mean = 0, sd = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(s.sd / static_cast<double>(v.size() - 1));
  }
  return s;
}

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"model", "p", "n", "t", "r", "memory"}, {"json", "kv-f16", "prefill-f32"});
  if (!args.positional().empty()) throw phial::cli::UsageError("unexpected argument '" + args.positional()[0] + "'");
  const std::string model_path = examples::model_or_demo(args.get("model")).string();
  const long long n_prompt = args.get_int("p", 512);
  const long long n_gen = args.get_int("n", 128);
  const long long reps = args.get_int("r", 5);
  if (n_prompt < 0 || n_gen < 0 || (n_prompt == 0 && n_gen == 0)) throw phial::cli::UsageError("-p and -n must be >= 0, not both 0");
  if (reps < 1 || reps > 1000) throw phial::cli::UsageError("-r must be between 1 and 1000");
  std::vector<int> thread_counts = args.has("t") ? parse_list(args.require("t"), "-t") : std::vector<int>{0};
  const bool json = args.has("json");
  phial::LoadOptions load;
  if (auto m = args.get("memory")) {
    if (*m == "mmap") load.memory = phial::FileMemory::mmap;
    else if (*m == "read") load.memory = phial::FileMemory::read;
    else if (*m == "locked") load.memory = phial::FileMemory::read_locked;
    else throw phial::cli::UsageError("--memory must be mmap, read or locked");
  }

  auto model = phial::Model::load(model_path, load);
  const std::string model_name = std::filesystem::path(model_path).filename().string();
  std::mt19937 rng(1234);

  if (!json)
    std::printf("| model | test | threads | tokens/s |\n|---|---|---:|---:|\n");
  for (int threads : thread_counts) {
    phial::ExecutorOptions options;
    options.threads = threads;
    options.kv_capacity = std::max<long long>({n_prompt, n_gen, 1});
    options.kv_f16 = args.has("kv-f16");
    if (args.has("prefill-f32")) options.prefill_math = phial::ops::PrefillMath::f32;
    // One prefill call for the whole prompt, as llama-bench's default batch of 512 does.
    options.max_batch = std::max<long long>(n_prompt, 1);
    phial::Executor executor(model, options);
    std::uniform_int_distribution<std::int32_t> tok(0, executor.vocab_size() - 1);

    auto report = [&](const std::string& test, const std::vector<double>& tps) {
      const Stats s = stats(tps);
      if (json)
        std::printf("{\"model\": \"%s\", \"test\": \"%s\", \"threads\": %d, \"tokens_per_s\": %.3f, \"stddev\": %.3f}\n",
                    json_escape(model_name).c_str(), test.c_str(), executor.threads(), s.mean, s.sd);
      else
        std::printf("| %s | %s | %d | %.2f ± %.2f |\n", model_name.c_str(), test.c_str(), executor.threads(), s.mean, s.sd);
      std::fflush(stdout);
    };
    using Clock = std::chrono::steady_clock;

    if (n_prompt > 0) {
      std::vector<double> tps;
      for (long long r = 0; r <= reps; ++r) {  // r == 0: warm-up
        std::vector<std::int32_t> ids(static_cast<std::size_t>(n_prompt));
        for (auto& id : ids) id = tok(rng);
        phial::Session session(executor);
        const auto t0 = Clock::now();
        session.eval(ids);
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (r > 0) tps.push_back(static_cast<double>(n_prompt) / s);
      }
      report("pp" + std::to_string(n_prompt), tps);
    }
    if (n_gen > 0) {
      std::vector<double> tps;
      for (long long r = 0; r <= reps; ++r) {
        phial::Session session(executor);
        std::int32_t id = tok(rng);
        const auto t0 = Clock::now();
        for (long long i = 0; i < n_gen; ++i) {
          session.eval(std::span<const std::int32_t>(&id, 1));
          id = tok(rng);
        }
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (r > 0) tps.push_back(static_cast<double>(n_gen) / s);
      }
      report("tg" + std::to_string(n_gen), tps);
    }
  }
  return 0;
}

const phial::cli::Register reg{{"bench", "Measure prefill and decode tokens/s (llama-bench style)", kUsage, &run}};

}  // namespace
