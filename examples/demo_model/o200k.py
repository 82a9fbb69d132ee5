"""Phi-4-mini tokenizer in plain Python (o200k_base BPE + the 12 added tokens), used by the
demo-model scripts while phial's own `phial tokenize` is not available. Checked against
tests/data/tokenizer/corpus-*.jsonl(.gz) by `python3 o200k.py --check`."""
import base64
import os
import sys

import regex

PATTERN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
           r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
           r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# id, text, rstrip (Phi-4-mini tokenizer.json; none of them has lstrip)
ADDED = [(199999, "<|endoftext|>", False), (200018, "<|endofprompt|>", False),
         (200019, "<|assistant|>", True), (200020, "<|end|>", True), (200021, "<|user|>", True),
         (200022, "<|system|>", True), (200023, "<|tool|>", True), (200024, "<|/tool|>", True),
         (200025, "<|tool_call|>", True), (200026, "<|/tool_call|>", True),
         (200027, "<|tool_response|>", True), (200028, "<|tag|>", True)]
SPECIAL = {text: (i, rs) for i, text, rs in ADDED}
VOCAB_SIZE = 200064


class Tokenizer:
    def __init__(self, ranks_path):
        self.ranks = {}
        with open(ranks_path, "rb") as f:
            for line in f:
                tok, rank = line.split()
                self.ranks[base64.b64decode(tok)] = int(rank)
        self.id_to_bytes = {r: b for b, r in self.ranks.items()}
        for i, text, _ in ADDED:
            self.id_to_bytes[i] = text.encode()
        self.pat = regex.compile(PATTERN)
        self.special_pat = regex.compile("|".join(regex.escape(t) for t in sorted(SPECIAL, key=len, reverse=True)))
        self.cache = {}

    def _bpe(self, piece):
        if piece in self.ranks:
            return [self.ranks[piece]]
        parts = [piece[i:i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        return [self.ranks[p] for p in parts]

    def encode_ordinary(self, text):
        out = []
        for m in self.pat.finditer(text):
            s = m.group(0)
            ids = self.cache.get(s)
            if ids is None:
                ids = self._bpe(s.encode("utf-8"))
                self.cache[s] = ids
            out.extend(ids)
        return out

    def encode(self, text):
        """HF default encode: added tokens parsed, whitespace after rstrip tokens swallowed."""
        out, pos = [], 0
        for m in self.special_pat.finditer(text):
            out.extend(self.encode_ordinary(text[pos:m.start()]))
            tid, rstrip = SPECIAL[m.group(0)]
            out.append(tid)
            pos = m.end()
            if rstrip:
                while pos < len(text) and text[pos].isspace() and text[pos] not in "\ufeff\u200b":
                    pos += 1
        out.extend(self.encode_ordinary(text[pos:]))
        return out

    def decode(self, ids):
        return b"".join(self.id_to_bytes.get(i, b"") for i in ids).decode("utf-8", errors="replace")


# The repository's copy of the tokenizer test data.
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "tokenizer")


def _open_data(name):
    import gzip
    path = os.path.join(DATA, name)
    return gzip.open(path + ".gz", "rt", encoding="utf-8") if os.path.exists(path + ".gz") else open(path, encoding="utf-8")


def default():
    here = os.path.dirname(os.path.abspath(__file__))
    for p in [os.path.join(here, "o200k_base.tiktoken"), os.path.join(DATA, "o200k_base.tiktoken.gz")]:
        if os.path.exists(p):
            if p.endswith(".gz"):
                import gzip, tempfile
                tmp = tempfile.NamedTemporaryFile(suffix=".tiktoken", delete=False)
                tmp.write(gzip.open(p).read()); tmp.close()
                p = tmp.name
            return Tokenizer(p)
    raise SystemExit("o200k_base.tiktoken not found")


if __name__ == "__main__" and "--check" in sys.argv:
    import json
    tk = default()
    bad = n = 0
    for line in _open_data("corpus-public.jsonl"):
        d = json.loads(line); n += 1
        if tk.encode_ordinary(d["text"]) != d["o200k_base"]:
            bad += 1
    print("plain", n, "mismatches", bad)
    bad = n = 0
    for line in _open_data("corpus-special-public.jsonl"):
        d = json.loads(line); n += 1
        if tk.encode(d["text"]) != d["phi-4-mini"]:
            bad += 1
    print("special", n, "mismatches", bad)
