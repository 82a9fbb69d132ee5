// The executor (forward pass, KV cache, LongRoPE policy, sessions):
//  1. synthetic models of unusual shapes against a naive float64 forward pass written in this file
//     straight from transformers' modeling_phi3.py semantics (spec §2), and
//  2. the golden models (tests/data/golden, reference logits from an independent float64
//     implementation) through every GGUF and safetensors file, whole prompt and token by token.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include <phial/model/executor.hpp>
#include <phial/model/model.hpp>

#include <catch2/catch.hpp>

namespace {

// ---------------------------------------------------------------------------------------------
// A synthetic Phi-3-architecture model with f32 weights held in vectors.

struct SyntheticModel {
  phial::ModelConfig config;
  phial::ModelWeights weights;
  std::vector<std::vector<float>> storage;  // keeps every tensor's floats alive

  phial::TensorView tensor(const std::string& name, std::int64_t ne0, std::int64_t ne1, std::mt19937& rng,
                           float scale, float mean = 0.0f) {
    std::normal_distribution<float> dist(mean, scale);
    storage.emplace_back(static_cast<std::size_t>(ne0 * ne1));
    for (auto& x : storage.back()) x = dist(rng);
    phial::TensorView t;
    t.name = name;
    t.type = phial::TensorType::F32;
    t.n_dims = ne1 == 1 ? 1 : 2;
    t.ne = {ne0, ne1, 1, 1};
    t.data = reinterpret_cast<const std::byte*>(storage.back().data());
    t.nbytes = storage.back().size() * sizeof(float);
    return t;
  }
};

struct Shape {
  int hidden, intermediate, layers, heads, kv_heads, head_dim, rotary_dim, vocab;
  bool longrope, tied;
  std::int64_t original_context;
  float mscale;
};

std::unique_ptr<SyntheticModel> make_model(const Shape& s, unsigned seed) {
  auto m = std::make_unique<SyntheticModel>();
  std::mt19937 rng(seed);
  auto& c = m->config;
  c.hidden_size = s.hidden;
  c.intermediate_size = s.intermediate;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.rotary_dim = s.rotary_dim;
  c.vocab_size = s.vocab;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.max_position_embeddings = 256;
  c.tie_word_embeddings = s.tied;
  if (s.longrope) {
    c.original_max_position_embeddings = s.original_context;
    for (int i = 0; i < s.rotary_dim / 2; ++i) {
      c.rope_short_factors.push_back(1.0f + 0.1f * float(i));
      c.rope_long_factors.push_back(1.0f + 3.0f * float(i * i));
    }
    c.rope_attn_factor = s.mscale;
  }
  const float w = 1.0f / std::sqrt(float(s.hidden));
  auto& W = m->weights;
  W.token_embd = m->tensor("token_embd.weight", s.hidden, s.vocab, rng, 1.0f);
  W.output_norm = m->tensor("output_norm.weight", s.hidden, 1, rng, 0.2f, 1.0f);
  W.output = s.tied ? W.token_embd : m->tensor("output.weight", s.hidden, s.vocab, rng, 2.0f * w);
  const int qkv = (s.heads + 2 * s.kv_heads) * s.head_dim;
  for (int l = 0; l < s.layers; ++l) {
    phial::LayerWeights lw;
    const std::string p = "blk." + std::to_string(l) + ".";
    lw.attn_norm = m->tensor(p + "attn_norm.weight", s.hidden, 1, rng, 0.2f, 1.0f);
    lw.attn_qkv = m->tensor(p + "attn_qkv.weight", s.hidden, qkv, rng, 2.0f * w);
    lw.attn_output = m->tensor(p + "attn_output.weight", s.heads * s.head_dim, s.hidden, rng, w);
    lw.ffn_norm = m->tensor(p + "ffn_norm.weight", s.hidden, 1, rng, 0.2f, 1.0f);
    lw.ffn_up = m->tensor(p + "ffn_up.weight", s.hidden, 2 * s.intermediate, rng, 2.0f * w);
    lw.ffn_down = m->tensor(p + "ffn_down.weight", s.intermediate, s.hidden, rng, w);
    W.layers.push_back(lw);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Naive float64 reference of modeling_phi3.py: returns logits (T, V) of every position of `ids`,
// evaluated in ONE forward call with the given factors (long_factors ignored without LongRoPE).

using Mat = std::vector<double>;

Mat as_double(const phial::TensorView& t) {
  const float* f = reinterpret_cast<const float*>(t.data);
  return Mat(f, f + t.elements());
}

// y (T, rows) = x (T, K) · W^T with W ne {K, rows}
Mat linear(const Mat& x, std::int64_t T, const phial::TensorView& W) {
  const std::int64_t K = W.ne[0], R = W.ne[1];
  const Mat w = as_double(W);
  Mat y(std::size_t(T * R), 0.0);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t r = 0; r < R; ++r) {
      double acc = 0;
      for (std::int64_t k = 0; k < K; ++k) acc += x[t * K + k] * w[r * K + k];
      y[t * R + r] = acc;
    }
  return y;
}

Mat rmsnorm(const Mat& x, std::int64_t T, std::int64_t H, const phial::TensorView& weight, double eps) {
  const Mat w = as_double(weight);
  Mat y(x.size());
  for (std::int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (std::int64_t i = 0; i < H; ++i) ss += x[t * H + i] * x[t * H + i];
    const double r = 1.0 / std::sqrt(ss / double(H) + eps);
    for (std::int64_t i = 0; i < H; ++i) y[t * H + i] = w[i] * (x[t * H + i] * r);
  }
  return y;
}

Mat reference_forward(const SyntheticModel& m, const std::vector<std::int32_t>& ids, bool long_factors) {
  const auto& c = m.config;
  const auto& W = m.weights;
  const std::int64_t T = std::int64_t(ids.size()), H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const std::int64_t nH = c.n_heads, nKV = c.n_kv_heads, rot = c.rotary_dim, V = W.output.ne[1];
  // embed
  const Mat E = as_double(W.token_embd);
  Mat x(std::size_t(T * H));
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t i = 0; i < H; ++i) x[t * H + i] = E[ids[std::size_t(t)] * H + i];
  // rotary: emb = cat(freqs, freqs), cos/sin times mscale
  const bool use_long = c.has_longrope() && long_factors;
  const double mscale = c.has_longrope() ? c.rope_attn_factor : 1.0;
  auto rope = [&](double* v, std::int64_t pos) {
    std::vector<double> out(static_cast<std::size_t>(hd));
    for (std::int64_t j = 0; j < hd; ++j) out[j] = v[j];
    for (std::int64_t j = 0; j < rot; ++j) {
      const std::int64_t i = j % (rot / 2);
      double factor = 1.0;
      if (c.has_longrope()) factor = use_long ? c.rope_long_factors[i] : c.rope_short_factors[i];
      const double angle = double(pos) / (factor * std::pow(double(c.rope_theta), double(2 * i) / double(rot)));
      const double rotated = j < rot / 2 ? -v[j + rot / 2] : v[j - rot / 2];  // rotate_half
      out[j] = v[j] * std::cos(angle) * mscale + rotated * std::sin(angle) * mscale;
    }
    for (std::int64_t j = 0; j < hd; ++j) v[j] = out[j];
  };
  const std::int64_t qkv_dim = (nH + 2 * nKV) * hd;
  for (const auto& lw : W.layers) {
    Mat h = rmsnorm(x, T, H, lw.attn_norm, c.rms_norm_eps);
    Mat qkv = linear(h, T, lw.attn_qkv);
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t head = 0; head < nH; ++head) rope(&qkv[t * qkv_dim + head * hd], t);
      for (std::int64_t g = 0; g < nKV; ++g) rope(&qkv[t * qkv_dim + nH * hd + g * hd], t);
    }
    Mat attn(std::size_t(T * nH * hd), 0.0);
    for (std::int64_t head = 0; head < nH; ++head) {
      const std::int64_t g = head / (nH / nKV);  // repeat_kv
      for (std::int64_t t = 0; t < T; ++t) {
        std::vector<double> s(std::size_t(t + 1));
        double mx = -1e300;
        for (std::int64_t u = 0; u <= t; ++u) {
          double dot = 0;
          for (std::int64_t d = 0; d < hd; ++d)
            dot += qkv[t * qkv_dim + head * hd + d] * qkv[u * qkv_dim + nH * hd + g * hd + d];
          s[u] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[u]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::int64_t u = 0; u <= t; ++u)
          for (std::int64_t d = 0; d < hd; ++d)
            attn[t * nH * hd + head * hd + d] += s[u] / sum * qkv[u * qkv_dim + (nH + nKV) * hd + g * hd + d];
      }
    }
    Mat o = linear(attn, T, lw.attn_output);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = rmsnorm(x, T, H, lw.ffn_norm, c.rms_norm_eps);
    Mat gu = linear(h, T, lw.ffn_up);
    Mat a(std::size_t(T * I));
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < I; ++i) {
        const double gate = gu[t * 2 * I + i], up = gu[t * 2 * I + I + i];
        a[t * I + i] = up * gate / (1.0 + std::exp(-gate));
      }
    Mat d = linear(a, T, lw.ffn_down);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += d[i];
  }
  Mat xn = rmsnorm(x, T, H, W.output_norm, c.rms_norm_eps);
  Mat logits = linear(xn, T, W.output);
  REQUIRE(logits.size() == std::size_t(T * V));
  return logits;
}

