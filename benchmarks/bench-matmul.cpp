// bench-matmul: kernel micro-benchmarks at Phi-4-mini shapes. One JSON object per line, medians.
//
//   bench-matmul [--threads N]... [--reps R] [--only membw|gemv|gemm|tiles] [--types q4_0,q8_0,...]
//
//  - membw: DRAM read bandwidth (sum of a 1 GiB buffer), the decode roofline.
//  - gemv:  one "decode token" through whole layers (qkv 5120x3072, o 3072x3072, gate_up 16384x3072,
//           down 3072x8192), enough layers that the weights are far larger than the L3; GB/s of weights
//           read and the fraction of the measured read bandwidth.
//  - gemm:  prefill GEMM (512 x 3072 activations times an 8192 x 3072 weight) through ops::matmul
//           (PrefillMath::f32: dequantized tiles + sgemm; and, for Q4_0/Q4_1/Q4_K on AVX2, the int8
//           GEMM) vs raw cblas_sgemm on f32 weights with OpenBLAS's own threads, and vs the other
//           threading strategy (pool dequantizes a tile in parallel, then one OpenBLAS-threaded sgemm
//           while the pool idles).
//  - tiles: ops::matmul's prefill tile size sweep.
#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <phial/backend/cpu.hpp>
#include <phial/backend/thread_pool.hpp>
#include <phial/ops/matmul.hpp>
#include <phial/ops/quant.hpp>

using phial::TensorType;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class F>
double seconds(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
std::uint64_t next_rand() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

// Random weights of `rows` x K in `type`; block scales set to small finite halves.
std::vector<std::byte> random_weights(TensorType type, std::int64_t rows, std::int64_t K) {
  const std::size_t n = static_cast<std::size_t>(phial::row_bytes(type, K) * rows);
  std::vector<std::byte> w(n);
  auto put_half = [](std::byte* p) {
    const std::uint16_t h = static_cast<std::uint16_t>(0x2000 | (next_rand() & 0x3ff));  // ~2^-7
    std::memcpy(p, &h, 2);
  };
  if (type == TensorType::F32) {
    for (std::size_t i = 0; i < n; i += 4) {
      const float f = static_cast<float>(static_cast<std::int32_t>(next_rand() & 0xffff) - 32768) * 1e-6f;
      std::memcpy(w.data() + i, &f, 4);
    }
    return w;
  }
  if (type == TensorType::F16) {
    for (std::size_t i = 0; i < n; i += 2) put_half(w.data() + i);
    return w;
  }
  if (type == TensorType::BF16) {
    for (std::size_t i = 0; i < n; i += 2) {
      const std::uint16_t b = static_cast<std::uint16_t>(0x3c00 | (next_rand() & 0x7f));
      std::memcpy(w.data() + i, &b, 2);
    }
    return w;
  }
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t r = next_rand();
    std::memcpy(w.data() + i, &r, std::min<std::size_t>(8, n - i));
  }
  const auto info = phial::tensor_type_info(type);
  for (std::size_t off = 0; off < n; off += static_cast<std::size_t>(info.block_bytes)) {
    std::byte* b = w.data() + off;
    switch (type) {
      case TensorType::Q4_1:
      case TensorType::Q5_1:
      case TensorType::Q4_K:
      case TensorType::Q5_K:
        put_half(b);
        put_half(b + 2);
        break;
      case TensorType::Q6_K: put_half(b + 208); break;
      default: put_half(b); break;
    }
  }
  return w;
}

phial::TensorView view_of(TensorType type, const std::byte* data, std::size_t nbytes, std::int64_t K, std::int64_t rows) {
  phial::TensorView v;
  v.name = "bench";
  v.type = type;
  v.n_dims = 2;
  v.ne = {K, rows, 1, 1};
  v.data = data;
  v.nbytes = nbytes;
  return v;
}
phial::TensorView view_of(TensorType type, const std::vector<std::byte>& w, std::int64_t K, std::int64_t rows) {
  return view_of(type, w.data(), w.size(), K, rows);
}

