// phial/model/impl/forward.ipp - definitions for forward.hpp (included by it in header-only builds).
#pragma once
#include <cmath>
#include <string>

#include <phial/error.hpp>
#include <phial/model/forward.hpp>
#include <phial/ops/activation.hpp>
#include <phial/ops/attention.hpp>
#include <phial/ops/matmul.hpp>
#include <phial/ops/norm.hpp>
#include <phial/ops/quant.hpp>
#include <phial/ops/rope.hpp>

namespace phial::detail {

// A weight matrix the forward pass multiplies by: ne {row_length, rows}, a type matmul can compute
// with, and enough bytes behind the view.
PHIAL_INLINE void check_matrix(const TensorView& t, const char* role, std::int64_t row_length, std::int64_t rows) {
  const std::string name = t.name.empty() ? std::string(role) : t.name;
  if (!t) throw FormatError("model weights: tensor '" + name + "' (" + role + ") is missing");
  if (t.ne[0] != row_length || t.rows() != rows)
    throw FormatError("model weights: tensor '" + name + "' (" + role + ") has shape {" + std::to_string(t.ne[0]) +
                      ", " + std::to_string(t.rows()) + "}, expected {" + std::to_string(row_length) + ", " +
                      std::to_string(rows) + "} from the model config");
  if (!ops::matmul_supports(t.type))
    throw UnsupportedModelError("model weights: tensor '" + name + "' has type " +
                                std::string(tensor_type_info(t.type).name) + ", which phial cannot compute with");
  if (t.ne[0] % tensor_type_info(t.type).block_elems != 0 || std::size_t(rows) * t.row_stride() > t.nbytes)
    throw FormatError("model weights: tensor '" + name + "' holds fewer bytes than its shape and type need");
}

// A 1-D norm weight of n elements, widened to float32 once (it may be f32, f16 or bf16).
PHIAL_INLINE std::vector<float> norm_weight_f32(const TensorView& t, const char* role, std::int64_t n) {
  const std::string name = t.name.empty() ? std::string(role) : t.name;
  if (!t) throw FormatError("model weights: tensor '" + name + "' (" + role + ") is missing");
  if (t.elements() != n)
    throw FormatError("model weights: tensor '" + name + "' has " + std::to_string(t.elements()) +
                      " elements, expected hidden_size = " + std::to_string(n));
  if (t.type != TensorType::F32 && t.type != TensorType::F16 && t.type != TensorType::BF16)
    throw UnsupportedModelError("model weights: norm tensor '" + name + "' must be f32, f16 or bf16");
  if (std::size_t(row_bytes(t.type, n)) > t.nbytes)
    throw FormatError("model weights: tensor '" + name + "' holds fewer bytes than its shape needs");
  std::vector<float> out(static_cast<std::size_t>(n));
  dequantize_row(t.type, t.data, out.data(), n);
  return out;
}

PHIAL_INLINE ForwardModel ForwardModel::build(const ModelConfig& c, const ModelWeights& w) {
  auto positive = [](std::int64_t v, const char* key) {
    if (v <= 0) throw FormatError(std::string("model config: ") + key + " must be positive, got " + std::to_string(v));
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.n_layers, "num_hidden_layers");
  positive(c.n_heads, "num_attention_heads");
  positive(c.n_kv_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  if (c.n_heads % c.n_kv_heads != 0)
    throw FormatError("model config: num_attention_heads (" + std::to_string(c.n_heads) +
                      ") is not a multiple of num_key_value_heads (" + std::to_string(c.n_kv_heads) + ")");
  if (w.layers.size() != static_cast<std::size_t>(c.n_layers))
    throw FormatError("model weights: " + std::to_string(w.layers.size()) + " layers, but the config says " +
                      std::to_string(c.n_layers));

  ForwardModel m;
  m.weights = &w;
  m.n_layers = c.n_layers;
  m.hidden = c.hidden_size;
  m.intermediate = c.intermediate_size;
  m.n_heads = c.n_heads;
  m.n_kv_heads = c.n_kv_heads;
  m.head_dim = c.head_dim;
  m.q_dim = c.n_heads * c.head_dim;
  m.kv_dim = c.n_kv_heads * c.head_dim;
  m.qkv_dim = m.q_dim + 2 * m.kv_dim;
  m.rms_eps = c.rms_norm_eps;
  m.attn_scale = float(1.0 / std::sqrt(double(c.head_dim)));
  m.sliding_window = c.sliding_window > 0 ? c.sliding_window : 0;
  m.rope = RopeTables::from_config(c);

  const std::int64_t H = m.hidden;
  if (!w.token_embd) throw FormatError("model weights: token embedding tensor is missing");
  check_matrix(w.token_embd, "token_embd", H, w.token_embd.rows());
  if (!w.output) throw FormatError("model weights: output (lm_head) tensor is missing");
  check_matrix(w.output, "output", H, w.output.rows());
  m.vocab = static_cast<int>(w.output.rows());
  if (c.vocab_size > 0 && c.vocab_size != m.vocab)
    throw FormatError("model weights: lm head has " + std::to_string(m.vocab) + " rows, but vocab_size is " +
                      std::to_string(c.vocab_size));
  m.output_norm = norm_weight_f32(w.output_norm, "output_norm", H);
  for (const LayerWeights& lw : w.layers) {
    m.attn_norm.push_back(norm_weight_f32(lw.attn_norm, "attn_norm", H));
    m.ffn_norm.push_back(norm_weight_f32(lw.ffn_norm, "ffn_norm", H));
    check_matrix(lw.attn_qkv, "attn_qkv", H, m.qkv_dim);
    check_matrix(lw.attn_output, "attn_output", m.q_dim, H);
    check_matrix(lw.ffn_up, "ffn_up (gate|up)", H, 2 * std::int64_t(m.intermediate));
    check_matrix(lw.ffn_down, "ffn_down", m.intermediate, H);
  }
  return m;
}

PHIAL_INLINE void ForwardScratch::reserve(const ForwardModel& m, std::int64_t n_tokens) {
  if (n_tokens <= tokens) return;
  const auto T = static_cast<std::size_t>(n_tokens);
  x.resize(T * std::size_t(m.hidden));
  h.resize(T * std::size_t(m.hidden));
  qkv.resize(T * std::size_t(m.qkv_dim));
  attn.resize(T * std::size_t(m.q_dim));
  gate_up.resize(T * 2 * std::size_t(m.intermediate));
  act.resize(T * std::size_t(m.intermediate));
  cos.resize(T * std::size_t(m.rope.half()));
  sin.resize(T * std::size_t(m.rope.half()));
  tokens = n_tokens;
}

// Batches of at least this many tokens attend in tiles (ops::attend_tile) of this many tokens.
inline constexpr std::int64_t kAttentionTileMinTokens = 16;
inline constexpr std::int64_t kAttentionTileTokens = 32;
// Batches at least this large run their row-wise ops (norms, RoPE, residual adds, SwiGLU) on the pool.
inline constexpr std::int64_t kParallelRowsMinTokens = 16;

PHIAL_INLINE void forward(const ForwardModel& m, ThreadPool& pool, KvCache& cache, ForwardScratch& s,
                          const std::int32_t* tokens, std::int64_t T, std::int64_t pos0, bool long_rope, float* logits,
                          bool all_positions) {
  s.reserve(m, T);
  const ModelWeights& W = *m.weights;
  const std::int64_t H = m.hidden, I = m.intermediate, hd = m.head_dim;
  const int rot = m.rope.rotary_dim, half = m.rope.half();
  const int group = m.n_heads / m.n_kv_heads;  // query heads sharing one kv head (repeat_kv)
  float* x = s.x.data();              // (T, H)
  float* h = s.h.data();              // (T, H)
  float* qkv = s.qkv.data();          // (T, qkv_dim)
  float* attn = s.attn.data();        // (T, nH*hd)
  float* gate_up = s.gate_up.data();  // (T, 2I)
  float* act = s.act.data();          // (T, I)
  float* cos_t = s.cos.data();        // (T, rot/2)
  float* sin_t = s.sin.data();        // (T, rot/2)

  // x (T, H) = embed_tokens[tokens]: a plain row lookup (no sqrt(H) scaling), dequantized to f32.
  for (std::int64_t t = 0; t < T; ++t)
    dequantize_row(W.token_embd.type, W.token_embd.row(tokens[t]), x + t * H, H);

  // cos, sin (T, rot/2) of positions pos0..pos0+T-1, with the short or long LongRoPE factors.
  const std::vector<float>& inv_freq = m.rope.inv_freq(long_rope);
  for (std::int64_t t = 0; t < T; ++t)
    ops::rope_cos_sin(inv_freq.data(), half, pos0 + t, m.rope.mscale, cos_t + t * half, sin_t + t * half);

  // Row-wise ops (norms, RoPE, residual adds, SwiGLU) on tokens [t0, t1): split over the pool for
  // a prefill batch (serial, they were ~8 % of a 512-token prefill once the GEMM took AMX), inline
  // for decode, where a pool round trip costs more than the op.
  auto by_rows = [&](auto&& fn) {
    if (T >= kParallelRowsMinTokens)
      pool.parallel_for(T, [&](std::int64_t t0, std::int64_t t1) { fn(t0, t1); }, 8);
    else
      fn(std::int64_t{0}, T);
  };
  auto norm_rows = [&](const float* weight, std::int64_t t0, std::int64_t t1) {
    ops::rms_norm_rows(x + t0 * H, weight, h + t0 * H, t1 - t0, H, m.rms_eps);
  };

  for (int l = 0; l < m.n_layers; ++l) {
    const LayerWeights& lw = W.layers[static_cast<std::size_t>(l)];

    // ---- attention block ----
    // h (T, H) = rmsnorm(x) * input_layernorm
    by_rows([&](std::int64_t t0, std::int64_t t1) { norm_rows(m.attn_norm[std::size_t(l)].data(), t0, t1); });
    // qkv (T, qkv_dim) = h · qkv_proj^T; per token: q (nH, hd) | k (nKV, hd) | v (nKV, hd)
    ops::matmul(lw.attn_qkv, h, T, qkv, pool, m.prefill_math);
    // Rotate q and k over their first `rot` dims, then cache k (after RoPE) and v.
    by_rows([&](std::int64_t t0, std::int64_t t1) {
      for (std::int64_t t = t0; t < t1; ++t) {
        float* q = qkv + t * m.qkv_dim;
        float* k = q + m.q_dim;
        const float* v = k + m.kv_dim;
        ops::rope_apply_heads(q, m.n_heads, m.head_dim, cos_t + t * half, sin_t + t * half, rot);
        ops::rope_apply_heads(k, m.n_kv_heads, m.head_dim, cos_t + t * half, sin_t + t * half, rot);
        cache.store(l, pos0 + t, k, v);  // distinct positions: no two threads write the same slot
      }
    });
    // attn (T, nH*hd): query head i of token t attends to kv head i / group over positions
    // [first visible, pos0 + t] (causal), softmax(q·k * hd^-0.5) · v.
    if (T >= kAttentionTileMinTokens) {
      // Prefill: tiles of kAttentionTileTokens tokens × the group's query heads, one kv head each
      // (ops::attend_tile: two sgemm calls per block of keys). Items ordered kv head-major (its keys
      // and values stay in the thread's L2), heaviest (latest) tiles first for the load balance.
      const std::int64_t n_tiles = (T + kAttentionTileTokens - 1) / kAttentionTileTokens;
      pool.parallel_for(m.n_kv_heads * n_tiles, [&](std::int64_t begin, std::int64_t end) {
        thread_local AlignedVector<float> q_tile, out_tile;  // (tile tokens · group, hd)
        thread_local std::vector<std::int64_t> q_pos;      // (tile tokens · group)
        for (std::int64_t i = begin; i < end; ++i) {
          const int kv_head = int(i / n_tiles);
          const std::int64_t t0 = (n_tiles - 1 - i % n_tiles) * kAttentionTileTokens;
          const std::int64_t nt = std::min(kAttentionTileTokens, T - t0), nq = nt * group;
          q_tile.resize(std::size_t(nq * hd));
          out_tile.resize(std::size_t(nq * hd));
          q_pos.resize(std::size_t(nq));
          for (std::int64_t tt = 0; tt < nt; ++tt)  // rows (token, query head of the group)
            for (int g = 0; g < group; ++g) {
              const std::int64_t row = tt * group + g;
              std::copy_n(qkv + (t0 + tt) * m.qkv_dim + (kv_head * group + g) * hd, hd, q_tile.data() + row * hd);
              q_pos[std::size_t(row)] = pos0 + t0 + tt;
            }
          if (cache.is_f16())
            ops::attend_tile(q_tile.data(), nq, q_pos.data(), m.sliding_window, cache.keys_f16(l, kv_head),
                             cache.values_f16(l, kv_head), hd, m.head_dim, m.attn_scale, out_tile.data());
          else
            ops::attend_tile(q_tile.data(), nq, q_pos.data(), m.sliding_window, cache.keys_f32(l, kv_head),
                             cache.values_f32(l, kv_head), hd, m.head_dim, m.attn_scale, out_tile.data());
          for (std::int64_t tt = 0; tt < nt; ++tt)
            for (int g = 0; g < group; ++g)
              std::copy_n(out_tile.data() + (tt * group + g) * hd, hd, attn + (t0 + tt) * m.q_dim + (kv_head * group + g) * hd);
        }
      });
    } else {
      // Decode and short batches: one query at a time. Work items ordered kv head, then token, then
      // query head of the group: a thread's consecutive items read the same kv head's keys and values.
      pool.parallel_for(T * m.n_heads, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const int kv_head = int(i / (T * group));
          const std::int64_t t = (i / group) % T;
          const int head = kv_head * group + int(i % group);
          const std::int64_t pos = pos0 + t;
          const float* q = qkv + t * m.qkv_dim + head * hd;
          float* out = attn + t * m.q_dim + head * hd;
          const std::int64_t first = ops::first_visible_key(pos, m.sliding_window);
          if (cache.is_f16()) {
            ops::attend_cached(q, cache.keys_f16(l, kv_head), cache.values_f16(l, kv_head), hd, first, pos + 1,
                               m.head_dim, m.attn_scale, out);
          } else {
            ops::attend_cached(q, cache.keys_f32(l, kv_head), cache.values_f32(l, kv_head), hd, first, pos + 1,
                               m.head_dim, m.attn_scale, out);
          }
        }
      });
    }
    // h (T, H) = attn · o_proj^T;  x += h
    ops::matmul(lw.attn_output, attn, T, h, pool, m.prefill_math);
    // ---- MLP block ----
    // x += h; h (T, H) = rmsnorm(x) * post_attention_layernorm
    by_rows([&](std::int64_t t0, std::int64_t t1) {
      ops::add_inplace(x + t0 * H, h + t0 * H, (t1 - t0) * H);
      norm_rows(m.ffn_norm[std::size_t(l)].data(), t0, t1);
    });
    // gate_up (T, 2I) = h · gate_up_proj^T, rows gate | up
    ops::matmul(lw.ffn_up, h, T, gate_up, pool, m.prefill_math);
    // act (T, I) = up * silu(gate)
    by_rows([&](std::int64_t t0, std::int64_t t1) { ops::swiglu_rows(gate_up + t0 * 2 * I, act + t0 * I, t1 - t0, I); });
    // h (T, H) = act · down_proj^T;  x += h
    ops::matmul(lw.ffn_down, act, T, h, pool, m.prefill_math);
    by_rows([&](std::int64_t t0, std::int64_t t1) { ops::add_inplace(x + t0 * H, h + t0 * H, (t1 - t0) * H); });
  }

  // logits = rmsnorm(x) · lm_head^T (lm_head is token_embd itself when tied), for every position
  // or only the last one (none for the leading chunks of a long prefill).
  if (logits == nullptr) return;
  if (all_positions) {
    ops::rms_norm_rows(x, m.output_norm.data(), h, T, H, m.rms_eps);
    ops::matmul(W.output, h, T, logits, pool, m.prefill_math);  // (T, vocab)
  } else {
    ops::rms_norm(x + (T - 1) * H, m.output_norm.data(), h, H, m.rms_eps);
    ops::matmul(W.output, h, 1, logits, pool);  // (vocab)
  }
}

}  // namespace phial::detail