// max |a - b| / max |b| over rows [row0, row0 + n) of b (width V) against a.
double rel_dev(const float* a, const double* b, std::size_t n) {
  double dev = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dev = std::max(dev, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return dev / scale;
}

std::vector<std::int32_t> random_ids(int n, int vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, vocab - 1);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& x : ids) x = d(rng);
  return ids;
}

// Partial rotary, GQA 3:1, head_dim * heads != hidden, LongRoPE with an original context of 5.
const Shape kOddShape{48, 40, 2, 6, 2, 12, 8, 64, true, true, 5, 1.3f};
// Plain RoPE, full rotary, multi-head (nKV == nH), separate lm head.
const Shape kPlainShape{32, 24, 3, 4, 4, 8, 8, 50, false, false, 0, 1.0f};

}  // namespace

TEST_CASE("synthetic models: whole-prompt logits match the float64 reference") {
  // 13 tokens attend one query at a time; 40 (chunks of 40 or 20) go through the tiled prefill
  // attention (32-token tiles, a second chunk's tiles starting at position 20).
  for (const Shape& shape : {kOddShape, kPlainShape}) {
    auto m = make_model(shape, 11);
    for (int n : {13, 40}) {
      const auto ids = random_ids(n, shape.vocab, 3);
      const Mat ref = reference_forward(*m, ids, /*long_factors=*/true);  // n > 5: long for all positions
      for (std::int64_t max_batch : {256, 20, 4, 1}) {  // one chunk, several chunks, token by token prefill
        CAPTURE(n, max_batch);
        phial::Executor exec(m->config, m->weights, {.threads = 2, .kv_capacity = 64, .max_batch = max_batch});
        phial::Session s(exec);
        const auto all = s.eval_all(ids);
        REQUIRE(all.size() == ref.size());
        CHECK(rel_dev(all.data(), ref.data(), ref.size()) < 1e-5);
        CHECK(s.size() == ids.size());
      }
    }
  }
}

