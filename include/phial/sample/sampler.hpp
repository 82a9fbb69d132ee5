// phial/sample/sampler.hpp - the sampler chain: logits of one position -> one token id.
//
// Chain, in this order (each stage is skipped when it is a no-op):
//   1. logit bias          l[id] += bias[id]                      (sparse: only the listed ids)
//   2. penalties            over the last `penalty_window` accepted tokens (sparse: only those ids)
//        repetition (CTRL / HF): l > 0 ? l / r : l * r
//        presence:  l -= presence  if the id occurred
//        frequency: l -= frequency * count
//   3. allowed mask         ids whose bit is 0 in the caller's mask (a grammar) are removed
//   -- greedy stops here: the arg max (lowest id on ties) --
//   4. temperature          l / T
//   5. top-k                keep the k largest (partial selection, never a full sort)
//   6. softmax              p = exp(l - max) over the survivors
//   7. min-p                keep p >= min_p * p_max
//   8. top-p (nucleus)      keep the smallest prefix of the descending order with mass >= top_p
//   9. draw                 one uniform number u in [0, 1) from the sampler's own PRNG
//
// Reproducibility: the PRNG (xoshiro256** seeded by splitmix64) and the uniform draw are phial's
// own code, so the same seed and the same logits give the same tokens on every platform and
// standard library (std::uniform_real_distribution is implementation-defined). Candidates are
// ordered by (logit desc, id asc) so ties break the same way everywhere.
//
// Cost over 200k logits: greedy is one pass; stochastic sampling makes one pass to collect the
// candidates within 30 nats of the max (anything below contributes < 1e-13 of the mass each), then
// selects (std::nth_element) only as many as top-k / top-p need.
#pragma once
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace phial {

struct SamplerConfig {
  bool greedy = true;          // arg max; every stochastic setting below is ignored
  float temperature = 1.0f;    // > 0 (0 means greedy)
  std::int32_t top_k = 0;      // 0 = off
  float top_p = 1.0f;          // 1 = off
  float min_p = 0.0f;          // 0 = off
  float repetition_penalty = 1.0f;  // 1 = off; > 1 discourages repeats
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::int32_t penalty_window = 64;  // how many recent accepted tokens the penalties look at; -1 = all
  std::unordered_map<std::int32_t, float> logit_bias;  // id -> added to the logit (-inf bans)
  std::uint64_t seed = 0;

  // The family's recommended settings (spec §5): reasoning models sample with temperature 0.8 and
  // top_p 0.95; the instruct models and Phi-4 are run greedily (their cards use temperature 0).
  static SamplerConfig defaults_for(Variant variant) {
    SamplerConfig c;
    if (variant == Variant::phi4_reasoning || variant == Variant::phi4_mini_reasoning) {
      c.greedy = false;
      c.temperature = 0.8f;
      c.top_p = 0.95f;
    }
    return c;
  }

  bool is_greedy() const noexcept { return greedy || temperature <= 0.0f; }
};

// xoshiro256** (Blackman & Vigna), seeded with splitmix64: small, fast, and the same everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }

  std::uint64_t next_u64() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits: exact, portable.
  double uniform01() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n) (n > 0), by rejection: unbiased and portable.
  std::uint64_t below(std::uint64_t n) noexcept {
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
    std::uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

namespace detail {

// exp(x) for x <= 0, as 2^k * 2^f with k = round(x log2 e), |f| <= 1/2 and a degree-6 Taylor
// polynomial for 2^f: relative error < 5e-6 (float rounding of x log2 e), no libm call (the loop vectorizes), and the same result
// on every platform (libm's expf may differ by an ulp between implementations, which could change a
// sampled token).
// exp_nonpositive_core requires x in [-87, 0] (not NaN); the clamps live in exp_nonpositive, because
// GCC does not vectorize a loop that has both (without -ffast-math): hot loops clamp in one pass
// and call the core in another.
PHIAL_ALWAYS_INLINE float clamp_exp_arg(float x) {
  x = !(x >= -87.0f) ? -87.0f : x;                   // keeps 2^k a normal float (and NaN out of the cast)
  return x > 0.0f ? 0.0f : x;
}
PHIAL_ALWAYS_INLINE float exp_nonpositive_core(float x) {
  const float t = x * 1.44269504088896341f + 0.5f;   // x * log2(e) + 1/2, in [-125.0, 0.5]
  int k = static_cast<int>(t);                       // truncates toward zero ...
  k -= (static_cast<float>(k) > t) ? 1 : 0;          // ... so this is floor(t) = round(x log2 e)
  const float f = (t - 0.5f) - static_cast<float>(k);  // [-1/2, 1/2]
  float p = 1.5403530393381606e-4f;  // ln2^6 / 6!
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910072e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
PHIAL_ALWAYS_INLINE float exp_nonpositive(float x) { return exp_nonpositive_core(clamp_exp_arg(x)); }

}  // namespace detail

// A set of allowed token ids as a bitset over the vocabulary (bit id%64 of word id/64).
struct TokenMask {
  std::vector<std::uint64_t> words;

  TokenMask() = default;
  explicit TokenMask(std::int32_t n_vocab) : words((static_cast<std::size_t>(n_vocab) + 63) / 64, 0) {}
  void reset(std::int32_t n_vocab) { words.assign((static_cast<std::size_t>(n_vocab) + 63) / 64, 0); }
  void clear() { std::fill(words.begin(), words.end(), 0); }
  void set(std::int32_t id) { words[static_cast<std::size_t>(id) >> 6] |= 1ull << (id & 63); }
  void unset(std::int32_t id) { words[static_cast<std::size_t>(id) >> 6] &= ~(1ull << (id & 63)); }
  bool test(std::int32_t id) const {
    const auto w = static_cast<std::size_t>(id) >> 6;
    return w < words.size() && ((words[w] >> (id & 63)) & 1u);
  }
  std::size_t count() const {
    std::size_t n = 0;
    for (auto w : words) n += static_cast<std::size_t>(__builtin_popcountll(w));
    return n;
  }
};

class Sampler {
 public:
  explicit Sampler(SamplerConfig config = {}) : config_(std::move(config)), rng_(config_.seed) {
    if (!config_.greedy && !(config_.temperature >= 0.0f)) throw InvalidArgument("SamplerConfig: temperature must be >= 0");
    if (!(config_.top_p > 0.0f && config_.top_p <= 1.0f)) throw InvalidArgument("SamplerConfig: top_p must be in (0, 1]");
    if (!(config_.min_p >= 0.0f && config_.min_p <= 1.0f)) throw InvalidArgument("SamplerConfig: min_p must be in [0, 1]");
    if (config_.top_k < 0) throw InvalidArgument("SamplerConfig: top_k must be >= 0");
    if (!(config_.repetition_penalty > 0.0f)) throw InvalidArgument("SamplerConfig: repetition_penalty must be > 0");
  }

  const SamplerConfig& config() const noexcept { return config_; }

  // Picks a token from `logits` (vocab_size floats). `allowed`, when given, restricts the choice to
  // the ids whose bit is set. Returns -1 only when no id is allowed (or every logit is -inf/NaN).
  std::int32_t sample(std::span<const float> logits, const TokenMask* allowed = nullptr) {
    prepare(logits);
    if (config_.is_greedy()) return arg_max(logits, allowed);
    return draw(logits, allowed);
  }

  // Records a token that became part of the sequence (for the penalties).
  void accept(std::int32_t token) {
    if (!has_penalties()) return;
    history_.push_back(token);
    ++counts_[token];
    if (config_.penalty_window >= 0) {
      while (history_.size() > static_cast<std::size_t>(config_.penalty_window)) {
        auto it = counts_.find(history_.front());
        if (it != counts_.end() && --it->second == 0) counts_.erase(it);
        history_.pop_front();
      }
    }
  }

  // Forgets the history and restarts the random stream from the configured seed.
  void reset() {
    history_.clear();
    counts_.clear();
    rng_.reseed(config_.seed);
  }

  Rng& rng() noexcept { return rng_; }

  // The logit after bias and penalties (what the later stages see), for tests and debugging.
  float adjusted_logit(std::span<const float> logits, std::int32_t id) {
    prepare(logits);
    for (const auto& a : adjusted_) if (a.id == id) return a.logit;
    return logits[static_cast<std::size_t>(id)];
  }

 private:
  struct Candidate {
    std::int32_t id;
    float logit;
  };
  // Descending logit, ascending id on ties: a strict total order, so results never depend on
  // the standard library's selection algorithm.
  struct Before {  // a function object, so std algorithms inline it
    PHIAL_ALWAYS_INLINE bool operator()(const Candidate& a, const Candidate& b) const noexcept {
      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }
  };
  static constexpr Before before{};

  bool has_penalties() const noexcept {
    return config_.repetition_penalty != 1.0f || config_.presence_penalty != 0.0f || config_.frequency_penalty != 0.0f;
  }

  // Fills adjusted_ with (id, new logit) for every id touched by bias or penalties; the marks in
  // is_adjusted_ let the dense passes skip them.
  void prepare(std::span<const float> logits) {
    for (const auto& a : adjusted_) is_adjusted_[static_cast<std::size_t>(a.id)] = 0;
    adjusted_.clear();
    if (config_.logit_bias.empty() && counts_.empty()) return;
    if (is_adjusted_.size() != logits.size()) is_adjusted_.assign(logits.size(), 0);
    collect_adjusted(logits);
  }

  // Applies bias then penalties to one id's logit.
  float adjust(std::int32_t id, float l) const {
    if (auto b = config_.logit_bias.find(id); b != config_.logit_bias.end()) l += b->second;
    if (auto c = counts_.find(id); c != counts_.end() && c->second > 0) {
      const float r = config_.repetition_penalty;
      l = l > 0.0f ? l / r : l * r;
      l -= config_.presence_penalty;
      l -= config_.frequency_penalty * static_cast<float>(c->second);
    }
    return l;
  }

  // Collects the sparse adjusted logits for this call.
  void collect_adjusted(std::span<const float> logits) {
    const auto n = static_cast<std::int32_t>(logits.size());
    auto add = [&](std::int32_t id) {
      if (id < 0 || id >= n || is_adjusted_[static_cast<std::size_t>(id)]) return;
      is_adjusted_[static_cast<std::size_t>(id)] = 1;
      adjusted_.push_back({id, adjust(id, logits[static_cast<std::size_t>(id)])});
    };
    for (const auto& [id, v] : config_.logit_bias) add(id);
    for (const auto& [id, c] : counts_) add(id);
  }

  static bool allowed_id(const TokenMask* allowed, std::int32_t id) { return !allowed || allowed->test(id); }

  std::int32_t arg_max(std::span<const float> logits, const TokenMask* allowed) {
    const auto n = static_cast<std::int32_t>(logits.size());
    Candidate best{-1, -std::numeric_limits<float>::infinity()};
    const bool sparse = !adjusted_.empty();
    if (!allowed) {
      for (std::int32_t i = 0; i < n; ++i) {
        const float l = logits[static_cast<std::size_t>(i)];
        if (l > best.logit && !(sparse && is_adjusted_[static_cast<std::size_t>(i)])) best = {i, l};
      }
    } else {
      // Walk the set bits of the mask only.
      for (std::size_t w = 0; w < allowed->words.size(); ++w) {
        std::uint64_t bits = allowed->words[w];
        while (bits) {
          const auto i = static_cast<std::int32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
          bits &= bits - 1;
          if (i >= n) break;
          const float l = logits[static_cast<std::size_t>(i)];
          if (l > best.logit && !(sparse && is_adjusted_[static_cast<std::size_t>(i)])) best = {i, l};
        }
      }
    }
    for (const auto& a : adjusted_)
      if (allowed_id(allowed, a.id) && a.logit > -std::numeric_limits<float>::infinity() && before(a, best)) best = a;
    return best.id;
  }

  // Reorders cands_ (whose logit field holds unnormalised probabilities) so that its first m
  // entries are the m most likely (in the (p desc, id asc) order) with the smallest m whose mass
  // reaches `target`; returns m. Quickselect on mass: partition around a pivot, keep the side
  // that holds the boundary. Expected O(n), versus O(n log n) for sorting 200k candidates when the
  // distribution is flat and the nucleus is most of the vocabulary.
  std::size_t nucleus(double target) {
    std::size_t lo = 0, hi = cands_.size();  // [0, lo) is in the nucleus; the boundary is in [lo, hi)
    double need = target;
    while (hi - lo > 32) {
      const Candidate& a = cands_[lo];
      const Candidate& b = cands_[lo + (hi - lo) / 2];
      const Candidate& c = cands_[hi - 1];
      const Candidate pivot = before(a, b) ? (before(b, c) ? b : (before(a, c) ? c : a))
                                           : (before(a, c) ? a : (before(b, c) ? c : b));
      // [lo, i): strictly more likely than the pivot
      std::size_t i = lo;
      double mass = 0.0;
      for (std::size_t j = lo; j < hi; ++j) {
        if (before(cands_[j], pivot)) {
          std::swap(cands_[i], cands_[j]);
          mass += cands_[i].logit;
          ++i;
        }
      }
      if (mass >= need) {
        hi = i;  // the boundary is among the more likely ones (i < hi: the pivot is not among them)
      } else if (i == lo) {
        // the pivot is the most likely in [lo, hi): take it
        for (std::size_t j = lo; j < hi; ++j)
          if (cands_[j].id == pivot.id) { std::swap(cands_[lo], cands_[j]); break; }
        need -= cands_[lo].logit;
        ++lo;
        if (need <= 0.0) return lo;
      } else {
        need -= mass;
        lo = i;
      }
    }
    std::sort(cands_.begin() + static_cast<std::ptrdiff_t>(lo), cands_.begin() + static_cast<std::ptrdiff_t>(hi), before);
    double acc = 0.0;
    for (std::size_t k = lo; k < hi; ++k) {
      acc += cands_[k].logit;
      if (acc >= need) return k + 1;
    }
    return hi;
  }

  std::int32_t draw(std::span<const float> logits, const TokenMask* allowed) {
    const auto n = static_cast<std::int32_t>(logits.size());
    const bool sparse = !adjusted_.empty();
    const float inv_t = 1.0f / config_.temperature;

    // Pass 1: the max (after the mask and adjustments).
    float max_l = -std::numeric_limits<float>::infinity();
    auto visit = [&](auto&& fn) {
      if (!allowed) {
        for (std::int32_t i = 0; i < n; ++i)
          if (!(sparse && is_adjusted_[static_cast<std::size_t>(i)])) fn(i, logits[static_cast<std::size_t>(i)]);
      } else {
        for (std::size_t w = 0; w < allowed->words.size(); ++w) {
          std::uint64_t bits = allowed->words[w];
          while (bits) {
            const auto i = static_cast<std::int32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
            bits &= bits - 1;
            if (i >= n) break;
            if (!(sparse && is_adjusted_[static_cast<std::size_t>(i)])) fn(i, logits[static_cast<std::size_t>(i)]);
          }
        }
      }
      for (const auto& a : adjusted_)
        if (allowed_id(allowed, a.id)) fn(a.id, a.logit);
    };
    const bool dense = !allowed && !sparse;  // the common case: plain loops the compiler vectorizes
    const float* L = logits.data();
    if (dense) {
      for (std::int32_t i = 0; i < n; ++i) max_l = L[i] > max_l ? L[i] : max_l;
    } else {
      visit([&](std::int32_t, float l) { if (l > max_l) max_l = l; });
    }
    if (!(max_l > -std::numeric_limits<float>::infinity())) return -1;

    // Pass 2: the candidates within 30 nats (after temperature) of the max.
    const float floor_l = max_l - 30.0f * config_.temperature;
    if (dense) {
      cands_.resize(static_cast<std::size_t>(n));
      std::size_t m = 0;
      for (std::int32_t i = 0; i < n; ++i) {
        cands_[m] = {i, L[i]};
        m += L[i] >= floor_l ? 1u : 0u;
      }
      cands_.resize(m);
    } else {
      cands_.clear();
      visit([&](std::int32_t i, float l) { if (l >= floor_l) cands_.push_back({i, l}); });
    }

    // Top-k: partial selection of the k best.
    std::size_t m = cands_.size();
    if (config_.top_k > 0 && static_cast<std::size_t>(config_.top_k) < m) {
      m = static_cast<std::size_t>(config_.top_k);
      std::nth_element(cands_.begin(), cands_.begin() + static_cast<std::ptrdiff_t>(m) - 1, cands_.end(), before);
      cands_.resize(m);
      // nth_element leaves an implementation-defined order: sort the k so the draw is portable.
      std::sort(cands_.begin(), cands_.end(), before);
    }

    // Softmax numerators (temperature applied), kept in the logit field from here on. In blocks
    // through a contiguous buffer, so the exp loop vectorizes (no reduction in it), and summed with
    // independent accumulators: a single in-order double sum over 200k candidates is bound by the
    // add latency and cost more than the exps. Same code, same order: the same z everywhere.
    double z = exponentiate(max_l, inv_t);

    // Min-p: relative to the most likely survivor (whose numerator is exp(0) = 1).
    if (config_.min_p > 0.0f) {
      const float thr = config_.min_p;
      auto end = std::remove_if(cands_.begin(), cands_.end(), [&](const Candidate& c) { return c.logit < thr; });
      cands_.erase(end, cands_.end());
      z = 0.0;
      for (std::size_t b = 0; b < cands_.size(); b += kBlock) z += sum_numerators(b, std::min(cands_.size(), b + kBlock));
    }

    // Top-p: move the nucleus to the front in expected linear time.
    if (config_.top_p < 1.0f) cands_.resize(nucleus(static_cast<double>(config_.top_p) * z));
    // The draw walks the survivors in array order, which only phial's own code decided: the same
    // on every platform.

    // The draw: block sums first (kBlock candidates each), then the walk inside the block u falls in.
    const std::size_t m_all = cands_.size();
    block_sums_.clear();
    double mass = 0.0;
    for (std::size_t b = 0; b < m_all; b += kBlock) {
      block_sums_.push_back(sum_numerators(b, std::min(m_all, b + kBlock)));
      mass += block_sums_.back();
    }
    const double u = rng_.uniform01() * mass;
    double acc = 0.0;
    for (std::size_t k = 0; k < block_sums_.size(); ++k) {
      if (u < acc + block_sums_[k] || k + 1 == block_sums_.size()) {
        const std::size_t e = std::min(m_all, (k + 1) * kBlock);
        for (std::size_t i = k * kBlock; i < e; ++i) {
          acc += cands_[i].logit;
          if (u < acc) return cands_[i].id;
        }
        return cands_[e - 1].id;  // rounding: u landed on the block's end
      }
      acc += block_sums_[k];
    }
    return cands_.back().id;
  }

  static constexpr std::size_t kBlock = 256;

  // Sum of cands_[b, e).logit: float partial sums of four interleaved chains (e - b <= kBlock
  // numerators in (0, 1], relative error ~1e-5, irrelevant for a draw), then double.
  double sum_numerators(std::size_t b, std::size_t e) const {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    std::size_t i = b;
    for (; i + 4 <= e; i += 4) {
      s0 += cands_[i].logit;
      s1 += cands_[i + 1].logit;
      s2 += cands_[i + 2].logit;
      s3 += cands_[i + 3].logit;
    }
    for (; i < e; ++i) s0 += cands_[i].logit;
    return static_cast<double>((s0 + s1) + (s2 + s3));
  }

  // Replaces every candidate's logit by exp((logit - max_l) * inv_t); returns their sum.
  double exponentiate(float max_l, float inv_t) {
    float buf[kBlock];
    double z = 0.0;
    const std::size_t m = cands_.size();
    for (std::size_t b = 0; b < m; b += kBlock) {
      const std::size_t len = std::min(kBlock, m - b);
      Candidate* c = cands_.data() + b;
      for (std::size_t i = 0; i < len; ++i) buf[i] = detail::clamp_exp_arg((c[i].logit - max_l) * inv_t);
      for (std::size_t i = 0; i < len; ++i) buf[i] = detail::exp_nonpositive_core(buf[i]);  // vectorized
      for (std::size_t i = 0; i < len; ++i) c[i].logit = buf[i];
      z += sum_numerators(b, b + len);
    }
    return z;
  }

  SamplerConfig config_;
  Rng rng_;
  std::deque<std::int32_t> history_;
  std::unordered_map<std::int32_t, std::int32_t> counts_;
  std::vector<Candidate> adjusted_;
  std::vector<std::uint8_t> is_adjusted_;  // (vocab) 1 where adjusted_ holds the id's logit
  std::vector<Candidate> cands_;
  std::vector<double> block_sums_;  // the draw's per-block masses
};

}  // namespace phial
