"""Resuming a run directory: which config changes are allowed, and trimming logs to a checkpoint.

A resumed run must continue the same experiment, so its config is the saved config.yaml plus
overrides, and only fields in `SAFE_TO_CHANGE` (how long to run, how often to log and save, how
many checkpoints to keep, threads, where to stream metrics) may differ; anything else is a
one-line error listing them. A config.yaml edited by hand is caught the same way: the newest
checkpoint keeps the config the run trained with (`RUN_CONFIG`), and config.yaml must agree with
it on every field not safe to change. A run that never completed a step has nothing to continue:
any change is accepted (the trainer starts it again in place).

Logs are trimmed to the checkpoint being resumed: rows written after it (by steps that will run
again) and a torn last line (the process died mid-write) are dropped, atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from r1lab import config as C
from r1lab.errors import UserError
from r1lab.files import write_atomic
from r1lab.runs.checkpoint import RUN_CONFIG, Checkpoints
from r1lab.runs.rundir import has_progress

SAFE_TO_CHANGE = frozenset({"max_steps", "log_samples_every", "save_every", "keep_checkpoints", "threads", "report_to"})
T = TypeVar("T")


def resume_config(cls: type[T], run_dir: str | Path, overrides: dict[str, Any],
                  safe: frozenset[str] = SAFE_TO_CHANGE) -> T:
    """The saved config of `run_dir` with `overrides` applied, refusing unsafe changes."""
    path = Path(run_dir) / "config.yaml"
    if not Path(run_dir).is_dir():
        raise UserError(f"cannot resume {run_dir}: no such run directory")
    if not path.is_file():
        raise UserError(f"cannot resume {run_dir}: it has no config.yaml (not a run directory)")
    saved = C.load(cls, path)
    new = C.load(cls, path, overrides)
    new.output_dir = saved.output_dir = str(run_dir)
    if has_progress(run_dir):
        check_not_edited(cls, Path(run_dir), saved, safe)
        check_resume_config(C.to_dict(saved), C.to_dict(new), safe)
    return new


def check_not_edited(cls: type[T], run_dir: Path, saved: T, safe: frozenset[str] = SAFE_TO_CHANGE) -> None:
    """config.yaml agrees with the config the newest checkpoint was trained with."""
    done = Checkpoints(run_dir / "checkpoints").complete()
    if not done or not (done[-1][1] / RUN_CONFIG).is_file():
        return
    trained = C.load(cls, done[-1][1] / RUN_CONFIG)
    trained.output_dir = saved.output_dir
    was, now = C.to_dict(trained), C.to_dict(saved)
    edited = [k for k in was if k not in safe and was[k] != now.get(k)]
    if edited:
        k = edited[0]
        raise UserError(f"{run_dir / 'config.yaml'} was changed after the run started: {k} is {now.get(k)!r} there "
                        f"but the run trained with {was[k]!r} ({done[-1][1] / RUN_CONFIG}); put it back, or start "
                        "a new run for a new experiment")


def check_resume_config(saved: dict, new: dict, safe: frozenset[str] = SAFE_TO_CHANGE) -> None:
    changed = [k for k in saved if k in new and saved[k] != new[k] and k not in safe]
    if changed:
        diffs = ", ".join(f"{k} {saved[k]!r} -> {new[k]!r}" for k in changed)
        raise UserError(f"cannot resume with a changed config ({diffs}); only "
                        f"{', '.join(sorted(safe))} may change. Start a new run for a new experiment")


def truncate_jsonl(path: str | Path, keep: Callable[[dict], bool]) -> int:
    """Rewrite `path` with the rows `keep` accepts, dropping unparseable lines; returns rows kept."""
    path = Path(path)
    if not path.exists():
        return 0
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the crash
        if isinstance(row, dict) and keep(row):
            kept.append(line)
    write_atomic(path, "".join(line + "\n" for line in kept))
    return len(kept)
