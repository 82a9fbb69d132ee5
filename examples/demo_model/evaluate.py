"""Held-out evaluation of the demo model with its PyTorch forward pass (greedy decoding, no
grammar): for each held-out request, the model must emit the expected tool call(s) with exactly
the expected arguments (each result is then fed back as the agent would), and finish with a final
answer (text without a tool call, ended by <|end|>).

    python3 evaluate.py [--model hf/demo.pt] [--split heldout] [--show 3]
"""
import argparse
import json
import os
from collections import defaultdict

import torch

import generate_data as G
import o200k
from model import DemoModel

HERE = os.path.dirname(os.path.abspath(__file__))
END, TOOL_CALL, TOOL_CALL_END = 200020, 200025, 200026


class Runner:
    def __init__(self, path):
        ck = torch.load(path)
        self.model = DemoModel(ck["config"], ck["vocab"])
        self.model.load_state_dict(ck["state"])
        self.model.eval()
        W = self.model.embed.weight.data
        self.W = W
        # one extra all-zero row: what a token outside the trained sub-vocabulary embeds to
        self.model.embed = torch.nn.Embedding.from_pretrained(torch.cat([W, torch.zeros(1, W.shape[1])]))
        self.local = {g: l for l, g in enumerate(ck["vocab"])}
        self.vocab = ck["vocab"]
        self.unk = len(ck["vocab"])

    def to_local(self, ids):
        return [self.local.get(i, self.unk) for i in ids]

    @torch.no_grad()
    def feed(self, past, ids):
        h, past = self.model.hidden(torch.tensor([self.to_local(ids)]), past)
        return h[0, -1], past

    @torch.no_grad()
    def generate(self, past, h, max_new=160):
        """Greedy until <|end|>. Returns (global ids without <|end|>, past, ok)."""
        out = []
        for _ in range(max_new):
            z = h @ self.W.t()
            j = int(z.argmax())
            if float(z[j]) <= 0.0:  # an untrained (zero) row would win: the shipped model emits junk
                return out, past, False
            g = self.vocab[j]
            h, past = self.feed(past, [g])
            if g == END:
                return out, past, True
            out.append(g)
        return out, past, False


def run_one(r, tk, conv, prefix_past):
    prompt = tk.encode("<|user|>" + conv["request"] + "<|end|><|assistant|>")
    h, past = r.feed(prefix_past, prompt)
    transcript = []
    for step in conv["steps"]:
        out, past, ok = r.generate(past, h)
        text = tk.decode(out)
        transcript.append(text)
        if not ok or not out or out[0] != TOOL_CALL or TOOL_CALL_END not in out:
            return False, False, transcript
        try:
            calls = json.loads(text[len("<|tool_call|>"):text.index("<|/tool_call|>")])
        except (ValueError, IndexError):
            return False, False, transcript
        if calls != [{"name": step["name"], "arguments": step["arguments"]}]:
            return False, False, transcript
        h, past = r.feed(past, [END] + tk.encode(G.render_result(step["result"], conv["style"]) + "<|assistant|>"))
    out, past, ok = r.generate(past, h)
    text = tk.decode(out)
    transcript.append(text)
    good = ok and bool(text.strip()) and TOOL_CALL not in out
    return good, good and text == conv["answer"], transcript


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "hf", "demo.pt"))
    ap.add_argument("--split", default="heldout")
    ap.add_argument("--limit", type=int, default=0, help="conversations per agent (0 = all)")
    ap.add_argument("--show", type=int, default=2, help="failures to print per agent")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tk = o200k.default()
    r = Runner(args.model)
    convs = [json.loads(l) for l in open(os.path.join(HERE, "data", args.split + ".jsonl"))]
    stats = defaultdict(lambda: [0, 0, 0])
    shown = defaultdict(int)
    unseen = set()
    prefix_past = {}
    for conv in convs:
        a = conv["agent"]
        if args.limit and stats[a][0] >= args.limit:
            continue
        if a not in prefix_past:
            _, prefix_past[a] = r.feed(None, tk.encode(G.system_prefix(a)))
        unseen |= {i for i in tk.encode(conv["request"]) if i not in r.local}
        ok, exact, tr = run_one(r, tk, conv, prefix_past[a])
        s = stats[a]
        s[0] += 1
        s[1] += ok
        s[2] += exact
        if not ok and shown[a] < args.show:
            shown[a] += 1
            print("FAIL [%s] %s\n   expected %s\n   got      %s" % (a, conv["request"],
                  [(st["name"], st["arguments"]) for st in conv["steps"]], tr))
    total = [0, 0, 0]
    for a, s in stats.items():
        print("%-11s %3d/%3d = %5.1f%% right calls + answer   (answer word-for-word as expected: %d)" %
              (a, s[1], s[0], 100.0 * s[1] / s[0], s[2]))
        total = [x + y for x, y in zip(total, s)]
    print("%-11s %3d/%3d = %5.1f%%" % ("all", total[1], total[0], 100.0 * total[1] / total[0]))
    print("request tokens outside the trained sub-vocabulary:", len(unseen), [tk.decode([i]) for i in sorted(unseen)][:20])


if __name__ == "__main__":
    main()
