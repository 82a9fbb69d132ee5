// phial/model/evaluator.hpp - what generation needs from a language model, and nothing more.
//
// The executor's per-conversation session implements it; tests of the sampler and the agent loop
// can implement it with a deterministic double. Kept abstract so that the agent knows nothing of
// kernels (gemma.cpp's layering).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace phial {

class Evaluator {
 public:
  virtual ~Evaluator() = default;

  // Appends `tokens` to the sequence (prefill if many, decode if one) and returns the logits
  // (vocab_size floats) of the last appended position. Valid until the next call.
  virtual std::span<const float> eval(std::span<const std::int32_t> tokens) = 0;

  // Drops every position >= n_tokens (to rewind after a rejected continuation or a new turn).
  virtual void truncate(std::size_t n_tokens) = 0;

  // Number of tokens currently in the sequence (the KV cache).
  virtual std::size_t size() const = 0;

  virtual std::int32_t vocab_size() const = 0;
};

}  // namespace phial
