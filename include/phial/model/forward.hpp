// phial/model/forward.hpp - the Phi-3-architecture forward pass (Phi-4, Phi-4-mini, Phi-3.5),
// exactly as transformers' modeling_phi3.py computes it, on one chunk of consecutive tokens.
//
// The whole pass is one function, `forward`, reading top to bottom like the pseudocode of spec §2.1;
// each op is a small function in ops/ (norm, rope, attention, activation, matmul). Activations
// between ops are float32. Inside matmul, quantized weights meet activations rounded to 8-bit blocks
// (always in decode; in prefill unless ExecutorOptions::prefill_math is f32), as llama.cpp does.
#pragma once
#include <cstdint>
#include <vector>

#include <phial/backend/aligned.hpp>
#include <phial/backend/thread_pool.hpp>
#include <phial/config.hpp>
#include <phial/model/config.hpp>
#include <phial/model/kv_cache.hpp>
#include <phial/model/rope.hpp>
#include <phial/model/weights.hpp>
#include <phial/ops/prefill_math.hpp>

namespace phial::detail {

// Everything the forward pass needs that is fixed per model (owned by the Executor).
struct ForwardModel {
  const ModelWeights* weights = nullptr;
  int n_layers = 0;
  int hidden = 0;          // H
  int intermediate = 0;    // I (gate_up has 2I rows)
  int n_heads = 0;         // nH
  int n_kv_heads = 0;      // nKV
  int head_dim = 0;        // hd
  int vocab = 0;           // rows of the lm head (= logits per position)
  int q_dim = 0;           // nH * hd
  int kv_dim = 0;          // nKV * hd
  int qkv_dim = 0;         // q_dim + 2 * kv_dim: fused rows Q | K | V
  float rms_eps = 1e-5f;
  float attn_scale = 1.0f;   // head_dim^-0.5
  std::int64_t sliding_window = 0;  // 0 = none
  std::vector<std::vector<float>> attn_norm;  // (n_layers, H) f32 copies of input_layernorm
  std::vector<std::vector<float>> ffn_norm;   // (n_layers, H) post_attention_layernorm
  std::vector<float> output_norm;             // (H) model.norm
  RopeTables rope;
  ops::PrefillMath prefill_math = ops::PrefillMath::fast;  // set by the Executor from its options

  // Validates every shape against the config; throws FormatError naming the tensor.
  static ForwardModel build(const ModelConfig& config, const ModelWeights& weights);
};

// Activation buffers of one session, grown to the largest chunk it has evaluated (bounded by the
// executor's max_batch), so resident memory is weights + KV cache + this.
struct ForwardScratch {
  // The buffers the kernels read start on a cache line (backend/aligned.hpp).
  std::int64_t tokens = 0;        // capacity in tokens of the buffers below
  AlignedVector<float> x;         // (T, H)       residual stream
  AlignedVector<float> h;         // (T, H)       normed input of a block / output of o_proj and down_proj
  AlignedVector<float> qkv;       // (T, qkv_dim) rows Q | K | V; Q and K rotated in place
  AlignedVector<float> attn;      // (T, nH*hd)   attention output, heads concatenated
  AlignedVector<float> gate_up;   // (T, 2I)      rows gate | up
  AlignedVector<float> act;       // (T, I)       up * silu(gate)
  std::vector<float> cos;         // (T, rotary_dim/2) already times mscale
  std::vector<float> sin;         // (T, rotary_dim/2)

  void reserve(const ForwardModel& m, std::int64_t n_tokens);
};

// Runs tokens (T) at positions pos0 .. pos0+T-1 through the model, appending their K/V to `cache`
// (positions < pos0 must already hold this sequence's K/V, encoded with the same RoPE factors).
// Writes logits: (T, vocab) when all_positions, else (vocab) of the last token only; nothing when
// logits is null.
// long_rope selects LongRoPE's long factors (ignored for models without LongRoPE).
void forward(const ForwardModel& m, ThreadPool& pool, KvCache& cache, ForwardScratch& s, const std::int32_t* tokens,
             std::int64_t T, std::int64_t pos0, bool long_rope, float* logits, bool all_positions);

}  // namespace phial::detail

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/forward.ipp>
#endif
