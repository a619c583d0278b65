#!/usr/bin/python3
"""PyTorch peer for jgpt's benchmarks: the same GPT-2, the same measurements, on the same CPU or GPU.

A small nanoGPT-style GPT-2 in plain PyTorch (fp32): learned position embeddings, pre-LayerNorm
blocks (eps 1e-5), causal self-attention written out with matmuls (torch 1.13 has no
scaled_dot_product_attention), GELU with the tanh approximation, and the LM head tied to the token
embedding. By default the embedding has 50304 rows (the vocabulary padded to a multiple of 128, as
llm.c and jgpt do); only the first 50257 logits take part in the loss. --no-pad-vocab uses 50257.

  train     forward + backward + clip_grad_norm_(1.0) + AdamW step + zero_grad(set_to_none=True)
            on a random token batch; median ms/step, tokens/s, achieved GFLOP/s, peak RSS.
            --device cuda runs it on the GPU in float32 with TF32 off (as jgpt's CUDA engine), with
            what build-nanogpt uses there: F.scaled_dot_product_attention when torch has it, and
            the fused AdamW; it adds the GPU's peak memory.
  generate  greedy decoding of --new-tokens after a random --prompt-tokens prompt, with a key/value
            cache (or, with --no-cache, recomputing the whole prefix for every token).
  check     print the torch version and the BLAS library torch is really using.

Runs with Debian's python3-torch (1.13) and newer; nothing but torch and the standard library.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

# OpenMP threads that finish early spin while waiting for the others. On a CPU shared with other
# work a descheduled thread then stalls every parallel region: measured here with 2 threads on 2
# busy cores, a gpt2 training step took 11.8 s spinning against 2.9 s passive (1.7 s either way
# on an idle machine). Passive waiting by default; OMP_WAIT_POLICY=ACTIVE in the environment wins.
# (Read by libgomp when torch loads, so it has to be set before the import.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("torch_bench: cannot import torch. On Debian: apt-get install python3-torch libopenblas0-openmp "
             "(and run this with /usr/bin/python3).")

GPT2_VOCAB = 50257
FUSED_ATTENTION = False  # F.scaled_dot_product_attention in training: set for --device cuda when torch has it
PRESETS = {  # n_layer, n_head, n_embd; block size 1024 for all
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
}
BLOCK_SIZE = 1024


def padded(vocab):
    return (vocab + 127) // 128 * 128


# ----------------------------------------------------------------------------------------------
# Model


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.n_head, self.n_embd = n_head, n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.c_proj.RESIDUAL_SCALE_INIT = True
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
                             .view(1, 1, block_size, block_size), persistent=False)
        # Key/value cache for incremental decoding: (1, n_head, block_size, head_size) each, filled
        # up to self.cache_len. None while the cache is off.
        self.k_cache = self.v_cache = None
        self.cache_len = 0

    def enable_cache(self, batch, dtype=torch.float32):
        hs = self.n_embd // self.n_head
        shape = (batch, self.n_head, self.mask.size(-1), hs)
        self.k_cache = torch.zeros(shape, dtype=dtype)
        self.v_cache = torch.zeros(shape, dtype=dtype)
        self.cache_len = 0

    def disable_cache(self):
        self.k_cache = self.v_cache = None
        self.cache_len = 0

    def forward(self, x):
        B, T, C = x.size()
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if FUSED_ATTENTION and self.k_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        past = 0
        if self.k_cache is not None:
            past = self.cache_len
            if past + T > self.k_cache.size(2):
                raise ValueError(f"the key/value cache is full ({self.k_cache.size(2)} positions)")
            self.k_cache[:, :, past:past + T] = k
            self.v_cache[:, :, past:past + T] = v
            self.cache_len = past + T
            k = self.k_cache[:, :, :past + T]
            v = self.v_cache[:, :, :past + T]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, past+T)
        if T > 1:  # one new query sees every cached position: no mask needed
            att = att.masked_fill(~self.mask[:, :, past:past + T, :past + T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.c_proj.RESIDUAL_SCALE_INIT = True

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, block_size=BLOCK_SIZE, vocab=GPT2_VOCAB, padded_vocab=None):
        super().__init__()
        self.n_layer, self.block_size, self.vocab = n_layer, block_size, vocab
        self.padded_vocab = padded_vocab or vocab
        self.wte = nn.Embedding(self.padded_vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.lm_head = nn.Linear(n_embd, self.padded_vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.apply(self._init_weights)
        self.pos = 0  # next position while decoding with the cache

    def _init_weights(self, m):
        # GPT-2 / nanoGPT: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer), zero biases.
        if isinstance(m, nn.Linear):
            std = 0.02 * ((2 * self.n_layer) ** -0.5 if hasattr(m, "RESIDUAL_SCALE_INIT") else 1.0)
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def set_cache(self, on, batch=1):
        for b in self.h:
            b.attn.enable_cache(batch) if on else b.attn.disable_cache()
        self.pos = 0

    def forward(self, idx, targets=None, last_only=False):
        B, T = idx.size()
        start = self.pos if self.h[0].attn.k_cache is not None else 0
        if start + T > self.block_size:
            raise ValueError(f"sequence of {start + T} exceeds the block size {self.block_size}")
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        if self.h[0].attn.k_cache is not None:
            self.pos = start + T
        x = self.ln_f(x)
        if last_only:
            x = x[:, -1:, :]
        logits = self.lm_head(x)  # (B, T, padded_vocab)
        if targets is None:
            return logits[..., :self.vocab], None
        logits = logits[..., :self.vocab]  # padded rows take no part in the loss (as llm.c / jgpt)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab), targets.reshape(-1))
        return logits, loss


def build(model, pad_vocab, seed):
    if model not in PRESETS:
        sys.exit(f"torch_bench: unknown model '{model}' (allowed: {', '.join(PRESETS)})")
    n_layer, n_head, n_embd = PRESETS[model]
    torch.manual_seed(seed)
    m = GPT(n_layer, n_head, n_embd, padded_vocab=padded(GPT2_VOCAB) if pad_vocab else GPT2_VOCAB)
    return m, (n_layer, n_head, n_embd)


# ----------------------------------------------------------------------------------------------
# Measurements


def training_flops(n_layer, n_embd, vp, B, T):
    """FLOPs of one training step, the same count jgpt's `bench train` uses:

        6 * (n_layer * 12 * C^2 + Vp * C) * B * T          matmul weights: 2 forward + 4 backward per
                                                             weight per token (attention, MLP, LM head)
      + 3 * (2 * 2 * n_layer * (T * (T + 1) / 2) * C) * B  attention scores Q.K^T and P.V over the causal
                                                             half, forward + 2x backward
    with C = n_embd and Vp the embedding rows (50304 padded, 50257 with --no-pad-vocab). Biases,
    LayerNorm, GELU, softmax and the optimizer are not counted.
    """
    matmul_params = n_layer * 12 * n_embd * n_embd + vp * n_embd
    attention = 2 * 2 * n_layer * (T * (T + 1) / 2) * n_embd
    return 6 * matmul_params * B * T + 3 * attention * B


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # ru_maxrss is KiB on Linux


def blas_in_use():
    """(name, detail): the BLAS library torch really calls, from the libraries mapped after a matmul.

    Debian's torch reports BLAS_INFO=generic and calls whatever libblas.so.3 the alternatives system
    points to: OpenBLAS (fast) or the reference BLAS (about 23x slower for this model)."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    config = torch.__config__.show()
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "mkl", "blis")) and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    joined = " ".join(libs).lower()
    if "openblas" in joined:
        variant = ("openmp" if "openmp" in joined else "pthread" if "pthread" in joined
                   else "serial" if "serial" in joined else "")
        return "openblas" + (f"-{variant}" if variant else ""), " ".join(libs)
    if "mkl" in joined or "BLAS_INFO=mkl" in config:
        return "mkl", " ".join(libs) or "BLAS_INFO=mkl"
    if "blis" in joined:
        return "blis", " ".join(libs)
    if "openblas" in config.lower():
        return "openblas", "from torch.__config__"
    if libs:
        return "reference", " ".join(libs)
    return "unknown", "no BLAS library mapped"


