// phial/ops/matmul.hpp - Y = X · Wᵀ for a weight matrix of any supported type.
//
//   W: (rows, K) stored row by row in its own type (f32, f16, bf16, ggml block quants); K = W.ne[0]
//   X: (n_tokens, K) f32, row-major
//   Y: (n_tokens, rows) f32, row-major
//
// Two regimes:
//  - decode / small batches (n_tokens < kGemmMinTokens): memory-bandwidth bound. Every weight row is
//    read once and dotted with all n_tokens activation rows while it is in cache. Rows are split
//    across the thread pool. (Quantized integer kernels: see ops/qdot.hpp.)
//  - prefill (n_tokens >= kGemmMinTokens): compute bound. Three kernels, chosen by PrefillMath and the CPU:
//    * AMX bf16 (the default where the CPU has AMX-BF16, for every weight type but f32): weights
//      dequantized and rounded to bf16 a tile at a time (f16/bf16 weights split into bf16 pairs, so
//      they stay within ~1e-5 of exact), TDPBF16PS tiles (ops/gemm_amx.hpp); ~3× the int8 GEMM.
//    * int8 (the default where it applies without AMX: AVX2 and Q4_0/Q4_1/Q4_K/Q6_K weights): activations quantized
//      to 8-bit blocks as in decode, weight tiles repacked for phial's own int8 GEMM
//      (ops/qgemm_avx2.hpp), ~2× sgemm's speed per core.
//    * f32: tiles of gemm_tile_rows() weight rows are dequantized to f32 (never the whole matrix)
//      and multiplied with OpenBLAS `cblas_sgemm`, each pool thread working on its own tiles with
//      OpenBLAS single-threaded (see docs/performance.md for why, and the measurement behind it).
//      Activations stay f32: only rounding error, no activation quantization. Every other weight
//      type, every CPU without AVX2, and callers who ask for PrefillMath::f32 take this path.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <phial/backend/aligned.hpp>
#include <phial/backend/cpu.hpp>
#include <phial/backend/thread_pool.hpp>
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/tensor.hpp>
#include <phial/ops/blas.hpp>
#include <phial/ops/gemm_amx.hpp>
#include <phial/ops/prefill_math.hpp>
#include <phial/ops/qdot.hpp>
#include <phial/ops/qgemm_avx2.hpp>

