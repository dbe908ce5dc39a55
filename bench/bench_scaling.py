"""Benchmark: how r1lab's GRPO step scales with completion length and group size, and its peak memory.

Same set-up as bench_trl.py (random-init Qwen2 hidden 128 / 4 layers / vocab 50, R1-Zero prompts of
the arithmetic task, 435-436 character tokens each, beta 0.04, lr 2e-4, mu 1, temperature 1.0);
eos is never sampled, so every completion runs to max_new_tokens and the work per point is
exactly prompts x G x max_new_tokens generated (and trained) tokens.

Each point runs in a FRESH subprocess, so its peak resident memory (`ru_maxrss`) is its own:
"peak RSS" is the whole process (Python, torch, the two models); "step RSS" is the growth of the
high-water mark over what the process held after building everything and before the first step,
i.e. what the GRPO steps themselves needed at most. Warm-up steps are excluded from the time.

    python bench/bench_scaling.py                    # lengths 64..512 at G=8, G 4..16 at 64 tokens
    python bench/bench_scaling.py --lengths 64 128 --groups 8 --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def run_point(args: argparse.Namespace) -> None:
    """Child: build, warm up, time `steps` GRPO steps, print one JSON line."""
    import torch
    from _grpo_setup import build_model, char_tokenizer, problems

    from r1lab.train.config import GRPOConfig
    from r1lab.train.grpo import GRPO

    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    probs = problems(args.prompts * total, args.seed)
    tok = char_tokenizer(problems(500, args.seed))
    cfg = GRPOConfig(algo="grpo", dynamic_sampling=False, prompts_per_step=args.prompts, group_size=args.group,
                     max_new_tokens=args.max_new_tokens,
                     beta=0.04, temperature=1.0, top_p=1.0, lr=2e-4, mu=1, num_minibatches=1, seed=args.seed)
    trainer = GRPO(cfg, build_model(tok, eos_sampled=False, seed=args.seed), tok, "number")
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    secs, rollout, lengths = [], [], []
    for i in range(total):
        t0 = time.perf_counter()
        metrics, _ = trainer.step(probs[i * args.prompts:(i + 1) * args.prompts])
        if i >= args.warmup:
            secs.append(time.perf_counter() - t0)
            rollout.append(metrics["rollout_seconds"])
            lengths.append(metrics["mean_length"])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"max_new_tokens": args.max_new_tokens, "group": args.group, "s_step": statistics.median(secs),
                      "s_rollout": statistics.median(rollout), "mean_length": statistics.fmean(lengths),
                      "peak_mb": peak_kb / 1024, "step_mb": (peak_kb - base_kb) / 1024}))


def child(args: argparse.Namespace, length: int, group: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--point", "--max-new-tokens", str(length), "--group", str(group),
           "--prompts", str(args.prompts), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--groups", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--length-group", type=int, default=8, help="G of the length sweep")
    ap.add_argument("--group-length", type=int, default=64, help="max_new_tokens of the group sweep")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per point")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--point", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--max-new-tokens", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--group", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.point:
        run_point(args)
        return

    print(f"r1lab GRPO step, {args.prompts} prompts of 435-436 tokens, threads={args.threads}, "
          f"median of {args.steps} steps after {args.warmup} warm-up, one fresh process per point\n")
    done: dict[tuple[int, int], dict] = {}

    def point(length: int, group: int) -> dict:
        if (length, group) not in done:
            done[(length, group)] = child(args, length, group)
        return done[(length, group)]

    print(f"Completion length (G = {args.length_group}, every completion runs to max_new_tokens):\n")
    print("| max_new_tokens | sequence (prompt + completion) | tokens / step | s / step | rollout s | "
          "ms / generated token | peak RSS MB | step RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for length in args.lengths:
        r = point(length, args.length_group)
        toks = args.prompts * args.length_group * r["mean_length"]
        print(f"| {length} | {436 + length} | {toks:,.0f} | {r['s_step']:.2f} | {r['s_rollout']:.2f} | "
              f"{1000 * r['s_step'] / toks:.3f} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |", flush=True)
    print(f"\nGroup size (max_new_tokens = {args.group_length}):\n")
    print("| G | completions / step | s / step | rollout s | ms / generated token | peak RSS MB | step RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for group in args.groups:
        r = point(args.group_length, group)
        toks = args.prompts * group * r["mean_length"]
        print(f"| {group} | {args.prompts * group} | {r['s_step']:.2f} | {r['s_rollout']:.2f} | "
              f"{1000 * r['s_step'] / toks:.3f} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
