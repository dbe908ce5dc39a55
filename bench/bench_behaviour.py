"""What the per-step behaviour metrics cost: `r1lab train`'s default GRPO step on the shipped
tiny base (8 questions x G=8, 128 new tokens) against the behaviour analysis of that step's
rollouts (train/behaviour.py: styles, lenient grading, reflections, repetition, language), timed
again in the same process on the same batch.

    python bench/bench_behaviour.py [--steps 6] [--threads 1]

Prints, per step, the step's wall seconds (which include one analysis), the analysis alone, its
share of the step and milliseconds per response.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's r1lab, not an installed one

from r1lab.models.io import load  # noqa: E402
from r1lab.tasks import ProblemStream, get_task  # noqa: E402
from r1lab.train.behaviour import step_behaviour  # noqa: E402
from r1lab.train.config import GRPOConfig  # noqa: E402
from r1lab.train.grpo import GRPO  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GRPOConfig()
    model, tok = load("tiny")
    trainer = GRPO(cfg, model, tok, "number")
    stream = ProblemStream(get_task("arithmetic"), "train", 0)
    shares, per_response = [], []
    print("| step | step s | analysis s | share | ms / response |\n|---|---|---|---|---|")
    for i in range(1, args.steps + 1):
        t0 = time.perf_counter()
        _, batch = trainer.step(stream.take(cfg.prompts_per_step))
        step = time.perf_counter() - t0
        t0 = time.perf_counter()
        step_behaviour(batch, "number")
        alone = time.perf_counter() - t0
        n = len(batch.texts)
        shares.append(alone / step)
        per_response.append(1000 * alone / n)
        print(f"| {i} | {step:.2f} | {alone:.3f} | {alone / step:.1%} | {1000 * alone / n:.2f} |")
    print(f"median: {statistics.median(shares):.1%} of a step, {statistics.median(per_response):.2f} ms per response")


if __name__ == "__main__":
    main()
