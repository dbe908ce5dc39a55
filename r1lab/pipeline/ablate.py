"""`r1lab ablate`: the GRPO-family presets side by side on the built-in task, with fixed compute.

Every (preset, seed) pair is one `r1lab train` run with the same steps, questions per step, G,
completion limit, update schedule and evaluation, in RUN_DIR/<algo>-seed<seed>/. Rerunning the
same command reuses finished runs and resumes unfinished ones from their checkpoints.

The default setting is off-policy: each rollout is split into `num_minibatches` 4 minibatches,
one optimizer step each (R1-Zero used 16), so three of the four updates see a policy that moved
since it sampled, and the clip ranges (GRPO's ε, DAPO's clip-higher, GSPO's sequence clip, CISPO's
weight cap) can act. With one minibatch and mu 1 every ratio is exactly 1 and no clip ever acts
(round one of docs/ablation.md). Four minibatches rather than mu 2 because it is cheaper: on the
built-in model a grpo step took 1.32x the on-policy step's wall time against 1.64x for mu 2
(bench/bench_schedule.py, docs/ablation.md), and it is the shape of R1-Zero's schedule.

`ablation.md` holds three tables:
1. per preset, the mean over seeds ± the half-width of its 95% Student-t interval: final held-out
   pass@1 and format, each with a paired t-test against grpo over the seeds both ran
   (r1lab/eval/stats.py); KL to the initial policy (`kl_init`) over the last 10 steps; the clip
   fraction over training; the truncation rate of training rollouts and of the final evaluation;
   the reflection rate and the dominant answer style of the final evaluation
   (r1lab/verifiers/behaviour.py) with the mean length within that style; DAPO's extra rollouts;
   wall time.
2. lengths of right and wrong answers, each split into finished and truncated at the completion
   limit, in the final evaluation (pooled over its responses) and in training (each step's mean,
   averaged over the steps that had such rollouts): the 128-token cap confounds "wrong answers
   are longer" unless the truncated ones are set apart.
3. one row per run.
"—" marks a value that was not measured: a run made before the metric existed, or no response of
that kind (e.g. no wrong answer left). "(n=k)" after a mean says only k of the preset's runs had it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from r1lab import config as C
from r1lab.config import SEED, ConfigError, help_field, load, within
from r1lab.errors import UserError
from r1lab.eval.stats import mean_interval, paired_t_test
from r1lab.models.machine import check_machine
from r1lab.runs import SAFE_TO_CHANGE, RunDir, has_progress, resume_config
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.grpo import mean
from r1lab.train.presets import PRESETS
from r1lab.train.run import run
from r1lab.verifiers import checked_task
from r1lab.verifiers.behaviour import STYLES, analyse

BASELINE = "grpo"
SPLITS = [(f"{who}_{end}", f"{who} {end}") for who in ("right", "wrong") for end in ("finished", "truncated")]


def _train_field(name: str, default=None, why: str = "the same for every preset"):
    """The same default and help as `r1lab train`'s field, so the two can never drift apart."""
    f = next(f for f in fields(GRPOConfig) if f.name == name)
    return help_field(f.default if default is None else default, f"{f.metadata['help']} ({why})")


@dataclass
class AblateConfig:
    algos: str = help_field(",".join(PRESETS),
                            f"comma-separated presets to compare ({BASELINE}: the paired tests' baseline)")
    seeds: str = help_field("0,1,2,3,4",
                            "comma-separated seeds; each preset runs once per seed (paired tests pair runs by seed)")
    task: str = _train_field("task")
    max_steps: int = _train_field("max_steps")
    prompts_per_step: int = _train_field("prompts_per_step")
    group_size: int = _train_field("group_size")
    max_new_tokens: int = _train_field("max_new_tokens")
    num_minibatches: int = _train_field("num_minibatches", 4, "the same for every preset; 4 puts 3 updates of each "
                                        "rollout off-policy, so the clip ranges act")
    mu: int = _train_field("mu")
    kl_every: int = _train_field("kl_every")
    eval_problems: int = _train_field("eval_problems")
    eval_samples: int = _train_field("eval_samples")
    output_dir: str = help_field("runs/ablate", "directory for the runs and ablation.md")
    threads: int = _train_field("threads")

    def __post_init__(self) -> None:  # complete when constructed: invalid values never exist
        unknown = [a for a in self.algo_list() if a not in PRESETS]
        if unknown:
            raise ConfigError(f"unknown algo {unknown[0]!r} in algos; presets: {', '.join(PRESETS)}")
        try:
            seeds = self.seed_list()
        except ValueError:
            raise ConfigError(f"seeds must be comma-separated integers, got {self.seeds!r}") from None
        if not self.algo_list() or not seeds:
            raise ConfigError("algos and seeds must not be empty")
        if len(set(seeds)) < len(seeds) or len(set(self.algo_list())) < len(self.algo_list()):
            raise ConfigError(f"algos and seeds must not repeat, got algos {self.algos!r} and seeds {self.seeds!r}")
        bad = next((s for s in seeds if not within(s, SEED)), None)
        if bad is not None:
            raise ConfigError(f"seeds must each be in {SEED}, got {bad}")
        for algo in self.algo_list():  # every run's config, before any compute
            self.train_config(algo, self.seed_list()[0], Path(self.output_dir))

    def algo_list(self) -> list[str]:
        return [a.strip() for a in self.algos.split(",") if a.strip()]

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]

    def train_config(self, algo: str, seed: int, d: Path) -> GRPOConfig:
        shared = {k: v for k, v in vars(self).items() if k not in ("algos", "seeds", "output_dir")}
        return load(GRPOConfig, None, dict(shared, algo=algo, seed=seed, output_dir=str(d)))


