// unit-quant: fp16/bf16 conversions, ggml block dequantization, and the reference quantizers,
// checked against hand-computed values, brute-force references, and llama.cpp's own quantized
// golden files (re-quantizing the golden f32 weights must give the same bytes).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <phial/model/model.hpp>
#include <phial/ops/quant.hpp>

#include "support/model_writers.hpp"

using namespace phial;

namespace {

// Independent fp16 reference: the value of a half computed with ldexp, and the nearest half to a
// double found by searching all finite halves (ties to the even bit pattern).
double half_value(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}
std::uint16_t nearest_half(float f) {
  const double x = std::fabs(static_cast<double>(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (x >= 65520.0) return sign | 0x7c00;
  std::uint16_t lo = 0, hi = 0x7bff;  // largest finite half <= x by binary search
  while (lo < hi) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi + 1) / 2);
    if (half_value(mid) <= x) lo = mid; else hi = static_cast<std::uint16_t>(mid - 1);
  }
  if (lo == 0x7bff) return static_cast<std::uint16_t>(sign | lo);
  const double dlo = x - half_value(lo), dhi = half_value(static_cast<std::uint16_t>(lo + 1)) - x;
  std::uint16_t r = lo;
  if (dhi < dlo || (dhi == dlo && (lo & 1))) r = static_cast<std::uint16_t>(lo + 1);
  return static_cast<std::uint16_t>(sign | r);
}

std::vector<float> tensor_floats(const TensorView& t) {
  std::vector<float> f(static_cast<std::size_t>(t.elements()));
  dequantize_row(t.type, t.data, f.data(), t.elements());
  return f;
}

}  // namespace

TEST_CASE("fp16 <-> fp32 conversions are exact and round to nearest even", "[quant]") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<std::uint16_t>(h));
    if (((h >> 10) & 31) == 31) {
      REQUIRE((std::isinf(f) || std::isnan(f)));
      continue;
    }
    REQUIRE(static_cast<double>(f) == half_value(static_cast<std::uint16_t>(h)));
    REQUIRE(fp32_to_fp16(f) == h);
  }
  // hand-picked edges
  CHECK(fp32_to_fp16(1.0f) == 0x3c00);
  CHECK(fp32_to_fp16(65504.0f) == 0x7bff);
  CHECK(fp32_to_fp16(65519.99f) == 0x7bff);
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00);              // ties to even -> inf
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to 0: even
  CHECK(fp32_to_fp16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie, even stays
  CHECK(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie, odd rounds up
  CHECK(fp32_to_fp16(-2.0f) == 0xc000);
  CHECK(std::isnan(fp16_to_fp32(fp32_to_fp16(NAN))));
  // random floats against the brute-force nearest half
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mag(-30.f, 17.f);
  for (int i = 0; i < 20000; ++i) {
    const float f = std::ldexp(1.0f + static_cast<float>(rng() % 8388608) / 8388608.f, static_cast<int>(mag(rng))) * (rng() & 1 ? 1.f : -1.f);
    REQUIRE(fp32_to_fp16(f) == nearest_half(f));
  }
}

TEST_CASE("bf16 <-> fp32 conversions round to nearest even", "[quant]") {
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_fp32(0x3f80) == 1.0f);
  CHECK(fp32_to_bf16(f32_from_bits(0x3f808000)) == 0x3f80);  // tie, even stays
  CHECK(fp32_to_bf16(f32_from_bits(0x3f818000)) == 0x3f82);  // tie, odd rounds up
  CHECK(fp32_to_bf16(f32_from_bits(0x3f808001)) == 0x3f81);
  CHECK(fp32_to_bf16(f32_from_bits(0x7f7fffff)) == 0x7f80);  // rounds to inf
  CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
  std::mt19937 rng(3);
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t u = rng() & 0x7f7fffffu;  // finite
    const float f = f32_from_bits(u);
    const std::uint16_t b = fp32_to_bf16(f);
    // nearest of the two candidates, independent of the bit trick
    const double lo = bf16_to_fp32(static_cast<std::uint16_t>(u >> 16));
    // the candidate above the largest finite bf16 is infinity, reached from 2^128 on (IEEE overflow)
    const double hi = ((u >> 16) + 1) == 0x7f80u ? std::ldexp(1.0, 128) : bf16_to_fp32(static_cast<std::uint16_t>((u >> 16) + 1));
    const double dl = static_cast<double>(f) - lo, dh = hi - static_cast<double>(f);
    const std::uint16_t want = static_cast<std::uint16_t>(dl < dh || (dl == dh && ((u >> 16) & 1) == 0) ? (u >> 16) : (u >> 16) + 1);
    REQUIRE(b == want);
  }
}

