"""Benchmark for a GPU machine: decode and train throughput, and MFU, at real model sizes.

For each shape (random init, built on the device, nothing downloaded):

1. the matmul peak: a large square GEMM in the benchmark dtype, timed; MFU below is against it;
2. rollout: r1lab's lean engine against `model.generate` (r1lab's fallback path), same model,
   prompts (P random prompts of `--prompt-len` tokens), G, sampling (T = 1, top-p 1) and
   `--new-tokens` (eos never sampled, so both generate every token); decode tokens/s each;
3. training: `GRPO.update`, what a GRPO step does after the rollout, on that rollout: the
   reference's log-probs under inference mode, the policy's with autograd, the clipped loss +
   beta k3, backward, clipping and the AdamW step (fp32 master weights for bf16); train
   tokens/s counts the tokens the forward actually runs (each prompt once, plus the completions).

MFU = model FLOPs / time / measured peak, with 2 FLOP per parameter per token for a forward
and 6 for forward + backward (attention FLOPs left out, so MFU is slightly understated).

Memory (CUDA): each phase starts with `torch.cuda.reset_peak_memory_stats`, so every row has its
own peak (`peak_gib`) beside what was allocated when it started (`start_gib`: weights, and for
training the reference, fp32 master weights and AdamW state after a warm-up update). Training
variants (`--train-variants`): `plain` (the trainer's defaults), `unfolded` (attention with grouped
K/V heads and a mask left to SDPA's enable_gqa, i.e. its math kernel on CUDA: the layout before
this measurement) and `checkpointed` (activation_checkpointing: each layer recomputed in backward).

    python bench/bench_gpu.py                            # cuda, bf16, shapes 0.5b 1.5b
    python bench/bench_gpu.py --shapes 1.5b --paths lean --train-variants plain unfolded checkpointed
    python bench/bench_gpu.py --device cpu --shapes tiny  # a smoke run (the test suite runs it)

Prints one markdown row per shape and measurement; `--json FILE` also writes them.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import torch
from _grpo_setup import char_tokenizer, problems
from transformers import Qwen2Config, Qwen2ForCausalLM

from r1lab.rollout import engine
from r1lab.rollout.engine import SamplingParams
from r1lab.train import logprobs
from r1lab.train.batch import Batch
from r1lab.train.config import GRPOConfig
from r1lab.train.grpo import GRPO

TRAIN_VARIANTS = {"plain": "train (ref fwd + policy fwd/bwd + AdamW)",
                  "unfolded": "train, GQA attention unfolded (math kernel on CUDA)",
                  "checkpointed": "train, activation checkpointing"}

SHAPES = {  # Qwen2.5 configs (hidden, layers, heads, kv heads, intermediate, vocab), tied embeddings
    "0.5b": (896, 24, 14, 2, 4864, 151936),
    "1.5b": (1536, 28, 12, 2, 8960, 151936),
    "tiny": (64, 2, 4, 2, 128, 256),
    "smoke": (64, 2, 4, 2, 128, 512),  # the built-in tokenizer's 512 ids fit (bench/random_model.py)
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn):
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 10) -> float:
    """FLOP/s of an n x n x n GEMM, best of `repeats`."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = min(timed(device, lambda: a @ b)[1] for _ in range(repeats))
    return 2 * n**3 / best


def build(shape: str, device: torch.device, dtype: torch.dtype) -> Qwen2ForCausalLM:
    hidden, layers, heads, kv, inter, vocab = SHAPES[shape]
    cfg = Qwen2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=inter, vocab_size=vocab,
                      max_position_embeddings=32768, tie_word_embeddings=True)
    torch.manual_seed(0)
    with torch.device(device):
        return Qwen2ForCausalLM(cfg).to(dtype).eval()


def rollout(model, prompts, args, path: str, seed: int, new_tokens: int):
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=new_tokens)
    eos = model.config.vocab_size + 1  # never sampled
    gen = torch.Generator().manual_seed(seed)
    if path == "lean":
        return engine.generate(model, prompts, args.group, params, eos_token_id=eos, pad_token_id=0, generator=gen)
    with torch.inference_mode():
        return engine._hf_generate(model, prompts, args.group, params, engine._eos_tensor(eos, model.device), 0, gen)


