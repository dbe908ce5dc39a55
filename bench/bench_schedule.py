"""Benchmark: what an off-policy update schedule costs per GRPO step, and whether the clip acts.

Trains the shipped tiny base on the arithmetic task (8 questions x G = 8, 128 new tokens, the
train defaults) under several schedules in ONE process, interleaved: step 1 of every setting,
then step 2 of every setting, ... so that load from other processes hits them alike. Each
setting is `algo:num_minibatches:mu`. Prints per setting the mean wall seconds of rollout and
update (step 1 excluded), the ratio of the step time to the first setting's, and per step the
logged clip fraction and the range of the importance ratios (token ratios; GSPO's sequence ratios).
Used to choose `r1lab ablate`'s default schedule (docs/ablation.md).

    python bench/bench_schedule.py                                  # grpo 1:1, 4:1, 1:2; gspo, cispo at 4:1
    python bench/bench_schedule.py --steps 4 --settings grpo:1:1,grpo:4:1
"""

from __future__ import annotations

import argparse

import torch

from r1lab.config import load
from r1lab.models.io import load as load_model
from r1lab.tasks import ProblemStream, get_task
from r1lab.train.config import GRPOConfig
from r1lab.train.grpo import GRPO, set_threads


def _setting(spec: str, seed: int) -> dict:
    algo, nmb, mu = spec.split(":")
    cfg = load(GRPOConfig, None, {"algo": algo, "num_minibatches": nmb, "mu": mu, "threads": "1", "seed": str(seed)})
    model, tok = load_model("tiny")
    trainer = GRPO(cfg, model, tok, "number")
    seen: dict = {}

    def update(batch, inner=trainer.update):  # keep the per-update ratio statistics of the last step
        stats = inner(batch)
        seen.clear()
        seen.update(stats)
        return stats

    trainer.update = update
    return {"spec": spec, "trainer": trainer, "cfg": cfg, "seen": seen, "rows": [],
            "stream": ProblemStream(get_task("arithmetic"), "train", seed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--settings", default="grpo:1:1,grpo:4:1,grpo:1:2,gspo:4:1,cispo:4:1")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    set_threads(1)
    runs = [_setting(s, args.seed) for s in args.settings.split(",")]
    for i in range(args.steps):
        for r in runs:
            torch.manual_seed(args.seed + i)
            m, _ = r["trainer"].step(r["stream"].take(r["cfg"].prompts_per_step), more=r["stream"].take)
            r["rows"].append({"rollout": m["rollout_seconds"], "step": m["seconds"], "clip": m["clip_fraction"],
                              "lo": min(r["seen"]["ratio_min"]), "hi": max(r["seen"]["ratio_max"])})
    base = None
    print("| setting | rollout s | update s | step s | step / first | clip fraction per step | ratio range per step |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        rows = r["rows"][1:] or r["rows"]
        roll = sum(x["rollout"] for x in rows) / len(rows)
        step = sum(x["step"] for x in rows) / len(rows)
        base = base or step
        clips = ", ".join(f"{x['clip']:.4f}" for x in r["rows"])
        ranges = ", ".join(f"{x['lo']:.2f}-{x['hi']:.2f}" for x in r["rows"])
        cells = [r["spec"], f"{roll:.2f}", f"{step - roll:.2f}", f"{step:.2f}", f"{step / base:.2f}x", clips, ranges]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
