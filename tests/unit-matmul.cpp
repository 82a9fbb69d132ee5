// unit-matmul: every row kernel (scalar, AVX2 and AVX-512 VNNI) and ops::matmul (decode and prefill paths)
// against an independent reference: ops/quant.hpp's dequantize_row + a double-precision dot.
//
// Error bound for the integer kernels (derived, not tuned). The activation row x is quantized per
// block b of B elements (B = 32, or 256 for the k-quants) to x̂_i = d_b·q_i with d_b = amax_b/127 and
// q_i = round(x_i/d_b), so |x_i - x̂_i| <= d_b/2 and
//     |Σ w_i x_i - Σ w_i x̂_i| <= Σ_b (d_b/2)·Σ_{i∈b} |w_i|                          (act_err)
// The kernel then evaluates Σ w_i x̂_i with exact integer block sums and O(K/32) float
// multiply-adds; with u = 2^-24 each of those rounds by <= u relative, so the float error is at most
// (K/32 + 8)·u·T, where T bounds the magnitude of the summed terms. The zero points (-8·d, -16·d, m,
// dmin·m) can make the terms larger than |w_i x̂_i|, by at most the block's largest |w| plus its zero
// point; we take T = Σ_i (|w_i| + 2·max_{j∈b}|w_j| + 64·|d_w|)·|x_i| with a 16x safety factor on u
// (float_err). The test requires |kernel - exact| <= act_err + float_err. A wrong index or scale
// produces errors of order Σ|w_i x_i|, orders of magnitude above the bound.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <phial/backend/cpu.hpp>
#include <phial/backend/thread_pool.hpp>
#include <phial/ops/matmul.hpp>
#include <phial/ops/quant.hpp>

using phial::TensorType;
namespace pd = phial::ops::detail;