namespace phial::ops {

// Batches at least this large go through the dequantize-tile + sgemm path.
inline constexpr std::int64_t kGemmMinTokens = 16;
// Weight rows per dequantized tile in the sgemm path: large tiles amortize OpenBLAS's packing of
// the activations (done once per sgemm call), small ones bound the scratch and balance the threads.
// Measured on a 2-core Zen 3 (docs/performance.md): 64 rows reach ~80% of raw sgemm, 256-512 ~100%.
inline constexpr std::int64_t kGemmMaxTileRows = 512;
inline constexpr std::int64_t kGemmMinTileRows = 64;
inline constexpr std::size_t kGemmMaxTileBytes = std::size_t{16} << 20;  // per thread

// Tile height for an (N, K) weight on `threads` threads: at least two tiles per thread when
// possible, at most kGemmMaxTileRows rows and kGemmMaxTileBytes of f32 scratch.
inline std::int64_t gemm_tile_rows(std::int64_t N, std::int64_t K, int threads) noexcept {
  std::int64_t rows = (N + 2 * threads - 1) / (2 * threads);
  rows = (rows + 15) / 16 * 16;
  rows = std::min(rows, kGemmMaxTileRows);
  rows = std::min<std::int64_t>(rows, static_cast<std::int64_t>(kGemmMaxTileBytes / (4 * static_cast<std::size_t>(K))));
  return std::max<std::int64_t>(rows, std::min<std::int64_t>(kGemmMinTileRows, N));
}

// Weight rows per repacked tile in the int8 GEMM: its scratch (1.25 bytes per weight, 1.5 for Q6_K) stays near
// the per-core L2 size, where the kernel re-reads 16 of its rows for every 6 tokens.
inline constexpr std::size_t kQgemmTileBytes = std::size_t{320} << 10;

// bf16 bytes per weight tile in the AMX GEMM: the tile stays in L2 (2 MiB per core on Sapphire
// Rapids) beside the 32 tokens of activations it meets at a time.
inline constexpr std::size_t kAmxTileBytes = std::size_t{768} << 10;

// True when matmul can compute with weights of this type.
inline bool matmul_supports(TensorType t) noexcept { return detail::qdot_supports(t); }

namespace detail {

inline void check_matmul_args(const TensorView& W, const float* X, std::int64_t n_tokens, const float* Y) {
  if (!matmul_supports(W.type))
    throw InvalidArgument("matmul: weight tensor '" + W.name + "' has unsupported type " +
                          std::string(tensor_type_info(W.type).name));
  const auto info = tensor_type_info(W.type);
  if (W.ne[0] <= 0 || W.ne[0] % info.block_elems != 0)
    throw InvalidArgument("matmul: weight tensor '" + W.name + "' row length " + std::to_string(W.ne[0]) +
                          " is not a multiple of the " + std::string(info.name) + " block size " +
                          std::to_string(info.block_elems));
  if (W.data == nullptr) throw InvalidArgument("matmul: weight tensor '" + W.name + "' has no data");
  if (static_cast<std::size_t>(W.rows()) * W.row_stride() > W.nbytes)
    throw InvalidArgument("matmul: weight tensor '" + W.name + "' holds fewer bytes than its shape needs");
  if (n_tokens < 0) throw InvalidArgument("matmul: negative token count");
  if (n_tokens > 0 && (X == nullptr || Y == nullptr)) throw InvalidArgument("matmul: null activation/output");
}

// Decode path: Y(t, r) for all t, rows split across the pool. `level` picks the kernels (benchmarks
// compare levels; everything else takes the best this machine has).
inline void matmul_gemv(const TensorView& W, const float* X, std::int64_t n_tokens, float* Y, ThreadPool& pool,
                        SimdLevel level = best_simd_level()) {
  const std::int64_t K = W.ne[0];
  const std::int64_t N = W.rows();
  const RowDotKernel kernel = select_row_dot(W.type, level);
  // Activations converted once, on the calling thread, into the kernel's format (int8 blocks for
  // quantized weights); f32 activations are used in place.
  const std::size_t act_stride = act_row_bytes(kernel.act, K);  // bytes per token
  const std::byte* act = reinterpret_cast<const std::byte*>(X);
  thread_local phial::detail::AlignedVector<std::byte> act_q;  // (n_tokens, act_stride)
  if (kernel.quantize != nullptr) {
    act_q.resize(act_stride * static_cast<std::size_t>(n_tokens));
    for (std::int64_t t = 0; t < n_tokens; ++t)
      kernel.quantize(X + t * K, act_q.data() + static_cast<std::size_t>(t) * act_stride, K);
    act = act_q.data();
  }
  const std::byte* base = W.data;
  const std::size_t stride = W.row_stride();
  // Each weight row is read from memory once and dotted with every token while it is in cache.
  pool.parallel_for(
      N,
      [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const std::byte* row = base + static_cast<std::size_t>(r) * stride;
          for (std::int64_t t = 0; t < n_tokens; ++t)
            Y[t * N + r] = kernel.dot(row, act + static_cast<std::size_t>(t) * act_stride, K);
        }
      },
      16);
}

// Prefill path: per tile of weight rows, dequantize to f32 and multiply with sgemm.
inline void matmul_gemm(const TensorView& W, const float* X, std::int64_t n_tokens, float* Y,
                              ThreadPool& pool, std::int64_t tile_rows = 0) {
  if (tile_rows <= 0) tile_rows = gemm_tile_rows(W.rows(), W.ne[0], pool.size());
  ensure_blas_single_threaded();
  const std::int64_t K = W.ne[0];
  const std::int64_t N = W.rows();
  const std::int64_t n_tiles = (N + tile_rows - 1) / tile_rows;
  pool.parallel_for(n_tiles, [&](std::int64_t t0, std::int64_t t1) {  // tiles are handed out one by one
    thread_local phial::detail::AlignedVector<float> tile;  // (tile_rows, K)
    tile.resize(static_cast<std::size_t>(tile_rows * K));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t r0 = t * tile_rows;
      const std::int64_t nr = std::min(tile_rows, N - r0);
      const float* w = dequantize_rows_f32(W.type, W.row(r0), nr, K, tile.data());
      // Y[:, r0:r0+nr] = X (n_tokens, K) · w (nr, K)ᵀ
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_tokens), static_cast<int>(nr),
                  static_cast<int>(K), 1.0f, X, static_cast<int>(K), w, static_cast<int>(K), 0.0f, Y + r0,
                  static_cast<int>(N));
    }
  });
}