// Memory as `phial bench --memory read` holds weights: anonymous, in 2 MiB pages where the kernel
// gives them. (On the Sapphire Rapids VM, 4 KiB pages streamed at 29-32 GB/s and 2 MiB pages at
// 33-35 on 2 threads; a std::vector gets 4 KiB pages under THP "madvise".)
class HugeBuffer {
 public:
  explicit HugeBuffer(std::size_t n) : n_(n) {
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(p, n, MADV_HUGEPAGE);
#endif
    p_ = static_cast<std::byte*>(p);
  }
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;
  ~HugeBuffer() { ::munmap(p_, n_); }
  std::byte* data() const { return p_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t n_ = 0;
};

// Not inlined: keeps the compiler from reasoning about the loop bounds across the pool call.
__attribute__((noinline)) std::uint64_t sum_range(const std::uint64_t* p, std::size_t len) {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  for (; i < len; ++i) a0 += p[i];
  return a0 + a1 + a2 + a3;
}

double membw(phial::ThreadPool& pool, int reps) {
  const std::size_t n = (std::size_t{1} << 30) / 8;
  HugeBuffer mem(n * 8);
  auto* buf = reinterpret_cast<std::uint64_t*>(mem.data());
  pool.parallel_for(static_cast<std::int64_t>(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) buf[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(i);
  });
  std::vector<double> gbs;
  std::vector<std::uint64_t> sinks(static_cast<std::size_t>(pool.size()) * 64);
  for (int r = 0; r < reps; ++r) {
    const double s = seconds([&] {
      pool.parallel_for(
          static_cast<std::int64_t>(n),
          [&](std::int64_t b, std::int64_t e) {
            const std::uint64_t sum = sum_range(buf + b, static_cast<std::size_t>(e - b));
            sinks[static_cast<std::size_t>(b % 64)] += sum;
          },
          1 << 20);
    });
    gbs.push_back(static_cast<double>(n * 8) / s / 1e9);
  }
  return median(gbs);
}

struct Shape {
  const char* name;
  std::int64_t rows, K;
};
// Phi-4-mini decoder layer: fused qkv, attention output, fused gate_up, down.
const Shape kLayer[] = {{"qkv", 5120, 3072}, {"o", 3072, 3072}, {"gate_up", 16384, 3072}, {"down", 3072, 8192}};

// Every SIMD level of this machine's decode kernels is timed on the same weights, the levels taking
// turns rep by rep (so drift in the shared machine's bandwidth hits them alike); one line per level.
void bench_gemv(TensorType type, phial::ThreadPool& pool, int reps, double bw) {
  std::int64_t layer_bytes = 0;
  for (auto& s : kLayer) layer_bytes += phial::row_bytes(type, s.K) * s.rows;
  // Enough layers for ~768 MiB of weights: 24x the L3 of this machine, so every byte comes from DRAM.
  const int n_layers = static_cast<int>(std::max<std::int64_t>(2, (768LL << 20) / layer_bytes));
  std::vector<std::unique_ptr<HugeBuffer>> mats;
  std::vector<phial::TensorView> views;
  for (int l = 0; l < n_layers; ++l)
    for (auto& s : kLayer) {
      const auto w = random_weights(type, s.rows, s.K);
      mats.push_back(std::make_unique<HugeBuffer>(w.size()));
      std::memcpy(mats.back()->data(), w.data(), w.size());
      views.push_back(view_of(type, mats.back()->data(), w.size(), s.K, s.rows));
    }
  std::vector<float> x(8192), y(16384);
  for (auto& v : x) v = static_cast<float>(static_cast<std::int64_t>(next_rand() % 2001) - 1000) * 1e-3f;
  namespace pd = phial::ops::detail;
  std::vector<pd::SimdLevel> levels;
  for (auto l : pd::available_simd_levels())
    if (l != pd::SimdLevel::scalar) levels.push_back(l);
  if (levels.empty()) levels.push_back(pd::SimdLevel::scalar);
  auto token = [&](pd::SimdLevel level) {
    for (auto& v : views) pd::matmul_gemv(v, x.data(), 1, y.data(), pool, level);
  };
  token(levels.back());  // warm-up (page faults)
  std::vector<std::vector<double>> secs(levels.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t l = 0; l < levels.size(); ++l) secs[l].push_back(seconds([&] { token(levels[l]); }));
  const double bytes = static_cast<double>(layer_bytes) * n_layers;
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const double s = median(secs[l]);
    std::printf(
        "{\"bench\": \"gemv\", \"type\": \"%s\", \"simd\": \"%s\", \"threads\": %d, \"layers\": %d, \"bytes\": %.0f, "
        "\"ms\": %.3f, \"gb_per_s\": %.2f, \"fraction_of_read_bw\": %.3f, \"phi4_mini_tok_per_s_estimate\": %.2f}\n",
        std::string(phial::tensor_type_info(type).name).c_str(), pd::simd_level_name(levels[l]), pool.size(), n_layers,
        bytes, s * 1e3, bytes / s / 1e9, bytes / s / 1e9 / bw, 1.0 / (s / n_layers * 32));
  }
  std::fflush(stdout);
}

