// tests/support/tiny_model.hpp - a random-weight Phi-4-mini-architecture model built in memory:
// the real vocabulary size (200,064 ids, tied embeddings) around a tiny body, so that the real
// executor runs a decode step in about a millisecond. Shared by unit-generate and bench-grammar.
#pragma once
#include <phial/model/config.hpp>
#include <phial/model/tensor.hpp>
#include <phial/model/weights.hpp>
#include <phial/sample/sampler.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace phial::test {

// A random-weight Phi-3-architecture model with the real vocabulary size (200,064) and a tiny body
// (hidden 32, one layer by default), f32 weights in memory, tied embeddings: the real executor, the real
// vocabulary, and a decode step of a few ms, so hundreds of generations fit in a unit test.
struct TinyRealVocabModel {
  TinyRealVocabModel(const TinyRealVocabModel&) = delete;  // the views point into storage
  TinyRealVocabModel& operator=(const TinyRealVocabModel&) = delete;

  phial::ModelConfig config;
  phial::ModelWeights weights;
  std::vector<std::vector<float>> storage;

  phial::TensorView tensor(const char* name, std::int64_t ne0, std::int64_t ne1, phial::Rng& rng, float scale, float mean = 0) {
    storage.emplace_back(static_cast<std::size_t>(ne0 * ne1));
    // sum of three uniforms: mean 0, variance 1/4 -> scaled to std `scale`
    for (auto& x : storage.back())
      x = mean + scale * 2.0f * static_cast<float>(rng.uniform01() + rng.uniform01() + rng.uniform01() - 1.5);
    phial::TensorView t;
    t.name = name;
    t.type = phial::TensorType::F32;
    t.n_dims = ne1 == 1 ? 1 : 2;
    t.ne = {ne0, ne1, 1, 1};
    t.data = reinterpret_cast<const std::byte*>(storage.back().data());
    t.nbytes = storage.back().size() * sizeof(float);
    return t;
  }

  // hidden / intermediate size `hidden` (a multiple of 4), 4 query heads, 2 KV heads.
  explicit TinyRealVocabModel(std::uint64_t seed, int hidden = 32, int layers = 1) {
    phial::Rng rng(seed);
    const int H = hidden, I = hidden, heads = 4, kv = 2, hd = hidden / 4, V = 200064;
    config.family = phial::Family::phi4_mini;
    config.variant = phial::Variant::phi4_mini_instruct;
    config.hidden_size = H;
    config.intermediate_size = I;
    config.n_layers = layers;
    config.n_heads = heads;
    config.n_kv_heads = kv;
    config.head_dim = hd;
    config.rotary_dim = hd;
    config.vocab_size = V;
    config.max_position_embeddings = 4096;
    config.tie_word_embeddings = true;
    storage.reserve(2 + 6 * static_cast<std::size_t>(layers));
    weights.token_embd = tensor("token_embd.weight", H, V, rng, 1.0f);
    weights.output_norm = tensor("output_norm.weight", H, 1, rng, 0.1f, 1.0f);
    weights.output = weights.token_embd;
    for (int i = 0; i < layers; ++i) {
      phial::LayerWeights l;
      l.attn_norm = tensor("blk.attn_norm.weight", H, 1, rng, 0.1f, 1.0f);
      l.attn_qkv = tensor("blk.attn_qkv.weight", H, (heads + 2 * kv) * hd, rng, 0.3f);
      l.attn_output = tensor("blk.attn_output.weight", heads * hd, H, rng, 0.2f);
      l.ffn_norm = tensor("blk.ffn_norm.weight", H, 1, rng, 0.1f, 1.0f);
      l.ffn_up = tensor("blk.ffn_up.weight", H, 2 * I, rng, 0.3f);
      l.ffn_down = tensor("blk.ffn_down.weight", I, H, rng, 0.2f);
      weights.layers.push_back(l);
    }
  }
};

}  // namespace phial::test
