// phial/model/impl/executor.ipp - definitions for executor.hpp (included by it in header-only builds).
#pragma once
#include <algorithm>
#include <cstring>
#include <string>

#include <phial/model/executor.hpp>

namespace phial {

PHIAL_INLINE Executor::Executor(const ModelConfig& config, const ModelWeights& weights, ExecutorOptions options)
    : config_(&config), options_(options), model_(detail::ForwardModel::build(config, weights)) {
  model_.prefill_math = options.prefill_math;
  if (options_.threads < 0) throw InvalidArgument("executor: threads must be >= 0 (0 = all cores)");
  if (options_.max_batch <= 0) throw InvalidArgument("executor: max_batch must be positive");
  if (options_.kv_capacity < 0) throw InvalidArgument("executor: kv_capacity must be >= 0 (0 = default)");
  pool_ = std::make_unique<ThreadPool>(options_.threads);
}

namespace detail {
// The capacity a session gets when the caller leaves it at 0: the model's context, at most 4096.
PHIAL_INLINE std::int64_t default_kv_capacity(const ModelConfig& c) {
  constexpr std::int64_t kDefault = 4096;
  return c.max_position_embeddings > 0 ? std::min(c.max_position_embeddings, kDefault) : kDefault;
}
}  // namespace detail

PHIAL_INLINE Session::Session(const Executor& executor, const ExecutorOptions& options)
    : exec_(&executor), policy_(options.rope_policy), max_batch_(options.max_batch) {
  if (options.kv_capacity < 0) throw InvalidArgument("session: kv_capacity must be >= 0 (0 = default)");
  if (max_batch_ <= 0) throw InvalidArgument("session: max_batch must be positive");
  const auto& m = exec_->forward_model();
  const std::int64_t capacity =
      options.kv_capacity > 0 ? options.kv_capacity : detail::default_kv_capacity(exec_->config());
  cache_ = KvCache(m.n_layers, m.n_kv_heads, m.head_dim, capacity, options.kv_f16);
  logits_.assign(static_cast<std::size_t>(m.vocab), 0.0f);
}

// Validates and appends `tokens`; returns the first position to (re)compute and which factors to use.
PHIAL_INLINE std::int64_t Session::prepare(std::span<const std::int32_t> tokens, bool& long_factors) {
  const auto& m = exec_->forward_model();
  if (tokens.empty()) throw InvalidArgument("session: eval needs at least one token");
  const std::int64_t n_embd = m.weights->token_embd.rows();
  for (std::int32_t id : tokens)
    if (id < 0 || id >= n_embd)
      throw InvalidArgument("session: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                            std::to_string(n_embd) + ")");
  const std::int64_t total = std::int64_t(tokens_.size()) + std::int64_t(tokens.size());
  if (total > cache_.capacity())
    throw InvalidArgument("session: " + std::to_string(total) + " tokens exceed the KV cache capacity of " +
                          std::to_string(cache_.capacity()) + " tokens (raise ExecutorOptions::kv_capacity)");
  // The factors transformers would use for a sequence of `total` tokens. If they differ from those
  // the cache was encoded with, every position is recomputed (K is cached after RoPE).
  long_factors = m.rope.wants_long(policy_, total);
  const std::int64_t start = long_factors != cache_long_ ? 0 : cached_;
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return start;
}

PHIAL_INLINE void Session::run(std::int64_t start, bool long_factors, float* out_last, float* out_all,
                               std::int64_t out_from) {
  const auto& m = exec_->forward_model();
  const std::int64_t total = std::int64_t(tokens_.size());
  if (start < cached_) recomputed_tokens_ += cached_ - start;
  cached_ = start;
  cache_long_ = long_factors;
  for (std::int64_t c = start; c < total;) {
    // Chunks of at most max_batch tokens; with out_all, recomputed positions before out_from form
    // their own chunks, which produce no logits.
    std::int64_t end = std::min(c + max_batch_, total);
    if (out_all != nullptr && c < out_from) end = std::min(end, out_from);
    float* out = nullptr;
    if (out_all != nullptr) {
      if (c >= out_from) out = out_all + (c - out_from) * m.vocab;
    } else if (end == total) {
      out = out_last;
    }
    detail::forward(m, exec_->pool(), cache_, scratch_, tokens_.data() + c, end - c, c, long_factors, out,
                    out_all != nullptr);
    cached_ = end;
    c = end;
  }
}

PHIAL_INLINE std::span<const float> Session::eval(std::span<const std::int32_t> tokens) {
  const std::size_t old_size = tokens_.size();
  bool long_factors = false;
  const std::int64_t start = prepare(tokens, long_factors);
  try {
    run(start, long_factors, logits_.data(), nullptr, 0);
  } catch (...) {
    tokens_.resize(old_size);
    cached_ = std::min<std::int64_t>(cached_, std::int64_t(old_size));
    throw;
  }
  return logits_;
}

PHIAL_INLINE std::vector<float> Session::eval_all(std::span<const std::int32_t> tokens) {
  const auto V = static_cast<std::size_t>(exec_->vocab_size());
  const std::size_t old_size = tokens_.size();
  bool long_factors = false;
  const std::int64_t start = prepare(tokens, long_factors);
  std::vector<float> rows(tokens.size() * V);  // (tokens, vocab)
  try {
    run(start, long_factors, nullptr, rows.data(), std::int64_t(old_size));
  } catch (...) {
    tokens_.resize(old_size);
    cached_ = std::min<std::int64_t>(cached_, std::int64_t(old_size));
    throw;
  }
  std::memcpy(logits_.data(), rows.data() + rows.size() - V, V * sizeof(float));
  return rows;
}

PHIAL_INLINE void Session::truncate(std::size_t n_tokens) {
  if (n_tokens >= tokens_.size()) return;
  tokens_.resize(n_tokens);
  cached_ = std::min<std::int64_t>(cached_, std::int64_t(n_tokens));
  // The factors are re-decided at the next eval from the new length (and the cache recomputed if
  // they differ), so a rewound session computes what a fresh one fed the same tokens would.
}

}  // namespace phial
