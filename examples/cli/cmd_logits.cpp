// cmd_logits.cpp - `phial logits`: run token ids through a model and write the logits of every
// position as raw float32 (row-major, one row of vocab_size floats per position, little-endian).
//
// Whole prompt (default): one batched prefill, as transformers evaluates a prompt in one call.
// --step: token by token through the decode path; row L-1 = the logits after L tokens, exactly as a
// generating caller sees them (including LongRoPE's switch to the long factors and the cache
// recomputation when the sequence grows past original_max_position_embeddings).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <phial/error.hpp>
#include <phial/model/executor.hpp>
#include <phial/model/model.hpp>

#include "cli.hpp"

namespace {

constexpr const char* kUsage =
    "phial logits --model PATH --ids 1,2,3 --out FILE [--step] [--threads N] [--rope-policy hf|long] [--kv-f16]\n"
    "                    [--prefill-f32]\n"
    "\n"
    "Evaluates the token ids and writes float32 logits, row-major, one row of vocab_size floats per\n"
    "position (little-endian), to FILE.\n"
    "  --model PATH         GGUF file or Hugging Face directory (config.json + *.safetensors)\n"
    "  --ids LIST           comma-separated token ids\n"
    "  --out FILE           output file ('-' for standard output)\n"
    "  --step               evaluate token by token through the decode path (row L-1 = logits after\n"
    "                       L tokens, including the LongRoPE switch), instead of one batched prefill\n"
    "  --threads N          threads (default: all cores)\n"
    "  --rope-policy P      hf (default: transformers' short/long switch) or long (long factors always)\n"
    "  --kv-f16             store the KV cache as 16-bit floats\n"
    "  --prefill-f32        prefill in f32 (dequantized weights, f32 activations) instead of phial's int8\n"
    "                       GEMM for Q4_0/Q4_1/Q4_K weights: no activation rounding, about 2x slower";

std::vector<std::int32_t> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX)
      throw phial::cli::UsageError("--ids: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    ids.push_back(static_cast<std::int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"model", "ids", "out", "threads", "rope-policy"}, {"step", "kv-f16", "prefill-f32"});
  if (!args.positional().empty()) throw phial::cli::UsageError("unexpected argument '" + args.positional()[0] + "'");
  const std::string model_path = args.require("model");
  const std::vector<std::int32_t> ids = parse_ids(args.require("ids"));
  const std::string out_path = args.require("out");
  const long long threads = args.get_int("threads", 0);
  if (threads < 0 || threads > 1024) throw phial::cli::UsageError("--threads must be between 0 and 1024");
  phial::RopePolicy policy = phial::RopePolicy::hf_switch;
  if (auto p = args.get("rope-policy")) {
    if (*p == "long") policy = phial::RopePolicy::always_long;
    else if (*p != "hf") throw phial::cli::UsageError("--rope-policy must be 'hf' or 'long', got '" + *p + "'");
  }

  auto model = phial::Model::load(model_path);
  phial::ExecutorOptions options;
  options.threads = static_cast<int>(threads);
  options.kv_capacity = static_cast<std::int64_t>(ids.size());
  options.kv_f16 = args.has("kv-f16");
  options.rope_policy = policy;
  if (args.has("prefill-f32")) options.prefill_math = phial::ops::PrefillMath::f32;
  phial::Executor executor(model, options);
  phial::Session session(executor);
  const auto vocab = static_cast<std::size_t>(executor.vocab_size());

  std::vector<float> rows;
  if (args.has("step")) {
    rows.reserve(ids.size() * vocab);
    for (std::int32_t id : ids) {
      auto logits = session.eval(std::span<const std::int32_t>(&id, 1));
      rows.insert(rows.end(), logits.begin(), logits.end());
    }
  } else {
    rows = session.eval_all(ids);
  }

  std::FILE* out = out_path == "-" ? stdout : std::fopen(out_path.c_str(), "wb");
  if (out == nullptr) throw phial::IoError("cannot open '" + out_path + "' for writing");
  const bool ok = std::fwrite(rows.data(), sizeof(float), rows.size(), out) == rows.size();
  const bool closed = out == stdout ? std::fflush(out) == 0 : std::fclose(out) == 0;
  if (!ok || !closed) throw phial::IoError("failed writing logits to '" + out_path + "'");
  if (out != stdout)
    std::fprintf(stderr, "phial logits: wrote %zu x %zu float32 logits (%s) to %s\n", ids.size(), vocab,
                 args.has("step") ? "step by step" : "whole prompt", out_path.c_str());
  return 0;
}

const phial::cli::Register reg{{"logits", "Write the logits of every position of token ids (float32)", kUsage, &run}};

}  // namespace
