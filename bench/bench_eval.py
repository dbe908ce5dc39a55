"""Benchmark: `r1lab eval` throughput, local and against an endpoint.

* Local: the shipped tiny model on the arithmetic test split through the local backend (the
  rollout engine), with the eval protocol (T=0.6, top-p 0.95, 128 tokens), grading and writing
  included: samples/s over the whole `run_eval` call (model loading included, after a warm-up
  load that pays transformers' one-time imports for both sides). The peer, in the
  same process: `r1lab.eval.protocol.evaluate` (what `r1lab train` runs before and after RL) on
  the same problems and samples, the same engine without the eval command's bookkeeping; the
  ratio says what the bookkeeping costs. Wall and process CPU seconds are both printed (the
  machine is shared: CPU time is the steadier one).
* Endpoint: a loopback OpenAI-compatible server (tests/helpers.py's ReplayServer) that
  answers every request after a fixed delay (default 50 ms, standing in for generation time)
  and refuses `n`, so every sample is one request; the same eval at concurrency 1 and 16.
  With a fixed delay per request, the ratio shows how well the client overlaps requests; it
  says nothing about a real server's generation speed.

    python bench/bench_eval.py --threads 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's r1lab and test servers, not an installed copy

from r1lab.eval.config import EvalConfig  # noqa: E402
from r1lab.eval.run import run_eval  # noqa: E402
from tests.helpers import ReplayServer  # noqa: E402


def quiet():
    from rich.console import Console
    return Console(quiet=True)


def local(problems: int, samples: int, threads: int, out: Path) -> tuple[int, float, float, dict]:
    cfg = EvalConfig(benchmark="arithmetic", limit=problems, samples=samples, threads=threads, output_dir=str(out))
    start, cpu = time.perf_counter(), time.process_time()
    res = run_eval(cfg, console=quiet())
    return problems * samples, time.perf_counter() - start, time.process_time() - cpu, res


def peer(problems: int, samples: int, threads: int) -> tuple[int, float, float, dict]:
    import torch

    from r1lab.eval.protocol import evaluate
    from r1lab.models.io import load
    from r1lab.tasks import get_task, take
    torch.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    model, tok = load("tiny")
    res = evaluate(model, tok, take(get_task("arithmetic"), "test", problems, seed=0), "number", k=samples,
                   max_new_tokens=128, prompts_per_batch=256 // samples)
    return problems * samples, time.perf_counter() - start, time.process_time() - cpu, {"pass@1": res.accuracy}


def endpoint(problems: int, samples: int, concurrency: int, delay: float, out: Path) -> tuple[int, float, dict]:
    bench = out.parent / "questions.jsonl"
    bench.write_text("".join(f'{{"question": "What is {i} + {i}?", "answer": "{2 * i}"}}\n' for i in range(problems)))
    replies = {f"What is {i} + {i}?": [("adding", f"\\boxed{{{2 * i}}}")] for i in range(problems)}
    with ReplayServer(replies, n_mode="rejected", delay=delay) as server:
        cfg = EvalConfig(endpoint=server.url, model="replay", benchmark=str(bench), samples=samples,
                         concurrency=concurrency, output_dir=str(out))
        start = time.perf_counter()
        res = run_eval(cfg, console=quiet())
        took = time.perf_counter() - start
    return problems * samples, took, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=64, help="local: arithmetic test problems")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="local: interleaved runs of each side (best counts)")
    ap.add_argument("--endpoint-problems", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.05, help="endpoint: seconds the server waits per request")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("| what | samples | wall s | CPU s | samples/s (wall) | notes |")
        print("|---|---|---|---|---|---|")
        from r1lab.models.io import load
        load("tiny")  # warm-up: transformers imports its model classes on first use (seconds); neither side pays it
        speed: dict[str, tuple[float, float]] = {}
        for r in range(args.repeats):  # interleaved, best of each: the machine is shared
            for name, fn in (("r1lab eval, local", local), ("peer: protocol.evaluate", peer)):
                args_ = (args.problems, args.samples, args.threads) + ((tmp / f"local-{r}",) if fn is local else ())
                n, took, cpu, res = fn(*args_)
                best = speed.get(name, (0.0, 0.0))
                speed[name] = (max(best[0], n / took), max(best[1], n / cpu))
                print(f"| {name}, tiny model, arithmetic, {args.threads} threads, run {r + 1} | {n} | {took:.2f} | "
                      f"{cpu:.2f} | {n / took:.1f} | pass@1 {res['pass@1']:.3f} |")
        (a_wall, a_cpu), (b_wall, b_cpu) = speed.values()
        print(f"\nlocal, best of {args.repeats}: r1lab eval {a_wall:.1f} samples/s, peer {b_wall:.1f}; "
              f"eval / peer {a_wall / b_wall:.2f} (wall), {a_cpu / b_cpu:.2f} (CPU)\n")
        rates = {}
        print("| what | samples | wall s | samples/s |")
        print("|---|---|---|---|")
        for c in (1, 16):
            n, took, res = endpoint(args.endpoint_problems, args.samples, c, args.delay, tmp / f"endpoint-{c}")
            rates[c] = n / took
            print(f"| endpoint, loopback, {args.delay * 1000:.0f} ms per request, concurrency {c}, one request per "
                  f"sample | {n} | {took:.2f} | {rates[c]:.1f} |")
        print(f"\nendpoint speed-up, concurrency 16 / 1: {rates[16] / rates[1]:.1f}x "
              f"(ideal {min(16, args.endpoint_problems * args.samples):.0f}x with a fixed delay per request)")


if __name__ == "__main__":
    main()