namespace {

const TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                                TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

bool is_quantized(TensorType t) { return phial::tensor_type_info(t).block_elems > 1; }

// A matrix of `rows` rows of K elements in `type`, from Gaussian floats through the reference
// quantizer (realistic blocks), or from random bytes with valid f16 scales (every bit pattern).
std::vector<std::byte> make_weights(TensorType type, std::int64_t rows, std::int64_t K, std::mt19937& rng,
                                    bool random_bytes) {
  const std::size_t rb = static_cast<std::size_t>(phial::row_bytes(type, K));
  std::vector<std::byte> w(rb * static_cast<std::size_t>(rows));
  if (!random_bytes || !is_quantized(type)) {
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> f(static_cast<std::size_t>(K));
    for (std::int64_t r = 0; r < rows; ++r) {
      for (auto& v : f) v = nd(rng);
      f[static_cast<std::size_t>(r % K)] = 0.4f;  // an outlier per row, as real weights have
      phial::quantize_row(type, f.data(), w.data() + rb * static_cast<std::size_t>(r), K);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<std::byte>(byte(rng));
  // Overwrite the f16 scale fields with finite values in [2^-9, 2^-5) (random sign for d of q8_0/q6_K).
  std::uniform_int_distribution<int> mant(0, 1023), ex(6, 9);
  auto put_half = [&](std::byte* p, bool allow_negative) {
    std::uint16_t h = static_cast<std::uint16_t>((ex(rng) << 10) | mant(rng));
    if (allow_negative && (byte(rng) & 1)) h |= 0x8000;
    std::memcpy(p, &h, 2);
  };
  const auto info = phial::tensor_type_info(type);
  for (std::size_t off = 0; off < w.size(); off += static_cast<std::size_t>(info.block_bytes)) {
    std::byte* b = w.data() + off;
    switch (type) {
      case TensorType::Q4_0:
      case TensorType::Q5_0:
      case TensorType::Q8_0: put_half(b, true); break;
      case TensorType::Q4_1:
      case TensorType::Q5_1:
        put_half(b, true);
        put_half(b + 2, true);
        break;
      case TensorType::Q4_K:
      case TensorType::Q5_K:
        put_half(b, false);
        put_half(b + 2, false);
        break;
      case TensorType::Q6_K: put_half(b + 208, true); break;
      default: break;
    }
  }
  return w;
}

std::vector<float> dequant_ref(TensorType type, const std::byte* row, std::int64_t K) {
  std::vector<float> f(static_cast<std::size_t>(K));
  phial::dequantize_row(type, row, f.data(), K);
  return f;
}

struct Bound {
  double exact = 0;  // Σ w_i x_i in double
  double tol = 0;
  double float_err = 0;  // the float-rounding part of tol (0 for f32 activations)
};

// act_block: the activation quantization block (0 = the decode kernel's for this type).
Bound reference(TensorType type, const std::vector<float>& w, const float* x, std::int64_t K, bool weight_is_block_quant,
                std::int64_t act_block = 0) {
  Bound r;
  const auto act = pd::act_kind_for(type);
  const std::int64_t B = act_block > 0 ? act_block : act == pd::ActKind::q8 ? 32 : act == pd::ActKind::q8k ? 256 : 0;
  double abs_wx = 0, act_err = 0, terms = 0;
  for (std::int64_t i = 0; i < K; ++i) {
    r.exact += static_cast<double>(w[static_cast<std::size_t>(i)]) * x[i];
    abs_wx += std::fabs(static_cast<double>(w[static_cast<std::size_t>(i)]) * x[i]);
  }
  if (B == 0) {
    // f32 activations: recursive summation in any order, |error| <= (K + 8)·u·Σ|w x| (+ f16->f32 exact).
    r.tol = static_cast<double>(K + 8) * std::ldexp(1.0, -24) * abs_wx + 1e-30;
    return r;
  }
  const std::int64_t wb = weight_is_block_quant ? phial::tensor_type_info(type).block_elems : B;
  for (std::int64_t b0 = 0; b0 < K; b0 += B) {
    double amax = 0, sum_w = 0;
    for (std::int64_t i = b0; i < b0 + B; ++i) {
      amax = std::max(amax, static_cast<double>(std::fabs(x[i])));
      sum_w += std::fabs(w[static_cast<std::size_t>(i)]);
    }
    const double d = static_cast<double>(static_cast<float>(amax) / 127.0f);
    act_err += d / 2 * sum_w * (1 + 1e-6);
  }
  for (std::int64_t b0 = 0; b0 < K; b0 += wb) {
    double wmax = 0;
    for (std::int64_t i = b0; i < b0 + wb; ++i) wmax = std::max(wmax, static_cast<double>(std::fabs(w[static_cast<std::size_t>(i)])));
    for (std::int64_t i = b0; i < b0 + wb; ++i)
      terms += (std::fabs(w[static_cast<std::size_t>(i)]) + 2 * wmax + 64 * wmax) * std::fabs(x[i]);
  }
  const double float_err = 16.0 * static_cast<double>(K / 32 + 8) * std::ldexp(1.0, -24) * terms;
  r.tol = act_err + float_err;
  r.float_err = float_err;
  return r;
}

// The activations as every quantizer must produce them: x̂_i = d_b·q_i from the scalar quantizer
// for this type's block size (each level's quantizer is checked against it exactly, below).
std::vector<double> dequantized_activations(TensorType type, const float* x, std::int64_t K) {
  std::vector<double> xq(static_cast<std::size_t>(K));
  if (pd::act_kind_for(type) == pd::ActKind::q8) {
    std::vector<pd::ActQ8> a(static_cast<std::size_t>(K / 32));
    pd::quantize_act_q8_scalar(x, a.data(), K);
    for (std::int64_t i = 0; i < K; ++i) {
      const pd::ActQ8& b = a[static_cast<std::size_t>(i / 32)];
      xq[static_cast<std::size_t>(i)] = static_cast<double>(b.d) * b.qs[i % 32];
    }
  } else {
    std::vector<pd::ActQ8K> a(static_cast<std::size_t>(K / 256));
    pd::quantize_act_q8k_scalar(x, a.data(), K);
    for (std::int64_t i = 0; i < K; ++i) {
      const pd::ActQ8K& b = a[static_cast<std::size_t>(i / 256)];
      xq[static_cast<std::size_t>(i)] = static_cast<double>(b.d) * b.qs[i % 256];
    }
  }
  return xq;
}

std::vector<float> make_activations(std::int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = nd(rng);
  // Some structure: a few large channels, as in real hidden states, and an all-zero block.
  for (std::size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
  for (std::size_t i = 0; i < std::min<std::size_t>(32, x.size()); ++i) x[i] = 0.0f;
  return x;
}

phial::TensorView view_of(TensorType type, const std::vector<std::byte>& w, std::int64_t K, std::int64_t rows) {
  phial::TensorView v;
  v.name = "test.weight";
  v.type = type;
  v.n_dims = 2;
  v.ne = {K, rows, 1, 1};
  v.data = w.data();
  v.nbytes = w.size();
  return v;
}

}  // namespace

TEST_CASE("own dequantizers (scalar and SIMD) agree exactly with ops/quant.hpp", "[matmul]") {
  std::mt19937 rng(7);
  for (TensorType type : kAllTypes) {
    for (bool random_bytes : {false, true}) {
      const std::int64_t K = 512;
      auto w = make_weights(type, 3, K, rng, random_bytes);
      const std::size_t rb = static_cast<std::size_t>(phial::row_bytes(type, K));
      for (int r = 0; r < 3; ++r) {
        auto ref = dequant_ref(type, w.data() + rb * static_cast<std::size_t>(r), K);
        for (auto level : pd::available_simd_levels()) {
          std::vector<float> mine(static_cast<std::size_t>(K));
          pd::dequant_row(type, w.data() + rb * static_cast<std::size_t>(r), mine.data(), K, level);
          INFO("type " << phial::tensor_type_info(type).name << " simd " << pd::simd_level_name(level));
          for (std::int64_t i = 0; i < K; ++i) {
            // FMA-based SIMD dequantization (d·u + z) may differ from d·(u) + z by one rounding.
            const double tol = level == pd::SimdLevel::scalar ? 0.0 : 1e-6 * (std::fabs(ref[static_cast<std::size_t>(i)]) + 1e-3);
            REQUIRE(std::fabs(mine[static_cast<std::size_t>(i)] - ref[static_cast<std::size_t>(i)]) <= tol);
          }
        }
      }
    }
  }
}

TEST_CASE("activation quantizers meet |x - d·q| <= d/2 and their block sums", "[matmul]") {
  std::mt19937 rng(3);
  const std::int64_t K = 768;
  auto x = make_activations(K, rng);
  // Every layout must hold the scalar quantizer's values exactly (same d, same q): the kernels differ
  // only in how they sum, which the row-kernel test below relies on.
  std::vector<pd::ActQ8> s8(static_cast<std::size_t>(K / 32));
  std::vector<pd::ActQ8K> s8k(static_cast<std::size_t>(K / 256));
  pd::quantize_act_q8_scalar(x.data(), s8.data(), K);
  pd::quantize_act_q8k_scalar(x.data(), s8k.data(), K);
  auto same_as_scalar = [&](std::int64_t i, float d, int q, bool k_quant) {
    const std::size_t b = static_cast<std::size_t>(k_quant ? i / 256 : i / 32);
    const float ds = k_quant ? s8k[b].d : s8[b].d;
    const int qs = k_quant ? s8k[b].qs[i % 256] : s8[b].qs[i % 32];
    return d == ds && q == qs;
  };
  // N blocks per record (ActQ8xN): element j < 16 of block b in lo[16·(b%N) + j], j >= 16 in
  // hi[...]; d and -8·d·Σq/4 in the block's four lanes.
  auto check_q4_0_lanes = [&]<int N>(const pd::ActQ8xN<N>* a) {
    for (std::int64_t b = 0; b < K / 32; ++b) {
      const pd::ActQ8xN<N>& p = a[b / N];
      const int i = static_cast<int>(b % N);
      const float d = p.d[4 * i];
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        const int q = j < 16 ? p.lo[16 * i + j] : p.hi[16 * i + j - 16];
        const float xi = x[static_cast<std::size_t>(b * 32 + j)];
        REQUIRE(std::fabs(xi - d * q) <= d / 2 * (1 + 1e-5) + 1e-30);
        REQUIRE(same_as_scalar(b * 32 + j, d, q, false));
        sum += q;
      }
      for (int l = 0; l < 4; ++l) {
        REQUIRE(p.d[4 * i + l] == d);
        REQUIRE(p.z[4 * i + l] == Approx(-2.0f * d * sum).margin(1e-6));
      }
    }
  };
  for (auto level : pd::available_simd_levels()) {
    for (TensorType type : {TensorType::Q8_0, TensorType::Q4_K, TensorType::Q4_0}) {
      auto k = pd::select_row_dot(type, level);
      std::vector<std::byte> buf(pd::act_row_bytes(k.act, K));
      k.quantize(x.data(), buf.data(), K);
      INFO("type " << phial::tensor_type_info(type).name << " simd " << pd::simd_level_name(level));
      if (k.act == pd::ActKind::q8x4_q4_0) {
        check_q4_0_lanes(reinterpret_cast<const pd::ActQ8x4*>(buf.data()));
      } else if (k.act == pd::ActKind::q8x2_q4_0) {
        check_q4_0_lanes(reinterpret_cast<const pd::ActQ8x2*>(buf.data()));
      } else if (k.act == pd::ActKind::q8x2w_q8_0) {
        // Two blocks per record in order; d and -128·d·Σq/8 in each block's eight lanes.
        auto* a = reinterpret_cast<const pd::ActQ8x2W*>(buf.data());
        for (std::int64_t b = 0; b < K / 32; ++b) {
          const pd::ActQ8x2W& p = a[b / 2];
          const int h = static_cast<int>(b % 2);
          const float d = p.d[8 * h];
          int sum = 0;
          for (int j = 0; j < 32; ++j) {
            const int q = p.qs[32 * h + j];
            const float xi = x[static_cast<std::size_t>(b * 32 + j)];
            REQUIRE(std::fabs(xi - d * q) <= d / 2 * (1 + 1e-5) + 1e-30);
            REQUIRE(same_as_scalar(b * 32 + j, d, q, false));
            sum += q;
          }
          for (int l = 0; l < 8; ++l) {
            REQUIRE(p.d[8 * h + l] == d);
            REQUIRE(p.z[8 * h + l] == Approx(-16.0f * d * sum).margin(1e-6));
          }
        }
      } else if (k.act == pd::ActKind::q8) {
        auto* a = reinterpret_cast<const pd::ActQ8*>(buf.data());
        for (std::int64_t b = 0; b < K / 32; ++b) {
          int sum = 0;
          for (int j = 0; j < 32; ++j) {
            const float xi = x[static_cast<std::size_t>(b * 32 + j)];
            REQUIRE(std::fabs(xi - a[b].d * a[b].qs[j]) <= a[b].d / 2 * (1 + 1e-5) + 1e-30);
            REQUIRE(same_as_scalar(b * 32 + j, a[b].d, a[b].qs[j], false));
            sum += a[b].qs[j];
          }
          REQUIRE(a[b].s == Approx(a[b].d * sum).margin(1e-6));
        }
      } else {
        // q8k_q4_K stores each 128 as x[0..31], x[64..95], x[32..63], x[96..127]; bsums stay in order.
        const bool reordered = k.act == pd::ActKind::q8k_q4_K;
        auto slot = [&](int j) {
          if (!reordered) return j;
          const int h = j / 128, r = j % 128, c = r / 32;
          return 128 * h + 32 * (c == 1 ? 2 : c == 2 ? 1 : c) + r % 32;
        };
        auto* a = reinterpret_cast<const pd::ActQ8K*>(buf.data());
        for (std::int64_t b = 0; b < K / 256; ++b)
          for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 16 * g; j < 16 * g + 16; ++j) {
              const float xi = x[static_cast<std::size_t>(b * 256 + j)];
              const int q = a[b].qs[slot(j)];
              REQUIRE(std::fabs(xi - a[b].d * q) <= a[b].d / 2 * (1 + 1e-5) + 1e-30);
              REQUIRE(same_as_scalar(b * 256 + j, a[b].d, q, true));
              sum += q;
            }
            REQUIRE(a[b].bsums[g] == sum);
          }
      }
    }
  }
}

