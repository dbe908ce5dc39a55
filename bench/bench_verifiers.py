"""Benchmark: code-sandbox and math-grader throughput on this machine.

Sandbox: the 164 HumanEval canonical solutions through `verify_code_many` (one sandboxed process
tree per program, `--workers` at a time). Grader: every MATH-500 reference solution graded
against its answer (all 500 hit the normalised-string fast path), then the same solutions with a
wrong boxed number (every one goes through math-verify), then GSM8K's 1,319 answers against
themselves. Prints programs/s and answers/s.

    python bench/bench_verifiers.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from r1lab.tasks.humaneval import load_humaneval, reference
from r1lab.verifiers.code import verify_code_many
from r1lab.verifiers.gsm8k import verify_gsm8k
from r1lab.verifiers.math import verify_math
from r1lab.verifiers.sandbox import isolation

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "data" / "bench"


def rate(label: str, n: int, seconds: float, unit: str, extra: str = "") -> None:
    print(f"{label:<44} {n:>5} in {seconds:6.2f}s = {n / seconds:8.1f} {unit}/s {extra}")


def bench_sandbox(workers: int, rounds: int) -> None:
    problems = load_humaneval()
    responses = [f"```python\n{p.prompt}{p.canonical_solution}```" for p in problems] * rounds
    refs = [reference(p) for p in problems] * rounds
    start = time.perf_counter()
    grades = verify_code_many(responses, refs, workers=workers)
    took = time.perf_counter() - start
    rate(f"sandbox: HumanEval canonical, {workers} workers", len(grades), took, "programs",
         f"({sum(g.score for g in grades):.0f} passed)")


def bench_math(data: Path) -> None:
    rows = [json.loads(line) for line in (data / "math500.jsonl").read_text(encoding="utf-8").splitlines()]
    verify_math("\\boxed{\\frac12}", "0.5")  # import math-verify outside the timing
    start = time.perf_counter()
    right = sum(verify_math(r["solution"], r["answer"]).score for r in rows)
    rate("grader: MATH-500 solutions (string fast path)", len(rows), time.perf_counter() - start, "answers",
         f"({right:.0f} correct)")
    sys.path.insert(0, str(ROOT))  # this checkout, for tests.helpers
    from tests.helpers import perturb_boxed  # the tests' negative control: the last boxed answer made wrong

    wrong = [perturb_boxed(r["solution"]) for r in rows]
    start = time.perf_counter()
    passed = sum(verify_math(w, r["answer"]).score for w, r in zip(wrong, rows, strict=True))
    rate("grader: MATH-500 wrong answers (math-verify)", len(rows), time.perf_counter() - start, "answers",
         f"({passed:.0f} wrongly accepted)")
    gsm = [json.loads(line) for line in (data / "gsm8k_test.jsonl").read_text(encoding="utf-8").splitlines()]
    start = time.perf_counter()
    right = sum(verify_gsm8k(r["answer"], r["answer"]).score for r in gsm)
    rate("grader: GSM8K answers", len(gsm), time.perf_counter() - start, "answers", f"({right:.0f} correct)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=1, help="times the 164 programs are run")
    ap.add_argument("--data", type=Path, default=BENCH, help="folder with math500.jsonl and gsm8k_test.jsonl")
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, sandbox isolation: {isolation()}")
    bench_sandbox(args.workers, args.rounds)
    if args.workers != 1:
        bench_sandbox(1, args.rounds)
    bench_math(args.data)


if __name__ == "__main__":
    main()
