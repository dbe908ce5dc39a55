"""`r1lab ablate`: the GRPO-family presets side by side on the built-in task, with fixed compute.

Every (preset, seed) pair is one `r1lab train` run with the same steps, questions per step, G,
completion limit and evaluation, in RUN_DIR/<algo>-seed<seed>/. The table reports the held-out
pass@1 and lengths from the final evaluation, and the lengths of right and wrong answers both in
that evaluation and over all training rollouts (Dr. GRPO's point: GRPO's per-sequence
normalisation lets wrong answers grow long), the KL to the reference over the
last 10 steps, dynamic-sampling rollouts and wall time. Rerunning the same command reuses finished
runs and resumes unfinished ones from their checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from r1lab.config import ConfigError, help_field, load
from r1lab.runs import resume_config
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.grpo import mean
from r1lab.train.presets import PRESETS
from r1lab.train.run import run


def _train_field(name: str):
    """The same default and help as `r1lab train`'s field, so the two can never drift apart."""
    f = next(f for f in fields(GRPOConfig) if f.name == name)
    return help_field(f.default, f.metadata["help"] + " (the same for every preset)")


@dataclass
class AblateConfig:
    algos: str = help_field("grpo,dr_grpo,dapo,bnpo", "comma-separated presets to compare")
    seeds: str = help_field("0,1", "comma-separated seeds; each preset runs once per seed")
    task: str = _train_field("task")
    max_steps: int = _train_field("max_steps")
    prompts_per_step: int = _train_field("prompts_per_step")
    group_size: int = _train_field("group_size")
    max_new_tokens: int = _train_field("max_new_tokens")
    eval_problems: int = _train_field("eval_problems")
    eval_samples: int = _train_field("eval_samples")
    output_dir: str = help_field("runs/ablate", "directory for the runs and ablation.md")
    threads: int = _train_field("threads")

    def __post_init__(self) -> None:  # complete when constructed: invalid values never exist
        unknown = [a for a in self.algo_list() if a not in PRESETS]
        if unknown:
            raise ConfigError(f"unknown algo {unknown[0]!r} in algos; presets: {', '.join(PRESETS)}")
        try:
            self.seed_list()
        except ValueError:
            raise ConfigError(f"seeds must be comma-separated integers, got {self.seeds!r}") from None
        if not self.algo_list() or not self.seed_list():
            raise ConfigError("algos and seeds must not be empty")

    def algo_list(self) -> list[str]:
        return [a.strip() for a in self.algos.split(",") if a.strip()]

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]


def ablate(cfg: AblateConfig, console: Console | None = None) -> str:
    console = console or Console()
    out = Path(cfg.output_dir)
    rows = []
    for algo in cfg.algo_list():
        for seed in cfg.seed_list():
            d = out / f"{algo}-seed{seed}"
            console.rich.print(f"[bold]ablate[/] {algo} seed {seed} → {d}")
            if (d / "summary.json").is_file():
                summary = json.loads((d / "summary.json").read_text())
            elif (d / "config.yaml").is_file():
                summary = run(resume_config(GRPOConfig, d, {}), console, resume=True)
            else:
                shared = {k: v for k, v in vars(cfg).items() if k not in ("algos", "seeds", "output_dir")}
                summary = run(load(GRPOConfig, None, dict(shared, algo=algo, seed=seed, output_dir=str(d))), console)
            rows.append(run_row(d, algo, seed, summary))
    table = markdown(rows)
    (out / "ablation.md").write_text(table + "\n", encoding="utf-8")
    console.rich.print(table, highlight=False)
    return table


def run_row(d: Path, algo: str, seed: int, summary: dict) -> dict:
    final = [json.loads(line) for line in (d / "samples.jsonl").read_text().splitlines()]
    final = [s for s in final if s.get("phase") == "final"]
    metrics = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    right = [s["length"] for s in final if s["correct"]]
    wrong = [s["length"] for s in final if not s["correct"]]
    last = metrics[-10:]
    return {"algo": algo, "seed": seed, "base_acc": summary["base_accuracy"], "acc": summary["final_accuracy"],
            "format": summary["final_format_rate"], "length": summary["final_mean_length"],
            "length_right": mean(right), "length_wrong": mean(wrong),
            "train_right": mean([m["length_correct"] for m in metrics if m.get("length_correct") is not None]),
            "train_wrong": mean([m["length_wrong"] for m in metrics if m.get("length_wrong") is not None]),
            "kl": mean([m["kl"] for m in last]), "resamples": sum(m.get("resample_rounds", 0) for m in metrics),
            "wall": summary["wall_seconds"]}


def markdown(rows: list[dict]) -> str:
    head = ("| algo | seed | pass@1 (base → final) | format | mean length | length right / wrong (final eval) | "
            "length right / wrong (training) | KL (last 10 steps) | extra rollouts | wall s |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['algo']} | {r['seed']} | {r['base_acc']:.3f} → {r['acc']:.3f} | {r['format']:.3f} | "
                     f"{r['length']:.1f} | {_fmt(r['length_right'])} / {_fmt(r['length_wrong'])} | "
                     f"{_fmt(r['train_right'])} / {_fmt(r['train_wrong'])} | "
                     f"{r['kl']:.4f} | {r['resamples']} | {r['wall']:.0f} |")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"
