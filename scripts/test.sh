#!/usr/bin/env bash
# README command (2): install what is missing, build everything, run the whole test suite:
# unit + CLI tests, the three consumer builds, an ASan+UBSan run, a TSan run of the agent tests,
# and each libFuzzer target for a bounded time.
# Environment: PHIAL_JOBS (default: nproc), PHIAL_FUZZ_SECONDS (default 30; 0 skips fuzzing),
#              PHIAL_SKIP_SANITIZERS=1 to skip the sanitizer builds (local iteration only).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${PHIAL_JOBS:-$(nproc)}
fuzz_seconds=${PHIAL_FUZZ_SECONDS:-30}
stage() { printf '\n==== %s (%(%H:%M:%S)T)\n' "$1" -1; }

stage "dependencies"
scripts/install-deps.sh --dev

stage "build (Release)"
# Explicit options: scripts/demo.sh configures the same build directory with the tests off.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPHIAL_BUILD_TESTS=ON -DPHIAL_BUILD_EXAMPLES=ON -DPHIAL_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build -j "$jobs"

stage "unit and CLI tests"
ctest --no-tests=error --test-dir build --output-on-failure -j "$jobs"

stage "consumer builds: find_package, add_subdirectory, FetchContent"
rm -rf build-consumer && mkdir -p build-consumer
cmake --install build --prefix "$root/build-consumer/prefix" >/dev/null
for mode in find_package add_subdirectory fetchcontent; do
  cmake -S tests/consumer -B "build-consumer/$mode" -DPHIAL_CONSUMER_MODE=$mode \
        -DCMAKE_PREFIX_PATH="$root/build-consumer/prefix" -DPHIAL_SOURCE_DIR="$root" -DPHIAL_GIT_TAG="$(git rev-parse HEAD)" >/dev/null
  cmake --build "build-consumer/$mode" -j "$jobs" >/dev/null
  "build-consumer/$mode/consumer"
  if [[ -x "build-consumer/$mode/consumer_separate" ]]; then "build-consumer/$mode/consumer_separate"; fi
done

if [[ "${PHIAL_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # The sanitizer builds cover the unit tests (the examples' domain code and the agent server pattern
  # are unit-tested); -O1 -g1 keeps them affordable on CI's two cores and still gives line numbers.
  stage "AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
        -DPHIAL_SANITIZE=address,undefined -DPHIAL_BUILD_EXAMPLES=OFF -DPHIAL_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1 ctest --no-tests=error --test-dir build-asan --output-on-failure -j "$jobs"

  stage "ThreadSanitizer (agent tests)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
        -DPHIAL_SANITIZE=thread \
        -DPHIAL_BUILD_BENCHMARKS=OFF -DPHIAL_BUILD_EXAMPLES=OFF >/dev/null
  tsan_targets=$(cd tests && ls unit-agent*.cpp 2>/dev/null | sed 's/\.cpp$//' || true)
  if [[ -n "$tsan_targets" ]]; then
    cmake --build build-tsan -j "$jobs" --target $tsan_targets
    tsan_options="halt_on_error=1"
    [[ -f tests/tsan.supp ]] && tsan_options+=" suppressions=$root/tests/tsan.supp"
    TSAN_OPTIONS="$tsan_options" ctest --no-tests=error --test-dir build-tsan --output-on-failure -R '^unit-agent'
  fi
fi

if [[ "$fuzz_seconds" != 0 ]] && ls tests/fuzz/fuzz-*.cpp >/dev/null 2>&1; then
  stage "libFuzzer targets, ${fuzz_seconds}s each"
  CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPHIAL_BUILD_FUZZERS=ON \
        -DPHIAL_BUILD_TESTS=ON -DPHIAL_BUILD_EXAMPLES=OFF -DPHIAL_BUILD_BENCHMARKS=OFF >/dev/null
  fuzzers=$(cd tests/fuzz && ls fuzz-*.cpp | sed 's/\.cpp$//')
  cmake --build build-fuzz -j "$jobs" --target $fuzzers
  for f in $fuzzers; do
    corpus="build-fuzz/corpus-$f"; mkdir -p "$corpus"
    seeds="tests/fuzz/seeds-${f#fuzz-}"
    [[ -d "$seeds" ]] || seeds=""
    echo "-- $f"
    log="build-fuzz/$f.log"
    # On a finding, show the sanitizer report and the reproducer's path, not just the final stats.
    if ! UBSAN_OPTIONS=halt_on_error=1 "build-fuzz/tests/$f" -rss_limit_mb=2048 -max_total_time="$fuzz_seconds" \
           -print_final_stats=1 -artifact_prefix="build-fuzz/$f-" "$corpus" $seeds >"$log" 2>&1; then
      grep -v -E '^#[0-9]+' "$log" | tail -n 60
      echo "$f found a failure; reproduce with: build-fuzz/tests/$f build-fuzz/$f-crash-*" >&2
      exit 1
    fi
    tail -n 3 "$log"
  done
fi

stage "all tests passed"