TEST_CASE("dequantization of hand-built blocks", "[quant]") {
  SECTION("q4_0: (nibble - 8) * d, low nibbles first") {
    block_q4_0 b{};
    b.d = fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
    float y[32];
    dequantize_row(TensorType::Q4_0, &b, y, 32);
    for (int j = 0; j < 16; ++j) {
      CHECK(y[j] == (j - 8) * 0.5f);
      CHECK(y[j + 16] == (15 - j - 8) * 0.5f);
    }
  }
  SECTION("q4_1: nibble * d + m") {
    block_q4_1 b{};
    b.d = fp32_to_fp16(0.25f);
    b.m = fp32_to_fp16(-1.0f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<std::uint8_t>(j | (j << 4));
    float y[32];
    dequantize_row(TensorType::Q4_1, &b, y, 32);
    for (int j = 0; j < 16; ++j) CHECK(y[j] == j * 0.25f - 1.0f);
  }
  SECTION("q5_0 / q5_1: 5th bit from qh, bit j = element j") {
    block_q5_0 b{};
    b.d = fp32_to_fp16(2.0f);
    std::uint32_t qh = 0x80000001u;  // element 0 and element 31 have the high bit
    std::memcpy(b.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) b.qs[j] = 0x33;
    float y[32];
    dequantize_row(TensorType::Q5_0, &b, y, 32);
    CHECK(y[0] == (3 + 16 - 16) * 2.0f);
    CHECK(y[1] == (3 - 16) * 2.0f);
    CHECK(y[31] == (3 + 16 - 16) * 2.0f);
    CHECK(y[16] == (3 - 16) * 2.0f);
    block_q5_1 c{};
    c.d = fp32_to_fp16(1.0f);
    c.m = fp32_to_fp16(0.5f);
    std::memcpy(c.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) c.qs[j] = 0x21;
    dequantize_row(TensorType::Q5_1, &c, y, 32);
    CHECK(y[0] == 17.5f);
    CHECK(y[1] == 1.5f);
    CHECK(y[16] == 2.5f);
    CHECK(y[31] == 18.5f);
  }
  SECTION("q8_0") {
    block_q8_0 b{};
    b.d = fp32_to_fp16(0.125f);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<std::int8_t>(j * 8 - 128);
    float y[32];
    dequantize_row(TensorType::Q8_0, &b, y, 32);
    for (int j = 0; j < 32; ++j) CHECK(y[j] == (j * 8 - 128) * 0.125f);
  }
  SECTION("q4_K: 6-bit scale/min of sub-block j, y = d*sc*q - dmin*m") {
    block_q4_K b{};
    b.d = fp32_to_fp16(0.5f);
    b.dmin = fp32_to_fp16(0.25f);
    // sub-block 1: scale 3, min 5 (j < 4: low 6 bits of scales[j], scales[j+4]);
    // sub-block 6: scale 0x2A (42), min 0x31 (49): low nibbles in scales[10], high 2 bits in scales[2] / scales[6]
    b.scales[1] = 3;
    b.scales[5] = 5;
    b.scales[10] = static_cast<std::uint8_t>((42 & 0xF) | ((49 & 0xF) << 4));
    b.scales[2] |= static_cast<std::uint8_t>((42 >> 4) << 6);
    b.scales[6] |= static_cast<std::uint8_t>((49 >> 4) << 6);
    for (int l = 0; l < 128; ++l) b.qs[l] = 0x97;  // low nibble 7, high nibble 9
    std::vector<float> y(256);
    dequantize_row(TensorType::Q4_K, &b, y.data(), 256);
    // sub-block 1 = high nibbles of chunk 0 (elements 32..63)
    CHECK(y[32] == 0.5f * 3 * 9 - 0.25f * 5);
    // sub-block 6 = low nibbles of chunk 3 (elements 192..223)
    CHECK(y[192] == 0.5f * 42 * 7 - 0.25f * 49);
    CHECK(y[0] == 0.0f);  // sub-block 0: scale 0, min 0
  }
  SECTION("q6_K: 4 low bits in ql, 2 high bits in qh, signed 8-bit scales, minus 32") {
    block_q6_K b{};
    b.d = fp32_to_fp16(0.5f);
    for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<std::int8_t>(i - 8);
    b.ql[0] = 0x5A;          // element 0 low bits 0xA, element 64 low bits 0x5
    b.qh[0] = 0b11'10'01'00;  // element 0: hi 0, element 32: hi 1, element 64: hi 2, element 96: hi 3
    std::vector<float> y(256);
    dequantize_row(TensorType::Q6_K, &b, y.data(), 256);
    CHECK(y[0] == 0.5f * -8 * (0xA - 32));
    CHECK(y[32] == 0.5f * -6 * ((0 | (1 << 4)) - 32));
    CHECK(y[64] == 0.5f * -4 * ((0x5 | (2 << 4)) - 32));
    CHECK(y[96] == 0.5f * -2 * ((0 | (3 << 4)) - 32));
  }
  SECTION("bad lengths and types are typed errors") {
    float y[64];
    block_q8_0 b[2]{};
    CHECK_THROWS_AS(dequantize_row(TensorType::Q8_0, b, y, 33), InvalidArgument);
    CHECK_THROWS_AS(dequantize_row(TensorType::Q2_K, b, y, 0), InvalidArgument);
    CHECK_THROWS_AS(dequantize_row(static_cast<TensorType>(99), b, y, 32), InvalidArgument);
    CHECK_THROWS_AS(quantize_row(TensorType::Q3_K, y, b, 256), InvalidArgument);
  }
}

TEST_CASE("reference quantizers reproduce llama.cpp's golden quantized files byte for byte", "[quant][golden]") {
  // The golden q* GGUFs were made by llama-quantize --pure from the f32 weights: re-quantizing the
  // hf-f32 weights with phial's quantizers must give identical blocks.
  for (const std::string model : {"mini-tiny", "phi4-tiny"}) {
    const Model f32 = Model::load(test::golden_dir(model) / "hf-f32");
    for (const std::string fmt : {"f16", "q8_0", "q6_k", "q5_k", "q4_k", "q4_0", "q4_k_m"}) {
      const Model q = Model::load(test::golden_dir(model) / (model + "-" + fmt + ".gguf"));
      const auto a = f32.tensors();
      const auto b = q.tensors();
      REQUIRE(a.size() == b.size());
      std::size_t compared = 0;
      for (std::size_t i = 0; i < a.size(); ++i) {
        INFO(model << " " << fmt << " " << b[i]->name);
        REQUIRE(a[i]->ne == b[i]->ne);
        const auto x = tensor_floats(*a[i]);
        std::vector<std::byte> mine(b[i]->nbytes);
        for (std::int64_t r = 0; r < b[i]->rows(); ++r)
          quantize_row(b[i]->type, x.data() + r * b[i]->ne[0], mine.data() + r * b[i]->row_stride(), b[i]->ne[0]);
        REQUIRE(std::memcmp(mine.data(), b[i]->data, b[i]->nbytes) == 0);
        compared += b[i]->nbytes;
      }
      CHECK(compared == q.weight_bytes());
    }
  }
}

TEST_CASE("dequantized golden weights stay within each format's error bound of the f32 weights", "[quant][golden]") {
  const Model f32 = Model::load(test::golden_dir("phi4-tiny") / "hf-f32");
  struct Case {
    const char* fmt;
    double max_rel_rms;  // RMS(deq - x) / RMS(x) over each matrix
  };
  for (const Case c : {Case{"q8_0", 0.01}, Case{"q6_k", 0.03}, Case{"q5_k", 0.06}, Case{"q4_k", 0.12}, Case{"q4_0", 0.15}}) {
    const Model q = Model::load(test::golden_dir("phi4-tiny") / (std::string("phi4-tiny-") + c.fmt + ".gguf"));
    const auto a = f32.tensors();
    const auto b = q.tensors();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (b[i]->n_dims == 1) continue;
      const auto x = tensor_floats(*a[i]);
      const auto y = tensor_floats(*b[i]);
      double e2 = 0, x2 = 0;
      for (std::size_t k = 0; k < x.size(); ++k) {
        e2 += (static_cast<double>(y[k]) - x[k]) * (static_cast<double>(y[k]) - x[k]);
        x2 += static_cast<double>(x[k]) * x[k];
      }
      INFO(c.fmt << " " << b[i]->name);
      CHECK(std::sqrt(e2 / x2) < c.max_rel_rms);
      CHECK(std::sqrt(e2 / x2) > 0.0);
    }
  }
}