TEST_CASE("synthetic LongRoPE model: token-by-token decode switches factors like transformers") {
  auto m = make_model(kOddShape, 5);
  const auto ids = random_ids(12, kOddShape.vocab, 9);
  const auto V = static_cast<std::size_t>(kOddShape.vocab);
  phial::Executor exec(m->config, m->weights, {.threads = 2, .kv_capacity = 32});
  phial::Session hf(exec);
  phial::Session always_long(exec, {.kv_capacity = 32, .rope_policy = phial::RopePolicy::always_long});
  for (std::size_t L = 1; L <= ids.size(); ++L) {
    const std::vector<std::int32_t> prefix(ids.begin(), ids.begin() + std::ptrdiff_t(L));
    // transformers: short factors while L <= original context (5), long (recomputed) after.
    const Mat ref_hf = reference_forward(*m, prefix, L > 5);
    const Mat ref_long = reference_forward(*m, prefix, true);
    auto a = hf.eval(std::span(&ids[L - 1], 1));
    CHECK(rel_dev(a.data(), ref_hf.data() + (L - 1) * V, V) < 1e-5);
    CHECK(hf.uses_long_factors() == (L > 5));
    auto b = always_long.eval(std::span(&ids[L - 1], 1));
    CHECK(rel_dev(b.data(), ref_long.data() + (L - 1) * V, V) < 1e-5);
  }
  CHECK(hf.recomputed_tokens() == 5);  // the 5 short-encoded positions, once
  CHECK(always_long.recomputed_tokens() == 0);
  // The short and long encodings really differ (otherwise the test above proves nothing).
  const std::vector<std::int32_t> five(ids.begin(), ids.begin() + 5);
  const Mat s5 = reference_forward(*m, five, false), l5 = reference_forward(*m, five, true);
  std::vector<float> s5f(s5.begin(), s5.end());
  CHECK(rel_dev(s5f.data(), l5.data(), l5.size()) > 1e-2);
}

