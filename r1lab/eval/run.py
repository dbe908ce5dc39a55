"""`r1lab eval`: one benchmark through one backend, into DIR/samples.jsonl and DIR/results.json.

    r1lab eval [--model M | --endpoint URL --model NAME] --benchmark NAME_OR_FILE [--samples K]
               [--limit N] --output-dir DIR [--resume]

Everything that can be wrong with the input is checked before the first sample: the config,
the output directory, every row and reference of the benchmark, the prompt rule against the
backend, and the model (local) is loaded. Then each problem's K samples are generated (the local
rollout engine or an OpenAI-compatible endpoint, `local.py` / `endpoint.py`), split into
reasoning and answer (`prompts.py`), graded on the answer by the benchmark's verifier (the same
function as the RL reward) and appended to samples.jsonl. results.json is rewritten as problems
finish (at most every 2 s, and at the end or on any error), so a partial run's metrics are on
disk at any time; `r1lab eval --output-dir DIR --report-only` prints them as a table.

Resuming (`--resume`): the saved config.yaml supplies every field the command line does not
give; the fields that decide what a sample is (`config.SAMPLE_FIELDS`) must not change, while
`samples`, `limit` and the speed knobs may. Rows already in samples.jsonl, keyed by (problem id,
sample index), are kept and never regenerated. Wall time adds up over the sessions.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console

import r1lab
from r1lab.config import ConfigError, build, load
from r1lab.errors import UserError
from r1lab.eval.backends import Job, Sample
from r1lab.eval.config import ENDPOINT_MAX_TOKENS, SAMPLE_FIELDS, TINY_MAX_TOKENS, EvalConfig
from r1lab.eval.console import progress, results_table
from r1lab.eval.metrics import ProblemStats, problem_stats, summarize
from r1lab.eval.prompts import PromptRule, prompt_rule
from r1lab.eval.store import CONFIG, RESULTS, EvalDir, read_results
from r1lab.models.io import is_builtin
from r1lab.models.machine import check_machine
from r1lab.tasks.benchmarks import Benchmark, load_benchmark
from r1lab.verifiers import BATCH_VERIFIERS, VERIFIERS, get_verifier, same_answer

WRITE_EVERY_S = 2.0


def eval_config(config_file: str | None, overrides: dict, resume: bool) -> EvalConfig:
    """The config for a run: YAML file + command line; when resuming, DIR/config.yaml fills the rest."""
    if not resume:
        return load(EvalConfig, config_file, overrides)
    if config_file:
        raise ConfigError("--resume takes the eval's own DIR/config.yaml; pass changes as --field value")
    out = load(EvalConfig, None, overrides).output_dir
    if not out:
        raise ConfigError("--resume needs --output-dir DIR")
    saved = EvalDir(out, resume=True).saved_config()
    return build(EvalConfig, {**saved, **overrides}, where=f"{out}/{CONFIG} + command line")


def run_eval(cfg: EvalConfig, resume: bool = False, console: Console | None = None) -> dict:
    console = console or Console()
    start = time.time()
    cfg, store, bench, rule = _prepare(cfg, resume)
    backend = _backend(cfg, rule)  # a local model is loaded here, still before any file is written
    try:
        store.save_config(dataclasses.asdict(cfg))
        results = _generate(cfg, store, bench, rule, backend, console, start, resume)
    finally:
        backend.close()
    console.print(results_table(results))
    console.print(f"samples: {store.path}/samples.jsonl · results: {store.path}/{RESULTS}", highlight=False)
    return results


def _prepare(cfg: EvalConfig, resume: bool) -> tuple[EvalConfig, EvalDir, Benchmark, PromptRule]:
    """Every check that needs no model or server: the config, the directory, the benchmark."""
    cfg.require_run_fields()
    if not cfg.endpoint:
        check_machine(cfg.device, cfg.dtype, cfg.threads)  # a device or thread count this machine lacks
    store = EvalDir(cfg.output_dir, resume)
    bench = load_benchmark(cfg.benchmark, cfg.verifier, cfg.limit, cfg.seed, cfg.split)
    check_references(bench)
    cfg = _resolve(cfg, bench)
    if resume:
        _check_unchanged(store.saved_config(), cfg, store.path)
    local = not cfg.endpoint
    rule = prompt_rule(cfg.prompt, bench.kind, cfg.instruction, local, tiny=local and is_builtin(cfg.model),
                       system=cfg.system_prompt, force_think=cfg.force_think)
    if cfg.endpoint:
        from r1lab.eval.endpoint import resolve_api
        cfg = dataclasses.replace(cfg, api=resolve_api(cfg.api, rule))
    return cfg, store, bench, rule


def _generate(cfg: EvalConfig, store: EvalDir, bench: Benchmark, rule: PromptRule, backend, console: Console,
              start: float, resume: bool) -> dict:
    """Generate and grade the missing samples; results.json is written however this ends."""
    earlier = read_results(store.path).get("wall_seconds", 0.0) if resume and (store.path / RESULTS).exists() else 0.0
    prompts = [backend.render(rule.user_text(p.question)) for p in bench.problems]
    console.print(f"[bold]r1lab eval[/] · {cfg.benchmark} ({len(bench.ids)} problems × {cfg.samples} samples, "
                  f"verifier {bench.verifier}) · {cfg.endpoint or 'local'} {cfg.model} · prompt {rule.style} · "
                  f"T={cfg.temperature} top-p {cfg.top_p} · max {cfg.max_tokens} tokens · {store.path}",
                  highlight=False)
    tracker = _Tracker(cfg, bench, rule, backend, store, prompts[0], start, earlier)
    tracker.load(store.load_rows())  # a malformed row stops here, before results.json is touched
    try:
        with progress(console, len(bench.ids) * cfg.samples, tracker.done) as advance:
            for job, samples in backend.run(tracker.jobs(prompts)):
                tracker.add(job, samples)
                advance(len(samples))
    finally:
        results = tracker.write()
    return results


def report(output_dir: str, console: Console | None = None) -> dict:
    """`--report-only`: print DIR/results.json as the table (a partial run's too)."""
    if not output_dir:
        raise ConfigError("--report-only needs --output-dir DIR")
    results = read_results(output_dir)
    (console or Console()).print(results_table(results))
    return results


def check_references(bench: Benchmark) -> None:
    """Grade an empty response against every reference: an unknown verifier or a reference the
    verifier cannot read is a one-line error here, before any compute, naming where it came from."""
    if bench.verifier not in VERIFIERS:
        raise UserError(f"unknown verifier {bench.verifier!r}; known: {', '.join(VERIFIERS)}")
    verify = VERIFIERS[bench.verifier]
    for pid, p in zip(bench.ids, bench.problems, strict=True):
        try:
            verify("", p.answer)
        except ValueError as e:
            where = f"{bench.source}:{p.meta['line']}" if "line" in p.meta else f"{bench.name} problem {pid}"
            raise UserError(f"{where}: bad reference for the {bench.verifier} verifier: {e}") from None


def _resolve(cfg: EvalConfig, bench: Benchmark) -> EvalConfig:
    tiny = not cfg.endpoint and is_builtin(cfg.model)
    return dataclasses.replace(
        cfg, samples=cfg.samples or bench.samples,
        limit=cfg.limit or (len(bench.ids) if bench.kind == "task" else None),
        max_tokens=cfg.max_tokens or (TINY_MAX_TOKENS if tiny else ENDPOINT_MAX_TOKENS))


def _check_unchanged(saved: dict, cfg: EvalConfig, path: Path) -> None:
    for name in SAMPLE_FIELDS:
        if name in saved and saved[name] != getattr(cfg, name):
            raise UserError(f"{path} was evaluated with --{name.replace('_', '-')} {saved[name]!r}; a resumed "
                            f"eval must keep it (got {getattr(cfg, name)!r}): use another --output-dir")


def _backend(cfg: EvalConfig, rule: PromptRule):
    if cfg.endpoint:
        from r1lab.eval.endpoint import EndpointBackend
        return EndpointBackend(cfg, rule, cfg.max_tokens)
    from r1lab.eval.local import LocalBackend
    return LocalBackend(cfg, rule, cfg.max_tokens)


class _Tracker:
    """The rows of every problem, the stats of finished ones, and results.json."""

    def __init__(self, cfg, bench: Benchmark, rule: PromptRule, backend, store: EvalDir, example: str,
                 start: float, earlier: float):
        self.cfg, self.bench, self.rule, self.backend, self.store = cfg, bench, rule, backend, store
        self.example, self.start, self.earlier = example, start, earlier
        self.rows: dict[str, dict[int, dict]] = {pid: {} for pid in bench.ids}
        self.stats: dict[str, ProblemStats] = {}
        self.same = same_answer(bench.verifier)
        self.verify, self.batch = get_verifier(bench.verifier), BATCH_VERIFIERS.get(bench.verifier)
        self.done, self.last_write = 0, 0.0

    def load(self, saved: dict[tuple[str, int], dict]) -> None:
        for (pid, s), row in saved.items():
            if pid in self.rows and s < self.cfg.samples:
                self.rows[pid][s] = row
                self.done += 1
        for pid in self.rows:
            self._maybe_finish(pid)

    def jobs(self, prompts: list[str]) -> list[Job]:
        out = []
        for i, pid in enumerate(self.bench.ids):
            missing = tuple(s for s in range(self.cfg.samples) if s not in self.rows[pid])
            if missing:
                out.append(Job(i, pid, prompts[i], missing))
        return out

    def add(self, job: Job, samples: list[Sample]) -> None:
        ref = self.bench.problems[job.index].answer
        answers = [s.reply.answer for s in samples]
        grades = (self.batch(answers, [ref] * len(answers)) if self.batch and len(answers) > 1
                  else [self.verify(a, ref) for a in answers])
        rows = [{"id": job.id, "sample": i, "prompt": job.prompt, "reasoning": s.reply.reasoning,
                 "answer": s.reply.answer,
                 "extracted": g.extracted, "correct": g.correct, "tokens": s.tokens, "tokens_exact": s.tokens_exact,
                 "finish_reason": s.finish_reason, "format": s.reply.format_ok(self.rule.style)}
                for i, s, g in zip(job.samples, samples, grades, strict=True)]
        self.store.append(rows)
        self.rows[job.id].update((r["sample"], r) for r in rows)
        self.done += len(rows)
        if self._maybe_finish(job.id) and time.time() - self.last_write >= WRITE_EVERY_S:
            self.write()

    def _maybe_finish(self, pid: str) -> bool:
        have = self.rows[pid]
        if pid in self.stats or len(have) < self.cfg.samples:
            return False
        self.stats[pid] = problem_stats([have[s] for s in range(self.cfg.samples)], self.same)
        return True

    def write(self) -> dict:
        self.last_write = time.time()
        cfg, bench = self.cfg, self.bench
        finished = [self.stats[pid] for pid in bench.ids if pid in self.stats]
        results = {
            **summarize(finished, cfg.samples), "n_problems_total": len(bench.ids),
            "complete": len(finished) == len(bench.ids), "benchmark": cfg.benchmark, "source": bench.source,
            "verifier": bench.verifier, "model": cfg.model, **self.backend.describe(),
            "protocol": {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens,
                         "samples_per_problem": cfg.samples, "seed": cfg.seed,
                         "prompt": self.rule.describe(self.example)},
            "wall_seconds": self.earlier + time.time() - self.start, "r1lab_version": r1lab.__version__,
        }
        self.store.write_results(results)
        return results