// The alternative threading strategy: the pool dequantizes a big tile in parallel, then a single
// OpenBLAS-threaded sgemm runs while the pool waits.
void gemm_blas_threads(const phial::TensorView& W, const float* X, std::int64_t M, float* Y, phial::ThreadPool& pool,
                       std::vector<float>& tile, std::int64_t tile_rows) {
  const std::int64_t K = W.ne[0], N = W.rows();
  tile.resize(static_cast<std::size_t>(tile_rows * K));
  const std::size_t stride = W.row_stride();
  openblas_set_num_threads(pool.size());
  for (std::int64_t r0 = 0; r0 < N; r0 += tile_rows) {
    const std::int64_t nr = std::min(tile_rows, N - r0);
    pool.parallel_for(nr, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r)
        phial::ops::detail::dequant_row(W.type, W.row(r0 + r), tile.data() + r * K, K,
                                        phial::ops::detail::best_simd_level());
    });
    (void)stride;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nr),
                static_cast<int>(K), 1.0f, X, static_cast<int>(K), tile.data(), static_cast<int>(K), 0.0f, Y + r0,
                static_cast<int>(N));
  }
  openblas_set_num_threads(1);
}

void bench_gemm(const std::vector<TensorType>& types, phial::ThreadPool& pool, int reps, std::int64_t M, bool tiles) {
  const std::int64_t K = 3072, N = 8192;
  const double flops = 2.0 * static_cast<double>(M) * K * N;
  std::vector<float> X(static_cast<std::size_t>(M * K)), Y(static_cast<std::size_t>(M * N));
  for (auto& v : X) v = static_cast<float>(static_cast<std::int64_t>(next_rand() % 2001) - 1000) * 1e-3f;
  // Raw sgemm on f32 weights, OpenBLAS threads = pool size, pool idle: the reference speed.
  auto wf = random_weights(TensorType::F32, N, K);
  std::vector<double> secs;
  openblas_set_num_threads(pool.size());
  for (int r = 0; r < reps + 1; ++r) {
    const double s = seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                  1.0f, X.data(), static_cast<int>(K), reinterpret_cast<const float*>(wf.data()), static_cast<int>(K),
                  0.0f, Y.data(), static_cast<int>(N));
    });
    if (r) secs.push_back(s);
  }
  openblas_set_num_threads(1);
  const double raw = flops / median(secs) / 1e9;
  std::printf("{\"bench\": \"gemm\", \"impl\": \"raw_cblas_sgemm_f32\", \"M\": %lld, \"K\": %lld, \"N\": %lld, "
              "\"threads\": %d, \"gflop_per_s\": %.1f}\n",
              static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(N), pool.size(), raw);
  std::fflush(stdout);
  for (TensorType type : types) {
    auto w = type == TensorType::F32 ? wf : random_weights(type, N, K);
    auto view = view_of(type, w, K, N);
    const std::string tname(phial::tensor_type_info(type).name);
    auto run = [&](const char* impl, std::int64_t tile_rows, const std::function<void()>& f) {
      std::vector<double> t;
      for (int r = 0; r < reps + 1; ++r) {
        const double s = seconds(f);
        if (r) t.push_back(s);
      }
      const double g = flops / median(t) / 1e9;
      std::printf("{\"bench\": \"gemm\", \"impl\": \"%s\", \"type\": \"%s\", \"M\": %lld, \"K\": %lld, \"N\": %lld, "
                  "\"threads\": %d, \"tile_rows\": %lld, \"gflop_per_s\": %.1f, \"fraction_of_raw_sgemm\": %.3f}\n",
                  impl, tname.c_str(), static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(N),
                  pool.size(), static_cast<long long>(tile_rows), g, g / raw);
      std::fflush(stdout);
    };
    if (tiles) {
      for (std::int64_t tr : {64, 128, 256, 512, 1024})
        run("ops_matmul_pool_blas1", tr,
            [&] { phial::ops::detail::matmul_gemm(view, X.data(), M, Y.data(), pool, tr); });
      continue;
    }
    run("ops_matmul_pool_blas1", phial::ops::gemm_tile_rows(N, K, pool.size()),
        [&] { phial::ops::matmul(view, X.data(), M, Y.data(), pool, phial::ops::PrefillMath::f32); });
    if (phial::ops::detail::uses_amx_gemm(type, phial::ops::PrefillMath::fast))  // the default with AMX-BF16
      run("ops_matmul_amx_bf16", 0,
          [&] { phial::ops::matmul(view, X.data(), M, Y.data(), pool, phial::ops::PrefillMath::fast); });
#if PHIAL_X86
    // phial's int8 GEMM (the default on AVX2 CPUs without AMX), called directly so that it also runs beside AMX
    if (phial::detail::use_avx2() && phial::ops::detail::int8_gemm_supports(type))
      run("ops_matmul_int8_gemm", 0, [&] { phial::ops::detail::matmul_qgemm(view, X.data(), M, Y.data(), pool); });
#endif
    if (phial::tensor_type_info(type).block_elems > 1)  // the decode kernels applied to the whole batch
      run("int8_row_dot_kernels", 0, [&] { phial::ops::detail::matmul_gemv(view, X.data(), M, Y.data(), pool); });
    std::vector<float> tile;
    run("pool_dequant_blas_threads", 1024, [&] { gemm_blas_threads(view, X.data(), M, Y.data(), pool, tile, 1024); });
  }
}