TEST_CASE("prefill that crosses the boundary, truncate and rewind") {
  auto m = make_model(kOddShape, 21);
  const auto V = static_cast<std::size_t>(kOddShape.vocab);
  const auto ids = random_ids(10, kOddShape.vocab, 4);
  phial::Executor exec(m->config, m->weights, {.threads = 1, .kv_capacity = 16});
  const Mat ref = reference_forward(*m, ids, true);
  for (std::int64_t max_batch : {256, 2}) {
    phial::Session chunked(exec, {.kv_capacity = 16, .max_batch = max_batch});
    chunked.eval(std::span(ids.data(), 3));                      // short
    auto rows = chunked.eval_all(std::span(ids.data() + 3, 7));  // 10 > 5: everything recomputed long
    REQUIRE(rows.size() == 7 * V);
    CHECK(rel_dev(rows.data(), ref.data() + 3 * V, 7 * V) < 1e-5);
    CHECK(chunked.recomputed_tokens() == 3);
  }
  phial::Session s(exec);
  s.eval(std::span(ids.data(), 3));
  s.eval(std::span(ids.data() + 3, 7));

  // Rewind to 2 tokens and continue differently: as a fresh session would (short again: 4 <= 5).
  s.truncate(2);
  CHECK(s.size() == 2);
  const std::vector<std::int32_t> other{7, 8};
  auto last = s.eval(other);
  const std::vector<std::int32_t> fresh{ids[0], ids[1], 7, 8};
  const Mat ref2 = reference_forward(*m, fresh, false);
  CHECK(rel_dev(last.data(), ref2.data() + 3 * V, V) < 1e-5);
  s.truncate(100);  // no-op
  CHECK(s.size() == 4);
}

TEST_CASE("KV cache capacity, bad ids and bad options are InvalidArgument, leaving the session usable") {
  auto m = make_model(kPlainShape, 2);
  const auto V = static_cast<std::size_t>(kPlainShape.vocab);
  phial::Executor exec(m->config, m->weights, {.threads = 1, .kv_capacity = 6});
  phial::Session s(exec);
  CHECK(s.capacity() == 6);
  const auto ids = random_ids(7, kPlainShape.vocab, 8);
  s.eval(std::span(ids.data(), 4));
  CHECK_THROWS_AS(s.eval(std::span(ids.data() + 4, 3)), phial::InvalidArgument);  // 7 > 6
  CHECK(s.size() == 4);
  const std::vector<std::int32_t> bad{1, kPlainShape.vocab};
  CHECK_THROWS_AS(s.eval(bad), phial::InvalidArgument);
  const std::vector<std::int32_t> negative{-1};
  CHECK_THROWS_AS(s.eval(negative), phial::InvalidArgument);
  CHECK_THROWS_AS(s.eval({}), phial::InvalidArgument);
  CHECK(s.size() == 4);
  auto last = s.eval(std::span(ids.data() + 4, 2));  // exactly at capacity
  const std::vector<std::int32_t> six(ids.begin(), ids.begin() + 6);
  const Mat ref = reference_forward(*m, six, false);
  CHECK(rel_dev(last.data(), ref.data() + 5 * V, V) < 1e-5);
  CHECK_THROWS_AS(s.eval(std::span(ids.data(), 1)), phial::InvalidArgument);

  CHECK_THROWS_AS(phial::Executor(m->config, m->weights, {.max_batch = 0}), phial::InvalidArgument);
  CHECK_THROWS_AS(phial::Session(exec, {.kv_capacity = -1}), phial::InvalidArgument);
}

