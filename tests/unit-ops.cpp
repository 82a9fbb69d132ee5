// Model-independent ops (RMSNorm, SwiGLU, RoPE, attention) against naive float64 references written
// straight from the transformers formulas (spec §2.1-2.5).
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <phial/backend/aligned.hpp>
#include <phial/model/kv_cache.hpp>
#include <phial/ops/activation.hpp>
#include <phial/ops/attention.hpp>
#include <phial/ops/norm.hpp>
#include <phial/ops/rope.hpp>

#include <catch2/catch.hpp>

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

// softmax(scale * q . k_p) . v over [first, last) in double precision; k, v already widened.
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                    std::int64_t stride, std::int64_t first, std::int64_t last, int head_dim,
                                    float scale) {
  std::vector<double> s(std::size_t(last - first));
  double mx = -1e300;
  for (std::int64_t p = first; p < last; ++p) {
    double dot = 0;
    for (int d = 0; d < head_dim; ++d) dot += double(q[d]) * k[p * stride + d];
    s[p - first] = dot * scale;
    mx = std::max(mx, s[p - first]);
  }
  double sum = 0;
  for (auto& x : s) sum += (x = std::exp(x - mx));
  std::vector<double> ref(head_dim, 0.0);
  for (std::int64_t p = first; p < last; ++p)
    for (int d = 0; d < head_dim; ++d) ref[d] += s[p - first] / sum * v[p * stride + d];
  return ref;
}

}  // namespace

TEST_CASE("rms_norm matches the float64 formula, eps inside the rsqrt") {
  const std::int64_t n = 300;
  auto x = random_vector(n, 1, 3.0f);
  auto w = random_vector(n, 2);
  std::vector<float> y(n);
  phial::ops::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double r = 1.0 / std::sqrt(ss / n + 1e-5);
  std::vector<double> ref(n);
  for (std::int64_t i = 0; i < n; ++i) ref[i] = double(w[i]) * double(x[i]) * r;
  CHECK(max_abs_diff(y, ref) < 1e-5);

  // eps matters for tiny inputs: all-zero input must give zeros, not NaN; a constant input c gives
  // c / sqrt(c^2 + eps) (hand-computed for c = 0.001, eps = 1e-5: 0.001 / sqrt(1.1e-5) = 0.30151134).
  std::vector<float> c(4, 0.001f), one(4, 1.0f), out(4);
  phial::ops::rms_norm(c.data(), one.data(), out.data(), 4, 1e-5f);
  CHECK(out[0] == Approx(0.30151134).epsilon(1e-6));
  std::vector<float> z(4, 0.0f);
  phial::ops::rms_norm(z.data(), one.data(), out.data(), 4, 1e-5f);
  CHECK(out[3] == 0.0f);

  // In place, many rows.
  auto rows = random_vector(3 * n, 3);
  auto expect = rows;
  for (int r = 0; r < 3; ++r) phial::ops::rms_norm(expect.data() + r * n, w.data(), expect.data() + r * n, n, 1e-5f);
  phial::ops::rms_norm_rows(rows.data(), w.data(), rows.data(), 3, n, 1e-5f);
  CHECK(rows == expect);
}

#if PHIAL_X86
namespace {
PHIAL_TARGET_AVX2 void exp8(const float* x, float* y) { _mm256_storeu_ps(y, phial::detail::avx2::exp_ps(_mm256_loadu_ps(x))); }
}  // namespace

TEST_CASE("exp_ps: within 3 ulp of exp over the normal range, 0 below it, NaN passes") {
  if (!phial::detail::detect_cpu_features_raw().has_avx2_fma_f16c()) return;
  std::vector<float> x;
  for (double v = -87.3; v <= 88.0; v += 0.00731) x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1.0f, -1.0f, 0.5f * 0.693147f, -0.5f * 0.693147f, 1e-8f, -1e-8f}) x.push_back(v);
  while (x.size() % 8) x.push_back(0.0f);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); i += 8) {
    float y[8];
    exp8(&x[i], y);
    for (int j = 0; j < 8; ++j) {
      const double ref = std::exp(static_cast<double>(x[i + j]));
      worst = std::max(worst, std::abs(y[j] - ref) / ref);
    }
  }
  CAPTURE(worst);
  CHECK(worst < 3 * std::ldexp(1.0, -24));
  const float special[8] = {-88.0f, -1000.0f, -INFINITY, NAN, 88.0f, 100.0f, 0.0f, -87.3f};
  float y[8];
  exp8(special, y);
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == 0.0f);
  CHECK(std::isnan(y[3]));
  CHECK(y[4] == Approx(std::exp(88.0)).epsilon(1e-6));
  CHECK(std::isfinite(y[5]));
  CHECK(y[6] == 1.0f);
  CHECK(std::abs(y[7] / std::exp(double{-87.3f}) - 1) < 1e-6);  // the smallest normal results are still accurate
}
#endif