#if PHIAL_X86
// Prefill path, int8: activations -> ActQ8 rows (parallel over tokens), then per tile of rows:
// repack to RowBlock8 groups and run the int8 GEMM against every token.
inline void matmul_qgemm(const TensorView& W, const float* X, std::int64_t n_tokens, float* Y, ThreadPool& pool) {
  const std::int64_t K = W.ne[0];
  const std::int64_t N = W.rows();
  const std::int64_t nb = K / 32;
  // The caller's buffer, named through a plain pointer: inside the pool's lambdas a thread_local
  // name would denote the worker's own (empty) instance.
  thread_local phial::detail::AlignedVector<ActQ8> act_buf;  // (n_tokens, nb)
  act_buf.resize(static_cast<std::size_t>(n_tokens * nb));
  ActQ8* const act = act_buf.data();
  const bool q6 = W.type == TensorType::Q6_K;
  pool.parallel_for(n_tokens, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      avx2::quantize_act_q8(X + t * K, act + t * nb, K);
      if (q6) avx2::act_q8_to_unsigned(act + t * nb, nb);  // the Q6_K kernel takes q + 128 (qgemm6_tile)
    }
  });
  const std::size_t stride = W.row_stride();
  // Per tile of rows: repack (each thread into its own scratch), then multiply with every token.
  auto run = [&](auto* block_tag, auto repack) {  // the tag is a null Block*, for the type only
    using Block = std::remove_pointer_t<decltype(block_tag)>;
    std::int64_t tile_rows = static_cast<std::int64_t>(kQgemmTileBytes / (sizeof(Block) * static_cast<std::size_t>(nb) / 8));
    tile_rows = std::clamp<std::int64_t>(tile_rows / 16 * 16, 16, 512);
    const std::int64_t n_tiles = (N + tile_rows - 1) / tile_rows;
    pool.parallel_for(n_tiles, [&](std::int64_t i0, std::int64_t i1) {
      thread_local phial::detail::AlignedVector<Block> packed;  // (tile_rows / 8, nb)
      packed.resize(static_cast<std::size_t>((tile_rows + 7) / 8 * nb));
      for (std::int64_t i = i0; i < i1; ++i) {
        const std::int64_t r0 = i * tile_rows;
        const std::int64_t nr = std::min(tile_rows, N - r0);
        for (std::int64_t g = 0; 8 * g < nr; ++g)
          repack(W.row(r0 + 8 * g), static_cast<int>(std::min<std::int64_t>(8, nr - 8 * g)), packed.data() + g * nb);
        avx2::qgemm_rows(packed.data(), nr, act, n_tokens, nb, Y + r0, N);
      }
    });
  };
  if (q6)
    run(static_cast<RowBlock8Q6*>(nullptr), [&](const std::byte* rows, int n, RowBlock8Q6* out) { avx2::repack_rows8_q6(rows, stride, n, K, out); });
  else
    run(static_cast<RowBlock8*>(nullptr), [&](const std::byte* rows, int n, RowBlock8* out) { avx2::repack_rows8(W.type, rows, stride, n, K, out); });
}
#endif

