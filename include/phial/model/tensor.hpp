// phial/model/tensor.hpp - a typed, non-owning view of one weight tensor, wherever it came from.
//
// Shapes follow ggml's convention: ne[0] is the length of a row (the innermost, contiguous
// dimension). A Hugging Face weight of shape [out, in] is therefore ne = {in, out}: the same bytes.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace phial {

// Numeric values equal ggml's `enum ggml_type` (they are what GGUF files store).
enum class TensorType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

// Elements per block and bytes per block of each type (ggml's type traits).
struct TensorTypeInfo {
  std::string_view name;
  std::int64_t block_elems;
  std::int64_t block_bytes;
  bool supported;  // phial can load and compute with it
};

constexpr TensorTypeInfo tensor_type_info(TensorType t) noexcept {
  switch (t) {
    case TensorType::F32: return {"f32", 1, 4, true};
    case TensorType::F16: return {"f16", 1, 2, true};
    case TensorType::BF16: return {"bf16", 1, 2, true};
    case TensorType::Q4_0: return {"q4_0", 32, 18, true};
    case TensorType::Q4_1: return {"q4_1", 32, 20, true};
    case TensorType::Q5_0: return {"q5_0", 32, 22, true};
    case TensorType::Q5_1: return {"q5_1", 32, 24, true};
    case TensorType::Q8_0: return {"q8_0", 32, 34, true};
    case TensorType::Q8_1: return {"q8_1", 32, 36, false};
    case TensorType::Q2_K: return {"q2_k", 256, 84, false};
    case TensorType::Q3_K: return {"q3_k", 256, 110, false};
    case TensorType::Q4_K: return {"q4_k", 256, 144, true};
    case TensorType::Q5_K: return {"q5_k", 256, 176, true};
    case TensorType::Q6_K: return {"q6_k", 256, 210, true};
    case TensorType::Q8_K: return {"q8_k", 256, 292, false};
  }
  return {"unknown", 0, 0, false};
}

constexpr bool is_known_tensor_type(std::uint32_t v) noexcept {
  return tensor_type_info(static_cast<TensorType>(v)).block_elems != 0;
}

// Bytes of one row of `n` elements (n must be a multiple of the block size).
constexpr std::int64_t row_bytes(TensorType t, std::int64_t n) noexcept {
  const auto info = tensor_type_info(t);
  return info.block_elems ? n / info.block_elems * info.block_bytes : 0;
}

struct TensorView {
  std::string name;
  TensorType type = TensorType::F32;
  int n_dims = 0;
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};  // ne[0] = row length
  const std::byte* data = nullptr;             // memory-mapped or owned by the Model
  std::size_t nbytes = 0;

  std::int64_t row_length() const noexcept { return ne[0]; }
  std::int64_t rows() const noexcept { return ne[1] * ne[2] * ne[3]; }
  std::int64_t elements() const noexcept { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::size_t row_stride() const noexcept { return static_cast<std::size_t>(row_bytes(type, ne[0])); }
  const std::byte* row(std::int64_t r) const noexcept { return data + static_cast<std::size_t>(r) * row_stride(); }
  explicit operator bool() const noexcept { return data != nullptr; }
};

}  // namespace phial
