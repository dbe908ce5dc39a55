"""Benchmark: padding-free vs padded training forward+backward of `completion_logprobs`.

Builds a random-init Qwen2 shaped like the R1-Zero base model (hidden 128, 4 layers,
4 heads / 2 KV heads, SwiGLU 384, vocab 512, tied lm_head: ~0.85M params), a GRPO-like
batch of P prompts x G completions with ragged lengths (uniform in [min-len, T], right
padded to T), and times forward + backward of `completion_logprobs` (with entropy,
like the trainer) for

* packed: the default lean path, which runs the per-token work only on the
  completion positions whose hidden state is actually needed;
* padded: the previous computation over all N x T completion positions, kept as the
  tests' reference (`tests/helpers.py`: `padded_completion_logprobs`, `shared_prefix_hidden`).

Both paths are timed interleaved (so background load hits both alike); the median of
`--repeats` runs is reported, plus the max |difference| between the two paths' log-probs
and gradients as a sanity check.

    python bench/bench_logprobs.py            # 1 thread
    python bench/bench_logprobs.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from _shapes import add_model_args, build_qwen2

from r1lab.train.logprobs import completion_logprobs


def padded_peer():
    """The padded computation the packed one replaced, kept as the tests' reference."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, for tests.helpers
    from tests.helpers import padded_completion_logprobs
    return padded_completion_logprobs


def build_model(args: argparse.Namespace):
    return build_qwen2(args).train()


def make_batch(args: argparse.Namespace) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(args.seed)
    plens = torch.randint(args.prompt_len - args.prompt_spread, args.prompt_len + args.prompt_spread + 1,
                          (args.prompts,), generator=g)
    prompts = [torch.randint(0, args.vocab, (int(n),), generator=g).tolist() for n in plens]
    n, t = args.prompts * args.group, args.max_len
    ids = torch.randint(0, args.vocab, (n, t), generator=g)  # (N, T)
    lengths = torch.randint(args.min_len, t + 1, (n,), generator=g)  # (N,)
    mask = torch.arange(t) < lengths[:, None]  # (N, T) right padded
    return prompts, ids.masked_fill(~mask, 0), mask


def run_once(model, prompts, ids, mask, args, padded: bool) -> tuple[float, float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    w = torch.randn(ids.shape, generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    score = padded_peer() if padded else completion_logprobs
    logp, ent = score(model, prompts, ids, mask, args.group, temperature=args.temperature, with_entropy=True)
    loss = (logp * w).sum() / mask.sum() + 0.01 * ent.sum() / mask.sum()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, logp.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(ap, vocab=512, intermediate=384)
    ap.add_argument("--prompt-len", type=int, default=186, help="mean prompt length")
    ap.add_argument("--prompt-spread", type=int, default=10, help="prompt lengths uniform in mean +- spread")
    ap.add_argument("--min-len", type=int, default=20, help="completion lengths uniform in [min-len, max-len]")
    ap.add_argument("--max-len", type=int, default=128, help="T: completions are right padded to this")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = build_model(args)
    prompts, ids, mask = make_batch(args)
    n_params = sum(p.numel() for p in model.parameters())
    lens = mask.sum(-1).float()
    print(f"model: Qwen2 hidden={args.hidden} layers={args.layers} vocab={args.vocab} params={n_params:,} "
          f"| {args.prompts} prompts (len {min(map(len, prompts))}..{max(map(len, prompts))}) x G={args.group} "
          f"| completions T={ids.shape[1]}, lengths {int(lens.min())}..{int(lens.max())} mean {lens.mean():.1f} "
          f"({mask.float().mean():.0%} real) | threads={torch.get_num_threads()}")

    grads, logps = {}, {}
    for name, padded in (("packed", False), ("padded", True)):  # warm-up + sanity check
        _, _, logps[name] = run_once(model, prompts, ids, mask, args, padded)
        grads[name] = [p.grad.clone() for p in model.parameters()]
    dlogp = (logps["packed"] - logps["padded"]).abs().max().item()
    dgrad = max((a - b).abs().max().item() for a, b in zip(grads["packed"], grads["padded"], strict=True))
    print(f"max |logp packed - padded| = {dlogp:.2e}, max |grad packed - padded| = {dgrad:.2e}")

    runs: dict[str, list[tuple[float, float]]] = {"packed": [], "padded": []}
    for _ in range(args.repeats):
        for name in runs:
            fwd, bwd, _ = run_once(model, prompts, ids, mask, args, name == "padded")
            runs[name].append((fwd, bwd))
    med, best = {}, {}
    for name, rs in runs.items():
        fwd = statistics.median(r[0] for r in rs)
        bwd = statistics.median(r[1] for r in rs)
        med[name] = statistics.median(r[0] + r[1] for r in rs)
        best[name] = min(r[0] + r[1] for r in rs)
        print(f"{name:7s} median of {args.repeats}: forward {fwd * 1000:7.1f} ms  backward {bwd * 1000:7.1f} ms  "
              f"forward+backward {med[name] * 1000:7.1f} ms (best {best[name] * 1000:7.1f} ms)")
    print(f"speed-up padded / packed (forward+backward): median {med['padded'] / med['packed']:.2f}x, "
          f"best {best['padded'] / best['packed']:.2f}x")


if __name__ == "__main__":
    main()