#if PHIAL_HAS_AMX_KERNELS
// Prefill path, AMX bf16 (ops/gemm_amx.hpp): activations -> bf16 VNNI pairs (parallel over groups of
// 16 tokens), then per tile of rows: dequantize, round to bf16, multiply with every token.
inline void matmul_amx(const TensorView& W, const float* X, std::int64_t n_tokens, float* Y, ThreadPool& pool) {
  const std::int64_t K = W.ne[0];
  const std::int64_t N = W.rows();
  const std::int64_t Kp = amx::pad32(K);
  const int xparts = amx::act_parts(W.type), wparts = amx::weight_parts(W.type);
  thread_local phial::detail::AlignedVector<std::uint16_t> act_buf;  // (pad32(n_tokens)/16, xparts·Kp/2, 16, 2)
  act_buf.resize(amx::act_words(n_tokens, K, xparts));
  std::uint16_t* const xb = act_buf.data();  // a plain pointer: see matmul_qgemm
  pool.parallel_for(amx::pad32(n_tokens) / 16, [&](std::int64_t g0, std::int64_t g1) {
    thread_local phial::detail::AlignedVector<std::uint16_t> row;
    row.resize(static_cast<std::size_t>(xparts * Kp));
    amx::pack_act(X, n_tokens, K, xparts, 16 * g0, 16 * g1, xb, row.data());
  });
  const std::int64_t Kw = wparts * Kp;  // the weight tile's columns
  std::int64_t tile_rows = static_cast<std::int64_t>(kAmxTileBytes / (2 * static_cast<std::size_t>(Kw)));
  tile_rows = std::clamp<std::int64_t>(tile_rows / amx::kPad * amx::kPad, amx::kPad, 512);
  const std::int64_t n_tiles = (N + tile_rows - 1) / tile_rows;
  pool.parallel_for(n_tiles, [&](std::int64_t i0, std::int64_t i1) {
    thread_local phial::detail::AlignedVector<std::uint16_t> wb;   // (pad32(tile_rows)/16, Kw/32, 16, 32)
    thread_local phial::detail::AlignedVector<float> row;          // (K)
    wb.resize(static_cast<std::size_t>(amx::pad32(tile_rows) * Kw));
    row.resize(static_cast<std::size_t>(K));
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t r0 = i * tile_rows;
      const std::int64_t nr = std::min(tile_rows, N - r0);
      for (std::int64_t r = 0; r < nr; ++r) amx::pack_weight_row(W.type, W.row(r0 + r), K, r, wb.data(), row.data());
      amx::zero_weight_rows(nr, Kw, wb.data());
      amx::gemm_tile(W.type, wb.data(), nr, xb, n_tokens, Kp, Y + r0, N);
    }
  });
}
#endif

// Which prefill kernel runs for this weight type (see the top of this file).
inline bool uses_amx_gemm(TensorType t, PrefillMath math) noexcept {
  return math == PrefillMath::fast && t != TensorType::F32 && amx::amx_usable();
}
inline bool uses_int8_gemm(TensorType t, PrefillMath math) noexcept {
  return math == PrefillMath::fast && !uses_amx_gemm(t, math) && phial::detail::use_avx2() && int8_gemm_supports(t);
}

}  // namespace detail

// Y(n_tokens, W.rows()) = X(n_tokens, W.ne[0]) · Wᵀ. Throws InvalidArgument for an unsupported type
// or a malformed view.
inline void matmul(const TensorView& W, const float* X, std::int64_t n_tokens, float* Y, ThreadPool& pool,
                   PrefillMath math = PrefillMath::fast) {
  detail::check_matmul_args(W, X, n_tokens, Y);
  if (n_tokens == 0) return;
  if (n_tokens >= kGemmMinTokens) {
#if PHIAL_HAS_AMX_KERNELS
    if (detail::uses_amx_gemm(W.type, math)) {
      detail::matmul_amx(W, X, n_tokens, Y, pool);
      return;
    }
#endif
#if PHIAL_X86
    if (detail::uses_int8_gemm(W.type, math)) {
      detail::matmul_qgemm(W, X, n_tokens, Y, pool);
      return;
    }
#endif
    detail::matmul_gemm(W, X, n_tokens, Y, pool);
    return;
  }
  detail::matmul_gemv(W, X, n_tokens, Y, pool);
}

}  // namespace phial::ops
