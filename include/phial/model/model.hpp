// phial/model/model.hpp - a loaded Phi-4-family model: its ModelConfig and its weights, from a
// GGUF file or a Hugging Face directory, with the weights left in the memory-mapped files.
//
//   auto model = phial::Model::load("phi-4-mini-instruct-Q4_K_M.gguf");   // or an HF directory
//   phial::Executor exec(model);
//
// Whatever the source, weights() holds ggml-ordered views (ne[0] = row length): a Hugging Face
// [out, in] matrix is ne {in, out} with the same bytes, so nothing is copied or transposed. With
// tied embeddings `output` is a view of `token_embd`. Every tensor the forward pass needs is checked
// against the config (name, type, dimensions); problems are reported together, by tensor name.
// Model is movable; the views stay valid across moves (the files live on the heap).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>
#include <phial/model/gguf.hpp>
#include <phial/model/hf_config.hpp>
#include <phial/model/mmap.hpp>
#include <phial/model/safetensors.hpp>
#include <phial/model/tensor.hpp>
#include <phial/model/weights.hpp>

namespace phial {

struct LoadOptions {
  // mmap (default): no copy, pages load lazily and are shared with other processes;
  // read: the file is read into anonymous memory; read_locked: plus mlock (never paged out).
  FileMemory memory = FileMemory::mmap;
  // Ask the kernel to start reading the whole file in the background (MADV_WILLNEED).
  bool prefetch = false;
};

class Model {
 public:
  // `path`: a .gguf file, a Hugging Face model directory, or a .safetensors / index .json file
  // inside one. Throws IoError, FormatError (with file + tensor/key + expectation) or
  // UnsupportedModelError.
  static Model load(const std::filesystem::path& path, LoadOptions opts = {});

  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  const ModelConfig& config() const noexcept { return s_->config; }
  const ModelWeights& weights() const noexcept { return s_->weights; }
  const GgufFile* gguf() const noexcept { return s_->gguf.get(); }                // null unless GGUF
  const SafetensorsSet* safetensors() const noexcept { return s_->st.get(); }     // null unless HF
  const std::filesystem::path& hf_dir() const noexcept { return s_->hf_dir; }     // empty unless HF
  const std::filesystem::path& path() const noexcept { return s_->path; }
  std::string_view format() const noexcept { return s_->gguf ? "gguf" : "safetensors"; }

  // Distinct weight tensors the forward pass uses (a tied output counted once).
  std::vector<const TensorView*> tensors() const;
  std::int64_t parameter_count() const;
  std::size_t weight_bytes() const;

 private:
  struct State {
    ModelConfig config;
    ModelWeights weights;
    std::unique_ptr<GgufFile> gguf;
    std::unique_ptr<SafetensorsSet> st;
    std::filesystem::path hf_dir, path;
  };
  Model() : s_(std::make_unique<State>()) {}
  static void load_gguf(State& s, const std::filesystem::path& path, const LoadOptions& opts);
  static void load_hf(State& s, const std::filesystem::path& dir, const std::filesystem::path& weights_path, const LoadOptions& opts);

  std::unique_ptr<State> s_;
};

// ModelConfig from GGUF metadata (general.architecture must be phi3) and the file's tensors.
ModelConfig config_from_gguf(const GgufFile& g);

// Checks every tensor the forward pass needs against `cfg` and throws one FormatError listing
// each missing or mismatched tensor by name (`source` names the file). 1-D tensors must be
// F32/F16/BF16; matrices any type phial supports.
void validate_weights(const ModelConfig& cfg, const ModelWeights& w, const std::string& source);

// Throws UnsupportedModelError if a tensor name shows a model phial cannot run: Phi-4-multimodal's
// PEFT LoRA wrapping (".base_layer.", ".lora_A.", ".lora_B.") or SambaY / phi4flash layers.
void reject_unsupported_tensor_names(const std::vector<std::string>& names, const std::string& source);

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/model.ipp>
#endif
