"""The demo model in PyTorch: transformers' Phi3ForCausalLM forward pass (spec §2), written out so
it can train over a sub-vocabulary and share one system-prompt prefix across a batch.

Phi-4-mini's architecture at a small size: fused qkv_proj [Q | K | V], fused gate_up_proj
[gate | up] with up * silu(gate), RMSNorm (eps 1e-5), rotate-half RoPE over the first
rotary_dim = 0.75 * head_dim dims of each head, LongRoPE (short/long factors, attention factor
sqrt(1 + ln(max/orig) / ln(orig)) multiplying cos and sin), GQA, tied embeddings, no biases.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Phi-4-mini-instruct's 48 long factors (spec §1.9); the demo model keeps 12 of them, the same curve.
PHI4_MINI_LONG = [1, 1.118320672, 1.250641126, 1.398617824, 1.564103225, 1.74916897, 1.956131817, 2.187582649,
                  2.446418898, 2.735880826, 3.059592084, 3.421605075, 3.826451687, 4.279200023, 4.785517845,
                  5.351743533, 5.984965424, 6.693110555, 7.485043894, 8.370679318, 9.36110372, 10.4687158,
                  11.70738129, 13.09260651, 14.64173252, 16.37415215, 18.31155283, 20.47818807, 22.90118105,
                  25.61086418, 28.64115884, 32.03, 32.1, 32.13, 32.23, 32.6, 32.61, 32.64, 32.66, 32.7, 32.71,
                  32.93, 32.97, 33.28, 33.49, 33.5, 44.16, 47.77]


def demo_config(vocab_size=200064, hidden=64, layers=4, kv_heads=1):
    # heads of 32 dims (64 -> 2 heads, 96 -> 3: with one KV head, Phi-4-mini's 3:1 GQA ratio)
    heads, inter = hidden // 32, 3 * hidden
    head_dim = hidden // heads
    n_factors = int(head_dim * 0.75) // 2  # 12
    long_factor = [PHI4_MINI_LONG[round(i * 47 / (n_factors - 1))] for i in range(n_factors)]  # 12 of the 48
    return {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "_name_or_path": "phial-demo",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "partial_rotary_factor": 0.75,
        "vocab_size": vocab_size,
        "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096,
        "rope_theta": 10000.0,
        "rope_scaling": {"type": "longrope", "long_factor": long_factor, "short_factor": [1.0] * n_factors},
        "rms_norm_eps": 1e-05,
        "hidden_act": "silu",
        "tie_word_embeddings": True,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "embd_pdrop": 0.0,
        "resid_pdrop": 0.0,
        "initializer_range": 0.02,
        "sliding_window": 262144,
        "use_cache": True,
        "bos_token_id": 199999,
        "eos_token_id": 200020,
        "pad_token_id": 199999,
        "torch_dtype": "float32",
        "transformers_version": "4.49.0",
    }


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, nh, nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.nh, self.nkv, self.hd = nh, nkv, H // nh
        self.input_layernorm = RMSNorm(H, c["rms_norm_eps"])
        self.qkv_proj = nn.Linear(H, (nh + 2 * nkv) * self.hd, bias=False)
        self.o_proj = nn.Linear(nh * self.hd, H, bias=False)
        self.post_attention_layernorm = RMSNorm(H, c["rms_norm_eps"])
        self.gate_up_proj = nn.Linear(H, 2 * c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], H, bias=False)

    def forward(self, x, cos, sin, past, mask):
        # x: (B, T, H); cos/sin: (T, rot); past: (k, v) each (B, nkv, P, hd) or None
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        qkv = self.qkv_proj(h)
        q, k, v = qkv.split([self.nh * self.hd, self.nkv * self.hd, self.nkv * self.hd], dim=-1)
        q = q.view(B, T, self.nh, self.hd).transpose(1, 2)    # (B, nh, T, hd)
        k = k.view(B, T, self.nkv, self.hd).transpose(1, 2)   # (B, nkv, T, hd)
        v = v.view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if past is not None:
            k = torch.cat([past[0].expand(B, -1, -1, -1), k], dim=2)
            v = torch.cat([past[1].expand(B, -1, -1, -1), v], dim=2)
        rep = self.nh // self.nkv  # query head i uses kv head i // rep: group the queries per kv head
        S = k.shape[2]
        qg = q.reshape(B, self.nkv, rep * T, self.hd)     # (B, nkv, rep*T, hd)
        s = (qg * self.hd ** -0.5) @ k.transpose(-1, -2)  # (B, nkv, rep*T, P+T); mask: additive (T, P+T)
        s = s.view(B, self.nkv, rep, T, S) + mask
        a = torch.softmax(s, dim=-1).view(B, self.nkv, rep * T, S) @ v
        a = a.view(B, self.nh, T, self.hd)                # (B, nh, T, hd)
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, -1))
        gate, up = self.gate_up_proj(self.post_attention_layernorm(x)).chunk(2, dim=-1)
        return x + self.down_proj(up * F.silu(gate)), (k, v)


def rope(x, cos, sin):
    rot = cos.shape[-1]
    xr, xp = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = torch.cat([-xr[..., half:], xr[..., :half]], dim=-1)
    return torch.cat([xr * cos + rotated * sin, xp], dim=-1)


class DemoModel(nn.Module):
    """`embed` holds only the rows of `vocab` (global token ids, ascending); logits come out over
    those rows plus, optionally, one column standing for every other (all-zero) row of the full
    200064-row matrix: each of those has logit exactly 0, so together they weigh log(N_other)."""

    def __init__(self, c, vocab):
        super().__init__()
        self.c = c
        self.vocab = list(vocab)
        self.embed = nn.Embedding(len(vocab), c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["hidden_size"] // c["num_attention_heads"]
        self.rot = int(hd * c["partial_rotary_factor"])
        rs = c["rope_scaling"]
        scale = c["max_position_embeddings"] / c["original_max_position_embeddings"]
        self.attn_factor = math.sqrt(1 + math.log(scale) / math.log(c["original_max_position_embeddings"]))
        base = c["rope_theta"] ** (torch.arange(0, self.rot, 2, dtype=torch.int64).float() / self.rot)
        self.register_buffer("inv_freq_short", 1.0 / (torch.tensor(rs["short_factor"]) * base), persistent=False)
        self.register_buffer("inv_freq_long", 1.0 / (torch.tensor(rs["long_factor"]) * base), persistent=False)
        self.log_other = math.log(c["vocab_size"] - len(vocab))
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def cos_sin(self, pos, long):
        inv = self.inv_freq_long if long else self.inv_freq_short
        f = pos.float()[:, None] * inv[None, :]
        emb = torch.cat([f, f], dim=-1)
        return emb.cos() * self.attn_factor, emb.sin() * self.attn_factor

    def hidden(self, ids, past=None, pad_mask=None):
        """ids (B, T) local indices; past: list of per-layer (k, v) with P positions (batch 1 or B).
        Returns final-normed hidden states (B, T, H) and the new per-layer (k, v)."""
        B, T = ids.shape
        P = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(P, P + T)
        long = P + T > self.c["original_max_position_embeddings"]
        cos, sin = self.cos_sin(pos, long)
        visible = torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P)  # (T, P+T): causal, prefix visible
        mask = torch.zeros(T, P + T).masked_fill(~visible, float("-inf"))
        x = self.embed(ids)
        new = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, None if past is None else past[i], mask)
            new.append(kv)
        return self.norm(x), new

    def logits(self, h, with_other=True):
        z = h @ self.embed.weight.t()
        if with_other:
            z = torch.cat([z, torch.full_like(z[..., :1], self.log_other)], dim=-1)
        return z
