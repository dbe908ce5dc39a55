"""The run directory: the interface between stages and tools.

    config.yaml     the resolved config
    metrics.jsonl   one line per step
    aha.jsonl       training responses with an aha moment or a superficial reflection (capped)
    samples.jsonl   completions every N steps (and the before/after evaluations)
    base_eval.json  the base model's evaluation (a resumed run does not repeat it)
    checkpoints/    step-NNNNNN/ full training state; each is also a model directory that
                    from_pretrained loads (see r1lab.runs.checkpoint)
    summary.json    the before/after numbers
    report.html     what RL did, drawn (r1lab report; with report.md)
    tensorboard/    with --report-to tensorboard
`RunDir.check` is the pre-flight check, and changes nothing: the directory (or the nearest
folder that exists above it) must be writable with some free space, and a directory that already
holds a run (`has_progress`: a completed step is on disk) is refused unless resuming. A directory
left by a start that never completed a step (a bad reward function, out of memory before step
1) holds no run: a new start in place clears what it left (`clear_failed_start`) and proceeds.
Creating a RunDir runs the check, then creates the directory.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from r1lab.config import save as save_config
from r1lab.errors import UserError, writing
from r1lab.files import make_writable_dir, write_atomic
from r1lab.runs.checkpoint import Checkpoints

_KEPT = "the checkpoints are intact: free some space, then resume"
# what a run writes at its top level: all that `clear_failed_start` removes
RUN_FILES = ("config.yaml", "metrics.jsonl", "aha.jsonl", "samples.jsonl", "base_eval.json", "summary.json",
             "report.html", "report.md", "tensorboard", "checkpoints")


def has_progress(path: str | Path) -> bool:
    """A completed step is on disk: a complete checkpoint, a row in metrics.jsonl, or summary.json."""
    path = Path(path)
    if (path / "summary.json").exists() or Checkpoints(path / "checkpoints").complete():
        return True
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        return False
    for line in metrics.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            if isinstance(json.loads(line), dict):
                return True
        except ValueError:
            continue
    return False


class RunDir:
    read_only = False

    def __init__(self, path: str | Path, min_free_mb: int = 50, resume: bool = False):
        self.path = Path(path)
        self.check(self.path, min_free_mb, resume)
        make_writable_dir(self.path)

    @staticmethod
    def check(path: Path, min_free_mb: int = 50, resume: bool = False) -> None:
        """The pre-flight check (see the module docstring); writes nothing."""
        path = Path(path)
        if not resume and has_progress(path):
            raise UserError(f"{path} already holds a run: resume it with --resume {path}, "
                            "or choose another --output-dir")
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"output directory {path} is not writable: {existing} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"output directory {path} is not writable: permission denied on {existing}")
        free_mb = shutil.disk_usage(existing).free / 2**20
        if free_mb < min_free_mb:
            raise UserError(f"output directory {path} has only {free_mb:.0f} MB free")

    def clear_failed_start(self) -> None:
        """Remove what a start that never completed a step left here, to start again in place."""
        if has_progress(self.path):
            raise UserError(f"{self.path} already holds a run")  # never reached: check() refused it first
        for name in RUN_FILES:
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()

    @staticmethod
    def default(prefix: str) -> Path:
        return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"

    def save_config(self, cfg) -> None:
        save_config(cfg, self.path / "config.yaml")

    def append(self, name: str, rows: list[dict]) -> None:
        with writing(str(self.path / name), _KEPT), open(self.path / name, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_json(self, name: str, data: dict) -> None:
        with writing(str(self.path / name), _KEPT):
            write_atomic(self.path / name, json.dumps(data, indent=2))

    @staticmethod
    def read_summary(path: str | Path) -> dict:
        try:
            return json.loads((Path(path) / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{Path(path) / 'summary.json'}: unreadable ({e})") from None

    def read_json(self, name: str) -> dict | None:
        p = self.path / name
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


class ReadOnlyRunDir(RunDir):
    """The run directory as a data-parallel rank other than 0 sees it: it reads what rank 0 wrote
    (base_eval.json on resume) and writes nothing; rank 0 did the pre-flight checks."""

    read_only = True

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def save_config(self, cfg) -> None:
        pass

    def append(self, name: str, rows: list[dict]) -> None:
        pass

    def write_json(self, name: str, data: dict) -> None:
        pass
