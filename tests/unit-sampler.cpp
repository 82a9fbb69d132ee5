// Sampler chain: each stage against hand-computed expectations, seeded reproducibility, penalties.
#include <phial/sample/sampler.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

using phial::Sampler;
using phial::SamplerConfig;

namespace {

SamplerConfig stochastic(std::uint64_t seed, float temperature = 1.0f) {
  SamplerConfig c;
  c.greedy = false;
  c.temperature = temperature;
  c.seed = seed;
  return c;
}

// Empirical frequencies of `n` draws.
std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    const auto t = s.sample(logits);
    REQUIRE(t >= 0);
    f[static_cast<std::size_t>(t)] += 1.0 / n;
  }
  return f;
}

}  // namespace

TEST_CASE("the PRNG is xoshiro256** seeded by splitmix64 (reference values)") {
  // Values from an independent Python transcription of the published algorithms.
  phial::Rng r0(0);
  CHECK(r0.next_u64() == 0x99ec5f36cb75f2b4ull);
  CHECK(r0.next_u64() == 0xbf6e1f784956452aull);
  CHECK(r0.next_u64() == 0x1a5f849d4933e6e0ull);
  phial::Rng r42(42);
  CHECK(r42.next_u64() == 0x15780b2e0c2ec716ull);
  CHECK(r42.next_u64() == 0x6104d9866d113a7eull);
  phial::Rng u(7);
  for (int i = 0; i < 1000; ++i) {
    const double x = u.uniform01();
    CHECK((x >= 0.0 && x < 1.0));
    CHECK(u.below(10) < 10u);
  }
}

TEST_CASE("the portable exp used for softmax is accurate on (-87, 0]") {
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.00137f) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(phial::detail::exp_nonpositive(x) - ref) / ref);
  }
  CHECK(worst < 5e-6);
  CHECK(phial::detail::exp_nonpositive(0.0f) == 1.0f);
  CHECK(phial::detail::exp_nonpositive(-1000.0f) > 0.0f);  // clamped, never 0 or a denormal
  CHECK(phial::detail::exp_nonpositive(std::nanf("")) > 0.0f);
  // Infinite and NaN logits do not break sampling.
  Sampler s(stochastic(1));
  const auto t = s.sample(std::vector<float>{1.0f, INFINITY, std::nanf(""), INFINITY});
  CHECK((t == 1 || t == 3));
}

TEST_CASE("greedy picks the arg max, lowest id on ties") {
  Sampler s;
  CHECK(s.sample(std::vector<float>{0.1f, 3.0f, -1.0f, 2.9f}) == 1);
  CHECK(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 0.0f}) == 1);
  CHECK(s.sample(std::vector<float>{-INFINITY, -INFINITY}) == -1);
}

TEST_CASE("logit bias is added before the choice; -inf bans") {
  SamplerConfig c;
  c.logit_bias = {{1, -2.5f}, {2, 1.0f}};
  Sampler s(c);
  const std::vector<float> l{0.0f, 3.0f, 2.5f};
  CHECK(s.adjusted_logit(l, 1) == Approx(0.5f));
  CHECK(s.adjusted_logit(l, 2) == Approx(3.5f));
  CHECK(s.sample(l) == 2);
  SamplerConfig ban;
  ban.logit_bias = {{1, -INFINITY}};
  Sampler b(ban);
  CHECK(b.sample(l) == 2);
}

TEST_CASE("repetition, presence and frequency penalties (hand-computed)") {
  SamplerConfig c;
  c.repetition_penalty = 2.0f;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = 0.25f;
  c.penalty_window = 3;
  Sampler s(c);
  const std::vector<float> l{2.0f, 1.0f, -1.0f, 0.7f};
  s.accept(0);
  s.accept(2);
  s.accept(2);
  // id 0: 2/2 - 0.5 - 0.25*1 = 0.25; id 2: -1*2 - 0.5 - 0.25*2 = -3; id 1 untouched.
  CHECK(s.adjusted_logit(l, 0) == Approx(0.25f));
  CHECK(s.adjusted_logit(l, 2) == Approx(-3.0f));
  CHECK(s.adjusted_logit(l, 1) == Approx(1.0f));
  CHECK(s.sample(l) == 1);  // 1.0 beats 0.7 and the penalised 0.25
  // The window holds 3 tokens: accepting 3 then 3 pushes the 0 and the first 2 out.
  s.accept(3);
  s.accept(3);
  CHECK(s.adjusted_logit(l, 0) == Approx(2.0f));
  // id 2 occurs once now: -1*2 - 0.5 - 0.25 = -2.75
  CHECK(s.adjusted_logit(l, 2) == Approx(-2.75f));
  // id 3 twice: 0.7/2 - 0.5 - 0.5 = -0.65
  CHECK(s.adjusted_logit(l, 3) == Approx(-0.65f));
  CHECK(s.sample(l) == 0);
  s.reset();
  CHECK(s.adjusted_logit(l, 3) == Approx(0.7f));
}