TEST_CASE("row kernels are within the derived bound of the exact dot product", "[matmul]") {
  std::mt19937 rng(11);
  const std::vector<pd::SimdLevel> levels = pd::available_simd_levels();
  for (TensorType type : kAllTypes) {
    // 32-block types also at every remainder of 4 blocks (1, 2, 3, 5 and 25 blocks: the AVX2 q4_0
    // kernel pairs blocks, the AVX-512 ones take four at a time, with masked loads for the rest).
    std::vector<std::int64_t> lengths{256, 768, 3072};
    if (phial::tensor_type_info(type).block_elems == 32) lengths.insert(lengths.end(), {32, 64, 96, 160, 800});
    for (std::int64_t K : lengths) {
      for (bool random_bytes : {false, true}) {
        const std::int64_t rows = 6;
        auto w = make_weights(type, rows, K, rng, random_bytes);
        auto x = make_activations(K, rng);
        const std::size_t rb = static_cast<std::size_t>(phial::row_bytes(type, K));
        const std::vector<double> xq =
            is_quantized(type) ? dequantized_activations(type, x.data(), K) : std::vector<double>{};
        std::vector<float> results;
        for (auto level : levels) {
          auto k = pd::select_row_dot(type, level);
          // NaN bytes: a quantizer must write every field the kernel reads (the matmul reuses buffers).
          std::vector<std::byte> act(pd::act_row_bytes(k.act, K), std::byte{0xFF});
          const void* a = x.data();
          if (k.quantize) {
            k.quantize(x.data(), act.data(), K);
            a = act.data();
          }
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::byte* row = w.data() + rb * static_cast<std::size_t>(r);
            auto wf = dequant_ref(type, row, K);
            const Bound ref = reference(type, wf, x.data(), K, is_quantized(type));
            const float got = k.dot(row, a, K);
            INFO("type " << phial::tensor_type_info(type).name << " K " << K << " row " << r << " simd "
                         << pd::simd_level_name(level) << " random_bytes " << random_bytes << " exact " << ref.exact
                         << " got " << got << " tol " << ref.tol);
            REQUIRE(std::isfinite(got));
            REQUIRE(std::fabs(got - ref.exact) <= ref.tol);
            if (is_quantized(type)) {
              // Given the quantized activations (the same at every level), only float rounding is left:
              // a wrong scale for one sub-block is far outside this, though it may hide inside act_err.
              double exact_q = 0;
              for (std::int64_t i = 0; i < K; ++i)
                exact_q += static_cast<double>(wf[static_cast<std::size_t>(i)]) * xq[static_cast<std::size_t>(i)];
              INFO("exact given quantized activations " << exact_q << " float_err " << ref.float_err);
              REQUIRE(std::fabs(got - exact_q) <= ref.float_err);
            }
          }
        }
      }
    }
  }
}