def gib_now(device: torch.device) -> float:
    return torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def gib_peak(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")


def reset_peak(device: torch.device) -> float:
    """Start a phase: forget the previous peak; returns what is allocated now (GiB)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return gib_now(device)


def train_update(model, ro, device: torch.device, variant: str = "plain") -> tuple[float, float, float]:
    """(seconds, GiB allocated at the start, peak GiB) of `GRPO.update` (what a step does after the
    rollout) on rollout `ro`, the second of two calls. Random advantages: the cost does not depend
    on them."""
    cfg = GRPOConfig(prompts_per_step=len(ro.prompt_ids), group_size=ro.group_size,
                     max_new_tokens=ro.completion_ids.shape[1], lr=1e-6, beta=0.04,
                     activation_checkpointing=variant == "checkpointed")
    logprobs.FOLD_GQA_ON_CUDA = variant != "unfolded"
    trainer = GRPO(cfg, model, char_tokenizer(problems(50)), "number")  # tokenizer: stop sequences only
    n = ro.completion_ids.shape[0]
    batch = Batch(ro, [], [], torch.zeros(n), torch.zeros(n), torch.zeros(n), 0,
                  advantages=torch.randn(n, generator=torch.Generator().manual_seed(0)).to(device))
    trainer.update(batch)  # warm-up: the optimizer's state exists after it
    start = reset_peak(device)
    secs = timed(device, lambda: trainer.update(batch))[1]
    top = gib_peak(device)
    logprobs.FOLD_GQA_ON_CUDA = True
    for p in model.parameters():
        p.grad = None
    return secs, start, top  # the trainer (reference, optimizer state) goes with this frame


def bench_shape(shape: str, args, device: torch.device, dtype: torch.dtype, peak: float) -> list[dict]:
    model = build(shape, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, model.config.vocab_size, (args.prompt_len,), generator=g).tolist()
               for _ in range(args.prompts)]
    rows = []
    res = {}
    for path in args.paths:
        rollout(model, prompts, args, path, 0, 4)  # warm-up
        start = reset_peak(device)
        ro, secs = timed(device, lambda path=path: rollout(model, prompts, args, path, 1, args.new_tokens))
        toks = int(ro.lengths.sum())
        res[path] = ro
        rows.append({"shape": shape, "what": f"decode ({path})", "tokens": toks, "seconds": secs,
                     "tok_s": toks / secs, "mfu": 2 * n_params * toks / secs / peak, "start_gib": start,
                     "peak_gib": gib_peak(device)})
    if len(rows) == 2:
        rows.append({"shape": shape, "what": "decode speed-up lean / generate",
                     "ratio": rows[0]["tok_s"] / rows[1]["tok_s"]})
    ro = res[args.paths[0]]
    toks = args.prompts * args.prompt_len + int(ro.lengths.sum())
    for variant in args.train_variants:
        secs, start, top = train_update(model, ro, device, variant)
        rows.append({"shape": shape, "what": TRAIN_VARIANTS[variant], "tokens": toks, "seconds": secs,
                     "tok_s": toks / secs, "mfu": (2 + 6) * n_params * toks / secs / peak, "start_gib": start,
                     "peak_gib": top})
    for r in rows:
        r.update(params=n_params, peak_tflops=peak / 1e12)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--shapes", nargs="+", default=["0.5b", "1.5b"], choices=sorted(SHAPES))
    ap.add_argument("--paths", nargs="+", default=["lean", "hf-generate"], choices=["lean", "hf-generate"],
                    help="rollout paths to time (the first one's rollout is trained on)")
    ap.add_argument("--train-variants", nargs="+", default=["plain"], choices=list(TRAIN_VARIANTS))
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--peak-size", type=int, default=8192, help="side of the square GEMM that measures the peak")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    peak = matmul_peak(device, dtype, args.peak_size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name} | {args.dtype} | matmul peak {peak / 1e12:.1f} TFLOP/s ({args.peak_size}^3 GEMM) | "
          f"{args.prompts} prompts x {args.prompt_len} tokens x G={args.group}, {args.new_tokens} new tokens")
    print("| shape | measurement | tokens | s | tokens/s | MFU | GiB at start | peak GiB |\n"
          "|---|---|---|---|---|---|---|---|")
    rows = []
    for shape in args.shapes:
        for r in bench_shape(shape, args, device, dtype, peak):
            rows.append(r)
            if "ratio" in r:
                print(f"| {shape} | {r['what']} | | | {r['ratio']:.2f}x | | | |")
            else:
                print(f"| {shape} | {r['what']} | {r['tokens']:,} | {r['seconds']:.2f} | {r['tok_s']:,.0f} "
                      f"| {100 * r['mfu']:.1f}% | {r['start_gib']:.1f} | {r['peak_gib']:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
