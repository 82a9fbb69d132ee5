#!/usr/bin/env bash
# CLI test of `phial logits`: output shape/size for both modes and exit codes for bad usage.
# (The values themselves are compared against the golden reference in tests/unit-executor.cpp,
# which runs this same command when the CLI is built.)
# usage: bash cli-logits.sh <phial binary> <tests/data dir>
set -u
phial=$1
data=$2
model=$data/golden/mini-tiny/mini-tiny-q8_0.gguf
hf=$data/golden/phi4-tiny/hf-f32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {  # check <description> <expected exit code> <command...>
  local what=$1 want=$2
  shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/stderr"; fail=1
  else
    echo "ok: $what"
  fi
}
size_is() {  # size_is <file> <bytes>
  local got
  got=$(stat -c %s "$1" 2>/dev/null || echo missing)
  if [ "$got" != "$2" ]; then echo "FAIL: $1 has $got bytes, expected $2"; fail=1; else echo "ok: $1 is $2 bytes"; fi
}

ids=$(seq -s, 1 40)  # 40 tokens: crosses mini-tiny's original context of 32
check "whole prompt" 0 "$phial" logits --model "$model" --ids "$ids" --out "$tmp/whole.f32" --threads 2
size_is "$tmp/whole.f32" $((40 * 512 * 4))
check "step by step" 0 "$phial" logits --model "$model" --ids "$ids" --step --out "$tmp/step.f32"
size_is "$tmp/step.f32" $((40 * 512 * 4))
check "always-long policy, f16 KV" 0 "$phial" logits --model "$model" --ids 5,6,7 --rope-policy long --kv-f16 --out "$tmp/long.f32"
size_is "$tmp/long.f32" $((3 * 512 * 4))
check "safetensors directory" 0 "$phial" logits --model "$hf" --ids 500,1,2 --out "$tmp/hf.f32"
size_is "$tmp/hf.f32" $((3 * 512 * 4))
check "to stdout" 0 "$phial" logits --model "$model" --ids 1 --out -
size_is "$tmp/stdout" 2048
check "--help" 0 "$phial" logits --help

check "missing --ids" 2 "$phial" logits --model "$model" --out "$tmp/x.f32"
check "missing --out" 2 "$phial" logits --model "$model" --ids 1
check "bad id list" 2 "$phial" logits --model "$model" --ids 1,x --out "$tmp/x.f32"
check "empty id in list" 2 "$phial" logits --model "$model" --ids 1,,2 --out "$tmp/x.f32"
check "negative id" 2 "$phial" logits --model "$model" --ids -3 --out "$tmp/x.f32"
check "bad rope policy" 2 "$phial" logits --model "$model" --ids 1 --rope-policy sometimes --out "$tmp/x.f32"
check "unknown option" 2 "$phial" logits --model "$model" --ids 1 --bogus --out "$tmp/x.f32"
check "id outside the vocabulary" 1 "$phial" logits --model "$model" --ids 1,512 --out "$tmp/x.f32"
check "missing model file" 1 "$phial" logits --model "$tmp/nope.gguf" --ids 1 --out "$tmp/x.f32"
check "not a model file" 1 "$phial" logits --model "$data/golden/README.md" --ids 1 --out "$tmp/x.f32"
check "unwritable output" 1 "$phial" logits --model "$model" --ids 1 --out "$tmp/no/such/dir/x.f32"
exit $fail
