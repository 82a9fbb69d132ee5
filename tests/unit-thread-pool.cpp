// unit-thread-pool: phial::ThreadPool covers every index exactly once, reuses its threads,
// propagates exceptions, and runs nested calls serially.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <phial/backend/thread_pool.hpp>

TEST_CASE("parallel_for covers [0, n) exactly once", "[thread_pool]") {
  for (int threads : {1, 2, 3, 4}) {
    phial::ThreadPool pool(threads);
    REQUIRE(pool.size() == threads);
    for (std::int64_t n : {0, 1, 2, 7, 64, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      std::atomic<bool> empty_chunk{false};  // Catch2 assertions are not thread-safe: record, check after
      pool.parallel_for(n, [&](std::int64_t b, std::int64_t e) {
        if (b >= e) empty_chunk = true;
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
      });
      REQUIRE_FALSE(empty_chunk.load());
      for (auto& h : hits) REQUIRE(h.load() == 1);
    }
  }
}

TEST_CASE("min_chunk is respected", "[thread_pool]") {
  phial::ThreadPool pool(2);
  std::mutex m;
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
  pool.parallel_for(
      1000, [&](std::int64_t b, std::int64_t e) {
        std::lock_guard<std::mutex> lk(m);
        chunks.emplace_back(b, e);
      },
      300);
  std::int64_t covered = 0;
  for (auto [b, e] : chunks) {
    covered += e - b;
    if (e != 1000) REQUIRE(e - b >= 300);  // only the last chunk may be short
  }
  REQUIRE(covered == 1000);
}

TEST_CASE("workers are persistent and actually used", "[thread_pool]") {
  phial::ThreadPool pool(3);
  std::mutex m;
  std::set<std::thread::id> ids;
  for (int rep = 0; rep < 200; ++rep) {
    pool.parallel_for(64, [&](std::int64_t, std::int64_t) {
      // Keep each chunk busy long enough that other threads pick up chunks.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      std::lock_guard<std::mutex> lk(m);
      ids.insert(std::this_thread::get_id());
    });
  }
  // 200 calls but never more than size() distinct threads: no thread per call.
  REQUIRE(ids.size() <= 3);
  REQUIRE(ids.size() >= 2);
}

TEST_CASE("exceptions propagate to the caller and the pool stays usable", "[thread_pool]") {
  phial::ThreadPool pool(2);
  for (int rep = 0; rep < 20; ++rep) {
    REQUIRE_THROWS_AS(pool.parallel_for(100,
                                        [&](std::int64_t b, std::int64_t e) {
                                          if (b <= 57 && 57 < e) throw std::runtime_error("boom");
                                        }),
                      std::runtime_error);
    std::atomic<std::int64_t> sum{0};
    pool.parallel_for(100, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) sum += i;
    });
    REQUIRE(sum.load() == 4950);
  }
}

TEST_CASE("nested parallel_for runs serially without deadlock", "[thread_pool]") {
  phial::ThreadPool pool(2);
  std::atomic<std::int64_t> total{0};
  pool.parallel_for(8, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i)
      pool.parallel_for(10, [&](std::int64_t b2, std::int64_t e2) { total += e2 - b2; });
  });
  REQUIRE(total.load() == 80);
}

TEST_CASE("concurrent callers are serialized correctly", "[thread_pool]") {
  phial::ThreadPool pool(2);
  std::atomic<std::int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(100, [&](std::int64_t b, std::int64_t e) { total += e - b; });
    });
  for (auto& t : callers) t.join();
  REQUIRE(total.load() == 3 * 50 * 100);
}
