"""`r1lab train`: the R1-Zero run from base model to summary.json, resumable after any crash.

Evaluate the untouched base model under the R1-Zero template, train with GRPO, evaluate again
on the same held-out problems under the same protocol, and write the run directory, ending with
its report (report.html, report.md; r1lab/report/). Each step's metrics row also goes to the
`--report-to` trackers, and its aha moments to aha.jsonl (train/behaviour.py).

Resuming (`resume=True`, from `r1lab train --resume RUN_DIR`): the newest complete checkpoint
holds the policy, reference, optimizer, scheduler, sampling generator, global RNG states and the
position in the problem stream; logs are trimmed back to it and the steps after it run again,
producing exactly what the uninterrupted run would have (tests/train/test_resume.py). The base
evaluation is read from base_eval.json instead of being repeated.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from r1lab import config as C
from r1lab.config import save as save_config
from r1lab.errors import UserError
from r1lab.eval.protocol import EvalResult, evaluate
from r1lab.models.io import load, load_config, quiet
from r1lab.models.machine import check_machine, check_memory
from r1lab.report import write_report
from r1lab.rollout.text import encode_prompts
from r1lab.runs import (
    RUN_CONFIG,
    Checkpoints,
    ReadOnlyRunDir,
    RunDir,
    has_progress,
    rng_state,
    set_rng_state,
    truncate_jsonl,
)
from r1lab.runs.trackers import open_trackers
from r1lab.tasks import ProblemStream, r1_zero_prompt, take
from r1lab.train import dist
from r1lab.train.behaviour import AhaLog
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.grpo import GRPO, TrainingStopped, set_threads
from r1lab.train.memory import ModelShape, grpo_memory
from r1lab.verifiers import REFERENCE_CHECKS, checked_task
from r1lab.verifiers.rewards import load_reward_fn

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def run(cfg: GRPOConfig, console: Console | None = None, resume: bool = False) -> dict:
    console = console or Console()
    t_start = time.time()
    if not cfg.output_dir:
        cfg.output_dir = str(RunDir.default("r1-zero"))
    task = preflight(cfg)
    d = _launch(cfg)  # torchrun: this rank's process group; else one process
    if not d.is_main:
        console = Console(quiet=True)  # rank 0 shows progress and writes the run directory
    # refusals (and "finished") before anything is written; the checkpoint verified once, by rank 0
    latest, restart = d.broadcast(plan(cfg, resume) if d.is_main else None)
    if latest == "finished":
        console.rich.print(f"{cfg.output_dir} is finished (step {cfg.max_steps} of {cfg.max_steps}); nothing to do. "
                           f"To train longer: r1lab train --resume {cfg.output_dir} --max-steps N")
        return RunDir.read_summary(cfg.output_dir)
    model, tok = load(str(latest) if latest else cfg.model, d.load_dtype(DTYPES[cfg.dtype]), d.device)
    test = take(task, "test", cfg.eval_problems, seed=cfg.seed)
    check_fits(cfg, task, test, model, tok)
    # pre-flight again, then the directory is created (rank 0 only)
    rundir = RunDir(cfg.output_dir, resume=resume) if d.is_main else ReadOnlyRunDir(cfg.output_dir)
    if restart and d.is_main:
        rundir.clear_failed_start()  # a start that never completed a step: start again in place
    ckpts = Checkpoints(rundir.path / "checkpoints", keep=cfg.keep_checkpoints)
    if d.is_main:
        ckpts.clean()
    trackers = open_trackers(cfg.report_to if d.is_main else "", rundir.path, cfg,
                             ckpts.complete()[-1][0] if latest else 0)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rundir.save_config(cfg)
    console.start(cfg, rundir.path, sum(p.numel() for p in model.parameters()), threads)

    def evaluate_now(m):  # every rank evaluates (the same numbers); rank 0 writes them
        with d.full_weights(m):
            return evaluate(m, tok, test, task.verifier, k=cfg.eval_samples, temperature=cfg.eval_temperature,
                            top_p=cfg.eval_top_p, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 1)
    trainer = GRPO(cfg, model, tok, task.verifier, dist=d, engine=_engine(cfg, d, str(latest or cfg.model), tok))
    saved_base = rundir.read_json("base_eval.json") if resume else None
    start, position = _restore(rundir, trainer, latest, saved_base is not None)
    if saved_base is not None:
        base = EvalResult(**saved_base)
    else:
        base = console.phase("evaluating the base model", lambda: evaluate_now(model))
        rundir.append("samples.jsonl", [dict(s, phase="base") for s in base.samples])
        rundir.write_json("base_eval.json", vars(base))  # after the samples: it marks them complete
    if not start:
        torch.manual_seed(cfg.seed)  # training starts from the same global RNG state, evaluated or not
    else:
        console.rich.print(f"resuming from {latest} (step {start} of {cfg.max_steps})")

    stream = ProblemStream(task, "train", cfg.seed, position=position)
    save = lambda step: _save(ckpts, step, trainer, stream, cfg)  # noqa: E731
    aha_log = AhaLog(rundir)
    with console.progress(cfg.max_steps, completed=start) as bar, trackers:
        for step in range(start + 1, cfg.max_steps + 1):
            metrics, batch = trainer.step(stream.take(cfg.prompts_per_step), more=stream.take)
            rundir.append("metrics.jsonl", [metrics])
            aha_log.add(step, batch.notable)
            trackers.log(metrics, step)
            if cfg.log_samples_every and step % cfg.log_samples_every == 0:
                rundir.append("samples.jsonl", _samples(step, batch, cfg.group_size, cfg.samples_per_log))
            bar.update(metrics)
            if trainer.nonfinite_streak >= cfg.max_skipped_in_a_row:
                done = ckpts.complete()
                raise TrainingStopped(
                    f"stopped at step {step}: {trainer.nonfinite_streak} updates in a row had a non-finite "
                    f"loss or gradient (lower lr?); metrics are in {rundir.path}/metrics.jsonl, last "
                    f"checkpoint {done[-1][1] if done else 'none'}")
            if (cfg.save_every and step % cfg.save_every == 0) or step == cfg.max_steps:
                save(step)
    if not ckpts.complete():
        save(trainer.steps_done)  # max_steps 0: the final state is still on disk

    final = console.phase("evaluating the trained model", lambda: evaluate_now(model))
    rundir.append("samples.jsonl", [dict(s, phase="final") for s in final.samples])
    summary = _summary(base, final, time.time() - t_start, cfg)
    rundir.write_json("summary.json", summary)
    report = _report(rundir, console) if cfg.max_steps > 0 and d.is_main else None  # no step: no curves
    console.finish(summary, base, final, rundir.path, report)
    return summary


def preflight(cfg: GRPOConfig):
    """What can be refused before the run directory is looked at: the task and whether its verifier
    fits it, the reward function, the machine (device, dtype, threads), the model's config. Returns the task."""
    task = checked_task(cfg.task, cfg.verifier)
    if cfg.reward_fn:
        load_reward_fn(cfg.reward_fn, cfg.reward_timeout)  # imported once: the trainer gets the same function
    check_machine(cfg.device, cfg.dtype, cfg.threads)
    load_config(cfg.model)  # a bad config.json or an unreachable hub id, before the directory is touched
    return task


