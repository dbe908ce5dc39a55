"""Benchmark: r1lab's lean rollout engine vs transformers `model.generate` on CPU.

Two workloads, each generated through both paths in one process, interleaved, with the same
model, prompts, batch and sampling settings:

* `synthetic` (default): a random-init Qwen2 (hidden 128, 4 layers, vocab 64), random prompts
  of prompt_len/2..prompt_len tokens, no eos stop (eos is an id outside the vocab), so both
  paths generate exactly max_new_tokens per row; `--eos ID` lets rows stop early.
* `r1zero`: what `r1lab train` rolls out by default: the shipped tiny base model, R1-Zero
  prompts around the arithmetic task's training questions (a fresh batch each repeat), the
  trainer's default sampling settings (temperature, top-p, max_new_tokens) and its stops (eos
  and "</answer>"). Rows end at different lengths, and the two paths draw different samples,
  so tokens/s is taken over all repeats together.

The peer is `model.generate` as r1lab's fallback path calls it (`engine._hf_generate`: the
same stops as a stopping criterion, the same post-processing). Generated tokens are counted
the same way for both (`Rollout.lengths`: up to and including the stop). Wall-clock and process
CPU time are both reported: on a machine loaded by other work the CPU time (which leaves out
the time this process waited for a core) is the steadier of the two.

    python bench/bench_rollout.py                       # synthetic
    python bench/bench_rollout.py --workload r1zero
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _shapes import add_model_args, build_qwen2

from r1lab.models import io
from r1lab.rollout import engine
from r1lab.rollout.engine import SamplingParams
from r1lab.rollout.text import encode_prompts, stop_sequences
from r1lab.tasks import get_task, r1_zero_prompt, take
from r1lab.train.config import GRPOConfig


def synthetic(args: argparse.Namespace):
    """model, eos id, pad id, params, batches (one per repeat and the warm-up: the same batch)."""
    model = build_qwen2(args, getattr(torch, args.dtype)).eval()
    g = torch.Generator().manual_seed(args.seed)
    lens = torch.randint(args.prompt_len // 2, args.prompt_len + 1, (args.prompts,), generator=g)
    prompts = [torch.randint(0, args.vocab, (int(n),), generator=g).tolist() for n in lens]
    eos = args.vocab + 1 if args.eos < 0 else args.eos
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    return model, eos, 0, params, [prompts] * (args.repeats + 1)


def r1zero(args: argparse.Namespace):
    """The trainer's default rollout: tiny base, R1-Zero prompts, default sampling and stops."""
    model, tok = io.load(io.BUILTIN)
    model.eval()
    cfg = GRPOConfig()
    params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                            stop_sequences=stop_sequences(tok))
    problems = take(get_task("arithmetic"), "train", args.prompts * (args.repeats + 1), args.seed)
    texts = [r1_zero_prompt(p.question) for p in problems]
    batches = [encode_prompts(tok, texts[i:i + args.prompts]) for i in range(0, len(texts), args.prompts)]
    return model, tok.eos_token_id, tok.pad_token_id, params, batches


def run(path: str, model, prompts, args, eos, pad, params, seed: int) -> tuple[float, float, int]:
    """(wall s, process CPU s, generated tokens) of one rollout through `path`."""
    gen = torch.Generator().manual_seed(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    if path == "lean":
        out = engine.generate(model, prompts, args.group, params, eos_token_id=eos, pad_token_id=pad, generator=gen)
        assert out.engine == "lean", out.engine
    else:
        with torch.inference_mode():
            out = engine._hf_generate(model, prompts, args.group, params, engine._eos_tensor(eos, "cpu"), pad, gen)
    return time.perf_counter() - t0, time.process_time() - c0, int(out.lengths.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=("synthetic", "r1zero"), default="synthetic")
    add_model_args(ap, vocab=64, intermediate=0)
    ap.add_argument("--prompt-len", type=int, default=32, help="synthetic: longest prompt")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="synthetic")
    ap.add_argument("--temperature", type=float, default=1.0, help="synthetic")
    ap.add_argument("--top-p", type=float, default=1.0, help="synthetic")
    ap.add_argument("--eos", type=int, default=-1, help="synthetic: -1 = never stop early (vocab+1 is used)")
    ap.add_argument("--dtype", default="float32", help="synthetic")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, eos, pad, params, batches = (synthetic if args.workload == "synthetic" else r1zero)(args)
    n_params = sum(p.numel() for p in model.parameters())
    c = model.config
    plen = [len(p) for p in batches[0]]
    print(f"workload {args.workload}: Qwen2 hidden={c.hidden_size} layers={c.num_hidden_layers} vocab={c.vocab_size} "
          f"params={n_params:,} | {args.prompts} prompts ({min(plen)}-{max(plen)} tokens) x G={args.group} "
          f"| T={params.temperature} top-p={params.top_p} max_new_tokens={params.max_new_tokens} "
          f"stops={len(params.stop_sequences)} + eos | threads={torch.get_num_threads()}")
    paths = ("lean", "hf-generate")
    for path in paths:  # warm-up
        run(path, model, batches[0], args, eos, pad, params, args.seed)
    runs: dict[str, list[tuple[float, float, int]]] = {p: [] for p in paths}
    for i in range(args.repeats):  # interleaved, so background load hits both alike
        for path in paths if i % 2 == 0 else paths[::-1]:
            runs[path].append(run(path, model, batches[i + 1], args, eos, pad, params, args.seed + i))
    wall, cpu = {}, {}
    for path, rs in runs.items():
        secs, cpu_s, toks = (sum(r[k] for r in rs) for k in range(3))
        wall[path], cpu[path] = toks / secs, toks / cpu_s
        print(f"{path:12s} {toks:7d} tokens in {args.repeats} rollouts: {secs:7.2f} s  {wall[path]:8.0f} tok/s"
              f"  (process CPU {cpu_s:7.2f} s, {cpu[path]:8.0f} tok/s)")
    print(f"speed-up lean / hf-generate: {wall['lean'] / wall['hf-generate']:.2f}x wall clock, "
          f"{cpu['lean'] / cpu['hf-generate']:.2f}x process CPU time")


if __name__ == "__main__":
    main()
