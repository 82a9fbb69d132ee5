// phial/backend/thread_pool.hpp - a persistent worker pool for data-parallel kernels.
//
// One pool per executor. `parallel_for(n, fn)` splits [0, n) into chunks and runs
// `fn(begin, end)` on every chunk, on the calling thread plus the pool's workers, and returns when
// all chunks are done. No thread is created per call: workers live as long as the pool.
//
// Waking: a decode step issues ~200 parallel_for calls per token, each taking 10-500 us, so the
// wake-up latency matters. Idle workers first spin on an atomic generation counter (with `pause`)
// for a short while, then sleep on a condition variable. Spinning is bounded so a pool that is not
// being used costs no CPU.
//
// Exceptions: the first exception thrown by `fn` on any thread is rethrown by parallel_for on the
// calling thread after every thread has stopped touching the job (remaining chunks are skipped).
//
// Re-entrancy: a parallel_for issued from inside a running job (nested) runs serially on the
// calling thread; concurrent parallel_for calls from several outside threads are serialized.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <phial/config.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#endif

namespace phial {

namespace detail {
PHIAL_ALWAYS_INLINE void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}
// True on threads that are currently executing a pool job (used to run nested calls serially).
inline thread_local bool in_pool_job = false;
}  // namespace detail

class ThreadPool {
 public:
  // `n_threads` counts the calling thread: a pool of size 2 starts one worker. 0 picks
  // std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads = 0) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    size_ = n_threads;
    workers_.reserve(static_cast<std::size_t>(n_threads - 1));
    try {
      for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    } catch (...) {
      shutdown();
      throw;
    }
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() { shutdown(); }

  // Threads that run a job, the caller included.
  int size() const noexcept { return size_; }

  // Runs fn(begin, end) over [0, n) in chunks of at least `min_chunk` items. Chunks are handed out
  // dynamically (guided self-scheduling on an atomic counter: each grab takes a share of what is
  // left, so chunks shrink towards the end), so a thread slowed by another process does not hold
  // everyone up and the threads finish together.
  template <class Fn>
  void parallel_for(std::int64_t n, Fn&& fn, std::int64_t min_chunk = 1) {
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    if (size_ == 1 || n <= min_chunk || detail::in_pool_job) {
      fn(std::int64_t{0}, n);
      return;
    }
    using F = std::remove_reference_t<Fn>;
    Job job;
    job.ctx = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    job.call = [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); };
    job.n = n;
    job.min_chunk = min_chunk;
    job.split = 2 * static_cast<std::int64_t>(size_);
    run(job);
  }

 private:
  struct Job {
    void* ctx = nullptr;
    void (*call)(void*, std::int64_t, std::int64_t) = nullptr;
    std::int64_t n = 0;
    std::int64_t min_chunk = 1;
    std::int64_t split = 2;  // a grab takes 1/split of what is left (at least min_chunk)
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // written once, by the thread that flips `failed`
  };

  // Spin iterations before sleeping (~50-100 us with `pause`).
  static constexpr int kSpin = 20000;

  void run(Job& job) {
    std::lock_guard<std::mutex> serial(call_mutex_);  // one job at a time
    job_ = &job;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(wake_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
    work_on(job);
    // Wait for the workers: spin briefly, then sleep.
    for (int i = 0; i < kSpin && pending_.load(std::memory_order_acquire) != 0; ++i) detail::cpu_relax();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lk(done_mutex_);
      done_cv_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    job_ = nullptr;
    if (job.failed.load(std::memory_order_acquire)) std::rethrow_exception(job.error);
  }

  static void work_on(Job& job) noexcept {
    detail::in_pool_job = true;
    for (;;) {
      if (job.failed.load(std::memory_order_relaxed)) break;
      // Guided self-scheduling: large chunks first, smaller ones towards the end, so that the
      // threads finish together. A decode matvec is bandwidth bound and one thread alone gets about
      // half the DRAM bandwidth, so a thread left working alone on a last large chunk is costly.
      std::int64_t begin = job.next.load(std::memory_order_relaxed), end = 0;
      do {
        if (begin >= job.n) break;
        end = std::min(job.n, begin + std::max(job.min_chunk, (job.n - begin) / job.split));
      } while (!job.next.compare_exchange_weak(begin, end, std::memory_order_relaxed));
      if (begin >= job.n) break;
      try {
        job.call(job.ctx, begin, end);
      } catch (...) {
        bool expected = false;
        if (job.failed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
          job.error = std::current_exception();
        }
      }
    }
    detail::in_pool_job = false;
  }

  void worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      for (int i = 0; i < kSpin && g == seen; ++i) {
        detail::cpu_relax();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(wake_mutex_);
        wake_cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      work_on(*job_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(done_mutex_);
        done_cv_.notify_one();
      }
    }
  }

  void shutdown() noexcept {
    {
      std::lock_guard<std::mutex> lk(wake_mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;
  Job* job_ = nullptr;  // published by the release increment of generation_
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
};

}  // namespace phial