TensorType parse_type(const std::string& s) {
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
                       TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K})
    if (phial::tensor_type_info(t).name == s) return t;
  std::fprintf(stderr, "bench-matmul: unknown type '%s'\n", s.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  int reps = 5;
  std::string only;
  std::vector<TensorType> types{TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K,
                                TensorType::Q5_K, TensorType::F16, TensorType::BF16};
  std::int64_t M = 512;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench-matmul: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") threads.push_back(std::stoi(val()));
    else if (a == "--reps") reps = std::stoi(val());
    else if (a == "--only") only = val();
    else if (a == "--M") M = std::stoll(val());
    else if (a == "--types") {
      types.clear();
      std::string list = val();
      for (std::size_t p = 0; p <= list.size();) {
        std::size_t q = list.find(',', p);
        if (q == std::string::npos) q = list.size();
        types.push_back(parse_type(list.substr(p, q - p)));
        p = q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: bench-matmul [--threads N]... [--reps R] [--only membw|gemv|gemm|tiles] "
                           "[--types q4_0,...] [--M tokens]\n");
      return 2;
    }
  }
  if (threads.empty()) threads = {1, 2};
  std::printf("{\"bench\": \"machine\", \"cpu_features\": \"%s\", \"openblas\": \"%s\"}\n",
              phial::cpu_features().describe().c_str(), openblas_get_config());
  for (int t : threads) {
    phial::ThreadPool pool(t);
    double bw = 0;
    if (only.empty() || only == "membw" || only == "gemv") {
      bw = membw(pool, reps);
      std::printf("{\"bench\": \"membw\", \"threads\": %d, \"read_gb_per_s\": %.2f}\n", t, bw);
      std::fflush(stdout);
    }
    if (only.empty() || only == "gemv")
      for (TensorType type : types) bench_gemv(type, pool, reps, bw);
    if (only.empty() || only == "gemm") bench_gemm(types, pool, reps, M, false);
    if (only == "tiles") bench_gemm(types, pool, reps, M, true);
  }
  return 0;
}
