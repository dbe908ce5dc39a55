"""`r1lab distill`: distil a teacher's reasoning into a student, and (`--compare-rl`) set that
against R1-Zero RL on the same student at the same compute: DeepSeek-R1's section 4 in miniature.

A recipe over the library's commands, each in a directory of its own under DIR:

1. `traces/`: `r1lab sample` from the teacher (a local model, a run, or an endpoint: teacher.py)
   on the task's train questions, `samples_per_prompt` each (open-r1's OpenR1-Math recipe: two),
   kept when the verifier agrees with the reference and the R1-Zero format holds, then the
   language, repetition, paragraph and duplicate filters of `r1lab sample`;
2. `sft/`: `r1lab sft` of the student on the kept traces under the R1-Zero template (the prompt
   the student is evaluated and RL-trained under), cosine decay to a tenth as the paper's
   distilled models; the traces are text, retokenised by the student's tokenizer (teacher.py);
3. `eval/<teacher|student_before|student_distilled|student_rl>/`: `r1lab eval` of each model on
   the same held-out test problems, `eval_samples` samples each at the paper's T=0.6 / top-p 0.95:
   pass@1 over k, cons@k, mean length, format rate;
4. with `--compare-rl`, `rl/`: `r1lab train` (R1-Zero GRPO, `r1lab train`'s defaults) of the
   student from its base, stopped when its compute reaches the distillation arm's (compute.py):
   the student's SFT passes plus the teacher's sampling passes, in forward-equivalent token
   passes. A GRPO step's cost is known only after it ran (completion lengths), so the run is
   sized from the student's evaluated mean length, then extended by `--resume` rounds until
   the next step would overshoot by more than it undershoots (at most half a step off).

The table (distill_table.py) is printed and written to DIR/distill.md, the numbers to
DIR/distill.json. Re-running the same command skips what is finished (a part's summary or a
complete results.json) and resumes an interrupted part from its last chunk or checkpoint; a
changed config is a one-line error. Everything that can be wrong with the input (the teacher
cannot be loaded or reached, a student tokenizer that cannot hold the text, a bad config) is
found before any compute; an empty trace set after filtering names the filter that emptied it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from r1lab import config as C
from r1lab.config import ConfigError
from r1lab.errors import UserError
from r1lab.eval.config import EvalConfig
from r1lab.eval.run import run_eval
from r1lab.files import write_atomic
from r1lab.pipeline.compute import Compute, generation_compute, grpo_step_compute, sft_compute, steps_for_budget
from r1lab.pipeline.distill_config import DistillConfig
from r1lab.pipeline.distill_table import markdown
from r1lab.pipeline.sample import SampleConfig, run_sample
from r1lab.pipeline.teacher import (
    PROBE,
    EndpointSource,
    check_endpoint,
    check_loadable,
    check_retokenise,
    teacher_model,
)
from r1lab.rollout.text import encode_prompts
from r1lab.runs import Checkpoints, RunDir
from r1lab.tasks import ProblemStream, get_task, r1_zero_prompt
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.run import run as run_rl
from r1lab.train.sft import SFTConfig, run_sft
from r1lab.verifiers import checked_task

MAX_RL_ROUNDS = 4
RECENT_STEPS = 10  # the RL arm's next steps are priced at the mean of this many last ones
RETOKENISE_CHECKED = 256  # kept traces checked against the student's tokenizer before SFT


# ---- the run -------------------------------------------------------------------------------------

def run_distill(cfg: DistillConfig, console: Console | None = None) -> dict:
    console = console or Console()
    if not cfg.output_dir:
        cfg.output_dir = str(RunDir.default("distill"))
    teacher, student_tok = check_inputs(cfg)  # every one-line error that needs no compute
    out = RunDir(cfg.output_dir, resume=True)
    _check_same_config(out, cfg)
    out.save_config(cfg)
    console.rich.print(f"[bold]r1lab distill[/] · teacher {cfg.teacher_endpoint or ''} {teacher} · student "
                       f"{cfg.student} · task {cfg.task} · {cfg.prompts} questions × {cfg.samples_per_prompt} traces · "
                       f"compare RL {cfg.compare_rl} · output {out.path}", highlight=False)
    traces = _traces(cfg, teacher, out.path, console)
    _check_traces(traces, out.path / "traces", student_tok)
    sft = _sft(cfg, out.path, console)
    distill_compute = sample_compute(out.path / "traces", student_tok) + sft_run_compute(out.path / "sft")
    evals = {"teacher": _eval(cfg, "teacher", teacher, cfg.teacher_endpoint, out.path, console),
             "student_before": _eval(cfg, "student_before", cfg.student, "", out.path, console),
             "student_distilled": _eval(cfg, "student_distilled", sft["checkpoint"], "", out.path, console)}
    rl = None
    if cfg.compare_rl:
        rl = _rl_arm(cfg, out.path, distill_compute.total, evals["student_before"], student_tok, console)
        evals["student_rl"] = _eval(cfg, "student_rl", rl["checkpoint"], "", out.path, console)
    result = {"config": C.to_dict(cfg), "teacher_model": teacher, "traces": traces, "sft": sft, "rl": rl,
              "distill_compute": distill_compute.as_dict(), "evals": evals}
    table = markdown(result)
    write_atomic(out.path / "distill.json", json.dumps(result, indent=1))
    write_atomic(out.path / "distill.md", table + "\n")
    console.rich.print(table, highlight=False, soft_wrap=True)
    return result


def check_inputs(cfg: DistillConfig) -> tuple[str, object]:
    """(the teacher's model, the student's tokenizer), or a one-line error, before any compute."""
    checked_task(cfg.task, cfg.verifier)
    if cfg.teacher_endpoint:
        check_endpoint(cfg.teacher_endpoint)
        teacher = cfg.teacher
    else:
        teacher = _named("teacher", lambda: teacher_model(cfg.teacher))
        _named("teacher", lambda: check_loadable(teacher, "teacher"))
    student_tok = _named("student", lambda: check_loadable(cfg.student, "student"))
    check_retokenise(student_tok, PROBE, f"student {cfg.student}")
    return teacher, student_tok


def _named(what: str, fn):
    """fn(), with a user error that does not name `what` prefixed by it."""
    try:
        return fn()
    except UserError as e:
        raise e if str(e).startswith(what) else UserError(f"{what}: {e}") from None


def _check_same_config(out: RunDir, cfg: DistillConfig) -> None:
    """A re-run must ask for what DIR holds; threads, and adding --compare-rl, may change."""
    path = out.path / "config.yaml"
    saved = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(saved, dict):
        return
    now = C.to_dict(cfg)
    diff = [f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(saved) | set(now))
            if k not in ("threads", "compare_rl") and saved.get(k) != now.get(k)]
    if diff:
        raise UserError(f"{out.path} was made with other settings ({', '.join(diff)}); choose another --output-dir")


# ---- the distillation arm ------------------------------------------------------------------------

def _traces(cfg: DistillConfig, teacher: str, out: Path, console: Console) -> dict:
    d = out / "traces"
    if (d / "summary.json").is_file():  # finished: its wall time stays the sampling's
        return json.loads((d / "summary.json").read_text())
    scfg = SampleConfig(model=teacher, task=cfg.task, verifier=cfg.verifier, split="train", prompts=cfg.prompts,
                        samples_per_prompt=cfg.samples_per_prompt, template="r1_zero", temperature=cfg.temperature,
                        top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, rewrite="none", format="r1_zero",
                        min_language_consistency=cfg.min_language_consistency, max_repeat_share=cfg.max_repeat_share,
                        max_paragraph_words=cfg.max_paragraph_words, seed=cfg.seed, output_dir=str(d),
                        threads=cfg.threads, device=cfg.device, dtype=cfg.dtype)
    source = (EndpointSource(cfg.teacher_endpoint, teacher, cfg.temperature, cfg.top_p, cfg.max_new_tokens)
              if cfg.teacher_endpoint else None)
    try:
        return run_sample(scfg, console, resume=(d / "config.yaml").is_file(), source=source)
    finally:
        if source is not None:
            source.close()


def _check_traces(summary: dict, d: Path, tok) -> None:
    """No kept trace: name the filter that removed them; the first kept ones must survive retokenising."""
    if not summary["kept"]:
        removed = {f: n for f, n in summary["removed_by"].items() if n}
        if len(removed) == 1:
            raise UserError(f"{d}: no trace left after filtering: the {next(iter(removed))} filter removed all "
                            f"{summary['samples']} samples (see {d}/chunks)")
        counts = ", ".join(f"{f} {n}" for f, n in removed.items())
        raise UserError(f"{d}: no trace left after filtering {summary['samples']} samples; removed by, in order: "
                        f"{counts} (see {d}/chunks)")
    for row in _jsonl(d / "data.jsonl")[:RETOKENISE_CHECKED]:
        check_retokenise(tok, row["messages"][-1]["content"], f"{d}/data.jsonl")


def _sft(cfg: DistillConfig, out: Path, console: Console) -> dict:
    d = out / "sft"
    if (d / "summary.json").is_file():
        return json.loads((d / "summary.json").read_text())
    scfg = SFTConfig(model=cfg.student, data=str(out / "traces" / "data.jsonl"), template="r1_zero",
                     output_dir=str(d), seed=cfg.seed, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                     warmup_steps=cfg.warmup_steps, min_lr_ratio=0.1, max_seq_len=cfg.max_seq_len, save_every=0,
                     keep_checkpoints=1, threads=cfg.threads, device=cfg.device, dtype=cfg.dtype)
    return run_sft(scfg, console, resume=(d / "config.yaml").is_file())


# ---- compute of each arm -------------------------------------------------------------------------

def sample_compute(d: Path, tok) -> Compute:
    """The teacher's passes for the traces: each question's prompt once, each sampled token once."""
    rows = [r for f in sorted((d / "chunks").glob("chunk-*.jsonl")) for r in _jsonl(f)]
    questions = list(dict.fromkeys(r["question"] for r in rows))
    prompts = [len(ids) for ids in encode_prompts(tok, [r1_zero_prompt(q) for q in questions])]
    return generation_compute(prompts, [int(r["tokens"]) for r in rows])


def sft_run_compute(d: Path) -> Compute:
    return sft_compute([int(r["tokens"]) for r in _jsonl(d / "metrics.jsonl")])


def rl_run_compute(d: Path, cfg: GRPOConfig, tok) -> list[Compute]:
    """The compute of each step of a `r1lab train` run so far, from metrics.jsonl and the replayed
    question stream (the prompts each step drew; no dynamic sampling)."""
    stream = ProblemStream(get_task(cfg.task, cfg.verifier), "train", cfg.seed)
    out = []
    for r in _jsonl(d / "metrics.jsonl"):
        questions = [p.question for p in stream.take(cfg.prompts_per_step)]
        prompts = [len(ids) for ids in encode_prompts(tok, [r1_zero_prompt(q) for q in questions])]
        n = cfg.prompts_per_step * cfg.group_size
        completions = [round(r["mean_length"] * n)]  # the step's completion tokens (mean over its n rollouts)
        out.append(grpo_step_compute(prompts, completions, mu=cfg.mu, num_minibatches=cfg.num_minibatches,
                                     reference=cfg.beta > 0, kl_init=r.get("kl_init") is not None and cfg.beta == 0))
    return out


# ---- the RL arm ------------------------------------------------------------------------------------

def _rl_arm(cfg: DistillConfig, out: Path, budget: int, before: dict, tok, console: Console) -> dict:
    d = out / "rl"
    done = _read(d / "distill_rl.json")
    if done is not None and done["budget"] == budget:
        return done
    rcfg = GRPOConfig(model=cfg.student, task=cfg.task, verifier=cfg.verifier, output_dir=str(d), seed=cfg.seed,
                      max_steps=1, lr=cfg.rl_lr,
                      prompts_per_step=cfg.rl_prompts_per_step, group_size=cfg.rl_group_size,
                      max_new_tokens=cfg.max_new_tokens, eval_problems=8, eval_samples=1, log_samples_every=0,
                      save_every=0, keep_checkpoints=1, threads=cfg.threads, device=cfg.device, dtype=cfg.dtype)
    if rcfg.dynamic_sampling:
        raise ConfigError("the RL arm's compute is counted without dynamic sampling")
    first = ProblemStream(get_task(cfg.task), "train", cfg.seed).take(cfg.rl_prompts_per_step)
    guess = grpo_step_compute(  # a step at the student's evaluated mean length
        [len(ids) for ids in encode_prompts(tok, [r1_zero_prompt(p.question) for p in first])],
        [round(before.get("mean_tokens") or cfg.max_new_tokens) * cfg.rl_prompts_per_step * cfg.rl_group_size],
        reference=rcfg.beta > 0).total
    wall = (done or {}).get("wall_seconds", 0.0)
    steps = rl_run_compute(d, rcfg, tok)
    for _ in range(MAX_RL_ROUNDS):
        recent = steps[-RECENT_STEPS:]
        per_step = sum(c.total for c in recent) / len(recent) if recent else guess
        more = steps_for_budget(budget, per_step, sum(c.total for c in steps))
        if steps and more == 0:
            break
        if not steps:  # the guess is the base's length, and RL changes it: go half way, then measure
            more = max(1, -(-more // 2))
        rcfg.max_steps = len(steps) + more
        t0 = time.time()
        run_rl(rcfg, console, resume=(d / "config.yaml").is_file())
        wall += time.time() - t0
        steps = rl_run_compute(d, rcfg, tok)
    spent = sum(steps, Compute())
    result = {"budget": budget, "compute": spent.as_dict(), "steps": len(steps), "wall_seconds": wall,
              "checkpoint": str(Checkpoints(d / "checkpoints").complete()[-1][1]),
              "config": asdict(rcfg)}
    write_atomic(d / "distill_rl.json", json.dumps(result, indent=1))
    return result


# ---- evaluation ----------------------------------------------------------------------------------

def _eval(cfg: DistillConfig, name: str, model: str, endpoint: str, out: Path, console: Console) -> dict:
    d = out / "eval" / name
    results = _read(d / "results.json")
    if results is not None and results.get("complete"):
        return results
    ecfg = EvalConfig(model=model, endpoint=endpoint, benchmark=cfg.benchmark or cfg.task, verifier=cfg.verifier,
                      output_dir=str(d), samples=cfg.eval_samples, limit=cfg.eval_problems, prompt="r1zero",
                      instruction="", api="completions" if endpoint else "auto",
                      temperature=cfg.eval_temperature, top_p=cfg.eval_top_p, max_tokens=cfg.max_new_tokens,
                      seed=cfg.seed, threads=cfg.threads, device=cfg.device, dtype=cfg.dtype)
    return run_eval(ecfg, resume=(d / "config.yaml").is_file(), console=console.rich)


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