def ablate(cfg: AblateConfig, console: Console | None = None) -> str:
    console = console or Console()
    out = Path(cfg.output_dir)
    verifier = checked_task(cfg.task).verifier
    runs = [(algo, seed, out / f"{algo}-seed{seed}") for algo in cfg.algo_list() for seed in cfg.seed_list()]
    for algo, seed, d in runs:  # before any compute: never mix runs made with other settings
        check_same_settings(d, cfg.train_config(algo, seed, d))
    check_machine(threads=cfg.threads)
    RunDir.check(out)
    rows = []
    for algo, seed, d in runs:  # a run's own header names its directory
        if (d / "summary.json").is_file():
            console.rich.print(f"[bold]ablate[/] {algo} seed {seed}: finished, reusing {d}")
            summary = json.loads((d / "summary.json").read_text())
        elif has_progress(d):
            summary = run(resume_config(GRPOConfig, d, {"threads": cfg.threads}), console, resume=True)
        else:  # new, or a start that failed before its first step
            summary = run(cfg.train_config(algo, seed, d), console)
        rows.append(run_row(d, algo, seed, summary, verifier))
    table = markdown(rows)
    (out / "ablation.md").write_text(table + "\n", encoding="utf-8")
    console.rich.print(table, highlight=False)
    return table


def check_same_settings(d: Path, want: GRPOConfig) -> None:
    """A run directory this ablation would reuse or resume was made with the settings it asks for."""
    if not has_progress(d):
        return
    saved = C.to_dict(load(GRPOConfig, d / "config.yaml")) if (d / "config.yaml").is_file() else {}
    ignore = (SAFE_TO_CHANGE - {"max_steps"}) | {"output_dir"}  # how often to save or log changes no result
    differ = [k for k, v in C.to_dict(want).items() if k not in ignore and saved.get(k) != v]
    if differ:
        k = differ[0]
        raise UserError(f"{d} was made with {k} {saved.get(k)!r}, this ablation asks for {C.to_dict(want)[k]!r}: "
                        "rerun with the same settings, use another --output-dir, or delete that run")


# ---- one run ---------------------------------------------------------------------------------

def run_row(d: Path, algo: str, seed: int, summary: dict, verifier: str) -> dict:
    """The numbers of one run, from its summary, metrics.jsonl and final-evaluation samples."""
    final = [s for s in _jsonl(d / "samples.jsonl") if s.get("phase") == "final"]
    metrics = _jsonl(d / "metrics.jsonl")
    behaviours = [analyse(s["response"], s["reference"], verifier) for s in final]
    styles = [b.style for b in behaviours]
    counts = Counter(styles)
    dominant = max(STYLES, key=lambda st: counts[st]) if final else None
    kl_init = [m["kl_init"] for m in metrics[-10:] if m.get("kl_init") is not None]
    row = {"algo": algo, "seed": seed, "base_acc": summary["base_accuracy"], "acc": summary["final_accuracy"],
           "format": summary["final_format_rate"], "length": summary["final_mean_length"],
           "kl_init": mean(kl_init), "clip": mean([m["clip_fraction"] for m in metrics]),
           "trunc_train": mean([m["truncated_rate"] for m in metrics if "truncated_rate" in m]),
           "trunc_eval": mean([float(s["truncated"]) for s in final if "truncated" in s]),
           "reflection": mean([float(b.has_reflection) for b in behaviours]),
           "style": dominant,
           "style_length": mean([s["length"] for s, st in zip(final, styles, strict=True) if st == dominant]),
           "resamples": sum(m.get("resample_rounds", 0) for m in metrics), "wall": summary["wall_seconds"]}
    measured = bool(final) and all("truncated" in s for s in final)
    for key, _ in SPLITS:
        who, end = key.split("_")
        row[f"eval_{key}"] = mean([s["length"] for s in final if bool(s["correct"]) == (who == "right")
                                    and s["truncated"] == (end == "truncated")]) if measured else None
        name = f"length_{'correct' if who == 'right' else 'wrong'}_{end}"
        row[f"train_{key}"] = mean([m[name] for m in metrics if m.get(name) is not None])
    return row


