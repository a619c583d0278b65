#!/usr/bin/python3
"""Generate the reference fixtures for jgpt's parity tests.

For every fixture config this script builds a seeded GPT-2 (a small, plain
PyTorch implementation, nanoGPT style), writes its weights as a HuggingFace
safetensors checkpoint and as an llm.c model.bin, writes a batch of token ids,
and writes what `jgpt debug-step` must reproduce: loss, logits, per-tensor
gradient norms, and the losses of 10 AdamW steps on that batch.

A fixture with micro_batches K > 1 splits its batch of B rows into K micro-batches of B/K rows and
accumulates their gradients as build-nanogpt does (each micro-batch's mean loss divided by K); the
script checks that this equals one batch of B rows (it has no ignored targets) before writing it.

All arithmetic is float64 (weights are drawn in float32, so the stored files
hold exactly the values the double-precision model starts from). The files are reproduced byte for
byte with Debian's python3-torch on libopenblas0-openmp (the reference BLAS rounds the last digit of
some float64 results differently).

Usage:
    /usr/bin/python3 tools/reference/make_fixtures.py [--out DIR]          # generate
    /usr/bin/python3 tools/reference/make_fixtures.py [--out DIR] --check  # verify files on disk
"""

import argparse
import json
import math
import os
import struct
import sys
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "fixtures"
)

# Training settings recorded in expected.json
STEPS = 10
LR = 1e-3
WEIGHT_DECAY = 0.1
CLIP = 1.0
BETA1, BETA2 = 0.9, 0.95
EPS = 1e-8

LLMC_MAGIC = 20240326