// Σ |w_i·x_i| in double.
double sum_abs_products(const std::vector<float>& w, const float* x, std::int64_t K) {
  double abs_wx = 0;
  for (std::int64_t i = 0; i < K; ++i) abs_wx += std::fabs(static_cast<double>(w[static_cast<std::size_t>(i)]) * x[i]);
  return abs_wx;
}

// bf16 rounding of both operands: |bf(w)·bf(x) - w·x| <= (2·2^-9 + 2^-18)·|w·x| per term.
double bf16_rounding_bound(const std::vector<float>& w, const float* x, std::int64_t K) {
  return (std::ldexp(1.0, -8) + std::ldexp(1.0, -18)) * sum_abs_products(w, x, K);
}

// The AMX GEMM's split for f16/bf16 weights: w·x within 2^-17·|w·x| per product (gemm_amx.hpp),
// bounded here by 2^-16, plus f32 sums over 3K products.
double split_bound(const std::vector<float>& w, const float* x, std::int64_t K) {
  return (std::ldexp(1.0, -16) + static_cast<double>(3 * K + 8) * std::ldexp(1.0, -24)) * sum_abs_products(w, x, K);
}

// bf16 round to nearest even, as the test's own independent rounding (no NaN/inf in these inputs).
float round_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST_CASE("ops::matmul: decode and prefill paths, 1 and 2 threads, all types", "[matmul]") {
  using phial::ops::PrefillMath;
  std::mt19937 rng(5);
  for (int threads : {1, 2}) {
    phial::ThreadPool pool(threads);
    for (TensorType type : kAllTypes) {
      const std::int64_t K = 512, N = 131;  // N not a multiple of the tile / chunk / row-group sizes
      auto w = make_weights(type, N, K, rng, false);
      auto view = view_of(type, w, K, N);
      std::vector<std::vector<float>> wf;
      for (std::int64_t r = 0; r < N; ++r) wf.push_back(dequant_ref(type, view.row(r), K));
      for (PrefillMath math : {PrefillMath::fast, PrefillMath::f32}) {
        const bool int8_gemm = pd::uses_int8_gemm(type, math);
        const bool amx_gemm = pd::uses_amx_gemm(type, math);
        // Both values take the same f32 path where neither own GEMM applies: run it once.
        if (math == PrefillMath::f32 && !pd::uses_int8_gemm(type, PrefillMath::fast) &&
            !pd::uses_amx_gemm(type, PrefillMath::fast))
          continue;
        for (std::int64_t T : {std::int64_t{1}, std::int64_t{3}, phial::ops::kGemmMinTokens - 1, phial::ops::kGemmMinTokens,
                               std::int64_t{70}}) {
          auto X = make_activations(K * T, rng);
          std::vector<float> Y(static_cast<std::size_t>(N * T), -1.0f);
          phial::ops::matmul(view, X.data(), T, Y.data(), pool, math);
          const bool gemm = T >= phial::ops::kGemmMinTokens;
          for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t r = 0; r < N; ++r) {
              const float* x = X.data() + t * K;
              const auto& wr = wf[static_cast<std::size_t>(r)];
              // The f32 prefill path dequantizes exactly and runs sgemm in f32: only summation error.
              // The int8 one quantizes activations in blocks of 32, like the 32-block decode kernels.
              Bound ref = !gemm        ? reference(type, wr, x, K, is_quantized(type))
                          : int8_gemm ? reference(type, wr, x, K, true, 32)
                                      : reference(TensorType::F32, wr, x, K, false);
              // The AMX one rounds both operands to bf16 (relative error <= 2^-9 each), or for 16-bit
              // weights splits them into bf16 pairs (about 2^-17, see split_bound).
              if (gemm && amx_gemm)
                ref.tol += pd::amx::act_parts(type) > 1 ? split_bound(wr, x, K) : bf16_rounding_bound(wr, x, K);
              const float got = Y[static_cast<std::size_t>(t * N + r)];
              INFO("type " << phial::tensor_type_info(type).name << " T " << T << " t " << t << " r " << r
                           << " threads " << threads << " int8 gemm " << int8_gemm << " amx gemm " << amx_gemm
                           << " exact " << ref.exact
                           << " got " << got);
              REQUIRE(std::fabs(got - ref.exact) <= ref.tol * 4);
            }
        }
      }
    }
  }
}

