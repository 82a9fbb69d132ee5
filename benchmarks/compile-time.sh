#!/usr/bin/env bash
# Compile cost of phial: times compiling one translation unit that includes <phial/phial.hpp>,
# header-only (default) and with PHIAL_SEPARATE_COMPILATION (definitions compiled once elsewhere).
# Prints one JSON object per configuration: median of N runs, in seconds.
# Usage: benchmarks/compile-time.sh [N=5] [CXX=g++]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
cxx=${CXX:-g++}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '#include <phial/phial.hpp>\nint main() { return phial::version_string()[0] == 0; }\n' >"$tmp/tu.cpp"
printf '#include <vector>\n#include <string>\n#include <map>\nint main() { std::vector<std::string> v; std::map<int,int> m; return int(v.size() + m.size()); }\n' >"$tmp/baseline.cpp"
flags=(-std=c++20 -O2 -Iinclude $(pkg-config --cflags openblas re2) -c)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() {  # name, extra flags..., source
  local name=$1; shift
  local times=()
  for ((i = 0; i < n; i++)); do
    local t0=$(date +%s%N)
    "$cxx" "${flags[@]}" "$@" -o "$tmp/out.o"
    local t1=$(date +%s%N)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')")
  done
  local med=$(printf '%s\n' "${times[@]}" | median)
  printf '{"benchmark": "compile_time", "config": "%s", "compiler": "%s", "runs": %d, "median_s": %.3f}\n' \
    "$name" "$($cxx --version | head -1)" "$n" "$med"
}
run "baseline (vector+string+map)" "$tmp/baseline.cpp"
run "phial.hpp header-only" "$tmp/tu.cpp"
run "phial.hpp PHIAL_SEPARATE_COMPILATION" -DPHIAL_SEPARATE_COMPILATION "$tmp/tu.cpp"