def warn_blas(name, detail):
    if name in ("reference", "unknown"):
        print(f"torch_bench: WARNING: torch is not using OpenBLAS ({name}: {detail}); expect it to be "
              "~20x slower. On Debian: apt-get install libopenblas0-openmp", file=sys.stderr)
    elif name in ("openblas-pthread", "openblas-serial"):
        print(f"torch_bench: note: {name} is in use; torch runs OpenMP threads, so libopenblas0-openmp "
              "is the matching variant", file=sys.stderr)


def set_threads(k):
    if k <= 0:
        k = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(k)
    return torch.get_num_threads()


def common(args):
    threads = set_threads(args.threads)
    blas, detail = blas_in_use()
    warn_blas(blas, detail)
    return threads, blas


def environment(blas):
    """What else decides the numbers: the BLAS, OpenMP's waiting, and how busy the CPU was."""
    return {"blas": blas, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "peer": "pytorch " + torch.__version__}


def make_optimizer(model, lr, weight_decay, fused=False):
    # nanoGPT's groups: decay on matrices and embeddings, none on biases and LayerNorm.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"lr": lr, "betas": (0.9, 0.95), "eps": 1e-8}
    # On the CPU a plain per-tensor loop, as jgpt's: no foreach (multi-tensor) or fused kernels where
    # torch has them. On a GPU build-nanogpt's fused AdamW (one launch, as jgpt's AdamW kernel).
    import inspect
    sig = inspect.signature(torch.optim.AdamW.__init__).parameters
    if "foreach" in sig:
        kwargs["foreach"] = False
    if "fused" in sig:
        kwargs["fused"] = fused
    return torch.optim.AdamW(groups, **kwargs)


