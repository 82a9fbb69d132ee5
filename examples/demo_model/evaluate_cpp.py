"""Held-out evaluation through the real C++ examples: for each held-out conversation it rebuilds the
conversation's world as real files (an .ics calendar, a Maildir, a work directory), runs the example
program (scheduling_assistant, email_assistant, automation) on the GGUF with the request, and reads
the tool calls it printed ("-> name {arguments}") and its final answer ("answer: ..."). A run is
right when the agent made exactly the expected tool calls with exactly the expected arguments and
ended with a final answer (exit status 0). This is phial's whole pipeline: tokenizer, executor,
constrained tool-call decoding, the C++ tools and their real results.

    python3 evaluate_cpp.py BIN_DIR [--model phial-demo.gguf] [--limit N] [--agents scheduling,email]

BIN_DIR holds the built examples (e.g. build/bin).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = {"scheduling": "scheduling_assistant", "email": "email_assistant", "automation": "automation"}


def write_ics(path, events):
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//phial//demo model evaluation//EN"]
    for k, e in enumerate(events):
        d = e["date"].replace("-", "")
        out += ["BEGIN:VEVENT", "UID:eval-%d@phial.example" % k, "SUMMARY:" + e["title"],
                "DTSTART:%sT%s00" % (d, e["start"].replace(":", "")), "DTEND:%sT%s00" % (d, e["end"].replace(":", "")),
                "END:VEVENT"]
    out.append("END:VCALENDAR")
    with open(path, "w", newline="") as f:
        f.write("\r\n".join(out) + "\r\n")


def write_maildir(root, folders):
    for name, msgs in folders.items():
        d = root if name == "INBOX" else os.path.join(root, "." + name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for k, m in enumerate(msgs):  # newest first: the first message gets the largest file name
            fn = "%d.M%dP1.eval:2,S" % (1800000000 - k, k)
            with open(os.path.join(d, "cur", fn), "w", newline="") as f:
                f.write("From: %s\r\nTo: you@example.com\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <eval-%d@example.com>\r\n\r\n%s"
                        % (m["from"], m["subject"], m["date"], k, m["body"]))


def write_workdir(root, files):
    os.makedirs(root, exist_ok=True)
    for p, content in files.items():
        full = os.path.join(root, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content)


def run_one(bin_dir, model, conv, tmp, timeout):
    agent = conv["agent"]
    world = conv["world"]
    cmd = [os.path.join(bin_dir, PROGRAMS[agent]), "--model", model]
    if agent == "scheduling":
        path = os.path.join(tmp, "calendar.ics")
        write_ics(path, world["events"])
        cmd += ["--calendar", path]
    elif agent == "email":
        path = os.path.join(tmp, "Maildir")
        write_maildir(path, world["folders"])
        cmd += ["--maildir", path]
    else:
        path = os.path.join(tmp, "work")
        write_workdir(path, world["files"])
        cmd += ["--workdir", path]
    cmd.append(conv["request"])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, NO_COLOR="1"))
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
    calls, answer = [], None
    for line in out.split("\n"):
        if line.startswith("-> "):
            name, _, args = line[3:].partition(" ")
            try:
                calls.append((name, json.loads(args)))
            except ValueError:
                calls.append((name, args))
        elif line.startswith("answer: "):
            answer = line[len("answer: "):]
    expected = [(s["name"], s["arguments"]) for s in conv["steps"]]
    ok = rc == 0 and calls == expected and bool(answer and answer.strip())
    return ok, calls, answer, rc, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--model", default=os.path.join(HERE, "phial-demo.gguf"))
    ap.add_argument("--split", default="heldout")
    ap.add_argument("--limit", type=int, default=0, help="conversations per agent (0 = all)")
    ap.add_argument("--agents", default="scheduling,email,automation")
    ap.add_argument("--show", type=int, default=3, help="failures to print per agent")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    agents = args.agents.split(",")
    convs = [json.loads(l) for l in open(os.path.join(HERE, "data", args.split + ".jsonl"))]
    stats, shown = defaultdict(lambda: [0, 0, 0]), defaultdict(int)
    t0 = time.time()
    for conv in convs:
        a = conv["agent"]
        if a not in agents or (args.limit and stats[a][0] >= args.limit):
            continue
        tmp = tempfile.mkdtemp(prefix="phial-demo-eval-")
        try:
            ok, calls, answer, rc, out = run_one(args.bin_dir, os.path.abspath(args.model), conv, tmp, args.timeout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        s = stats[a]
        s[0] += 1
        s[1] += ok
        s[2] += ok and answer == conv["answer"]
        if not ok and shown[a] < args.show:
            shown[a] += 1
            print("FAIL [%s] %s\n   expected %s\n   got      %s (exit %d)\n   answer   %r" % (
                a, conv["request"], [(st["name"], st["arguments"]) for st in conv["steps"]], calls, rc, answer),
                flush=True)
    total = [0, 0, 0]
    for a in agents:
        s = stats[a]
        if not s[0]:
            continue
        print("%-11s %3d/%3d = %5.1f%% right calls + final answer   (answer word-for-word as the simulator's: %d)" %
              (a, s[1], s[0], 100.0 * s[1] / s[0], s[2]))
        total = [x + y for x, y in zip(total, s)]
    if total[0]:
        print("%-11s %3d/%3d = %5.1f%%   (%.0f s)" % ("all", total[1], total[0], 100.0 * total[1] / total[0], time.time() - t0))


if __name__ == "__main__":
    main()
