#!/usr/bin/env bash
# The `phial` CLI on a terminal vs. piped, checked in a pseudo-terminal (util-linux `script`):
#  - progress bars (conversion, loading, long prefill) are drawn on a terminal and absent when piped;
#  - colours on a terminal, none with NO_COLOR, none when piped;
#  - a missing model is one line on stderr (exit 1), bad usage exit 2.
# Runs without the demo model: the model is the repository's random-weight Phi-4-mini-shaped test
# model (tests/data/golden/mini-tiny, 512-token vocabulary with Phi-4-mini's special tokens), so
# the answers are noise; only how they are printed is checked. (Reasoning dimming needs a model
# that emits <think>: tests/unit-example-tools.cpp checks the printer's escape codes for it.)
#   bash tests/cli-terminal.sh <path-to-phial-binary> <tests/data dir>
set -u
PHIAL=$(realpath "$1")
DATA=$2
MODEL=$DATA/golden/mini-tiny/mini-tiny-q8_0.gguf
HF=$DATA/golden/mini-tiny/hf-f32
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
ESC=$(printf '\033')
CR=$(printf '\r')

if ! command -v script > /dev/null; then
  echo "SKIP: util-linux 'script' is not installed (no pseudo-terminal checks)"
  exit 0
fi
# in_tty <outfile> <command...>: runs the command in a pseudo-terminal (stdin, stdout and stderr all
# on it), feeding it this function's stdin; everything the terminal showed goes to <outfile>.
in_tty() {
  local out=$1
  shift
  local cmd
  printf -v cmd '%q ' "$@"
  timeout 300 script -qec "$cmd" /dev/null > "$out" 2>&1
}
has() { grep -qF -- "$2" "$1"; }  # has <file> <fixed string>

# A long prompt (about 650 tokens of this vocabulary): long enough for the prefill bar (>= 256 tokens),
# short enough for the test model's 1024-token context.
long_prompt=$(for i in $(seq 1 25); do printf 'Please summarise the meeting notes number %d. ' "$i"; done)

# 1. conversion: a progress bar on a terminal, none when piped
in_tty "$TMP/convert-tty.txt" "$PHIAL" convert "$HF" "$TMP/a.gguf" --type q8_0 < /dev/null
if has "$TMP/convert-tty.txt" "[######" && has "$TMP/convert-tty.txt" "$CR"; then ok "convert: progress bar on a terminal"
else fail "convert: no progress bar on a terminal"; sed 's/^/  | /' "$TMP/convert-tty.txt" | head -5; fi
"$PHIAL" convert "$HF" "$TMP/b.gguf" --type q8_0 > "$TMP/convert-out.txt" 2> "$TMP/convert-err.txt"
[ $? -eq 0 ] || fail "convert (piped) failed"
if has "$TMP/convert-err.txt" "$CR" || has "$TMP/convert-err.txt" "[#" || has "$TMP/convert-out.txt" "$CR"; then
  fail "convert: progress bar drawn into a pipe"
else ok "convert: no progress bar when piped"; fi
cmp -s "$TMP/a.gguf" "$TMP/b.gguf" || fail "convert: terminal and piped runs wrote different files"

# 2. run: loading + prefill bars and colour-free answer; piped: nothing but the answer
in_tty "$TMP/run-tty.txt" "$PHIAL" run --model "$MODEL" --max-tokens 8 --threads 1 "$long_prompt" < /dev/null
rc=$?
[ $rc -eq 0 ] && ok "run (terminal): exit 0" || { fail "run (terminal): exit $rc"; sed 's/^/  | /' "$TMP/run-tty.txt" | tail -3; }
has "$TMP/run-tty.txt" "loading mini-tiny-q8_0.gguf [" && ok "run: loading bar on a terminal" ||
  { fail "run: no loading bar on a terminal"; sed 's/^/  | /' "$TMP/run-tty.txt" | head -5; }
has "$TMP/run-tty.txt" "prefill [" && ok "run: prefill bar for a long prompt on a terminal" ||
  fail "run: no prefill bar on a terminal"
