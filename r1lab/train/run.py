"""`r1lab train`: the R1-Zero run from base model to summary.json.

Evaluate the untouched base model under the R1-Zero template, train with GRPO, evaluate again
on the same held-out problems under the same protocol, and write the run directory.
"""

from __future__ import annotations

import itertools
import time
import torch

from r1lab.eval.protocol import EvalResult, evaluate
from r1lab.models.io import load
from r1lab.tasks import get_task, problems, take
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.grpo import GRPO, set_threads
from r1lab.train.rundir import RunDir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def run(cfg: GRPOConfig, console: Console | None = None) -> dict:
    console = console or Console()
    t_start = time.time()
    if not cfg.output_dir:
        cfg.output_dir = str(RunDir.default("r1-zero"))
    try:
        task = get_task(cfg.task)
    except KeyError as e:
        from r1lab.errors import UserError
        raise UserError(str(e.args[0])) from None
    rundir = RunDir(cfg.output_dir)  # pre-flight: writable, disk space
    model, tok = load(cfg.model, DTYPES[cfg.dtype], cfg.device)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rundir.save_config(cfg)
    console.start(cfg, rundir.path, sum(p.numel() for p in model.parameters()), threads)

    test = take(task, "test", cfg.eval_problems, seed=cfg.seed)
    evaluate_now = lambda m: evaluate(m, tok, test, task.verifier, k=cfg.eval_samples,  # noqa: E731
                                      temperature=cfg.eval_temperature, top_p=cfg.eval_top_p,
                                      max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 1)
    base = console.phase("evaluating the base model", lambda: evaluate_now(model))
    rundir.append("samples.jsonl", [dict(s, phase="base") for s in base.samples])

    trainer = GRPO(cfg, model, tok, task.verifier)
    stream = problems(task, "train", cfg.seed)
    with console.progress(cfg.max_steps) as bar:
        for step in range(1, cfg.max_steps + 1):
            metrics, batch = trainer.step(list(itertools.islice(stream, cfg.prompts_per_step)))
            rundir.append("metrics.jsonl", [metrics])
            if cfg.log_samples_every and step % cfg.log_samples_every == 0:
                rundir.append("samples.jsonl", _samples(step, batch, cfg.group_size))
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.max_steps:
                rundir.checkpoint(model, tok, step)
            bar.update(metrics)
    rundir.checkpoint(model, tok, cfg.max_steps)

    final = console.phase("evaluating the trained model", lambda: evaluate_now(model))
    rundir.append("samples.jsonl", [dict(s, phase="final") for s in final.samples])
    summary = _summary(base, final, time.time() - t_start, cfg)
    rundir.write_json("summary.json", summary)
    console.finish(summary, base, final, rundir.path)
    return summary


def _summary(base: EvalResult, final: EvalResult, wall: float, cfg: GRPOConfig) -> dict:
    return {
        "base_accuracy": base.accuracy, "final_accuracy": final.accuracy,
        "base_mean_length": base.mean_length, "final_mean_length": final.mean_length,
        "base_format_rate": base.format_rate, "final_format_rate": final.format_rate,
        "base_unparseable_rate": base.unparseable_rate, "final_unparseable_rate": final.unparseable_rate,
        "eval_problems": base.n_problems, "eval_samples_per_problem": base.k,
        "eval_temperature": cfg.eval_temperature, "eval_top_p": cfg.eval_top_p,
        "steps": cfg.max_steps, "wall_seconds": wall, "model": cfg.model, "task": cfg.task,
    }


def _samples(step: int, batch, group_size: int, n: int = 8) -> list[dict]:
    rows = []
    for i in range(min(n, len(batch.texts))):
        rows.append({"phase": "train", "step": step, "question": batch.problems[i // group_size].question,
                     "response": batch.texts[i], "reward": float(batch.rewards[i]),
                     "accuracy": float(batch.accuracy[i]), "format": float(batch.format[i])})
    return rows

