#!/usr/bin/env bash
# README command (1): install what is missing, build, and run the main demo: the scheduling
# assistant on the bundled demo model, changing a real .ics file. Without the demo model file
# (examples/demo_model/phial-demo.gguf, built by examples/demo_model/make_model.sh) it shows the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${PHIAL_JOBS:-$(nproc)}
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPHIAL_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$jobs" --target phial_cli scheduling_assistant
if [[ -f examples/demo_model/phial-demo.gguf ]]; then
  build/bin/scheduling_assistant "$@"
else
  echo "demo: examples/demo_model/phial-demo.gguf is not in this checkout yet (see examples/demo_model/MODEL_CARD.md);"
  echo "demo: showing the CLI instead. Run an example with a real model: build/bin/scheduling_assistant --model PATH.gguf"
  build/bin/phial --help
fi
