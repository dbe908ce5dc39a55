"""Benchmark: r1lab's lean rollout engine vs transformers `model.generate` on CPU.

Builds a random-init Qwen2 model, generates the same batch (P prompts x G samples)
with the same sampling settings through both paths in one process, and prints
generated tokens/s for each and the speed-up. No eos stop by default (eos is an id
outside the vocab), so both paths generate exactly max_new_tokens per row; the tokens
actually generated are counted anyway. Wall-clock and process CPU time are both reported:
on a machine loaded by other work the CPU time (which leaves out the time this process
waited for a core) is the steadier of the two.

    python bench/bench_rollout.py --hidden 128 --layers 4 --vocab 64
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _shapes import add_model_args, build_qwen2

from r1lab.rollout.engine import SamplingParams, generate


def build_model(args: argparse.Namespace):
    return build_qwen2(args, getattr(torch, args.dtype)).eval()


def make_prompts(args: argparse.Namespace) -> list[list[int]]:
    g = torch.Generator().manual_seed(args.seed)
    lens = torch.randint(args.prompt_len // 2, args.prompt_len + 1, (args.prompts,), generator=g)
    return [torch.randint(0, args.vocab, (int(n),), generator=g).tolist() for n in lens]


def time_lean(model, prompts, args, params) -> tuple[float, float, int]:
    gen = torch.Generator().manual_seed(args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    out = generate(model, prompts, args.group, params, eos_token_id=args.eos, pad_token_id=0, generator=gen)
    return time.perf_counter() - t0, time.process_time() - c0, int(out.lengths.sum())


def time_hf(model, prompts, args, params) -> tuple[float, float, int]:
    ids = torch.zeros(len(prompts), max(map(len, prompts)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, ids.shape[1] - len(p):] = torch.tensor(p)
        mask[i, ids.shape[1] - len(p):] = 1
    torch.manual_seed(args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=True, temperature=params.temperature,
            top_p=params.top_p, top_k=0, max_new_tokens=params.max_new_tokens,
            num_return_sequences=args.group, eos_token_id=args.eos, pad_token_id=0,
        )
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    gen = out[:, ids.shape[1]:]  # (N, T): rows that hit eos are padded after it
    ends = gen == args.eos
    lengths = torch.where(ends.any(-1), ends.int().argmax(-1) + 1, gen.shape[1])
    return secs, cpu, int(lengths.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap, vocab=64, intermediate=0)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--eos", type=int, default=-1, help="-1 = never stop early (vocab+1 is used)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    args = ap.parse_args()
    if args.eos < 0:
        args.eos = args.vocab + 1
    torch.set_num_threads(args.threads)

    model = build_model(args)
    prompts = make_prompts(args)
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: Qwen2 hidden={args.hidden} layers={args.layers} vocab={args.vocab} params={n_params:,} "
          f"| batch {args.prompts} prompts x G={args.group} | max_new_tokens={args.max_new_tokens} "
          f"| threads={torch.get_num_threads()}")
    time_lean(model, prompts, args, params)  # warm-up both paths
    time_hf(model, prompts, args, params)
    paths = {"lean": time_lean, "hf-generate": time_hf}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in paths}
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        for name, fn in paths.items():
            runs[name].append(fn(model, prompts, args, params))
    wall, cpu = {}, {}
    for name, rs in runs.items():
        secs, cpu_s, toks = min(r[0] for r in rs), min(r[1] for r in rs), rs[0][2]
        wall[name], cpu[name] = toks / secs, toks / cpu_s
        print(f"{name:12s} {toks:6d} tokens  best of {args.repeats}: {secs * 1000:8.1f} ms  {toks / secs:10.0f} tok/s"
              f"  (process CPU {cpu_s * 1000:8.1f} ms)")
    print(f"speed-up lean / hf-generate: {wall['lean'] / wall['hf-generate']:.2f}x wall clock, "
          f"{cpu['lean'] / cpu['hf-generate']:.2f}x process CPU time")


if __name__ == "__main__":
    main()
