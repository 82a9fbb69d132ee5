#!/usr/bin/env bash
# Rebuild the phial demo model from scratch: data -> tokens -> training -> safetensors ->
# phial convert -> phial-demo.gguf, then the held-out evaluations (PyTorch, and the real C++
# examples when they are built next to phial) and the fidelity check.
#   examples/demo_model/make_model.sh PATH/TO/phial [STEPS]
# Needs Debian's python3-torch, python3-numpy, python3-regex (CPU). Deterministic (fixed seeds,
# one thread).
set -euo pipefail
PHIAL=$(realpath "${1:?usage: make_model.sh PATH/TO/phial [STEPS]}")
STEPS=${2:-20001}
cd "$(dirname "$0")"
PY=/usr/bin/python3
$PY generate_data.py                      # tools.json, data/train.jsonl, data/heldout.jsonl
$PY tokenize_data.py                      # data/*.tok.json
$PY train.py --steps "$STEPS" --out hf    # hf/: config.json, model.safetensors, tokenizer files, demo.pt
"$PHIAL" convert hf phial-demo.gguf --type q8_0
$PY evaluate.py --model hf/demo.pt        # held-out figures (PyTorch, greedy)
BIN=$(dirname "$PHIAL")
if [ -x "$BIN/scheduling_assistant" ] && [ -x "$BIN/email_assistant" ] && [ -x "$BIN/automation" ]; then
  $PY evaluate_cpp.py "$BIN" --model phial-demo.gguf   # held-out figures through the C++ examples
fi
$PY fidelity.py "$PHIAL" hf/demo.pt hf phial-demo.gguf
ls -l phial-demo.gguf
