// cmd_convert.cpp - `phial convert`: Hugging Face model directory -> GGUF file that loads in
// phial and llama.cpp alike (same tensor names, phi3.* / tokenizer.ggml.* metadata, llama.cpp's
// reference quantizers).
#include <chrono>
#include <cstdio>
#include <string>

#include <phial/error.hpp>
#include <phial/model/convert.hpp>

#include "cli.hpp"

namespace {

constexpr const char* kUsage =
    "phial convert HF_DIR OUT.gguf [--type TYPE]\n"
    "\n"
    "Converts a Hugging Face Phi-4-family checkpoint (config.json, *.safetensors, tokenizer.json,\n"
    "tokenizer_config.json) to GGUF.\n"
    "  --type TYPE   f32, f16 (default), bf16, q8_0, q4_0, q4_k, q5_k, q6_k (all matrices in that\n"
    "                type, like llama-quantize --pure) or q4_k_m (llama-quantize's Q4_K_M mix).\n"
    "                Vectors (norms, LongRoPE factors) stay f32.";

int run(int argc, char** argv) {
  const phial::cli::Args args(argc, argv, {"type"}, {});
  if (args.positional().size() != 2) throw phial::cli::UsageError("expected HF_DIR and OUT.gguf");
  const std::string type_name = args.get_or("type", "f16");
  const auto type = phial::parse_convert_type(type_name);
  if (!type) throw phial::cli::UsageError("unknown --type '" + type_name + "'");
  phial::ConvertOptions opts;
  opts.type = *type;
  const bool bar = phial::cli::stderr_is_terminal();
  if (bar)
    opts.progress = [](std::size_t done, std::size_t total, const std::string& name) {
      const int width = 30;
      const int filled = total ? static_cast<int>(width * done / total) : width;
      std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu %-40.40s", filled, "##############################", width - filled, "", done, total,
                   name.c_str());
      if (done == total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    };
  const auto t0 = std::chrono::steady_clock::now();
  const auto rep = phial::convert_hf_to_gguf(args.positional()[0], args.positional()[1], opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& w : rep.warnings) std::fprintf(stderr, "phial convert: warning: %s\n", w.c_str());
  std::printf("wrote %s: %zu tensors, %.1f MiB of tensor data,", args.positional()[1].c_str(), rep.n_tensors,
              static_cast<double>(rep.data_bytes) / (1 << 20));
  for (const auto& [t, n] : rep.type_counts) std::printf(" %s x%d", t.c_str(), n);
  std::printf(", tokenizer %s, %.2f s\n", rep.tokenizer ? "yes" : "no", secs);
  return 0;
}

const phial::cli::Register reg{{"convert", "Convert a Hugging Face model directory to GGUF", kUsage, &run}};

}  // namespace