def use_cuda():
    """The GPU in float32 as jgpt's CUDA engine computes: no TF32 in matmuls or convolutions."""
    global FUSED_ATTENTION
    if not torch.cuda.is_available():
        sys.exit("torch_bench: --device cuda: torch sees no GPU (torch.cuda.is_available() is False)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("highest")
    FUSED_ATTENTION = hasattr(F, "scaled_dot_product_attention")
    return torch.device("cuda")


def cmd_train(args):
    threads, blas = common(args)
    device = use_cuda() if args.device == "cuda" else torch.device("cpu")
    model, (n_layer, _, n_embd) = build(args.model, args.pad_vocab, args.seed)
    if args.seq > model.block_size:
        sys.exit(f"torch_bench: --seq {args.seq} exceeds the block size {model.block_size}")
    model.to(device).train()
    opt = make_optimizer(model, args.lr, args.weight_decay, fused=device.type == "cuda")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, GPT2_VOCAB, (args.batch, args.seq), generator=g).to(device)
    y = torch.randint(0, GPT2_VOCAB, (args.batch, args.seq), generator=g).to(device)
    env = environment(blas)  # load before this run adds to it
    times, first_loss = [], None
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1000
        if s == 0:
            first_loss = loss_value
        if s >= args.warmup:
            times.append(ms)
        if not args.json:
            print(f"step {s}: loss {loss_value:.4f}, {ms:.0f} ms{' (warm-up)' if s < args.warmup else ''}",
                  file=sys.stderr)
    median = statistics.median(times)
    tokens = args.batch * args.seq
    flops = training_flops(n_layer, n_embd, model.padded_vocab, args.batch, args.seq)
    r = {
        "model": args.model, "batch": args.batch, "seq": args.seq, "threads": threads,
        "initial_loss": round(first_loss, 4),
        "ms_per_step": round(median, 1),
        "tokens_per_s": round(tokens / (median / 1000), 1),
        "gflops_per_s": round(flops / (median / 1000) / 1e9, 1),
        "peak_rss_mb": peak_rss_mb(),
        "steps": args.steps, "warmup": args.warmup, "padded_vocab": model.padded_vocab,
        "params": sum(p.numel() for p in model.parameters()),
        **env,
    }
    if device.type == "cuda":
        r["device"] = torch.cuda.get_device_name()
        r["device_memory_peak_mb"] = round(torch.cuda.max_memory_allocated() / 1e6)
        r["attention"] = "scaled_dot_product_attention" if FUSED_ATTENTION else "matmul"
        r["adamw"] = "fused"
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{args.model} B={args.batch} T={args.seq} {r.get('device', f'threads={threads}')}: {r['ms_per_step']:.1f} ms/step, "
              f"{r['tokens_per_s']:.1f} tokens/s, {r['gflops_per_s']:.1f} GFLOP/s, peak RSS {r['peak_rss_mb']} MB "
              f"(initial loss {first_loss:.4f}; {r['peer']}, {blas})")


@torch.no_grad()
def generate(model, prompt, new_tokens, cache):
    """Greedy decoding. Returns (tokens, prefill seconds, decode seconds), timed as jgpt generate does:
    the prefill runs the prompt and gives the first new token's logits; decoding then produces the
    new tokens, which takes new_tokens - 1 further forward passes (one per token fed back)."""
    model.set_cache(cache, batch=1)
    t0 = time.perf_counter()
    logits, _ = model(prompt, last_only=True)
    t1 = time.perf_counter()
    seq = prompt
    out = []
    for i in range(new_tokens):
        token = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        out.append(token.item())
        if i == new_tokens - 1:
            break
        if cache:
            logits, _ = model(token, last_only=True)
        else:
            seq = torch.cat([seq, token], dim=1)
            logits, _ = model(seq, last_only=True)
    t2 = time.perf_counter()
    model.set_cache(False)
    return out, t1 - t0, t2 - t1


