// phial/model/executor.hpp - runs a loaded Phi-4-family model: one Executor per model, one Session
// per conversation.
//
//   auto model = phial::Model::load("phi-4-mini-q4_k_m.gguf");
//   phial::Executor exec(model, {.threads = 2});
//   phial::Session chat(exec);                      // KV cache of exec's kv_capacity tokens
//   auto logits = chat.eval(prompt_ids);            // batched prefill -> last position's logits
//   logits = chat.eval(std::span(&next_id, 1));      // one-token decode
//
// The Executor holds what is fixed per model and shared: the thread pool, validated shapes, f32
// copies of the norm weights and the RoPE inverse-frequency tables. It does not own the weights:
// the Model must outlive it. Sessions only read it, so many sessions may share one executor and run
// on different threads at the same time (the pool serializes their parallel sections). One session
// must not be used from two threads at once.
//
// LongRoPE (spec §2.4, docs/executor.md): with RopePolicy::hf_switch (the default) a session encodes
// its sequence with the short factors while it has <= original_max_position_embeddings tokens and
// with the long factors once it is longer; whenever an eval() changes which factors apply, the
// whole KV cache is recomputed from the session's tokens (what transformers does by dropping its
// cache and re-prefilling). RopePolicy::always_long never recomputes.
#pragma once
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <phial/backend/thread_pool.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>
#include <phial/model/evaluator.hpp>
#include <phial/model/forward.hpp>
#include <phial/model/kv_cache.hpp>
#include <phial/model/weights.hpp>

namespace phial {

struct ExecutorOptions {
  int threads = 0;                 // threads of the pool, caller included; 0 = hardware concurrency
  std::int64_t kv_capacity = 0;    // tokens per session; 0 = min(max_position_embeddings, 4096)
  bool kv_f16 = false;             // store K/V as IEEE half (half the memory, ~1e-4 relative rounding)
  RopePolicy rope_policy = RopePolicy::hf_switch;
  std::int64_t max_batch = 256;    // prefill chunk: bounds scratch to max_batch tokens of activations
  ops::PrefillMath prefill_math = ops::PrefillMath::fast;  // f32: slower prefill, no activation rounding
};

class Executor {
 public:
  // `config` and `weights` must outlive the executor (they normally belong to a Model).
  Executor(const ModelConfig& config, const ModelWeights& weights, ExecutorOptions options = {});
  // From a phial::Model (anything with config() and weights()); the model must outlive the executor.
  template <class LoadedModel>
    requires requires(const LoadedModel& m) {
      { m.config() } -> std::convertible_to<const ModelConfig&>;
      { m.weights() } -> std::convertible_to<const ModelWeights&>;
    }
  explicit Executor(const LoadedModel& model, ExecutorOptions options = {})
      : Executor(model.config(), model.weights(), options) {}
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  const ModelConfig& config() const noexcept { return *config_; }
  const ExecutorOptions& options() const noexcept { return options_; }
  std::int32_t vocab_size() const noexcept { return model_.vocab; }
  int threads() const noexcept { return pool_->size(); }
  const detail::ForwardModel& forward_model() const noexcept { return model_; }
  ThreadPool& pool() const noexcept { return *pool_; }

 private:
  const ModelConfig* config_;
  ExecutorOptions options_;
  detail::ForwardModel model_;
  std::unique_ptr<ThreadPool> pool_;  // parallel_for is internally serialized across callers
};

class Session final : public Evaluator {
 public:
  // Uses the executor's kv_capacity, kv_f16 and rope_policy.
  explicit Session(const Executor& executor) : Session(executor, executor.options()) {}
  // Uses kv_capacity, kv_f16, rope_policy and max_batch from `options` (threads is the executor's).
  Session(const Executor& executor, const ExecutorOptions& options);

  // Appends tokens (prefill when many, decode when one) and returns the last position's logits
  // (vocab_size floats, valid until the next call). Throws InvalidArgument for an empty span, an id
  // outside [0, vocab), or when the sequence would exceed the KV capacity (the session is unchanged).
  // PHIAL_INLINE on the declarations too: a virtual first declared non-inline is the class's key
  // function, and GCC then emits the vtable (and every virtual it reaches) in each TU that
  // includes this header, used or not.
  PHIAL_INLINE std::span<const float> eval(std::span<const std::int32_t> tokens) override;
  // Like eval, but returns the logits of every appended position: (tokens.size(), vocab_size).
  std::vector<float> eval_all(std::span<const std::int32_t> tokens);

  PHIAL_INLINE void truncate(std::size_t n_tokens) override;
  std::size_t size() const override { return tokens_.size(); }
  std::int32_t vocab_size() const override { return exec_->vocab_size(); }

  std::int64_t capacity() const noexcept { return cache_.capacity(); }
  std::size_t kv_bytes() const noexcept { return cache_.bytes(); }
  std::span<const std::int32_t> tokens() const noexcept { return tokens_; }
  // Whether the cached K/V are encoded with LongRoPE's long factors.
  bool uses_long_factors() const noexcept { return cache_long_; }
  // Tokens re-prefilled because the RoPE factors changed (0 unless a boundary was crossed).
  std::int64_t recomputed_tokens() const noexcept { return recomputed_tokens_; }

 private:
  // Runs tokens_[start, size) at their positions. Writes the last position's logits to out_last, or,
  // when out_all is set, the rows of positions >= out_from to out_all (position out_from first).
  void run(std::int64_t start, bool long_factors, float* out_last, float* out_all, std::int64_t out_from);
  std::int64_t prepare(std::span<const std::int32_t> tokens, bool& long_factors);

  const Executor* exec_;
  RopePolicy policy_;
  std::int64_t max_batch_;
  KvCache cache_;
  detail::ForwardScratch scratch_;
  std::vector<std::int32_t> tokens_;  // the sequence whose K/V the cache holds (positions 0..)
  std::int64_t cached_ = 0;           // positions of tokens_ whose K/V are valid in the cache
  bool cache_long_ = false;           // factors those positions were encoded with
  std::int64_t recomputed_tokens_ = 0;
  std::vector<float> logits_;         // (vocab) last position
};

}  // namespace phial

#if PHIAL_HEADER_ONLY
#  include <phial/model/impl/executor.ipp>
#endif
