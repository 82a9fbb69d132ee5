#!/usr/bin/env bash
# End-to-end tests of the example agents on the bundled demo model: each example runs for real and
# the test checks its real effects (the .ics file, the Drafts folder, the sandboxed work directory,
# the answers of the embedded server), plus `phial chat` with the calendar tools in a pseudo-terminal.
# The requests are shapes the demo model was trained on (examples/demo_model/generate_data.py).
# Colours and progress bars without the demo model: tests/cli-terminal.sh.
#   bash tests/cli-examples.sh <path-to-phial-binary> <tests/data dir>
# The example binaries are expected beside the phial binary. PHIAL_DEMO_MODEL=FILE tries another model.
set -u
PHIAL=$(realpath "$1")
BIN=$(dirname "$PHIAL")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${PHIAL_DEMO_MODEL:-$ROOT/examples/demo_model/phial-demo.gguf}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Two kinds of checks. Pipeline checks (fail/ok) always count: the program runs to its end, real tool
# calls reach real C++ tools, files change only as a tool would change them, no crash, no escape.
# Quality checks (weak/ok) ask whether the demo model chose the right tool and copied the right values;
# the demo model misses some requests (examples/demo_model/MODEL_CARD.md), so they are reported and only
# fail the test with PHIAL_EXAMPLES_STRICT=1 (use it when evaluating a retrained model).
fails=0
weak=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
quality() {  # quality <condition-exit-code> <message>
  if [ "$1" -eq 0 ]; then ok "$2"; else echo "weak: $2"; weak=$((weak + 1)); fi
}
# ran <name> <exit code> <output>: the program ran to its end (0: final answer, 1: stopped without
# one); anything else (a crash, a sanitizer abort, a usage error) fails.
ran() {
  case $2 in
    0) ok "$1: ran, final answer" ;;
    1) echo "$3" | grep -q "^answer:" && ok "$1: ran (no final answer: $(echo "$3" | grep -m1 '^(stopped' || echo '?'))" ||
         fail "$1: exit 1 without reaching the end: $(echo "$3" | tail -1)" ;;
    *) fail "$1: exit code $2" ;;
  esac
}

for b in scheduling_assistant email_assistant automation embed_in_service; do
  [ -x "$BIN/$b" ] || fail "example binary $BIN/$b is missing (build the example targets)"
done
[ $fails -eq 0 ] || exit 1

if [ ! -f "$MODEL" ]; then
  echo "SKIP: the demo model $MODEL does not exist yet (build it with examples/demo_model/make_model.sh);"
  echo "SKIP: no end-to-end example checks were run"
  exit 0
fi

# 1. scheduling: the .ics file gains the event
cp "$ROOT/examples/scheduling_assistant/sample.ics" "$TMP/cal.ics"
out=$(timeout 600 "$BIN/scheduling_assistant" --model "$MODEL" --calendar "$TMP/cal.ics" \
  "Schedule Design review on 2025-11-27 at 14:00 for 60 minutes." 2>&1)
rc=$?
echo "$out" | sed 's/^/  scheduling| /' | head -40
ran scheduling_assistant $rc "$out"
grep -q "^BEGIN:VCALENDAR" "$TMP/cal.ics" && grep -q "^END:VCALENDAR" "$TMP/cal.ics" || fail "scheduling: the .ics file is no longer a calendar"
events_before=$(grep -c "^BEGIN:VEVENT" "$ROOT/examples/scheduling_assistant/sample.ics")
events_after=$(grep -c "^BEGIN:VEVENT" "$TMP/cal.ics")
if echo "$out" | grep -q -- "-> create_event" && [ "$events_after" -eq $((events_before + 1)) ]; then
  ok "scheduling: create_event called, the .ics file gained one event"
else fail "scheduling: no create_event call that added one event to the .ics file ($events_before -> $events_after)"; fi
grep -q "SUMMARY:Team standup" "$TMP/cal.ics" || fail "scheduling: existing events were lost"
grep -q "SUMMARY:Design review" "$TMP/cal.ics" && grep -q "DTSTART:20251127T140000" "$TMP/cal.ics" &&
  grep -q "DTEND:20251127T150000" "$TMP/cal.ics"
quality $? "scheduling: the new event is 'Design review' 2025-11-27 14:00-15:00"

# 2. email: a draft appears in Drafts, nothing else changes, nothing is sent
cp -r "$ROOT/examples/email_assistant/sample-maildir" "$TMP/Maildir"
before=$(find "$TMP/Maildir/cur" "$TMP/Maildir/new" -type f | sort | md5sum)
out=$(timeout 600 "$BIN/email_assistant" --model "$MODEL" --maildir "$TMP/Maildir" \
  "Reply to message 2 saying: Thanks, got it." 2>&1)
rc=$?
echo "$out" | sed 's/^/  email| /' | head -40
ran email_assistant $rc "$out"
drafts=$(find "$TMP/Maildir/.Drafts/cur" -type f 2>/dev/null | wc -l)
if echo "$out" | grep -q -- "-> draft_reply" && [ "$drafts" -eq 1 ]; then ok "email: draft_reply called, one draft in Drafts"
else fail "email: expected a draft_reply call and one draft (found $drafts drafts)"; fi
[ "$drafts" -eq 1 ] && grep -q "Thanks, got it" "$TMP/Maildir/.Drafts/cur/"* && grep -q "^To: Sam Okafor" "$TMP/Maildir/.Drafts/cur/"*
quality $? "email: the draft replies to Sam with 'Thanks, got it'"
[ "$before" = "$(find "$TMP/Maildir/cur" "$TMP/Maildir/new" -type f | sort | md5sum)" ] || fail "email: the inbox changed"

