"""How long `r1lab report` takes on a long run: a synthetic run directory with STEPS rows of
metrics.jsonl (every key a real run writes, random-walk values), 256 base and 256 final
evaluation samples and a full aha.jsonl, then `write_report` on it, alone and overlaid with
two more such runs. Prints wall seconds (target: under 10 s for a 1,000-step run).

    python bench/bench_report.py [--steps 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's r1lab, not an installed one

from r1lab.report import write_report  # noqa: E402
from r1lab.verifiers.behaviour import STYLES  # noqa: E402

AHA = " <think> 4+7=12, wait, that is wrong. 4+7=11 </think> <answer> 11 </answer>"
SPANS = [{"kind": "productive", "reason": "false claim corrected, final answer right", "markers": [[17, 36]],
          "claim": {"span": [9, 15], "stated": "12", "true": "11"},
          "correction": {"span": [38, 44], "stated": "11", "true": "11"}}]


def metrics_row(step: int, steps: int, rng: random.Random) -> dict:
    t = step / steps
    shares = [max(0.0, 0.7 - t), 0.1, min(1.0, 0.2 + t), 0.0]
    row = {"step": step, "reward": 2 * t, "accuracy": t, "lenient_accuracy": min(1.0, 0.3 + t), "format_rate": t,
           "mean_length": 56 + 33 * t + rng.gauss(0, 3), "truncated_rate": 0.02, "kl": 0.01 * t,
           "entropy": 0.6 - 0.4 * t,
           "clip_fraction": 0.01, "grad_norm": 0.5, "loss": 0.0, "lr": 2e-4, "seconds": 1.5,
           "reward_accuracy": t, "reward_format": t, "length_p50": 60.0, "length_p90": 100.0, "length_correct": 80.0,
           "length_wrong": 50.0, "length_truncated": 128.0, "reflection_rate": 0.01 * rng.random(),
           "markers_per_1k": 0.1 * rng.random(), "reflections_productive": 0.0, "reflections_superficial": 0.0,
           "reflections_neutral": 0.0, "aha_moments": float(rng.random() < 0.05), "repeat_share": 0.05,
           "looping_rate": 0.0, "language_consistency": 1.0, "language_mixing_rate": 0.0}
    for style, share in zip(STYLES, shares, strict=True):
        row.update({f"style_share_{style}": share, f"style_accuracy_{style}": t, f"style_lenient_accuracy_{style}": t,
                    f"length_{style}": 20.0 + 80 * (style != "answer_only") + rng.gauss(0, 2)})
    return row


def synthetic_run(path: Path, steps: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.mkdir(parents=True)
    rows = [metrics_row(i, steps, rng) for i in range(1, steps + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"base_accuracy": 0.18, "final_accuracy": 0.98, "base_lenient_accuracy": 0.38,
               "final_lenient_accuracy": 0.98, "base_mean_length": 56.0, "final_mean_length": 89.0,
               "eval_problems": 64, "eval_samples_per_problem": 4, "eval_temperature": 0.6, "eval_top_p": 0.95}
    for prefix, row in (("base", metrics_row(0, steps, rng)), ("final", metrics_row(steps, steps, rng))):
        summary.update({f"{prefix}_{k}": v for k, v in row.items() if k not in ("step",)})
    (path / "summary.json").write_text(json.dumps(summary))
    samples = [{"phase": phase, "question": f"What is {i} + 7?", "reference": str(i + 7), "response": AHA,
                "correct": True, "length": 30, "style": "worked_think", "lenient_correct": True, "reflections": SPANS}
               for phase in ("base", "final") for i in range(256)]
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    aha = [{"step": i, "phase": "train", "kind": "aha", "question": "q", "reference": "11", "response": AHA,
            "reflections": SPANS} for i in range(200)]
    (path / "aha.jsonl").write_text("".join(json.dumps(r) + "\n" for r in aha))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [synthetic_run(Path(tmp) / f"run{i}", args.steps, i) for i in range(args.runs)]
        t0 = time.perf_counter()
        write_report(runs[:1])  # includes importing matplotlib, as a fresh `r1lab report` would
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        written = write_report(runs, Path(tmp) / "all")
        many = time.perf_counter() - t0
        size = written.html.stat().st_size
    print(f"report of one {args.steps}-step run: {one:.2f} s (first call, matplotlib import included)")
    print(f"report of {args.runs} overlaid {args.steps}-step runs: {many:.2f} s, report.html {size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