in_tty "$TMP/run-short.txt" "$PHIAL" run --model "$MODEL" --max-tokens 4 --threads 1 "Hello." < /dev/null
has "$TMP/run-short.txt" "prefill [" && fail "run: prefill bar for a short prompt" || ok "run: no prefill bar for a short prompt"
"$PHIAL" run --model "$MODEL" --max-tokens 8 --threads 1 "$long_prompt" > "$TMP/run-out.txt" 2> "$TMP/run-err.txt"
rc=$?
[ $rc -eq 0 ] && ok "run (piped): exit 0" || { fail "run (piped): exit $rc"; cat "$TMP/run-err.txt"; }
if has "$TMP/run-err.txt" "$CR" || has "$TMP/run-err.txt" "loading" || has "$TMP/run-err.txt" "prefill"; then
  fail "run: progress drawn into a pipe"
else ok "run: no progress bars when piped"; fi
has "$TMP/run-out.txt" "$ESC" && fail "run: escape codes in piped output" || ok "run: no escape codes when piped"
[ -s "$TMP/run-out.txt" ] || fail "run: no answer printed"
# stdin as the prompt
echo "Hello." | "$PHIAL" run --model "$MODEL" --max-tokens 4 --threads 1 > /dev/null 2>&1 &&
  ok "run: prompt from stdin" || fail "run: reading the prompt from stdin failed"

# 3. chat: colours on a terminal, none with NO_COLOR, none when piped
printf 'Hello there.\n/reasoning\nWhat is on 2025-11-27?\n/quit\n' |
  in_tty "$TMP/chat-tty.txt" "$PHIAL" chat --model "$MODEL" --max-tokens 8 --threads 1
printf 'Hello there.\n/quit\n' | NO_COLOR=1 in_tty "$TMP/chat-nocolor.txt" "$PHIAL" chat --model "$MODEL" --max-tokens 8 --threads 1
printf 'Hello there.\n/quit\n' | "$PHIAL" chat --model "$MODEL" --max-tokens 8 --threads 1 > "$TMP/chat-pipe.txt" 2>&1
has "$TMP/chat-tty.txt" "$ESC[1m> $ESC[0m" && ok "chat: bold prompt on a terminal" ||
  { fail "chat: no coloured prompt on a terminal"; sed 's/^/  | /' "$TMP/chat-tty.txt" | head -8; }
has "$TMP/chat-tty.txt" "$ESC[2m(" && ok "chat: dim turn statistics on a terminal" || fail "chat: no dim statistics on a terminal"
has "$TMP/chat-tty.txt" "(reasoning hidden)" && ok "chat: /reasoning toggles" || fail "chat: /reasoning did not answer"
[ "$(grep -c "tokens prefilled" "$TMP/chat-tty.txt")" -eq 2 ] && ok "chat: two turns answered" ||
  fail "chat: expected two turns on a terminal"
has "$TMP/chat-nocolor.txt" "$ESC" && fail "chat: escape codes with NO_COLOR" || ok "chat: no escape codes with NO_COLOR"
has "$TMP/chat-nocolor.txt" "tokens prefilled" || fail "chat: NO_COLOR run did not answer"
has "$TMP/chat-nocolor.txt" "loading mini-tiny" || fail "chat: no loading bar on a terminal with NO_COLOR"
has "$TMP/chat-pipe.txt" "$ESC" && fail "chat: escape codes when piped" || ok "chat: no escape codes when piped"
has "$TMP/chat-pipe.txt" "> " && fail "chat: prompt printed when stdin is not a terminal" || ok "chat: no prompt when piped"
has "$TMP/chat-pipe.txt" "tokens prefilled" || fail "chat (piped) did not answer"

# 4. errors: one line, exit codes
"$PHIAL" run --model "$TMP/missing.gguf" "hi" > "$TMP/o" 2> "$TMP/e"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$TMP/e")" -eq 1 ] && has "$TMP/e" "missing.gguf" && ok "run: missing model is one line, exit 1" ||
  { fail "run: missing model: exit $rc"; cat "$TMP/e"; }
"$PHIAL" run --model "$MODEL" --bogus x > /dev/null 2>&1
[ $? -eq 2 ] && ok "run: unknown option exits 2" || fail "run: unknown option did not exit 2"
"$PHIAL" chat --help | grep -q -- "--calendar" && ok "chat --help" || fail "chat --help lacks --calendar"

[ $fails -eq 0 ] && echo "cli-terminal: all passed" || echo "cli-terminal: $fails failure(s)"
[ $fails -eq 0 ]