#if PHIAL_X86
// Scale d1 and offset m1 of 32-column block b of a 4-bit row: w = d1·u - m1 (what the int8 GEMM's
// repacking must reproduce; read here straight from the ggml block layouts).
void block_scale_offset(TensorType type, const std::byte* row, std::int64_t b, double& d1, double& m1) {
  if (type == TensorType::Q4_K) {
    const auto* sb = reinterpret_cast<const pd::kq4_K*>(row) + b / 8;
    std::uint8_t sc, mn;
    pd::k_scale_min(static_cast<int>(b % 8), sb->scales, sc, mn);
    d1 = static_cast<double>(pd::half_bits_to_float(sb->d)) * sc;
    m1 = static_cast<double>(pd::half_bits_to_float(sb->dmin)) * mn;
  } else if (type == TensorType::Q4_1) {
    const auto* blk = reinterpret_cast<const pd::kq4_1*>(row) + b;
    d1 = pd::half_bits_to_float(blk->d);
    m1 = -static_cast<double>(pd::half_bits_to_float(blk->m));
  } else {
    const auto* blk = reinterpret_cast<const pd::kq4_0*>(row) + b;
    d1 = pd::half_bits_to_float(blk->d);
    m1 = 8 * d1;
  }
}

TEST_CASE("ops::matmul: the int8 prefill GEMM is exact up to float rounding, given the quantized activations",
          "[matmul]") {
  using phial::ops::PrefillMath;
  if (!phial::detail::use_avx2()) {
    WARN("no AVX2: the int8 GEMM does not run on this CPU");
    return;
  }
  std::mt19937 rng(17);
  phial::ThreadPool pool(2);
  // Phi-4-mini's row length; 200 rows (not a multiple of 16) and 37 tokens (not a multiple of 4).
  // Random bytes make every scale, min and nibble pattern (including Q4_K's 6-bit packing) appear.
  for (TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q4_K, TensorType::Q6_K}) {
    for (bool random_bytes : {false, true}) {
      const std::int64_t K = 3072, N = 200, T = 37, nb = K / 32;
      auto w = make_weights(type, N, K, rng, random_bytes);
      auto view = view_of(type, w, K, N);
      REQUIRE(pd::int8_gemm_supports(type));
      auto X = make_activations(K * T, rng);
      std::vector<float> y(static_cast<std::size_t>(N * T), NAN);
      pd::matmul_qgemm(view, X.data(), T, y.data(), pool);  // directly: matmul prefers AMX where present
      // The activations as the GEMM sees them (the quantizer has its own test above).
      std::vector<pd::ActQ8> act(static_cast<std::size_t>(T * nb));
      for (std::int64_t t = 0; t < T; ++t) pd::avx2::quantize_act_q8(X.data() + t * K, act.data() + t * nb, K);
      for (std::int64_t r = 0; r < N; ++r) {
        auto wr = dequant_ref(type, view.row(r), K);
        for (std::int64_t t = 0; t < T; ++t) {
          // exact = Σ w·(d_x·q) in double. Rounding: the test's own w (one rounding each), and per block
          // d_x·I, d_x·Σq and two accumulations per block into a running sum bounded by S. (Q6_K's
          // integer sum I is exact with its offset included: its terms are bounded by Σ|w·d_x·q|.)
          double exact = 0, abs_wx = 0, S = 0;
          for (std::int64_t b = 0; b < nb; ++b) {
            const pd::ActQ8& a = act[static_cast<std::size_t>(t * nb + b)];
            double abs_q = 0, abs_block = 0;
            for (int j = 0; j < 32; ++j) {
              const double wx = static_cast<double>(wr[static_cast<std::size_t>(32 * b + j)]) * a.d * a.qs[j];
              exact += wx;
              abs_wx += std::fabs(wx);
              abs_block += std::fabs(wx);
              abs_q += std::abs(a.qs[j]);
            }
            if (type == TensorType::Q6_K) {
              S += abs_block;
            } else {
              double d1, m1;
              block_scale_offset(type, view.row(r), b, d1, m1);
              S += a.d * abs_q * (15 * std::fabs(d1) + std::fabs(m1));
            }
          }
          const double tol = std::ldexp(1.0, -24) * (static_cast<double>(2 * nb + 4) * S + 2 * abs_wx) + 1e-30;
          const float got = y[static_cast<std::size_t>(t * N + r)];
          INFO("type " << phial::tensor_type_info(type).name << " random bytes " << random_bytes << " r " << r << " t " << t
                       << " got " << got << " exact " << exact << " tol " << tol);
          REQUIRE(std::fabs(got - exact) <= tol);
        }
      }
    }
  }
}
#endif