TEST_CASE("16-bit KV cache stays close to the reference and halves the memory") {
  auto m = make_model(kOddShape, 8);
  const auto ids = random_ids(12, kOddShape.vocab, 5);
  phial::Executor exec(m->config, m->weights, {.threads = 2, .kv_capacity = 32});
  phial::Session f32(exec), f16(exec, {.kv_capacity = 32, .kv_f16 = true});
  CHECK(f16.kv_bytes() * 2 == f32.kv_bytes());
  const Mat ref = reference_forward(*m, ids, true);
  const auto a = f32.eval_all(ids);
  const auto b = f16.eval_all(ids);
  const double dev16 = rel_dev(b.data(), ref.data(), ref.size());
  CHECK(dev16 < 2e-3);                                  // half precision: ~2^-11 relative per element
  CHECK(dev16 > rel_dev(a.data(), ref.data(), ref.size()));  // the rounding is really there
}

TEST_CASE("sessions sharing one executor run concurrently") {
  auto m = make_model(kOddShape, 13);
  const auto V = static_cast<std::size_t>(kOddShape.vocab);
  phial::Executor exec(m->config, m->weights, {.threads = 2, .kv_capacity = 32});
  const auto ids1 = random_ids(9, kOddShape.vocab, 1), ids2 = random_ids(9, kOddShape.vocab, 2);
  const Mat r1 = reference_forward(*m, ids1, true), r2 = reference_forward(*m, ids2, true);
  double d1 = 1, d2 = 1;
  std::thread t1([&] {
    phial::Session s(exec);
    std::span<const float> last;
    for (auto id : ids1) last = s.eval(std::span(&id, 1));  // decode path, long once past 5 tokens
    d1 = rel_dev(last.data(), r1.data() + (ids1.size() - 1) * V, V);
  });
  std::thread t2([&] {
    phial::Session s(exec);
    d2 = rel_dev(s.eval_all(ids2).data(), r2.data(), r2.size());
  });
  t1.join();
  t2.join();
  CHECK(d1 < 1e-5);
  CHECK(d2 < 1e-5);
}

TEST_CASE("weights that do not match the config are a FormatError naming the tensor") {
  auto m = make_model(kPlainShape, 3);
  m->weights.layers[1].attn_qkv.ne[1] -= 1;
  try {
    phial::Executor exec(m->config, m->weights);
    FAIL("expected FormatError");
  } catch (const phial::FormatError& e) {
    CHECK(std::string(e.what()).find("blk.1.attn_qkv.weight") != std::string::npos);
  }
  auto m2 = make_model(kOddShape, 3);
  m2->config.rope_long_factors.pop_back();
  CHECK_THROWS_AS(phial::Executor(m2->config, m2->weights), phial::FormatError);
}

// ---------------------------------------------------------------------------------------------
// Golden models (tests/data/golden/README.md).

namespace {

const std::filesystem::path kGolden = std::filesystem::path(PHIAL_TEST_DATA_DIR) / "golden";

std::vector<float> read_f32_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  in.seekg(0, std::ios::end);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  std::vector<float> v(bytes / sizeof(float));
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  return v;
}

struct GoldenReference {
  std::vector<std::int32_t> prompt, greedy;
  std::vector<double> margins;
  double logit_scale = 0, llama_cpp_dev = 0;
  std::size_t vocab = 0;
  std::vector<float> logits, steps;  // (prompt, vocab) each
};

GoldenReference load_reference(const std::string& model, const std::string& fmt) {
  const auto dir = kGolden / model / "reference";
  std::ifstream in(dir / (fmt + ".json"));
  REQUIRE(in.good());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto json = boost::json::parse(text).as_object();
  GoldenReference r;
  for (const auto& v : json.at("prompt_ids").as_array()) r.prompt.push_back(std::int32_t(v.to_number<std::int64_t>()));
  for (const auto& v : json.at("greedy_ids").as_array()) r.greedy.push_back(std::int32_t(v.to_number<std::int64_t>()));
  for (const auto& v : json.at("greedy_top2_margins").as_array()) r.margins.push_back(v.to_number<double>());
  r.logit_scale = json.at("logit_scale").to_number<double>();
  r.llama_cpp_dev = json.at("llama_cpp_rel_max_abs_dev").to_number<double>();
  r.vocab = std::size_t(json.at("n_vocab").to_number<std::int64_t>());
  r.logits = read_f32_file(dir / (fmt + ".logits.f32"));
  r.steps = read_f32_file(dir / (fmt + ".steps.f32"));
  REQUIRE(r.logits.size() == r.prompt.size() * r.vocab);
  REQUIRE(r.steps.size() == r.prompt.size() * r.vocab);
  return r;
}