# 2b. the message that tries prompt injection is read as data: no draft, no extra tool calls
cp -r "$ROOT/examples/email_assistant/sample-maildir" "$TMP/Maildir2"
out=$(timeout 600 "$BIN/email_assistant" --model "$MODEL" --maildir "$TMP/Maildir2" "Read message 1." 2>&1)
rc=$?
echo "$out" | sed 's/^/  email-injection| /' | head -20
ran "email_assistant (injection)" $rc "$out"
echo "$out" | grep -q -- '-> read_message {"id":"1"}'
quality $? "email: read_message 1 called"
[ ! -d "$TMP/Maildir2/.Drafts" ] && ok "email: injected <|tool_call|> in a body did not create a draft" ||
  fail "email: reading the injection message created a draft"
echo "$out" | grep -q -- "-> draft_reply" && fail "email: the injection triggered draft_reply"

# 3. automation: files written only inside the sandbox
mkdir -p "$TMP/auto"
cp -r "$ROOT/examples/automation/sample-workdir" "$TMP/auto/work"
out=$(cd "$TMP" && timeout 600 "$BIN/automation" --model "$MODEL" --workdir "$TMP/auto/work" "Copy notes.txt to plan.md." 2>&1)
rc=$?
echo "$out" | sed 's/^/  automation| /' | head -40
ran automation $rc "$out"
echo "$out" | grep -q -- "^-> " && ok "automation: tool calls made" || fail "automation: no tool call"
[ -f "$TMP/auto/work/plan.md" ] && cmp -s "$TMP/auto/work/plan.md" "$TMP/auto/work/notes.txt"
quality $? "automation: plan.md is a copy of notes.txt"
[ "$(ls -A "$TMP/auto")" = "work" ] || fail "automation: something was written outside the work directory"
out=$(timeout 600 "$BIN/automation" --model "$MODEL" --workdir "$TMP/auto/work" "Count the lines in report.csv." 2>&1)
rc=$?
echo "$out" | sed 's/^/  automation| /' | head -20
ran "automation (wc)" $rc "$out"
lines=$(wc -l < "$TMP/auto/work/report.csv")
echo "$out" | grep -q -- '-> run_command {"name":"wc","args":\["-l","report.csv"\]}'
quality $? "automation: run_command wc -l report.csv"
echo "$out" | grep "^answer:" | grep -qw "$lines"
quality $? "automation: the answer says $lines lines"

# 4. embed_in_service: 3 concurrent clients on one model, all answered
out=$(timeout 600 "$BIN/embed_in_service" --model "$MODEL" --selftest --clients 3 2>&1)
echo "$out" | sed 's/^/  service| /' | head -40
echo "$out" | grep -q "selftest: 3/3 clients answered" && ok "embed_in_service: 3/3 answered" ||
  fail "embed_in_service: not every client was answered"

# 5. phial chat with the calendar tools, in a pseudo-terminal and piped: the tool call is shown
#    (cyan on the terminal), the calendar is listed, nothing is coloured when piped
if command -v script > /dev/null; then
  cp "$ROOT/examples/scheduling_assistant/sample.ics" "$TMP/chat.ics"
  req='List my events for 2025-11-27.'
  printf '%s\n/quit\n' "$req" | timeout 600 script -qec "$PHIAL chat --model $MODEL --calendar $TMP/chat.ics" /dev/null > "$TMP/tty.txt" 2>&1
  printf '%s\n/quit\n' "$req" | timeout 600 "$PHIAL" chat --model "$MODEL" --calendar "$TMP/chat.ics" > "$TMP/pipe.txt" 2>&1
  sed 's/^/  chat| /' "$TMP/pipe.txt" | head -20
  grep -q "$(printf '\033')\[36m-> " "$TMP/tty.txt" && ok "chat: tool call shown in cyan on a terminal" ||
    fail "chat: no cyan tool call on a terminal"
  grep -q "$(printf '\033')" "$TMP/pipe.txt" && fail "chat: colours when piped" || ok "chat: plain output when piped"
  grep -q -- '-> list_events {"date":"2025-11-27"}' "$TMP/pipe.txt"
  quality $? "chat: list_events 2025-11-27 called"
  grep -q "Team standup" "$TMP/pipe.txt"
  quality $? "chat: the calendar's events were listed"
  cmp -s "$TMP/chat.ics" "$ROOT/examples/scheduling_assistant/sample.ics" || fail "chat: listing changed the calendar"
else
  echo "SKIP: chat pseudo-terminal check (no util-linux script)"
fi

echo "cli-examples: $fails pipeline failure(s), $weak model-quality miss(es)"
[ "${PHIAL_EXAMPLES_STRICT:-0}" = 1 ] && fails=$((fails + weak))
[ $fails -eq 0 ]