TEST_CASE("q8_0 and q4_0 round every value to within half a step", "[quant]") {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(32 * 64);
  for (auto& v : x) v = nd(rng);
  x[5] = 0.f;
  for (auto type : {TensorType::Q8_0, TensorType::Q4_0}) {
    std::vector<std::byte> q(static_cast<std::size_t>(row_bytes(type, static_cast<std::int64_t>(x.size()))));
    quantize_row(type, x.data(), q.data(), static_cast<std::int64_t>(x.size()));
    std::vector<float> y(x.size());
    dequantize_row(type, q.data(), y.data(), static_cast<std::int64_t>(x.size()));
    for (std::size_t blk = 0; blk < x.size() / 32; ++blk) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
      const double step = type == TensorType::Q8_0 ? amax / 127.0 : amax / 8.0;
      // q8_0 is symmetric (half a step); q4_0 maps the extreme to -8 so the other end (+8) is
      // clamped to +7: a full step there
      const double steps = type == TensorType::Q8_0 ? 0.5 : 1.0;
      for (int j = 0; j < 32; ++j) {
        // plus the scale's own fp16 rounding (relative 2^-11) times the largest level
        const double bound = steps * step + 128.0 * step * std::ldexp(1.0, -11) + 1e-7;
        REQUIRE(std::fabs(static_cast<double>(y[blk * 32 + j]) - x[blk * 32 + j]) <= bound);
      }
    }
  }
}

TEST_CASE("quantizers handle all-zero blocks", "[quant]") {
  std::vector<float> zeros(256, 0.f), y(256, 1.f);
  for (auto type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                    TensorType::Q5_K, TensorType::Q6_K}) {
    std::vector<std::byte> q(static_cast<std::size_t>(row_bytes(type, 256)));
    quantize_row(type, zeros.data(), q.data(), 256);
    dequantize_row(type, q.data(), y.data(), 256);
    for (float v : y) REQUIRE(v == 0.f);
  }
}