// The README's tolerance: f32 1e-5, f16/bf16 1e-4, quantized 1.5 x llama.cpp's own deviation.
double golden_tolerance(const std::string& fmt, const GoldenReference& r) {
  if (fmt == "f32") return 1e-5;
  if (fmt == "f16" || fmt == "bf16") return 1e-4;
  return 1.5 * r.llama_cpp_dev;
}

double golden_dev(const float* got, const float* ref, std::size_t n, double logit_scale) {
  double dev = 0;
  for (std::size_t i = 0; i < n; ++i) dev = std::max(dev, std::abs(double(got[i]) - double(ref[i])));
  return dev / logit_scale;
}

struct GoldenFile {
  std::string model, fmt, file;  // file relative to tests/data/golden/<model>/
};

std::vector<GoldenFile> golden_files() {
  std::vector<GoldenFile> files;
  for (const std::string model : {"mini-tiny", "phi4-tiny"}) {
    for (const std::string fmt : {"f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q4_k", "q4_0", "q4_k_m"})
      files.push_back({model, fmt, model + "-" + fmt + ".gguf"});
    files.push_back({model, "f32", "hf-f32"});
    files.push_back({model, "bf16", "hf-bf16"});
  }
  return files;
}

}  // namespace

TEST_CASE("golden models: every file, whole prompt and token by token, within the README tolerances") {
  std::printf("%-10s %-22s %12s %12s %12s %12s  %s\n", "model", "file", "dev logits", "dev steps", "f32 prefill",
              "tolerance", "greedy checked");
  int tested = 0;
  for (const GoldenFile& g : golden_files()) {
    const auto path = kGolden / g.model / g.file;
    if (!std::filesystem::exists(path)) {
      // tests/data keeps a subset (README: the f32/bf16 GGUFs hold the same weights as hf-f32/hf-bf16).
      std::printf("%-10s %-22s (not in tests/data, skipped)\n", g.model.c_str(), g.file.c_str());
      continue;
    }
    INFO(g.model << "/" << g.file);
    const GoldenReference ref = load_reference(g.model, g.fmt);
    const double tol = golden_tolerance(g.fmt, ref);
    REQUIRE(tol > 0);
    auto model = phial::Model::load(path);
    phial::ModelWeights weights = model.weights();
    std::optional<phial::Model> f32_model;
    if (g.file == "hf-bf16") {
      // Known inconsistency of the golden data: hf-bf16 stores the RMSNorm weights rounded to bf16,
      // but reference/bf16 was computed from the bf16 GGUF, whose 1-D tensors are f32 (unrounded).
      // No executor can recover those bits, so the bf16 matrices are checked with the norms taken
      // from hf-f32 (identical to the GGUF's f32 norms); the file as stored is reported separately.
      f32_model = phial::Model::load(kGolden / g.model / "hf-f32");
      const auto& f = f32_model->weights();
      phial::Executor as_stored(model, {.threads = 2, .kv_capacity = std::int64_t(ref.prompt.size())});
      phial::Session s(as_stored);
      const auto all = s.eval_all(ref.prompt);
      const double dev_stored = golden_dev(all.data(), ref.logits.data(), all.size(), ref.logit_scale);
      std::printf("%-10s %-22s %12.3e %12s %12s %12s  (bf16-rounded norms as stored)\n", g.model.c_str(),
                  g.file.c_str(), dev_stored, "-", "-", "-");
      CHECK(dev_stored < 0.02);  // what bf16 rounding of the norm weights (2^-9 relative) amounts to
      weights.output_norm = f.output_norm;
      for (std::size_t l = 0; l < weights.layers.size(); ++l) {
        weights.layers[l].attn_norm = f.layers[l].attn_norm;
        weights.layers[l].ffn_norm = f.layers[l].ffn_norm;
      }
    }
    phial::Executor exec(model.config(), weights,
                         {.threads = 2, .kv_capacity = std::int64_t(ref.prompt.size() + ref.greedy.size())});
    REQUIRE(std::size_t(exec.vocab_size()) == ref.vocab);
    const std::size_t n = ref.prompt.size(), V = ref.vocab;

    // Whole prompt in one call (mini-tiny: 48 > 32 tokens -> long factors everywhere).
    phial::Session whole(exec);
    const auto all = whole.eval_all(ref.prompt);
    const double dev_logits = golden_dev(all.data(), ref.logits.data(), n * V, ref.logit_scale);

    // The same with PrefillMath::f32 (differs from the above where the int8 GEMM ran: q4_0, q4_k, q4_k_m).
    phial::Executor exec_f32(model.config(), weights,
                             {.threads = 2, .kv_capacity = std::int64_t(n), .prefill_math = phial::ops::PrefillMath::f32});
    phial::Session whole_f32(exec_f32);
    const auto all_f32 = whole_f32.eval_all(ref.prompt);
    const double dev_f32 = golden_dev(all_f32.data(), ref.logits.data(), n * V, ref.logit_scale);
    CHECK(dev_f32 <= tol);

    // Token by token through the decode path (short factors up to 32 tokens, then recomputed long).
    phial::Session step(exec);
    double dev_steps = 0;
    for (std::size_t L = 1; L <= n; ++L) {
      const auto row = step.eval(std::span(&ref.prompt[L - 1], 1));
      dev_steps = std::max(dev_steps, golden_dev(row.data(), ref.steps.data() + (L - 1) * V, V, ref.logit_scale));
    }
    CHECK(dev_logits <= tol);
    CHECK(dev_steps <= tol);

    // Greedy continuation of the whole-prompt session, up to the first step whose reference margin
    // is below 2 x dev x logit_scale (there rounding may legitimately flip the choice).
    const double dev = std::max(dev_logits, dev_steps);
    std::span<const float> logits(all.data() + (n - 1) * V, V);
    std::size_t checked = 0;
    for (std::size_t k = 0; k < ref.greedy.size(); ++k) {
      if (ref.margins[k] < 2 * dev * ref.logit_scale) break;
      const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
      CHECK(best == ref.greedy[k]);
      if (best != ref.greedy[k]) break;
      ++checked;
      logits = whole.eval(std::span(&ref.greedy[k], 1));
    }
    std::printf("%-10s %-22s %12.3e %12.3e %12.3e %12.3e  %zu/%zu%s\n", g.model.c_str(), g.file.c_str(), dev_logits,
                dev_steps, dev_f32, tol, checked, ref.greedy.size(), f32_model ? "  (norms from hf-f32)" : "");
    ++tested;
  }
  CHECK(tested >= 18);  // both models: 7+ GGUFs and 2 safetensors directories each
}

TEST_CASE("phial logits writes the golden logits, whole prompt and --step") {
  const auto bin = std::filesystem::path(PHIAL_BINARY_DIR) / "bin" / "phial";
  if (!std::filesystem::exists(bin)) {
    WARN("the phial CLI is not built; skipping");
    return;
  }
  const GoldenReference ref = load_reference("mini-tiny", "f32");
  std::string ids;
  for (std::int32_t id : ref.prompt) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const auto out = std::filesystem::temp_directory_path() / "phial-unit-executor-logits.f32";
  for (bool step : {false, true}) {
    INFO("--step " << step);
    const std::string cmd = "'" + bin.string() + "' logits --threads 2 --model '" +
                            (kGolden / "mini-tiny" / "hf-f32").string() + "' --ids " + ids + " --out '" + out.string() +
                            "'" + (step ? " --step" : "") + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const auto got = read_f32_file(out);
    const auto& want = step ? ref.steps : ref.logits;
    REQUIRE(got.size() == want.size());
    CHECK(golden_dev(got.data(), want.data(), got.size(), ref.logit_scale) <= 1e-5);
  }
  std::filesystem::remove(out);
}