TEST_CASE("swiglu is up * silu(gate) with the gate in the first half") {
  const std::int64_t n = 37;
  auto gu = random_vector(2 * n, 4, 4.0f);
  std::vector<float> out(n);
  phial::ops::swiglu(gu.data(), out.data(), n);
  std::vector<double> ref(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = gu[i], u = gu[n + i];
    ref[i] = u * g / (1.0 + std::exp(-g));
  }
  CHECK(max_abs_diff(out, ref) < 1e-5);
  // Hand values: silu(0) = 0, silu(1) = 0.7310586.
  float two[4] = {0.0f, 1.0f, 5.0f, 2.0f};
  float o[2];
  phial::ops::swiglu(two, o, 2);
  CHECK(o[0] == 0.0f);
  CHECK(o[1] == Approx(2.0 * 0.7310585786).epsilon(1e-6));
}

TEST_CASE("rope inverse frequencies follow 1 / (factor * base^(2i/dim))") {
  // Hand values: base 10000, rotary dim 4 -> exponents 0, 0.5 -> inv_freq 1, 0.01.
  auto plain = phial::ops::rope_inv_freq(10000.0, 4, nullptr);
  REQUIRE(plain.size() == 2);
  CHECK(plain[0] == 1.0f);
  CHECK(plain[1] == Approx(0.01).epsilon(1e-7));
  const float factors[2] = {2.0f, 4.0f};
  auto scaled = phial::ops::rope_inv_freq(10000.0, 4, factors);
  CHECK(scaled[0] == 0.5f);
  CHECK(scaled[1] == Approx(0.0025).epsilon(1e-7));
  // A partial-rotary size (Phi-4-mini: rotary 96 of head_dim 128): 48 frequencies, exponents i/48.
  auto mini = phial::ops::rope_inv_freq(10000.0, 96, nullptr);
  REQUIRE(mini.size() == 48);
  CHECK(mini[47] == Approx(std::pow(10000.0, -94.0 / 96.0)).epsilon(1e-6));
}

TEST_CASE("rope rotates (j, j + rotary_dim/2) pairs and passes the tail through") {
  // Naive reference: the transformers code path literally, emb = cat(freqs, freqs),
  // x_rot * cos + rotate_half(x_rot) * sin, rotate_half(x) = cat(-x2, x1), tail untouched.
  const int head_dim = 16, rotary_dim = 12, half = rotary_dim / 2;
  const double mscale = std::sqrt(2.0);
  const float factors[6] = {1.0f, 1.5f, 2.0f, 3.0f, 5.0f, 8.0f};
  auto inv = phial::ops::rope_inv_freq(10000.0, rotary_dim, factors);
  auto x = random_vector(head_dim, 5);
  for (std::int64_t pos : {0, 1, 7, 33, 1000}) {
    std::vector<float> cos_t(half), sin_t(half);
    phial::ops::rope_cos_sin(inv.data(), half, pos, float(mscale), cos_t.data(), sin_t.data());
    std::vector<double> emb(rotary_dim);
    for (int i = 0; i < rotary_dim; ++i)
      emb[i] = double(pos) / (double(factors[i % half]) * std::pow(10000.0, 2.0 * (i % half) / rotary_dim));
    std::vector<double> ref(head_dim);
    for (int i = 0; i < rotary_dim; ++i) {
      const double rotated = i < half ? -double(x[i + half]) : double(x[i - half]);
      ref[i] = x[i] * std::cos(emb[i]) * mscale + rotated * std::sin(emb[i]) * mscale;
    }
    for (int i = rotary_dim; i < head_dim; ++i) ref[i] = x[i];
    auto y = x;
    phial::ops::rope_apply(y.data(), cos_t.data(), sin_t.data(), rotary_dim);
    // float32 angles (as torch computes them) differ from float64 ones by ~pos * 1e-7 rad.
    CHECK(max_abs_diff(y, ref) < 1e-5 * (1.0 + double(pos) / 100.0));
    for (int i = rotary_dim; i < head_dim; ++i) CHECK(y[i] == x[i]);
  }
  // Position 0 is the identity times mscale (cos 0 = 1, sin 0 = 0).
  std::vector<float> c(half), s(half);
  phial::ops::rope_cos_sin(inv.data(), half, 0, 1.0f, c.data(), s.data());
  auto y = x;
  phial::ops::rope_apply_heads(y.data(), 1, head_dim, c.data(), s.data(), rotary_dim);
  CHECK(y == x);
}