#if PHIAL_HAS_AMX_KERNELS
TEST_CASE("ops::matmul: the AMX bf16 prefill GEMM is exact up to f32 summation, given bf16-rounded operands",
          "[matmul]") {
  if (!pd::amx::amx_usable()) {
    WARN("no AMX-BF16 here (or the OS refused it): the AMX GEMM does not run on this CPU");
    return;
  }
  std::mt19937 rng(23);
  for (int threads : {1, 2}) {
    phial::ThreadPool pool(threads);
    // Shapes off every padding boundary: K not a multiple of 32 (F32 rows), rows and tokens not
    // multiples of 16 or 32, and one that is exact; Q8_0 and Q4_K for two dequantizers.
    struct Shape { TensorType type; std::int64_t K, N, T; };
    // F16 and BF16 take the split (three and two bf16 products per product): checked against w·x itself.
    for (Shape sh : {Shape{TensorType::Q8_0, 3072, 200, 37}, Shape{TensorType::Q4_K, 512, 64, 32},
                     Shape{TensorType::Q4_0, 96, 33, 17}, Shape{TensorType::F32, 100, 47, 50},
                     Shape{TensorType::F16, 3072, 40, 20}, Shape{TensorType::BF16, 200, 33, 31},
                     Shape{TensorType::F16, 100, 17, 16}}) {
      const auto [type, K, N, T] = sh;
      auto w = make_weights(type, N, K, rng, false);
      auto view = view_of(type, w, K, N);
      auto X = make_activations(K * T, rng);
      std::vector<float> y(static_cast<std::size_t>(N * T), NAN);
      pd::matmul_amx(view, X.data(), T, y.data(), pool);
      for (std::int64_t r = 0; r < N; ++r) {
        auto wr = dequant_ref(type, view.row(r), K);
        for (std::int64_t t = 0; t < T; ++t) {
          const bool split = pd::amx::act_parts(type) > 1;
          double exact = 0, abs_p = 0;
          for (std::int64_t i = 0; i < K; ++i) {
            const float w1 = wr[static_cast<std::size_t>(i)], x1 = X[static_cast<std::size_t>(t * K + i)];
            const double p = split ? static_cast<double>(w1) * x1 : static_cast<double>(round_bf16(w1)) * round_bf16(x1);
            exact += p;
            abs_p += std::fabs(p);
          }
          // Products of bf16 values are exact in f32; only the f32 sums round. The split: split_bound.
          const double tol = (split ? split_bound(wr, X.data() + t * K, K)
                                    : static_cast<double>(K + 8) * std::ldexp(1.0, -24) * abs_p) + 1e-30;
          const float got = y[static_cast<std::size_t>(t * N + r)];
          INFO("type " << phial::tensor_type_info(type).name << " K " << K << " N " << N << " T " << T << " r " << r
                       << " t " << t << " threads " << threads << " got " << got << " exact " << exact << " tol " << tol);
          REQUIRE(std::fabs(got - exact) <= tol);
        }
      }
    }
  }
}
#endif

