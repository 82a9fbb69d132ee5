// cmd_info.cpp - `phial info MODEL`: what a model file is (family, variant, quantization,
// context, parameters) and how much memory running it needs.
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include <phial/error.hpp>
#include <phial/model/hf_config.hpp>
#include <phial/model/model.hpp>

#include "cli.hpp"

#include <common/demo_model.hpp>

namespace {

constexpr const char* kUsage =
    "phial info [MODEL|--model MODEL] [--metadata]\n"
    "\n"
    "Describes a GGUF file or Hugging Face model directory: family, variant, tensor types,\n"
    "context length, parameter count and the memory needed for weights and the KV cache\n"
    "(default: the bundled demo model).\n"
    "  --metadata   also list every GGUF metadata key (arrays abbreviated)";

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

int run(int argc, char** argv) {
  const phial::cli::Args args(argc, argv, {"model"}, {"metadata"});
  // MODEL as a positional or, like every other command, as --model PATH.
  if (args.positional().size() + (args.has("model") ? 1 : 0) > 1) throw phial::cli::UsageError("expected one MODEL path");
  std::optional<std::string> path = args.get("model");
  if (!args.positional().empty()) path = args.positional()[0];
  const phial::Model m = phial::Model::load(examples::model_or_demo(path));
  const phial::ModelConfig& c = m.config();
  std::map<std::string, int> types;
  for (const auto* t : m.tensors()) types[std::string(phial::tensor_type_info(t->type).name)]++;
  std::printf("model:        %s\n", m.path().c_str());
  std::printf("format:       %s\n", std::string(m.format()).c_str());
  std::printf("name:         %s\n", c.name.c_str());
  std::printf("family:       %s\n", std::string(phial::family_name(c.family)).c_str());
  std::printf("variant:      %s\n", std::string(phial::variant_name(c.variant)).c_str());
  std::printf("quantization:");
  for (const auto& [t, n] : types) std::printf(" %s x%d", t.c_str(), n);
  std::printf("\n");
  std::printf("shape:        hidden %d, ffn %d, layers %d, heads %d (kv %d), head_dim %d, rotary %d, vocab %d%s\n", c.hidden_size,
              c.intermediate_size, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.rotary_dim, c.vocab_size,
              c.tie_word_embeddings ? ", tied embeddings" : "");
  std::printf("context:      %lld (original %lld)%s, rope theta %g\n", static_cast<long long>(c.max_position_embeddings),
              static_cast<long long>(c.original_max_position_embeddings), c.has_longrope() ? ", LongRoPE" : "", static_cast<double>(c.rope_theta));
  const double params = static_cast<double>(m.parameter_count());
  const double weights = static_cast<double>(m.weight_bytes());
  std::printf("parameters:   %.3f B (%.2f bits/weight)\n", params / 1e9, 8.0 * weights / params);
  // KV cache: K and V, n_kv_heads x head_dim per layer per token
  const double kv_per_token_f32 = 2.0 * c.n_layers * c.n_kv_heads * c.head_dim * 4.0;
  const double ctx = static_cast<double>(std::min<std::int64_t>(c.max_position_embeddings, 4096));
  std::printf("memory:       weights %.1f MiB (%s), KV cache %.1f KiB/token f32 (%.1f KiB f16): %.1f MiB for %.0f tokens (f16)\n",
              mib(weights), m.gguf() ? "memory-mapped" : "memory-mapped safetensors", kv_per_token_f32 / 1024, kv_per_token_f32 / 2048,
              mib(kv_per_token_f32 / 2 * ctx), ctx);
  std::printf("stop tokens: ");
  for (auto id : c.eos_token_ids) std::printf(" %d", id);
  std::printf("\nchat template: %s\n", c.chat_template.empty() ? "(none)" : "yes");
  if (args.has("metadata") && m.gguf())
    for (const auto& [k, v] : m.gguf()->metadata()) std::printf("  %s = %s\n", k.c_str(), v.to_string().c_str());
  return 0;
}

const phial::cli::Register reg{{"info", "Describe a model: family, variant, quantization, size, memory", kUsage, &run}};

}  // namespace