TEST_CASE("blocked online-softmax attention equals the naive softmax") {
  const int head_dim = 24;
  const std::int64_t n_pos = 150, stride = 40;  // crosses two block boundaries; padded rows
  auto q = random_vector(head_dim, 6, 2.0f);
  auto k = random_vector(std::size_t(n_pos * stride), 7, 2.0f);
  auto v = random_vector(std::size_t(n_pos * stride), 8);
  const float scale = 1.0f / std::sqrt(float(head_dim));
  for (auto [first, last] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {0, 64}, {0, 65}, {0, 150}, {20, 150}, {77, 78}}) {
    const auto ref = naive_attention(q, k, v, stride, first, last, head_dim, scale);
    std::vector<float> out(head_dim);
    phial::ops::attend(q.data(), k.data(), v.data(), stride, first, last, head_dim, scale, out.data(),
                       phial::ops::load_f32);
    CHECK(max_abs_diff(out, ref) < 1e-5);
    // A single visible key returns its value exactly (softmax weight 1).
    if (last - first == 1)
      for (int d = 0; d < head_dim; ++d) CHECK(out[d] == v[first * stride + d]);
  }
  // A converting loader (here: keys/values stored as double) is honoured.
  std::vector<double> kd(k.begin(), k.end()), vd(v.begin(), v.end());
  std::vector<float> a(head_dim), b(head_dim);
  phial::ops::attend(q.data(), kd.data(), vd.data(), stride, 0, n_pos, head_dim, scale, a.data(),
                     [](double x) { return float(x); });
  phial::ops::attend(q.data(), k.data(), v.data(), stride, 0, n_pos, head_dim, scale, b.data(), phial::ops::load_f32);
  CHECK(a == b);
}

TEST_CASE("attend_cached: every kernel, f32 and f16 caches, equals the naive softmax") {
  // head_dim 128 (Phi-4), 24 (a multiple of 8 that is not of 16), 20 (portable kernel only).
  for (int head_dim : {128, 24, 20}) {
    const std::int64_t n_pos = 200, stride = head_dim + 8;
    auto q = random_vector(std::size_t(head_dim), 11, 1.5f);
    auto k = random_vector(std::size_t(n_pos * stride), 12, 1.5f);
    auto v = random_vector(std::size_t(n_pos * stride), 13);
    // The f16 cache holds the halves of k and v; the reference uses the same (widened) values.
    std::vector<std::uint16_t> kh(k.size()), vh(v.size());
    std::vector<float> kw(k.size()), vw(v.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
      kh[i] = phial::fp32_to_fp16(k[i]);
      vh[i] = phial::fp32_to_fp16(v[i]);
      kw[i] = phial::fp16_to_fp32(kh[i]);
      vw[i] = phial::fp16_to_fp32(vh[i]);
    }
    const float scale = 1.0f / std::sqrt(float(head_dim));
    for (auto [first, last] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {0, 64}, {0, 129}, {30, 200}, {199, 200}}) {
      CAPTURE(head_dim, first, last);
      const auto ref = naive_attention(q, k, v, stride, first, last, head_dim, scale);
      const auto ref_h = naive_attention(q, kw, vw, stride, first, last, head_dim, scale);
      std::vector<float> out(static_cast<std::size_t>(head_dim)), out_h(static_cast<std::size_t>(head_dim));
      phial::ops::attend_cached(q.data(), k.data(), v.data(), stride, first, last, head_dim, scale, out.data());
      phial::ops::attend_cached(q.data(), kh.data(), vh.data(), stride, first, last, head_dim, scale, out_h.data());
      CHECK(max_abs_diff(out, ref) < 1e-5);
      CHECK(max_abs_diff(out_h, ref_h) < 1e-5);
#if PHIAL_X86
      // The AVX2 kernel itself, whatever PHIAL_SIMD says (when this CPU has it).
      if (phial::detail::detect_cpu_features_raw().has_avx2_fma_f16c() && head_dim % 8 == 0) {
        phial::ops::detail::avx2::attend<false>(q.data(), k.data(), v.data(), stride, first, last, head_dim, scale,
                                                out.data());
        phial::ops::detail::avx2::attend<true>(q.data(), kh.data(), vh.data(), stride, first, last, head_dim, scale,
                                               out_h.data());
        CHECK(max_abs_diff(out, ref) < 1e-5);
        CHECK(max_abs_diff(out_h, ref_h) < 1e-5);
      }
#endif
    }
  }
}