TEST_CASE("ops::matmul rejects malformed weights", "[matmul]") {
  phial::ThreadPool pool(1);
  std::vector<std::byte> w(18 * 4);
  std::vector<float> x(64), y(4);
  auto v = view_of(TensorType::Q4_0, w, 64, 4);  // needs 4 rows * 2 blocks * 18 bytes = 144 > 72
  REQUIRE_THROWS_AS(phial::ops::matmul(v, x.data(), 1, y.data(), pool), phial::InvalidArgument);
  v = view_of(TensorType::Q4_0, w, 48, 1);  // row length not a multiple of 32
  REQUIRE_THROWS_AS(phial::ops::matmul(v, x.data(), 1, y.data(), pool), phial::InvalidArgument);
  v = view_of(TensorType::Q2_K, w, 256, 1);
  REQUIRE_THROWS_AS(phial::ops::matmul(v, x.data(), 1, y.data(), pool), phial::InvalidArgument);
  REQUIRE_FALSE(phial::ops::matmul_supports(TensorType::Q2_K));
  REQUIRE(phial::ops::matmul_supports(TensorType::Q6_K));
}

TEST_CASE("cpu feature detection is consistent", "[cpu]") {
  const auto& f = phial::cpu_features();
  if (f.avx2) REQUIRE(f.avx);
  if (f.avx512bw || f.avx512vl || f.avx512_vnni) REQUIRE(f.avx512f);
  REQUIRE_FALSE(f.describe().empty());
  const auto scalar = phial::detail::apply_simd_override(f, "scalar");
  REQUIRE_FALSE(scalar.avx2);
  REQUIRE_FALSE(scalar.avx512f);
  const auto avx2 = phial::detail::apply_simd_override(f, "avx2");
  REQUIRE(avx2.avx2 == f.avx2);
  REQUIRE_FALSE(avx2.avx512f);
  REQUIRE_FALSE(avx2.has_avx512_vnni());
  REQUIRE_FALSE(avx2.amx_bf16);
  const auto avx512 = phial::detail::apply_simd_override(f, "avx512");
  REQUIRE(avx512.has_avx512_vnni() == f.has_avx512_vnni());
  REQUIRE_FALSE(avx512.has_avx512_vbmi_gfni());
  REQUIRE_FALSE(avx512.amx_tile);
  REQUIRE_FALSE(avx512.amx_bf16);
  const auto avx512vbmi = phial::detail::apply_simd_override(f, "avx512vbmi");
  REQUIRE(avx512vbmi.has_avx512_vbmi_gfni() == f.has_avx512_vbmi_gfni());
  REQUIRE_FALSE(avx512vbmi.amx_tile);
  if (f.has_avx512_vbmi_gfni()) REQUIRE(f.has_avx512_vnni());
  // The decode kernels' levels follow the features.
  const auto levels = pd::available_simd_levels();
  REQUIRE(levels.front() == pd::SimdLevel::scalar);
  REQUIRE(levels.back() == pd::best_simd_level());
  REQUIRE((pd::best_simd_level() >= pd::SimdLevel::avx512) == f.has_avx512_vnni());
  REQUIRE((pd::best_simd_level() == pd::SimdLevel::avx512vbmi) == f.has_avx512_vbmi_gfni());
}
