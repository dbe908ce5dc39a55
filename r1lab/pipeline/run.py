"""`r1lab pipeline RECIPE.yaml`: the DeepSeek-R1 stages in order, joined only by artefacts on disk.

Each stage is one of the library's commands in a run directory of its own, DIR/<stage name>/:
`base` is `r1lab base` continuing the recipe's model (r1lab/models/pretrain.py, into
DIR/<name>/model), `rl` is `r1lab train` (r1lab/train/run.py), `sft` is `r1lab sft`, `sample` is
`r1lab sample`, `nonreasoning` writes the miniature's non-reasoning rows. An rl or sft stage's
model is its last checkpoint; a sample or nonreasoning stage's data is its data.jsonl. The recipe
(recipe.py) is validated whole before anything runs.

DIR/pipeline.json holds the recipe's settings and one line per finished stage (its type, inputs,
outputs, wall time, evaluation, summary), written atomically after each stage. A re-run of the
same command skips the stages it lists; a stage that was interrupted (its directory holds a run
but pipeline.json does not list it) resumes from its last checkpoint (rl, sft) or chunk
(sample), or starts again (base, nonreasoning: minutes, seeded, so the same result), checked
against the recipe like `--resume`: a changed recipe is a one-line error, as
is a recipe whose finished stages differ from the ones DIR was made with.

Every model (the base, then each rl and sft stage) is evaluated the same way, on the same
held-out problems (`eval_problems` test problems of the task, `eval_samples` samples each,
temperature and top-p of the R1 protocol, under the R1-Zero template, the sampling seed fixed):
strict and lenient pass@1, pass@k, mean length, R1-Zero and readable format rates, the language
mixing rate (share of responses whose chain of thought has any word outside the question's
language), the mean repeated 4-gram share, and the stage's wall time. The table (table.py) is
printed and written to DIR/pipeline.md, the numbers to pipeline.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from r1lab import config as C
from r1lab.errors import UserError
from r1lab.eval.protocol import evaluate
from r1lab.files import write_atomic
from r1lab.models.io import load
from r1lab.pipeline.nonreasoning import write_nonreasoning
from r1lab.pipeline.recipe import BASE, MAKES_MODEL, Recipe, Stage
from r1lab.pipeline.sample import SAMPLE_SAFE_TO_CHANGE, run_sample
from r1lab.pipeline.table import markdown
from r1lab.runs import Checkpoints, RunDir, resume_config
from r1lab.tasks import get_task, take
from r1lab.train.console import Console
from r1lab.train.grpo import set_threads
from r1lab.train.run import DTYPES
from r1lab.train.run import run as run_rl
from r1lab.train.sft import SFT_SAFE_TO_CHANGE, run_sft
from r1lab.verifiers.format import readable_format_reward

SAFE = {"rl": frozenset({"threads"}), "sft": SFT_SAFE_TO_CHANGE, "sample": SAMPLE_SAFE_TO_CHANGE}


def run_pipeline(recipe: Recipe, console: Console | None = None) -> str:
    console = console or Console()
    out = recipe.output_dir
    RunDir(out, resume=True)  # pre-flight: writable, free space
    state = _load_state(recipe, out)
    done = {s["name"]: s for s in state["stages"]}
    console.rich.print(f"[bold]r1lab pipeline[/] {recipe.path} · {len(recipe.stages)} stages · "
                       f"{len(done)} finished before · output {out}", highlight=False)
    state["base"] = state.get("base") or _evaluate(recipe, recipe.config.model, out / BASE, console)
    _save_state(out, state)
    for i, stage in enumerate(recipe.stages, start=1):
        if stage.name in done:
            console.rich.print(f"[bold]stage {i}/{len(recipe.stages)}[/] {stage.name} ({stage.type}): finished, "
                               "skipped", highlight=False)
            continue
        console.rich.print(f"[bold]stage {i}/{len(recipe.stages)}[/] {stage.name} ({stage.type}"
                           f"{'' if stage.model is None else ', model ' + stage.model})", highlight=False)
        entry = _run_stage(recipe, stage, done, console)
        state["stages"].append(entry)
        done[stage.name] = entry
        _save_state(out, state)
    table = markdown(state, recipe.config.reference_stage)
    write_atomic(out / "pipeline.md", table + "\n")
    console.rich.print(table, highlight=False, soft_wrap=True)
    return table


# ---- one stage -----------------------------------------------------------------------------------

def _run_stage(recipe: Recipe, stage: Stage, done: dict[str, dict], console: Console) -> dict:
    out, t0 = recipe.output_dir, time.time()
    model = None if stage.model is None else _base_model(recipe, stage, done) if stage.model == BASE else \
        done[stage.model]["model"] if stage.model in done else stage.model
    data = [done[d]["data"] if d in done else d for d in stage.data]
    cfg = stage.config(recipe.config, out, model, data)
    d = out / stage.name
    resumed = (d / "config.yaml").is_file()
    if resumed and stage.type in SAFE:  # an interrupted stage: the same config, or a one-line error
        cfg = resume_config(type(cfg), d, _as_overrides(cfg), SAFE[stage.type])
    entry = {"name": stage.name, "type": stage.type, "from": stage.model, "spec": stage.spec, "dir": str(d), "inputs": {
        "model": model, "data": data}, "resumed": resumed}
    if stage.type == "rl":
        summary = _read(d / "summary.json") or run_rl(cfg, console, resume=resumed)
        entry.update(model=_last_checkpoint(d), summary=_short(summary))
    elif stage.type == "sft":
        summary = _read(d / "summary.json") or run_sft(cfg, console, resume=resumed)
        entry.update(model=_last_checkpoint(d), summary=summary)
    elif stage.type == "base":
        entry.update(model=cfg.output_dir, summary=_run_base(cfg, d, console))
    elif stage.type == "sample":
        entry.update(data=str(d / "data.jsonl"), summary=run_sample(cfg, console, resume=resumed))
    else:
        entry.update(data=str(d / "data.jsonl"), summary=write_nonreasoning(cfg))
    entry["wall_seconds"] = time.time() - t0
    if stage.type in MAKES_MODEL:
        entry["eval"] = _evaluate(recipe, entry["model"], d, console)
    return entry


def _base_model(recipe: Recipe, stage: Stage, done: dict[str, dict]) -> str:
    """What "base" means for this stage: the recipe's model, or its base stage's once that has run."""
    b = recipe.base_stage
    return recipe.config.model if b is None or b is stage else done[b.name]["model"]


def _run_base(cfg, d: Path, console: Console) -> dict:
    """Continued pretraining (`r1lab base --init-from`), from scratch on every start: it has no
    optimizer checkpoints, and its seeded corpus and initialisation give the same model again."""
    from r1lab.models.pretrain import pretrain
    rundir = RunDir(d, resume=True)
    rundir.save_config(cfg)
    rows: list[dict] = []
    t0 = time.time()
    console.phase(f"pretraining {cfg.init_from or 'from scratch'} for {cfg.stop_at or cfg.steps} steps",
                  lambda: pretrain(cfg, log=lambda line: console.rich.print(f"  {line}", highlight=False),
                                   metrics=rows))
    write_atomic(d / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    summary = {"init_from": cfg.init_from, "steps": rows[-1]["step"] if rows else 0,
               "final_loss": rows[-1]["loss"] if rows else None,
               "second_language_fraction": cfg.second_language_fraction, "wall_seconds": time.time() - t0}
    rundir.write_json("summary.json", summary)
    return summary


def _as_overrides(cfg) -> dict:
    """A config as --field values, so that `resume_config` compares it with the saved one."""
    return {k: v for k, v in C.to_dict(cfg).items() if v is not None}


def _last_checkpoint(d: Path) -> str:
    done = Checkpoints(d / "checkpoints").complete()
    if not done:
        raise UserError(f"{d}: the stage finished without a checkpoint")
    return str(done[-1][1])


def _short(summary: dict) -> dict:
    keys = ("base_accuracy", "final_accuracy", "base_lenient_accuracy", "final_lenient_accuracy", "steps",
            "wall_seconds", "final_language_mixing_rate", "final_format_rate")
    return {k: summary.get(k) for k in keys}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


# ---- the held-out evaluation of every model ------------------------------------------------------

def _evaluate(recipe: Recipe, model_path: str, d: Path, console: Console) -> dict:
    """The same evaluation for every model, cached in d/pipeline_eval.json (its samples beside it)."""
    cached = _read(d / "pipeline_eval.json")
    if cached is not None:
        return cached
    pc = recipe.config
    task = get_task(pc.task, pc.verifier)
    set_threads(pc.threads)
    model, tok = load(model_path, DTYPES[pc.dtype], pc.device)
    problems = take(task, "test", pc.eval_problems, seed=pc.seed)
    t0 = time.time()
    res = console.phase(f"evaluating {model_path} on {len(problems)} held-out problems",
                        lambda: evaluate(model, tok, problems, task.verifier, k=pc.eval_samples,
                                         temperature=pc.eval_temperature, top_p=pc.eval_top_p,
                                         max_new_tokens=pc.eval_max_new_tokens, seed=pc.seed + 1))
    b = res.behaviour
    row = {"model": model_path, "accuracy": res.accuracy, "lenient_accuracy": res.lenient_accuracy,
           "pass_at_k": res.pass_at_k, "k": res.k, "problems": res.n_problems, "mean_length": res.mean_length,
           "format_rate": res.format_rate,
           "readable_rate": sum(readable_format_reward(s["response"]) for s in res.samples) / max(1, len(res.samples)),
           "language_mixing_rate": b.get("language_mixing_rate"), "language_consistency": b.get("language_consistency"),
           "repeat_share": b.get("repeat_share"), "looping_rate": b.get("looping_rate"),
           "eval_seconds": time.time() - t0}
    d.mkdir(parents=True, exist_ok=True)
    write_atomic(d / "pipeline_eval_samples.jsonl", "".join(json.dumps(s) + "\n" for s in res.samples))
    write_atomic(d / "pipeline_eval.json", json.dumps(row, indent=1))
    return row


# ---- pipeline.json ---------------------------------------------------------------------------------

def _load_state(recipe: Recipe, out: Path) -> dict:
    """pipeline.json of an earlier run of this recipe (its finished stages must match the recipe), or a new one."""
    state = _read(out / "pipeline.json")
    fresh = {"recipe": str(recipe.path), "settings": recipe.raw, "stages": []}
    if state is None:
        return fresh
    if state.get("settings") != recipe.raw:
        raise UserError(f"{out} was made by a recipe with other settings ({_diff(state.get('settings'), recipe.raw)}); "
                        "choose another --output-dir")
    names = [s.name for s in recipe.stages]
    for entry in state["stages"]:
        if entry["name"] not in names or recipe.stage(entry["name"]).spec != entry["spec"]:
            raise UserError(f"{out}: stage {entry['name']!r} was run from another recipe (it is not in this one, or "
                            "its settings differ); choose another --output-dir")
    return state


def _diff(a: dict | None, b: dict) -> str:
    a = a or {}
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in keys)


def _save_state(out: Path, state: dict) -> None:
    """pipeline.json with one line per finished stage."""
    head = {k: v for k, v in state.items() if k != "stages"}
    lines = [json.dumps(s) for s in state["stages"]]
    body = json.dumps(head, indent=1)[:-2] + ',\n "stages": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    write_atomic(out / "pipeline.json", body)
