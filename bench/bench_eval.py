"""Benchmark: `r1lab eval` throughput, local and against an endpoint.

* Local: the shipped tiny model on the arithmetic test split through the local backend (the
  rollout engine), with the eval protocol (T=0.6, top-p 0.95, 128 tokens), grading and writing
  included: samples/s over the whole `run_eval` call (model loading included).
* Endpoint: a loopback OpenAI-compatible server (tests/eval/servers.py's ReplayServer) that
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
from tests.eval.servers import ReplayServer  # noqa: E402


def quiet():
    from rich.console import Console
    return Console(quiet=True)


def local(problems: int, samples: int, threads: int, out: Path) -> tuple[int, float, dict]:
    cfg = EvalConfig(benchmark="arithmetic", limit=problems, samples=samples, threads=threads, output_dir=str(out))
    start = time.perf_counter()
    res = run_eval(cfg, console=quiet())
    return problems * samples, time.perf_counter() - start, res


def endpoint(problems: int, samples: int, concurrency: int, delay: float, out: Path) -> tuple[int, float, dict]:
    bench = out.parent / "questions.jsonl"
    bench.write_text("".join(f'{{"question": "What is {i} + {i}?", "answer": "{2 * i}"}}\n' for i in range(problems)))
    with ReplayServer({"": [("adding", "\\boxed{0}")]}, n_mode="rejected", delay=delay) as server:
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
    ap.add_argument("--endpoint-problems", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.05, help="endpoint: seconds the server waits per request")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n, took, res = local(args.problems, args.samples, args.threads, tmp / "local")
        print("| what | samples | seconds | samples/s | notes |")
        print("|---|---|---|---|---|")
        print(f"| local, tiny model, arithmetic, {args.threads} threads | {n} | {took:.2f} | {n / took:.1f} | "
              f"pass@1 {res['pass@1']:.3f}, mean {res['mean_tokens']:.1f} tokens, engine {res['engine']} |")
        rates = {}
        for c in (1, 16):
            n, took, res = endpoint(args.endpoint_problems, args.samples, c, args.delay, tmp / f"endpoint-{c}")
            rates[c] = n / took
            print(f"| endpoint, loopback, {args.delay * 1000:.0f} ms per request, concurrency {c} | {n} | {took:.2f} | "
                  f"{rates[c]:.1f} | one request per sample (n refused) |")
        print(f"\nendpoint speed-up, concurrency 16 / 1: {rates[16] / rates[1]:.1f}x "
              f"(ideal {min(16, args.endpoint_problems * args.samples):.0f}x with a fixed delay per request)")


if __name__ == "__main__":
    main()
