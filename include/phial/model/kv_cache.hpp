// phial/model/kv_cache.hpp - the keys and values of one conversation, for every layer.
//
// Capacity (in tokens) is fixed by the caller when the cache is created; writing past it is an
// InvalidArgument. Storage is float32 or IEEE float16 (half the memory; keys/values are rounded to
// the nearest half when stored and widened exactly when read). K is stored AFTER the rotary
// embedding, as transformers caches it.
//
// Layout, per layer:  K (n_kv_heads, capacity, head_dim),  V (n_kv_heads, capacity, head_dim)
// so one kv head's positions are contiguous for the attention loop. The buffer is allocated without
// being touched: pages become resident only as positions are written.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <phial/backend/aligned.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/ops/quant.hpp>

namespace phial {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int n_layers, int n_kv_heads, int head_dim, std::int64_t capacity, bool f16)
      : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity), f16_(f16) {
    if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0)
      throw InvalidArgument("KV cache: layers, kv heads and head_dim must be positive");
    if (capacity <= 0) throw InvalidArgument("KV cache: capacity must be positive, got " + std::to_string(capacity));
    const std::size_t n = elements();
    if (f16_) {
      half_ = detail::make_aligned_array<std::uint16_t>(n);
    } else {
      f32_ = detail::make_aligned_array<float>(n);
    }
  }

  std::int64_t capacity() const noexcept { return capacity_; }
  bool is_f16() const noexcept { return f16_; }
  std::size_t bytes() const noexcept { return elements() * (f16_ ? 2u : 4u); }

  // Stores one position of one layer: k, v (n_kv_heads, head_dim) each.
  void store(int layer, std::int64_t pos, const float* k, const float* v) {
    if (pos < 0 || pos >= capacity_)
      throw InvalidArgument("KV cache: position " + std::to_string(pos) + " is outside the capacity of " +
                            std::to_string(capacity_) + " tokens");
    for (int h = 0; h < n_kv_heads_; ++h) {
      const std::size_t off_k = offset(layer, 0, h, pos), off_v = offset(layer, 1, h, pos);
      const float* kh = k + std::size_t(h) * std::size_t(head_dim_);
      const float* vh = v + std::size_t(h) * std::size_t(head_dim_);
      if (f16_) {
        for (int d = 0; d < head_dim_; ++d) {
          half_[off_k + std::size_t(d)] = fp32_to_fp16(kh[d]);
          half_[off_v + std::size_t(d)] = fp32_to_fp16(vh[d]);
        }
      } else {
        for (int d = 0; d < head_dim_; ++d) {
          f32_[off_k + std::size_t(d)] = kh[d];
          f32_[off_v + std::size_t(d)] = vh[d];
        }
      }
    }
  }

  // Position 0 of one kv head's keys / values: (capacity, head_dim).
  const float* keys_f32(int layer, int kv_head) const noexcept { return f32_.get() + offset(layer, 0, kv_head, 0); }
  const float* values_f32(int layer, int kv_head) const noexcept { return f32_.get() + offset(layer, 1, kv_head, 0); }
  const std::uint16_t* keys_f16(int layer, int kv_head) const noexcept { return half_.get() + offset(layer, 0, kv_head, 0); }
  const std::uint16_t* values_f16(int layer, int kv_head) const noexcept {
    return half_.get() + offset(layer, 1, kv_head, 0);
  }

 private:
  std::size_t elements() const noexcept {
    return std::size_t(n_layers_) * 2u * std::size_t(n_kv_heads_) * std::size_t(capacity_) * std::size_t(head_dim_);
  }
  // which: 0 = K, 1 = V
  std::size_t offset(int layer, int which, int kv_head, std::int64_t pos) const noexcept {
    const std::size_t per_head = std::size_t(capacity_) * std::size_t(head_dim_);
    return ((std::size_t(layer) * 2u + std::size_t(which)) * std::size_t(n_kv_heads_) + std::size_t(kv_head)) * per_head +
           std::size_t(pos) * std::size_t(head_dim_);
  }

  int n_layers_ = 0, n_kv_heads_ = 0, head_dim_ = 0;
  std::int64_t capacity_ = 0;
  bool f16_ = false;
  detail::AlignedArray<float> f32_;  // cache-line aligned: attention loads rows of head_dim
  detail::AlignedArray<std::uint16_t> half_;
};

}  // namespace phial
