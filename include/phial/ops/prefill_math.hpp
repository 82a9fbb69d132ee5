// phial/ops/prefill_math.hpp - how the prefill matmuls compute (a choice callers make through
// ExecutorOptions; see ops/matmul.hpp for the kernels behind each value).
#pragma once

namespace phial::ops {

enum class PrefillMath {
  // phial's int8 GEMM where the CPU (AVX2) and the weight type (Q4_0, Q4_1, Q4_K) allow it: the
  // activations are rounded to 8-bit blocks of 32, exactly as the decode path rounds them. About
  // 2x faster than `f32` on those weights. Every other case runs as `f32`.
  fast,
  // Weights dequantized to f32 and multiplied with f32 activations (OpenBLAS sgemm): only float
  // rounding, the closest to transformers' own computation. For comparing logits with a reference.
  f32,
};

}  // namespace phial::ops