# ---- tables ----------------------------------------------------------------------------------

def markdown(rows: list[dict]) -> str:
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    by_algo = {a: [r for r in rows if r["algo"] == a] for a in algos}
    base = by_algo.get(BASELINE)
    head1 = ["preset", "runs", "pass@1 (final)", f"Δ pass@1 vs {BASELINE} (paired t)", "format (final)",
             f"Δ format vs {BASELINE} (paired t)", "KL to initial (last 10 steps)", "clip fraction (training)",
             "truncated (training / final eval)", "reflection rate (final eval)", "dominant style (runs)",
             "length in dominant style", "extra rollouts", "wall s"]
    t1 = [_row(head1), _rule(len(head1))]
    for a, rs in by_algo.items():
        t1.append(_row([a, str(len(rs)), _ci(rs, "acc", 3), _paired(rs, base, "acc"), _ci(rs, "format", 3),
                        _paired(rs, base, "format"), _ci(rs, "kl_init", 4), _ci(rs, "clip", 4),
                        f"{_ci(rs, 'trunc_train', 3)} / {_ci(rs, 'trunc_eval', 3)}", _ci(rs, "reflection", 3),
                        _styles(rs), _ci(rs, "style_length", 1), _ci(rs, "resamples", 0), _ci(rs, "wall", 0)]))
    head2 = ["preset", *[f"{label} (final eval)" for _, label in SPLITS],
             *[f"{label} (training)" for _, label in SPLITS]]
    t2 = [_row(head2), _rule(len(head2))]
    for a, rs in by_algo.items():
        t2.append(_row([a] + [_ci(rs, f"{where}_{key}", 1) for where in ("eval", "train") for key, _ in SPLITS]))
    head3 = ["algo", "seed", "pass@1 (base → final)", "format", "mean length", "truncated (training / final eval)",
             "KL to initial", "clip fraction", "reflection rate", "dominant style (length)", "extra rollouts", "wall s"]
    t3 = [_row(head3), _rule(len(head3))]
    for r in rows:
        t3.append(_row([r["algo"], str(r["seed"]), f"{r['base_acc']:.3f} → {r['acc']:.3f}", f"{r['format']:.3f}",
                        f"{r['length']:.1f}", f"{_fmt(r['trunc_train'], 3)} / {_fmt(r['trunc_eval'], 3)}",
                        _fmt(r["kl_init"], 4), _fmt(r["clip"], 4), _fmt(r["reflection"], 3),
                        f"{r['style'] or '—'} ({_fmt(r['style_length'], 1)})", str(r["resamples"]),
                        f"{r['wall']:.0f}"]))
    return "\n".join([
        "Per preset: mean over seeds ± half-width of the 95% t-interval; Δ: mean paired difference "
        f"against {BASELINE} over the same seeds, with the paired t-test's two-sided p.", "", *t1, "",
        "Lengths in tokens of right and wrong answers, each split into finished and truncated at the limit.",
        "", *t2, "", "Per run.", "", *t3])


def _ci(rows: list[dict], key: str, digits: int) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "—"
    mean, half = mean_interval([float(v) for v in values])
    text = f"{mean:.{digits}f}" + ("" if half is None else f" ± {half:.{digits}f}")
    return text + ("" if len(values) == len(rows) else f" (n={len(values)})")


def _paired(rows: list[dict], base: list[dict] | None, key: str) -> str:
    if base is None:
        return "—"
    if rows is base:
        return "baseline"
    ref = {r["seed"]: r[key] for r in base}
    pairs = [(r[key], ref[r["seed"]]) for r in rows if r["seed"] in ref]
    if not pairs:
        return "—"
    diff, p = paired_t_test([a for a, _ in pairs], [b for _, b in pairs])
    if p is None:  # one pair, or the same difference on every seed: no t-test
        return f"{diff:+.3f} ({'n=1' if len(pairs) == 1 else 'same on every seed'})"
    return f"{diff:+.3f} (p {'< 0.001' if p < 0.001 else f'{p:.3f}'})"


def _styles(rows: list[dict]) -> str:
    counts = Counter(r["style"] for r in rows if r["style"] is not None)
    return ", ".join(f"{s} {n}" for s, n in counts.most_common()) or "—"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _rule(n: int) -> str:
    return "|" + "---|" * n


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _fmt(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"