@dataclass
class Fixture:
    name: str
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    vocab_size: int
    B: int
    T: int
    seed: int
    micro_batches: int = 1

    @property
    def padded_vocab_size(self):
        return ((self.vocab_size + 127) // 128) * 128


FIXTURES = [
    Fixture("tiny", 2, 4, 32, 16, 97, 2, 7, 1),
    Fixture("odd_heads", 3, 3, 48, 32, 211, 3, 13, 2),
    Fixture("wider", 2, 2, 64, 64, 300, 1, 64, 3),
    Fixture("vocab128", 1, 2, 16, 8, 256, 2, 5, 4),
    # 150 queries: attention's two full blocks of 64 and a partial third, in both directions
    Fixture("long", 1, 3, 24, 150, 32, 2, 150, 5),
    # gradient accumulation: two micro-batches of 2 rows, which must equal one batch of 4
    Fixture("accum", 2, 2, 16, 32, 64, 4, 24, 6, micro_batches=2),
]


# ----------------------------------------------------------------------------
# The model (GPT-2). Linear weights use nn.Linear's [out, in] orientation.
# Parameter names (named_parameters) equal HF GPT-2's names without prefix.

def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.n_embd = cfg.n_embd
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, NH, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x):
        return self.c_proj(gelu_tanh(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=1e-5)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        pos = torch.arange(T, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        logits = F.linear(x, self.wte.weight)  # tied LM head
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


def param_names(cfg):
    """Canonical parameter order (HF names, no prefix)."""
    names = ["wte.weight", "wpe.weight"]
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        names += [p + "ln_1.weight", p + "ln_1.bias",
                  p + "attn.c_attn.weight", p + "attn.c_attn.bias",
                  p + "attn.c_proj.weight", p + "attn.c_proj.bias",
                  p + "ln_2.weight", p + "ln_2.bias",
                  p + "mlp.c_fc.weight", p + "mlp.c_fc.bias",
                  p + "mlp.c_proj.weight", p + "mlp.c_proj.bias"]
    names += ["ln_f.weight", "ln_f.bias"]
    return names


def init_weights(cfg):
    """Seeded float32 weights, keyed by HF name, in [out, in] orientation."""
    model = GPT(cfg)  # only for the shapes
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    torch.manual_seed(cfg.seed)
    assert list(shapes) == param_names(cfg), "parameter order mismatch"
    w = {}
    for name in param_names(cfg):
        shape = shapes[name]
        r = torch.randn(shape, dtype=torch.float32)
        if ".ln_" in name or name.startswith("ln_f"):
            w[name] = (1.0 + 0.1 * r) if name.endswith(".weight") else 0.05 * r
        elif len(shape) >= 2:
            w[name] = 0.08 * r
        else:
            w[name] = 0.05 * r
        assert w[name].dtype == torch.float32
    return w


def build_model(cfg, weights):
    """float64 model whose parameters are exactly the given (float32) values."""
    model = GPT(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(weights[name].to(torch.float32))
    return model.double()


def make_batch(cfg):
    g = torch.Generator().manual_seed(1000 + cfg.seed)
    seq = torch.randint(0, cfg.vocab_size, (cfg.B, cfg.T + 1), generator=g)
    inputs = seq[:, :-1].clone()
    targets = seq[:, 1:].clone()
    if cfg.name == "wider":
        # scattered ignored positions plus one contiguous run; never a whole row
        for t in [0, 5, 11, 23, 37, 50, 63]:
            targets[0, t] = -1
        targets[0, 40:44] = -1
    return inputs, targets


# ----------------------------------------------------------------------------
# Reference computation

def configure_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=LR, betas=(BETA1, BETA2), eps=EPS)


def micro_batches(cfg, inputs, targets):
    """The batch's rows cut into cfg.micro_batches equal parts, in order."""
    rows = cfg.B // cfg.micro_batches
    assert rows * cfg.micro_batches == cfg.B
    return [(inputs[k * rows:(k + 1) * rows], targets[k * rows:(k + 1) * rows]) for k in range(cfg.micro_batches)]


def reference(cfg, weights, inputs, targets):
    model = build_model(cfg, weights)
    opt = configure_optimizer(model)
    out = {}
    losses = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss_accum = 0.0
        for k, (x, y) in enumerate(micro_batches(cfg, inputs, targets)):
            logits, loss = model(x, y)
            loss = loss / cfg.micro_batches  # build-nanogpt's accumulation: the mean of the micro-batch means
            loss.backward()
            loss_accum += loss.item()
            if step == 0 and k == 0:
                out["logits_row0"] = logits[0, :, :cfg.vocab_size].tolist()
        if step == 0:
            out["loss"] = loss_accum
            out["grad_norms"] = {n: p.grad.norm().item() for n, p in model.named_parameters()}
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        if step == 0:
            out["grad_norm"] = norm.item()
        opt.step()
        losses.append(loss_accum)
    out["losses"] = losses
    assert out["losses"][0] == out["loss"]
    return out


def check_accumulation(cfg, weights, inputs, targets, exp):
    """Accumulating micro-batches gives what one batch of all the rows gives (float64 rounding apart)."""
    if cfg.micro_batches == 1:
        return
    assert (targets != -1).all(), "with ignored targets the mean of micro-batch means is another loss"
    whole = reference(replace(cfg, micro_batches=1), weights, inputs, targets)

    def close(a, b, what):
        assert abs(a - b) <= 1e-12 * abs(b), f"{cfg.name}: {what}: accumulated {a!r} vs one batch {b!r}"

    close(exp["loss"], whole["loss"], "loss")
    close(exp["grad_norm"], whole["grad_norm"], "grad_norm")
    for n in exp["grad_norms"]:
        close(exp["grad_norms"][n], whole["grad_norms"][n], "grad norm " + n)
    for i, (a, b) in enumerate(zip(exp["losses"], whole["losses"])):
        close(a, b, f"losses[{i}]")
    top = max(abs(v) for row in whole["logits_row0"] for v in row)
    for row_a, row_b in zip(exp["logits_row0"], whole["logits_row0"]):
        for a, b in zip(row_a, row_b):
            assert abs(a - b) <= 1e-12 * top, f"{cfg.name}: logits: micro-batch {a!r} vs one batch {b!r}"


def forward_only(cfg, weights, inputs, targets):
    model = build_model(cfg, weights)
    loss_accum = 0.0
    with torch.no_grad():
        for k, (x, y) in enumerate(micro_batches(cfg, inputs, targets)):
            logits, loss = model(x, y)
            loss_accum += (loss / cfg.micro_batches).item()
            if k == 0:
                logits_row0 = logits[0, :, :cfg.vocab_size].tolist()
    return loss_accum, logits_row0


def settings(cfg):
    s = {
        "steps": STEPS, "lr": LR, "weight_decay": WEIGHT_DECAY, "clip": CLIP,
        "beta1": BETA1, "beta2": BETA2, "eps": EPS,
        "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
        "block_size": cfg.block_size, "vocab_size": cfg.vocab_size,
        "padded_vocab_size": cfg.padded_vocab_size, "B": cfg.B, "T": cfg.T,
    }
    if cfg.micro_batches > 1:
        s["micro_batches"] = cfg.micro_batches  # B is the whole batch, split into these
    return s


# ----------------------------------------------------------------------------
# Writers

def write_json(path, obj):
    """One top-level key per line; floats in full precision (repr)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items()]
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def hf_tensors(cfg, weights):
    """HF tensor dict (numpy float32), Conv1D weights transposed to [in, out]."""
    t = {}
    for name in param_names(cfg):
        a = weights[name].numpy()
        if a.ndim == 2 and (".attn." in name or ".mlp." in name):
            a = a.T
        t[name] = np.ascontiguousarray(a, dtype="<f4")
    if cfg.name == "odd_heads":
        # Old-style checkpoint: 'transformer.' prefix, explicit lm_head,
        # and the attention causal-mask buffers.
        t = {"transformer." + k: v for k, v in t.items()}
        mask = np.tril(np.ones((cfg.block_size, cfg.block_size), dtype="<f4"))
        for i in range(cfg.n_layer):
            t[f"transformer.h.{i}.attn.bias"] = mask.reshape(1, 1, cfg.block_size, cfg.block_size).copy()
        t["lm_head.weight"] = t["transformer.wte.weight"].copy()
    return t


def write_safetensors(path, tensors):
    header = {}
    offset = 0
    for name, a in tensors.items():
        n = a.nbytes
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-(8 + len(hb))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for a in tensors.values():
            f.write(a.astype("<f4").tobytes(order="C"))


def write_hf(cfg, weights, d):
    os.makedirs(d, exist_ok=True)
    config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
        "n_positions": cfg.block_size, "n_ctx": cfg.block_size,
        "vocab_size": cfg.vocab_size, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), hf_tensors(cfg, weights))


def llmc_arrays(cfg, weights):
    """llm.c parameter tensors in file order ([out, in] orientation)."""
    L, C, V, Vp = cfg.n_layer, cfg.n_embd, cfg.vocab_size, cfg.padded_vocab_size
    wte = np.zeros((Vp, C), dtype=np.float32)
    wte[:V] = weights["wte.weight"].numpy()

    def stack(suffix):
        return np.stack([weights[f"h.{i}.{suffix}"].numpy() for i in range(L)])

    return [
        wte, weights["wpe.weight"].numpy(),
        stack("ln_1.weight"), stack("ln_1.bias"),
        stack("attn.c_attn.weight"), stack("attn.c_attn.bias"),
        stack("attn.c_proj.weight"), stack("attn.c_proj.bias"),
        stack("ln_2.weight"), stack("ln_2.bias"),
        stack("mlp.c_fc.weight"), stack("mlp.c_fc.bias"),
        stack("mlp.c_proj.weight"), stack("mlp.c_proj.bias"),
        weights["ln_f.weight"].numpy(), weights["ln_f.bias"].numpy(),
    ]


def llmc_header(cfg, version):
    h = np.zeros(256, dtype="<i4")
    h[:8] = [LLMC_MAGIC, version, cfg.block_size, cfg.vocab_size, cfg.n_layer,
             cfg.n_head, cfg.n_embd, cfg.padded_vocab_size]
    return h


def bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round-to-nearest-even."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_round(t):
    """float32 tensor -> float32 tensor holding the bf16-rounded values."""
    b = bf16_bits(t.numpy()).astype(np.uint32) << 16
    return torch.from_numpy(b.view(np.float32).reshape(t.shape).copy())


def write_llmc(cfg, weights, path, version):
    with open(path, "wb") as f:
        f.write(llmc_header(cfg, version).tobytes())
        for a in llmc_arrays(cfg, weights):
            if version == 3:
                f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
            elif version == 5:
                f.write(bf16_bits(a).astype("<u2").tobytes())
            else:
                raise ValueError(version)


def generate(cfg, out_dir):
    d = os.path.join(out_dir, cfg.name)
    os.makedirs(d, exist_ok=True)
    weights = init_weights(cfg)
    inputs, targets = make_batch(cfg)

    write_hf(cfg, weights, os.path.join(d, "hf"))
    write_llmc(cfg, weights, os.path.join(d, "model.bin"), 3)
    write_json(os.path.join(d, "batch.json"), {"inputs": inputs.tolist(), "targets": targets.tolist()})

    exp = reference(cfg, weights, inputs, targets)
    check_accumulation(cfg, weights, inputs, targets, exp)
    write_json(os.path.join(d, "expected.json"), {
        "loss": exp["loss"], "logits_row0": exp["logits_row0"],
        "grad_norms": exp["grad_norms"], "grad_norm": exp["grad_norm"],
        "losses": exp["losses"], "settings": settings(cfg),
    })
    print(f"{cfg.name}: loss={exp['loss']!r} grad_norm={exp['grad_norm']!r} "
          f"loss@step9={exp['losses'][-1]!r}")

    if cfg.name == "tiny":
        write_llmc(cfg, weights, os.path.join(d, "model_bf16.bin"), 5)
        w16 = {k: bf16_round(v) for k, v in weights.items()}
        loss16, logits16 = forward_only(cfg, w16, inputs, targets)
        write_json(os.path.join(d, "expected_bf16.json"), {
            "loss": loss16, "logits_row0": logits16, "settings": settings(cfg)})
        print(f"{cfg.name}: bf16 loss={loss16!r}")


# ----------------------------------------------------------------------------
# Independent readers for --check

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    assert header.pop("__metadata__") == {"format": "pt"}
    body = data[8 + n:]
    out, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == end, f"{name}: gap/overlap in data section"
        assert info["dtype"] == "F32"
        assert e - b == 4 * int(np.prod(info["shape"])), name
        out[name] = np.frombuffer(body[b:e], dtype="<f4").reshape(info["shape"])
        end = e
    assert end == len(body), "trailing bytes after data section"
    return out


def hf_to_weights(cfg, st):
    if "lm_head.weight" in st:
        assert np.array_equal(st.pop("lm_head.weight"), st["transformer.wte.weight"])
    w = {}
    for name, a in st.items():
        if name.startswith("transformer."):
            name = name[len("transformer."):]
        if name.endswith(".attn.bias"):  # causal-mask buffer, not a parameter
            assert a.shape == (1, 1, cfg.block_size, cfg.block_size)
            assert np.array_equal(a[0, 0], np.tril(np.ones((cfg.block_size,) * 2)))
            continue
        if a.ndim == 2 and (".attn." in name or ".mlp." in name):
            a = a.T  # Conv1D [in, out] -> [out, in]
        w[name] = torch.from_numpy(np.array(a, dtype=np.float32))
    assert sorted(w) == sorted(param_names(cfg)), "unexpected tensor set"
    return w


def read_llmc(cfg, path):
    with open(path, "rb") as f:
        data = f.read()
    h = np.frombuffer(data[:1024], dtype="<i4")
    assert h[0] == LLMC_MAGIC
    version = int(h[1])
    maxT, V, L, NH, C, Vp = (int(x) for x in h[2:8])
    assert (maxT, V, L, NH, C, Vp) == (cfg.block_size, cfg.vocab_size, cfg.n_layer,
                                       cfg.n_head, cfg.n_embd, cfg.padded_vocab_size)
    assert not h[8:].any()
    if version == 3:
        flat = np.frombuffer(data[1024:], dtype="<f4")
    elif version == 5:
        u16 = np.frombuffer(data[1024:], dtype="<u2").astype(np.uint32) << 16
        flat = u16.view(np.float32)
    else:
        raise AssertionError(f"version {version}")
    shapes = [(Vp, C), (maxT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
              (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,)]
    arrays, pos = [], 0
    for s in shapes:
        n = int(np.prod(s))
        arrays.append(flat[pos:pos + n].reshape(s))
        pos += n
    assert pos == flat.size, "file size does not match the parameter count"
    (wte, wpe, ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b, fcw, fcb, fpw, fpb, lnfw, lnfb) = arrays
    assert not wte[V:].any(), "padded vocab rows must be zero"
    w = {"wte.weight": wte[:V], "wpe.weight": wpe, "ln_f.weight": lnfw, "ln_f.bias": lnfb}
    per_layer = [("ln_1.weight", ln1w), ("ln_1.bias", ln1b), ("attn.c_attn.weight", qkvw),
                 ("attn.c_attn.bias", qkvb), ("attn.c_proj.weight", apw), ("attn.c_proj.bias", apb),
                 ("ln_2.weight", ln2w), ("ln_2.bias", ln2b), ("mlp.c_fc.weight", fcw),
                 ("mlp.c_fc.bias", fcb), ("mlp.c_proj.weight", fpw), ("mlp.c_proj.bias", fpb)]
    for i in range(L):
        for suffix, a in per_layer:
            w[f"h.{i}.{suffix}"] = a[i]
    return version, {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in w.items()}


def bf16_reference_round(x):
    """Scalar round-to-nearest-even to bfloat16, done by comparing neighbours."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    lo = bits & 0xFFFF0000
    hi = lo + 0x10000
    flo = struct.unpack("<f", struct.pack("<I", lo))[0]
    fhi = struct.unpack("<f", struct.pack("<I", hi))[0]
    dlo, dhi = abs(x - flo), abs(fhi - x)
    if dlo < dhi or (dlo == dhi and ((lo >> 16) & 1) == 0):
        return flo
    return fhi


def check(cfg, out_dir):
    d = os.path.join(out_dir, cfg.name)
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    with open(os.path.join(d, "batch.json")) as f:
        batch = json.load(f)
    with open(os.path.join(d, "hf", "config.json")) as f:
        hfc = json.load(f)
    assert (hfc["n_layer"], hfc["n_head"], hfc["n_embd"], hfc["n_positions"], hfc["vocab_size"]) == \
        (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size)
    inputs = torch.tensor(batch["inputs"], dtype=torch.long)
    targets = torch.tensor(batch["targets"], dtype=torch.long)
    assert inputs.shape == (cfg.B, cfg.T) and targets.shape == (cfg.B, cfg.T)
    assert int(inputs.min()) >= 0 and int(inputs.max()) < cfg.vocab_size
    assert int(targets.max()) < cfg.vocab_size and int(targets.min()) >= -1
    assert ((targets != -1).sum(dim=1) > 0).all(), "a batch row is entirely ignored"
    if cfg.name == "wider":
        assert int((targets == -1).sum()) >= 5

    w_hf = hf_to_weights(cfg, read_safetensors(os.path.join(d, "hf", "model.safetensors")))
    version, w_bin = read_llmc(cfg, os.path.join(d, "model.bin"))
    assert version == 3
    for k in param_names(cfg):
        assert torch.equal(w_hf[k], w_bin[k]), f"{k}: safetensors and model.bin disagree"
    # the files hold exactly the seeded weights
    w_seed = init_weights(cfg)
    for k in param_names(cfg):
        assert torch.equal(w_seed[k], w_hf[k]), f"{k}: file differs from seeded init"

    for label, w in (("safetensors", w_hf), ("model.bin", w_bin)):
        loss, logits = forward_only(cfg, w, inputs, targets)
        assert loss == exp["loss"], f"{label}: loss {loss!r} != {exp['loss']!r}"
        assert logits == exp["logits_row0"], f"{label}: logits differ"
    assert exp["losses"][0] == exp["loss"] and len(exp["losses"]) == STEPS
    assert sorted(exp["grad_norms"]) == sorted(param_names(cfg))
    gn = math.sqrt(sum(v * v for v in exp["grad_norms"].values()))
    assert abs(gn - exp["grad_norm"]) <= 1e-12 * exp["grad_norm"]
    assert len(exp["logits_row0"]) == cfg.T and all(len(r) == cfg.vocab_size for r in exp["logits_row0"])
    assert exp["settings"] == settings(cfg)
    check_accumulation(cfg, w_hf, inputs, targets, exp)
    msg = f"{cfg.name}: OK (safetensors and model.bin reproduce loss {exp['loss']!r} exactly)"

    if cfg.name == "tiny":
        version, w16 = read_llmc(cfg, os.path.join(d, "model_bf16.bin"))
        assert version == 5
        n = 0
        for k in param_names(cfg):
            src = w_seed[k].flatten().tolist()
            got = w16[k].flatten().tolist()
            for x, y in zip(src, got):
                assert bf16_reference_round(x) == y, f"{k}: bf16 rounding {x!r} -> {y!r}"
                n += 1
        with open(os.path.join(d, "expected_bf16.json")) as f:
            exp16 = json.load(f)
        loss16, logits16 = forward_only(cfg, w16, inputs, targets)
        assert loss16 == exp16["loss"] and logits16 == exp16["logits_row0"]
        msg += f"; bf16 OK ({n} values, loss {loss16!r})"
    print(msg)


def self_test_bf16():
    """Edge cases of the vectorised bf16 rounding: ties to even, carries."""
    cases = [0x3F800000, 0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001,
             0x3FFF8000, 0xBF808000, 0x7F7F8000 - 0x10000, 0x00008000, 0x00018000]
    xs = np.array(cases, dtype=np.uint32).view(np.float32)
    got = (bf16_bits(xs).astype(np.uint32) << 16).view(np.float32)
    for x, y in zip(xs.tolist(), got.tolist()):
        assert bf16_reference_round(x) == y, (x, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory")
    ap.add_argument("--check", action="store_true", help="verify existing fixtures instead of writing them")
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    out = os.path.normpath(args.out)
    self_test_bf16()
    for cfg in FIXTURES:
        if args.check:
            check(cfg, out)
        else:
            generate(cfg, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