TEST_CASE("attend_tile: many queries of one kv head equal the naive softmax of each") {
  // Queries inside and across key blocks of kAttentionTileKeys, with and without a sliding window
  // (then some queries see nothing in the first blocks), f32 and f16 caches.
  for (int head_dim : {128, 20}) {
    const std::int64_t n_pos = 300, stride = head_dim + 8;
    const std::vector<std::int64_t> pos{0, 5, 127, 128, 129, 250, 299, 299};
    const auto nq = static_cast<std::int64_t>(pos.size());
    auto q = random_vector(std::size_t(nq * head_dim), 21, 1.5f);
    auto k = random_vector(std::size_t(n_pos * stride), 22, 1.5f);
    auto v = random_vector(std::size_t(n_pos * stride), 23);
    std::vector<std::uint16_t> kh(k.size()), vh(v.size());
    std::vector<float> kw(k.size()), vw(v.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
      kh[i] = phial::fp32_to_fp16(k[i]);
      vh[i] = phial::fp32_to_fp16(v[i]);
      kw[i] = phial::fp16_to_fp32(kh[i]);
      vw[i] = phial::fp16_to_fp32(vh[i]);
    }
    const float scale = 1.0f / std::sqrt(float(head_dim));
    for (std::int64_t window : {std::int64_t{0}, std::int64_t{50}}) {
      std::vector<float> out(std::size_t(nq * head_dim), NAN), out_h(out.size(), NAN);
      phial::ops::attend_tile(q.data(), nq, pos.data(), window, k.data(), v.data(), stride, head_dim, scale, out.data());
      phial::ops::attend_tile(q.data(), nq, pos.data(), window, kh.data(), vh.data(), stride, head_dim, scale,
                              out_h.data());
      for (std::int64_t i = 0; i < nq; ++i) {
        CAPTURE(head_dim, window, i, pos[std::size_t(i)]);
        const std::vector<float> qi(q.begin() + i * head_dim, q.begin() + (i + 1) * head_dim);
        const std::int64_t first = phial::ops::first_visible_key(pos[std::size_t(i)], window);
        const auto ref = naive_attention(qi, k, v, stride, first, pos[std::size_t(i)] + 1, head_dim, scale);
        const auto ref_h = naive_attention(qi, kw, vw, stride, first, pos[std::size_t(i)] + 1, head_dim, scale);
        const std::vector<float> got(out.begin() + i * head_dim, out.begin() + (i + 1) * head_dim);
        const std::vector<float> got_h(out_h.begin() + i * head_dim, out_h.begin() + (i + 1) * head_dim);
        CHECK(max_abs_diff(got, ref) < 1e-5);
        CHECK(max_abs_diff(got_h, ref_h) < 1e-5);
      }
    }
  }
}

TEST_CASE("sliding window and causal visibility") {
  CHECK(phial::ops::first_visible_key(10, 0) == 0);
  CHECK(phial::ops::first_visible_key(10, 4) == 7);  // keys 7, 8, 9, 10: kv_idx > q_idx - window
  CHECK(phial::ops::first_visible_key(2, 4) == 0);
}

TEST_CASE("FlushSubnormals flushes on this thread while alive and restores the caller's mode") {
  volatile float tiny = 1e-38f;  // normal; tiny / 16 is subnormal
  const float before = tiny / 16.0f;
  REQUIRE(before > 0.0f);
  {
    const phial::detail::FlushSubnormals flush;
    const float inside = tiny / 16.0f;
#if PHIAL_X86
    REQUIRE(inside == 0.0f);
#else
    REQUIRE(inside > 0.0f);
#endif
  }
  const float after = tiny / 16.0f;
  REQUIRE(after == before);
}

TEST_CASE("aligned buffers and the KV cache start on a cache line") {
  auto on_line = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % phial::detail::kCacheLine == 0; };
  SECTION("AlignedVector, through growth, of every element size the kernels use") {
    phial::detail::AlignedVector<std::byte> b;
    phial::detail::AlignedVector<std::uint16_t> h;
    phial::detail::AlignedVector<float> f;
    for (std::size_t n : {1, 3, 17, 100, 4097, 200000}) {
      b.resize(n);
      h.resize(n);
      f.resize(n);
      CHECK(on_line(b.data()));
      CHECK(on_line(h.data()));
      CHECK(on_line(f.data()));
    }
    f.assign(5, 2.0f);  // values survive like a std::vector's
    CHECK(f == phial::detail::AlignedVector<float>(5, 2.0f));
  }
  SECTION("make_aligned_array") {
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{1} << 20}) {
      auto a = phial::detail::make_aligned_array<float>(n);
      CHECK(on_line(a.get()));
      a[n - 1] = 1.0f;
    }
  }
  SECTION("KvCache, f32 and f16: the first head of every layer") {
    for (bool f16 : {false, true}) {
      phial::KvCache cache(3, 2, 128, 33, f16);
      for (int l = 0; l < 3; ++l)
        CHECK(on_line(f16 ? static_cast<const void*>(cache.keys_f16(l, 0)) : static_cast<const void*>(cache.keys_f32(l, 0))));
    }
  }
}