def cmd_generate(args):
    threads, blas = common(args)
    model, _ = build(args.model, args.pad_vocab, args.seed)
    model.eval()
    if args.prompt_tokens < 1 or args.new_tokens < 1:
        sys.exit("torch_bench: --prompt-tokens and --new-tokens must be >= 1")
    if args.prompt_tokens + args.new_tokens - 1 > model.block_size:
        sys.exit(f"torch_bench: prompt + new tokens ({args.prompt_tokens} + {args.new_tokens}) exceed the "
                 f"block size {model.block_size}")
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, GPT2_VOCAB, (1, args.prompt_tokens), generator=g)
    env = environment(blas)
    for _ in range(args.warmup):  # untimed: first-call allocations and thread start-up
        generate(model, prompt, min(args.new_tokens, 4), args.cache)
    tokens, prefill_s, decode_s = generate(model, prompt, args.new_tokens, args.cache)
    r = {
        "model": args.model, "threads": threads,
        "prompt_tokens": args.prompt_tokens, "new_tokens": len(tokens), "cache": args.cache,
        "prefill_ms": round(prefill_s * 1000, 1),
        "decode_ms": round(decode_s * 1000, 1),
        "tokens_per_s": round(len(tokens) / max(decode_s, 1e-9), 1),
        "peak_rss_mb": peak_rss_mb(), "padded_vocab": model.padded_vocab,
        **env,
    }
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{args.model} threads={threads} {'with' if args.cache else 'without'} KV cache: "
              f"{r['new_tokens']} tokens in {decode_s:.2f} s: {r['tokens_per_s']:.1f} tokens/s "
              f"(prompt {args.prompt_tokens} tokens, prefill {r['prefill_ms']:.1f} ms; peak RSS "
              f"{r['peak_rss_mb']} MB; {r['peer']}, {blas})")
        print("tokens: " + " ".join(map(str, tokens)), file=sys.stderr)


def cmd_check(args):
    name, detail = blas_in_use()
    r = {"peer": "pytorch " + torch.__version__, "blas": name, "blas_libs": detail,
         "threads_default": torch.get_num_threads()}
    print(json.dumps(r) if args.json else f"{r['peer']}, BLAS: {name} ({detail})")
    warn_blas(name, detail)


def main(argv=None):
    p = argparse.ArgumentParser(description="PyTorch peer for jgpt's train and generate benchmarks.")
    sub = p.add_subparsers(dest="mode", required=True)

    def shared(sp):
        sp.add_argument("--model", default="gpt2", help="gpt2, gpt2-medium, gpt2-large, gpt2-xl (default gpt2)")
        sp.add_argument("--threads", type=int, default=0, help="torch threads; 0 = all cores available (default)")
        sp.add_argument("--pad-vocab", action=argparse.BooleanOptionalAction, default=True,
                        help="embedding rows padded to 50304 as jgpt and llm.c (default on)")
        sp.add_argument("--seed", type=int, default=1337, help="weight initialization seed")
        sp.add_argument("--json", action="store_true", help="print one JSON object")

    t = sub.add_parser("train", help="forward + backward + AdamW on random tokens")
    shared(t)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--seq", type=int, default=64)
    t.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    t.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cpu (default), or cuda: the GPU in float32, TF32 off")
    t.set_defaults(func=cmd_train)

    gen = sub.add_parser("generate", help="greedy decoding with (or without) a KV cache")
    shared(gen)
    gen.add_argument("--prompt-tokens", type=int, default=16)
    gen.add_argument("--new-tokens", type=int, default=64)
    gen.add_argument("--no-cache", dest="cache", action="store_false",
                     help="recompute the whole prefix for every new token")
    gen.add_argument("--warmup", type=int, default=1, help="untimed short generations first (default 1)")
    gen.set_defaults(func=cmd_generate)

    c = sub.add_parser("check", help="torch version and the BLAS in use")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_check)

    args = p.parse_args(argv)
    if getattr(args, "steps", 1) < 1 or getattr(args, "warmup", 0) < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    # the sizes jgpt's bench accepts: a refused size here too, not a NaN loss or an empty timing
    for name in ("batch", "seq", "prompt_tokens", "new_tokens"):
        if getattr(args, name, 1) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if getattr(args, "threads", 0) < 0:
        p.error(f"--threads must be >= 0 (0: all cores), got {args.threads}")
    args.func(args)


if __name__ == "__main__":
    main()
