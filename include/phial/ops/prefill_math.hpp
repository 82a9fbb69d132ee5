// phial/ops/prefill_math.hpp - how the prefill matmuls compute (a choice callers make through
// ExecutorOptions; see ops/matmul.hpp for the kernels behind each value).
#pragma once

namespace phial::ops {

enum class PrefillMath {
  // The fastest GEMM the CPU offers. With AMX-BF16 (Sapphire Rapids and later): bf16 tiles for
  // every weight type but f32 (quantized weights and the activations rounded to bf16; f16/bf16
  // weights split into bf16 pairs, within ~1e-5 of f32). Otherwise phial's int8 GEMM where AVX2 and
  // the weight type (Q4_0, Q4_1, Q4_K, Q6_K) allow it: the activations are rounded to 8-bit blocks
  // of 32, exactly as the decode path rounds them, about 2x faster than `f32`. Every other case runs
  // as `f32`.
  fast,
  // Weights dequantized to f32 and multiplied with f32 activations (OpenBLAS sgemm): only float
  // rounding, the closest to transformers' own computation. For comparing logits with a reference.
  f32,
};

}  // namespace phial::ops
