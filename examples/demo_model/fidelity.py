"""Fidelity check: phial's forward pass on the shipped GGUF (and on the f32 safetensors) against
this directory's PyTorch model, on real agent prompts. Prints max |logit difference| / max |logit|
and whether the greedy next token agrees at every position.

    python3 fidelity.py PHIAL_BINARY [hf/demo.pt] [phial-demo.gguf]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

import generate_data as G
import o200k
from evaluate import Runner

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    phial = sys.argv[1]
    ck = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "hf", "demo.pt")
    models = sys.argv[3:] or [os.path.join(HERE, "hf"), os.path.join(HERE, "phial-demo.gguf")]
    torch.set_num_threads(1)
    tk = o200k.default()
    r = Runner(ck)
    convs = [json.loads(l) for l in open(os.path.join(HERE, "data", "heldout.jsonl"))]
    picks = [convs[0], convs[100], convs[200]]  # one per agent
    for conv in picks:
        text = G.system_prefix(conv["agent"]) + "".join(t for t, _ in G.render_segments(conv, 0))
        ids = tk.encode(text)
        with torch.no_grad():
            h, _ = r.model.hidden(torch.tensor([r.to_local(ids)]))
            sub = (h[0] @ r.W.t()).numpy()  # (T, V_sub)
        ref = np.zeros((len(ids), 200064), dtype=np.float32)
        ref[:, r.vocab] = sub
        for m in models:
            with tempfile.NamedTemporaryFile(suffix=".f32") as f:
                subprocess.run([phial, "logits", "--model", m, "--ids", ",".join(map(str, ids)), "--out", f.name,
                                "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
                got = np.fromfile(f.name, dtype=np.float32).reshape(len(ids), -1)
            dev = np.abs(got - ref).max()
            same = (got.argmax(-1) == ref.argmax(-1)).mean()
            print("%-10s %4d tokens  %-16s max|diff| %.2e  (max|logit| %.1f, rel %.2e)  greedy agrees %.1f%%" %
                  (conv["agent"], len(ids), os.path.basename(m), dev, np.abs(ref).max(), dev / np.abs(ref).max(),
                   100 * same))


if __name__ == "__main__":
    main()
