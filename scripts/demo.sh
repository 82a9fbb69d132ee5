#!/usr/bin/env bash
# README command (1): install what is missing, build, and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${PHIAL_JOBS:-$(nproc)}
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPHIAL_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$jobs" --target phial_cli
build/bin/phial --help
