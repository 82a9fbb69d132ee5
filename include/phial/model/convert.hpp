// phial/model/convert.hpp - Hugging Face directory -> GGUF, the way llama.cpp's
// convert_hf_to_gguf.py (Phi3MiniModel) + llama-quantize do it: same tensor names, same `phi3.*`
// and `tokenizer.ggml.*` metadata, LongRoPE factors as `rope_factors_long/short.weight`, and
// quantization with llama.cpp's reference quantizers (`--pure` for single types; q4_k_m is
// llama-quantize's Q4_K_M mix). 1-D tensors stay f32, as llama.cpp keeps them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/gguf_writer.hpp>
#include <phial/model/model.hpp>

namespace phial {

enum class ConvertType { f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m };

std::optional<ConvertType> parse_convert_type(std::string_view s) noexcept;
std::string_view convert_type_name(ConvertType t) noexcept;

struct ConvertOptions {
  ConvertType type = ConvertType::f16;
  GgufWriter::Progress progress;  // (tensors done, total, current name)
};

struct ConvertReport {
  std::size_t n_tensors = 0;
  std::uint64_t data_bytes = 0;
  std::map<std::string, int> type_counts;  // ggml type name -> tensors
  bool tokenizer = false;                  // tokenizer.json found and written
  std::vector<std::string> warnings;
};

// The tensor type llama-quantize picks for `name` (a GGUF tensor name) under `type`.
// `layer` / `n_layers` matter for the q4_k_m mix; `tied`: the model has no output.weight.
TensorType convert_tensor_type(ConvertType type, const std::string& name, int n_dims, std::int64_t row_length, int layer,
                               int n_layers, bool tied);

// Builds the GgufWriter for a loaded Hugging Face model (metadata, tokenizer if `hf_dir` has
// tokenizer.json, tensors quantized on demand). The Model must outlive the writer.
GgufWriter make_gguf_writer(const Model& model, const ConvertOptions& opts, ConvertReport* report = nullptr);

// Loads `hf_dir`, converts, writes `out` (atomically: a .tmp file renamed into place).
ConvertReport convert_hf_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out, const ConvertOptions& opts = {});

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/convert.ipp>
#endif