def plan(cfg: GRPOConfig, resume: bool) -> tuple[Path | str | None, bool]:
    """(the checkpoint to continue from, or None, or "finished"; whether to clear a failed start),
    refusing what cannot be done before anything is written."""
    path = Path(cfg.output_dir)
    RunDir.check(path, resume=resume)
    if not has_progress(path):  # nothing trained: a fresh start, in place if a start failed here
        unchanged = resume and _saved_config(path) == C.to_dict(cfg)
        return None, (path / "config.yaml").exists() and not unchanged
    latest = Checkpoints(path / "checkpoints").latest()  # verified against its manifest
    step = int(latest.name.rpartition("-")[2]) if latest else 0
    if step > cfg.max_steps:
        raise UserError(f"cannot resume {path} with max_steps {cfg.max_steps}: it has trained {step} steps "
                        f"(newest checkpoint {latest.name}); max_steps must be >= {step}")
    if latest and step == cfg.max_steps and (path / "summary.json").is_file():
        return "finished", False
    return latest, False


def _saved_config(path: Path) -> dict | None:
    try:
        return C.to_dict(C.load(GRPOConfig, path / "config.yaml")) | {"output_dir": str(path)}
    except UserError:
        return None


def check_fits(cfg: GRPOConfig, task, test: list, model, tok) -> None:
    """The task's references fit its verifier, prompt + completion fit the model's context, and the
    rollout fits in memory (r1lab/train/memory.py)."""
    check = REFERENCE_CHECKS.get(task.verifier)
    train_sample = ProblemStream(task, "train", cfg.seed).take(max(64, cfg.prompts_per_step))
    if check is not None:
        for p in (test + train_sample)[:64]:
            try:
                check(p.answer)
            except ValueError as e:
                raise UserError(f"verifier {task.verifier!r} does not fit task {cfg.task!r}: {e}") from None
    questions = getattr(task, "questions", None) or [p.question for p in test + train_sample]
    with quiet():  # not transformers' warning about a prompt longer than the context: ours, below
        lengths = [len(ids) for ids in encode_prompts(tok, [r1_zero_prompt(q) for q in questions])]
    longest = max(lengths)
    shape = ModelShape.of(model)
    if shape is None:
        return
    if longest + cfg.max_new_tokens > shape.context:
        raise UserError(f"the longest prompt ({longest} tokens, task {cfg.task}) plus max_new_tokens "
                        f"({cfg.max_new_tokens}) exceeds the model's context of {shape.context} tokens")
    need = grpo_memory(shape, cfg, longest, torch.finfo(DTYPES[cfg.dtype]).bits // 8)
    check_memory(need, cfg.device, "lower prompts_per_step, group_size, max_new_tokens or eval_samples")


def _restore(rundir: RunDir, trainer: GRPO, latest, base_done: bool) -> tuple[int, int]:
    """Load the checkpoint's training state and trim the logs to it; returns (step, data position)."""
    step, position = 0, 0
    if latest is not None:
        trainer.load_state(latest)
        state = torch.load(latest / "state.pt", weights_only=True)
        set_rng_state(state["rng"])
        step, position = trainer.steps_done, state["data_position"]
    if rundir.read_only:
        return step, position
    truncate_jsonl(rundir.path / "metrics.jsonl", lambda r: r.get("step", 0) <= step)
    truncate_jsonl(rundir.path / "aha.jsonl", lambda r: r.get("step", 0) <= step)
    truncate_jsonl(rundir.path / "samples.jsonl",
                   lambda r: (r.get("phase") == "base" and base_done)
                   or (r.get("phase") == "train" and r.get("step", 0) <= step))
    return step, position


def _report(rundir: RunDir, console: Console):
    """report.html, or a warning if matplotlib is missing: the run itself is complete without it."""
    try:
        return write_report([rundir.path]).html
    except ModuleNotFoundError as e:
        console.rich.print(f"warning: no report ({e}); `r1lab report {rundir.path}` writes it where matplotlib is "
                           "installed", highlight=False)
        return None


def _launch(cfg: GRPOConfig) -> dist.Dist:
    """The process group (under torchrun) and the checks that need the world size, before any compute."""
    if cfg.rollout == "vllm":
        from r1lab.rollout.vllm import check_available
        check_available(cfg.device)
    d = dist.setup(cfg.device, cfg.fsdp)
    if cfg.prompts_per_step % (cfg.num_minibatches * d.world):
        raise UserError(f"prompts_per_step ({cfg.prompts_per_step}) must divide into num_minibatches "
                        f"({cfg.num_minibatches}) x {d.world} ranks: each rank takes whole groups of each minibatch")
    return d


def _engine(cfg: GRPOConfig, d: dist.Dist, weights: str, tok):
    """The rollout backend: None (r1lab's own engine) or colocated vLLM, started from `weights`."""
    if cfg.rollout != "vllm":
        return None
    from r1lab.models.io import resolve
    from r1lab.rollout.vllm import VLLMEngine
    return VLLMEngine(resolve(weights), tok, cfg.dtype, cfg.vllm_gpu_memory_utilization, cfg.vllm_sleep, cfg.seed,
                      external_launcher=d.group)


def _save(ckpts: Checkpoints, step: int, trainer: GRPO, stream: ProblemStream, cfg: GRPOConfig) -> None:
    """Rank 0 writes the checkpoint; the others take part in gathering the state (FSDP), then all wait."""
    if trainer.dist.is_main:
        ckpts.save(step, lambda out: _write_state(out, trainer, stream, cfg))
    else:
        trainer.save_state(None)
    trainer.dist.barrier()


def _write_state(out, trainer: GRPO, stream: ProblemStream, cfg: GRPOConfig) -> None:
    trainer.save_state(out)
    torch.save({"rng": rng_state(), "data_position": stream.position}, out / "state.pt")
    save_config(cfg, out / RUN_CONFIG)  # the run's config as it was when this was written (resume compares)


def _summary(base: EvalResult, final: EvalResult, wall: float, cfg: GRPOConfig) -> dict:
    return {
        "base_accuracy": base.accuracy, "final_accuracy": final.accuracy,
        "base_mean_length": base.mean_length, "final_mean_length": final.mean_length,
        "base_format_rate": base.format_rate, "final_format_rate": final.format_rate,
        "base_unparseable_rate": base.unparseable_rate, "final_unparseable_rate": final.unparseable_rate,
        "base_pass_at_k": base.pass_at_k, "final_pass_at_k": final.pass_at_k,
        "eval_problems": base.n_problems, "eval_samples_per_problem": base.k,
        "eval_temperature": cfg.eval_temperature, "eval_top_p": cfg.eval_top_p,
        "steps": cfg.max_steps, "wall_seconds": wall, "model": cfg.model, "task": cfg.task,
        "base_lenient_accuracy": base.lenient_accuracy, "final_lenient_accuracy": final.lenient_accuracy,
        **{f"base_{k}": v for k, v in base.behaviour.items()},  # styles, lengths by style, reflection, aha
        **{f"final_{k}": v for k, v in final.behaviour.items()},
    }


def _samples(step: int, batch, group_size: int, n: int = 8) -> list[dict]:
    rows, lengths = [], batch.rollout.lengths.tolist()
    for i in range(len(batch.texts) if n == 0 else min(n, len(batch.texts))):
        problem = batch.problems[i // group_size]
        rows.append({"phase": "train", "step": step, "question": problem.question, "reference": problem.answer,
                     "response": batch.texts[i], "length": lengths[i], "reward": float(batch.rewards[i]),
                     "accuracy": float(batch.accuracy[i]), "format": float(batch.format[i])})
    return rows
