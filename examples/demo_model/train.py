"""Train the phial demo model on data/train.jsonl and write it as a Hugging Face directory
(config.json, model.safetensors with the full 200064-row tied embedding, tokenizer files).

    python3 train.py [--steps N] [--out hf]

Trains over a sub-vocabulary: only the token ids that occur in the training data (plus the 12
added tokens) get embedding rows; every other row of the shipped 200064 x H matrix is zero, so its
logit is exactly 0. The loss accounts for those rows (one extra column of weight log(N_other)),
so the trained loss is the full-vocabulary loss of the shipped model.

Each batch holds conversations of one agent: the system prompt (with the tool list) is identical
for all of them, so it is run once per step and its keys/values are shared by the whole batch.
"""
import argparse
import json
import math
import os
import random
import struct
import time

# Debian's torch does its matrix products in OpenBLAS, whose own threads (one per core, busy-waiting)
# are not covered by torch.set_num_threads: pin them to one before torch loads, so that a run is
# one thread (two runs fit a 2-core machine) and its numbers do not depend on the core count.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402 (after the OpenBLAS setting)
import torch.nn.functional as F

import generate_data as G
from model import DemoModel, demo_config
from tokenize_data import load_tokenized

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIAL_IDS = [199999, 200018] + list(range(200019, 200029))


def batches(rng, data, agent, B):
    # data[agent] is sorted by length: a window of neighbours pads little
    i = rng.randrange(len(data[agent]) - B + 1)
    convs = data[agent][i:i + B]
    L = max(len(c["ids"]) for c in convs)
    ids = torch.zeros(B, L, dtype=torch.long)
    tgt = torch.full((B, L), -100, dtype=torch.long)
    for b, c in enumerate(convs):
        n = len(c["ids"])
        ids[b, :n] = torch.tensor(c["local"])
        t = torch.tensor(c["local"][1:])
        m = torch.tensor(c["mask"][1:], dtype=torch.bool)
        tgt[b, :n - 1] = torch.where(m, t, torch.full_like(t, -100))  # position t predicts token t+1
    return ids, tgt


def save_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


CHAT_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
                 "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + "
                 "message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
                 "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}")


def export(model, out):
    os.makedirs(out, exist_ok=True)
    c = model.c
    full = torch.zeros(c["vocab_size"], c["hidden_size"])
    full[torch.tensor(model.vocab)] = model.embed.weight.detach()
    t = {"model.embed_tokens.weight": full}
    for i, l in enumerate(model.layers):
        p = "model.layers.%d." % i
        t[p + "input_layernorm.weight"] = l.input_layernorm.weight
        t[p + "self_attn.qkv_proj.weight"] = l.qkv_proj.weight
        t[p + "self_attn.o_proj.weight"] = l.o_proj.weight
        t[p + "post_attention_layernorm.weight"] = l.post_attention_layernorm.weight
        t[p + "mlp.gate_up_proj.weight"] = l.gate_up_proj.weight
        t[p + "mlp.down_proj.weight"] = l.down_proj.weight
    t["model.norm.weight"] = model.norm.weight
    save_safetensors(os.path.join(out, "model.safetensors"), t)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 199999, "eos_token_id": [200020, 199999], "pad_token_id": 199999}, f, indent=2)
    src = os.path.join(HERE, "tokenizer", "tokenizer.json")
    if not os.path.exists(src):  # the repository's gzipped copy
        src = os.path.join(HERE, "..", "..", "tests", "data", "tokenizer", "phi-4-mini", "tokenizer.json.gz")
    import gzip
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rb") as fi, open(os.path.join(out, "tokenizer.json"), "wb") as fo:
        fo.write(fi.read())
    tc = {"add_bos_token": False, "add_eos_token": False, "add_prefix_space": False, "bos_token": "<|endoftext|>",
          "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
          "clean_up_tokenization_spaces": False, "model_max_length": 131072, "tokenizer_class": "GPT2Tokenizer",
          "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2)
    torch.save({"config": c, "vocab": model.vocab, "state": model.state_dict()}, os.path.join(out, "demo.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--threads", type=int, default=1)  # 1 beats 2 on a busy 2-core machine
    ap.add_argument("--out", default=os.path.join(HERE, "hf"))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=250, help="also keep ckpt/step-N.pt every N steps")
    ap.add_argument("--scheduling-share", type=float, default=0.5,
                    help="share of the steps spent on the scheduling agent (the rest split evenly)")
    ap.add_argument("--export-only", metavar="CKPT", help="write the HF directory of a saved demo.pt and stop")
    args = ap.parse_args()
    if args.export_only:
        ck = torch.load(args.export_only)
        model = DemoModel(ck["config"], ck["vocab"])
        model.load_state_dict(ck["state"])
        export(model, args.out)
        return
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rng = random.Random(0)

    train, prefixes = load_tokenized("train")
    vocab = sorted(set(SPECIAL_IDS) | {i for p in prefixes.values() for i in p} |
                   {i for cs in train.values() for c in cs for i in c["ids"]})
    local = {g: l for l, g in enumerate(vocab)}
    for cs in train.values():
        for c in cs:
            c["local"] = [local[i] for i in c["ids"]]
    for a in train:
        train[a].sort(key=lambda c: len(c["ids"]))
    pre_local = {a: torch.tensor([[local[i] for i in p]]) for a, p in prefixes.items()}
    model = DemoModel(demo_config(hidden=args.hidden, layers=args.layers, kv_heads=args.kv_heads), vocab)
    n_params = sum(p.numel() for p in model.parameters())
    print("sub-vocabulary %d tokens, %d trainable parameters" % (len(vocab), n_params), flush=True)

    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    agents = list(train)
    t0, avg = time.time(), None
    for step in range(args.steps):
        # warmup, then inverse-square-root decay: independent of --steps, so the model after N
        # steps of a longer run is the model of `--steps N` (checkpoints are reproducible)
        lr = args.lr * min((step + 1) / 50, math.sqrt(50 / (step + 1)))
        for g in opt.param_groups:
            g["lr"] = lr
        # scheduling gets its share of the steps (README command (1) runs it), the others the rest
        agent = "scheduling" if rng.random() < args.scheduling_share else rng.choice([a for a in agents if a != "scheduling"])
        ids, tgt = batches(rng, train, agent, args.batch)
        _, past = model.hidden(pre_local[agent])
        h, _ = model.hidden(ids, past)
        sel = tgt.view(-1) != -100
        z = model.logits(h.view(-1, h.shape[-1])[sel])
        loss = F.cross_entropy(z, tgt.view(-1)[sel])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == args.steps - 1:
            if step % 50 == 0 and step:
                os.makedirs(args.out, exist_ok=True)
                ck = {"config": model.c, "vocab": model.vocab, "state": model.state_dict(), "updates": step + 1}
                torch.save(ck, os.path.join(args.out, "demo.pt.tmp"))
                os.replace(os.path.join(args.out, "demo.pt.tmp"), os.path.join(args.out, "demo.pt"))
                if args.save_every and step % args.save_every == 0:
                    os.makedirs(os.path.join(args.out, "ckpt"), exist_ok=True)
                    torch.save(ck, os.path.join(args.out, "ckpt", "step-%d.pt" % step))
            print("step %d  loss %.4f  avg %.4f  lr %.2e  %.0fs" % (step, loss.item(), avg, lr, time.time() - t0), flush=True)
    print("training took %.0f s" % (time.time() - t0))
    export(model, args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
