#!/usr/bin/env bash
# CLI test for `phial tokenize`: ids, --special, --decode, --jsonl against reference ids.
# usage: bash tests/cli-tokenize.sh <phial binary> <tests/data dir>
set -euo pipefail
PHIAL=$1
D=$2/tokenizer
fail() { echo "FAIL: $*"; exit 1; }

out=$("$PHIAL" tokenize --tokenizer "$D/o200k_base.tiktoken.gz" "Hello world")
[ "$out" = "13225 2375" ] || fail "o200k ids: $out"
out=$("$PHIAL" tokenize --tokenizer "$D/cl100k_base.tiktoken.gz" --decode "9906 1917")
[ "$out" = "Hello world" ] || fail "decode: $out"
# Added tokens are plain text without --special, parsed (with lstrip/rstrip) with it.
out=$("$PHIAL" tokenize --tokenizer "$D/phi-4/tokenizer.json.gz" --special " <|im_start|>user<|im_sep|> hi <|im_end|>")
[ "$out" = "100264 882 100266 6151 100265" ] || fail "--special: $out"
out=$("$PHIAL" tokenize --tokenizer "$D/phi-4/tokenizer.json.gz" "<|im_end|>")
case " $out " in *" 100265 "*) fail "plain encode produced <|im_end|>: $out" ;; esac
# --jsonl: one {"ids": [...]} line per input line, in order; reference from the special corpus.
head -5 "$D/corpus-special-public.jsonl" > /tmp/phial-cli-tokenize.$$.jsonl
got=$("$PHIAL" tokenize --tokenizer "$D/phi-4-mini/tokenizer.json.gz" --special --jsonl < /tmp/phial-cli-tokenize.$$.jsonl)
rm -f /tmp/phial-cli-tokenize.$$.jsonl
[ "$(printf '%s\n' "$got" | wc -l)" = 5 ] || fail "--jsonl line count"
first=$(printf '%s\n' "$got" | head -1)
[ "$first" = '{"ids": [200021, 3686, 220, 200020, 200019]}' ] || fail "--jsonl first line: $first"
# Errors: exit 1 for a missing file, 2 for bad usage.
set +e
"$PHIAL" tokenize --tokenizer /nonexistent x 2>/dev/null; [ $? = 1 ] || fail "missing file exit code"
"$PHIAL" tokenize x 2>/dev/null; [ $? = 2 ] || fail "usage exit code"
echo "cli-tokenize: 1 passed, 0 failed"
