"""Render the conversations of data/<split>.jsonl exactly as phial's agent feeds them to the model
and tokenize them with the Phi-4-mini tokenizer; cache the result as data/<split>.tok.jsonl.

Each conversation becomes `ids` (the tokens after the system prompt) and `mask` (1 where the token
is written by the assistant: tool calls, answers and their <|end|>; the training targets).
`prefixes` maps each agent to the tokens of its system prompt with the tool list."""
import json
import os

import generate_data as G
import o200k

HERE = os.path.dirname(os.path.abspath(__file__))


def tokenize_split(split, tk=None):
    tk = tk or o200k.default()
    prefixes = {a: tk.encode(G.system_prefix(a)) for a in G.AGENTS}
    out = []
    for line in open(os.path.join(HERE, "data", split + ".jsonl")):
        conv = json.loads(line)
        ids, mask = [], []
        for text, is_target in G.render_segments(conv, conv["style"]):
            t = tk.encode(text)
            ids += t
            mask += [1 if is_target else 0] * len(t)
        out.append({"agent": conv["agent"], "ids": ids, "mask": mask})
    return out, prefixes


def load_tokenized(split):
    path = os.path.join(HERE, "data", split + ".tok.json")
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(os.path.join(HERE, "data", split + ".jsonl")):
        convs, prefixes = tokenize_split(split)
        with open(path, "w") as f:
            json.dump({"convs": convs, "prefixes": prefixes}, f)
    d = json.load(open(path))
    by_agent = {}
    for c in d["convs"]:
        by_agent.setdefault(c["agent"], []).append(c)
    return by_agent, d["prefixes"]


if __name__ == "__main__":
    for s in ["train", "heldout"]:
        by_agent, pre = load_tokenized(s)
        print(s, {a: len(v) for a, v in by_agent.items()}, {a: len(p) for a, p in pre.items()})