TEST_CASE("temperature: frequencies follow softmax(l / T)") {
  const std::vector<float> l{0.0f, std::log(2.0f), std::log(4.0f)};  // p = 1/7, 2/7, 4/7
  Sampler s(stochastic(1));
  auto f = frequencies(s, l, 40000);
  CHECK(f[0] == Approx(1.0 / 7).margin(0.01));
  CHECK(f[1] == Approx(2.0 / 7).margin(0.01));
  CHECK(f[2] == Approx(4.0 / 7).margin(0.01));
  // T = 2: p ~ 1, sqrt 2, 2
  Sampler hot(stochastic(2, 2.0f));
  f = frequencies(hot, l, 40000);
  const double z = 1 + std::sqrt(2.0) + 2;
  CHECK(f[0] == Approx(1 / z).margin(0.01));
  CHECK(f[1] == Approx(std::sqrt(2.0) / z).margin(0.01));
  CHECK(f[2] == Approx(2 / z).margin(0.01));
}

TEST_CASE("top-k keeps the k most likely") {
  const std::vector<float> l{1.0f, 4.0f, 3.0f, 2.0f, 0.0f};
  auto c = stochastic(3);
  c.top_k = 2;
  Sampler s(c);
  auto f = frequencies(s, l, 20000);
  CHECK(f[0] == 0.0);
  CHECK(f[3] == 0.0);
  CHECK(f[4] == 0.0);
  const double e = std::exp(1.0);
  CHECK(f[1] == Approx(e / (e + 1)).margin(0.012));
}

TEST_CASE("top-p keeps the smallest head with enough mass; min-p cuts relative to the max") {
  const std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto c = stochastic(4);
  c.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8: keeps ids 0 and 1
  Sampler s(c);
  auto f = frequencies(s, l, 20000);
  CHECK(f[2] == 0.0);
  CHECK(f[3] == 0.0);
  CHECK(f[0] == Approx(0.5 / 0.8).margin(0.012));
  c.top_p = 0.85f;  // needs id 2 as well
  Sampler s2(c);
  f = frequencies(s2, l, 20000);
  CHECK(f[3] == 0.0);
  CHECK(f[2] == Approx(0.15 / 0.95).margin(0.012));

  auto m = stochastic(5);
  m.min_p = 0.35f;  // keeps p >= 0.175: ids 0 and 1
  Sampler sm(m);
  f = frequencies(sm, l, 20000);
  CHECK(f[2] == 0.0);
  CHECK(f[3] == 0.0);
  CHECK(f[1] == Approx(0.3 / 0.8).margin(0.012));
}

TEST_CASE("the allowed mask restricts both greedy and stochastic choices") {
  const std::vector<float> l{5.0f, 1.0f, 4.0f, 3.0f};
  phial::TokenMask mask(4);
  mask.set(2);
  mask.set(3);
  Sampler g;
  CHECK(g.sample(l, &mask) == 2);
  Sampler s(stochastic(6));
  for (int i = 0; i < 500; ++i) {
    const auto t = s.sample(l, &mask);
    CHECK((t == 2 || t == 3));
  }
  phial::TokenMask none(4);
  CHECK(g.sample(l, &none) == -1);
  CHECK(s.sample(l, &none) == -1);
}

TEST_CASE("same seed and logits give the same tokens; another seed does not (200k vocabulary)") {
  const int n = 200064;
  phial::Rng gen(99);
  std::vector<std::vector<float>> steps(40, std::vector<float>(n));
  for (auto& v : steps)
    for (auto& x : v) x = static_cast<float>(gen.uniform01() * 8.0 - 4.0);
  auto run = [&](std::uint64_t seed) {
    auto c = SamplerConfig::defaults_for(phial::Variant::phi4_mini_reasoning);
    c.seed = seed;
    c.repetition_penalty = 1.1f;
    Sampler s(c);
    std::vector<std::int32_t> out;
    for (const auto& v : steps) {
      out.push_back(s.sample(v));
      s.accept(out.back());
    }
    return out;
  };
  const auto a = run(1234), b = run(1234), d = run(4321);
  CHECK(a == b);
  CHECK(a != d);
}

TEST_CASE("top-k + top-p over a large vocabulary stay inside the brute-force nucleus") {
  const int n = 50000;
  phial::Rng gen(5);
  std::vector<float> l(n);
  for (auto& x : l) x = static_cast<float>(gen.uniform01() * 20.0);
  // Brute force: the 40 best ids, then the nucleus of top_p = 0.5 among them (T = 0.7).
  std::vector<int> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  ids.resize(40);
  double z = 0;
  for (int i : ids) z += std::exp((l[i] - l[ids[0]]) / 0.7);
  std::vector<int> nucleus;
  double acc = 0;
  for (int i : ids) {
    nucleus.push_back(i);
    acc += std::exp((l[i] - l[ids[0]]) / 0.7) / z;
    if (acc >= 0.5) break;
  }
  auto c = stochastic(8, 0.7f);
  c.top_k = 40;
  c.top_p = 0.5f;
  Sampler s(c);
  std::vector<int> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto t = s.sample(l);
    CHECK(std::find(nucleus.begin(), nucleus.end(), t) != nucleus.end());
    seen.push_back(t);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  CHECK(seen.size() == nucleus.size());
}

TEST_CASE("family defaults") {
  const auto r = SamplerConfig::defaults_for(phial::Variant::phi4_reasoning);
  CHECK_FALSE(r.is_greedy());
  CHECK(r.temperature == 0.8f);
  CHECK(r.top_p == 0.95f);
  CHECK(SamplerConfig::defaults_for(phial::Variant::phi4_mini_instruct).is_greedy());
  CHECK(SamplerConfig::defaults_for(phial::Variant::phi4).is_greedy());
  SamplerConfig bad;
  bad.top_p = 0.0f;
  CHECK_THROWS_AS(Sampler(bad), phial::InvalidArgument);
}
