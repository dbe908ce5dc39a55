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
Creating a RunDir is the pre-flight check: the directory must be writable with some free space
before any compute starts. A directory that already holds a run is refused unless resuming.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from r1lab.config import save as save_config
from r1lab.errors import UserError


class RunDir:
    read_only = False

    def __init__(self, path: str | Path, min_free_mb: int = 50, resume: bool = False):
        self.path = Path(path)
        if not resume and (self.path / "config.yaml").exists():
            raise UserError(f"{self.path} already holds a run: resume it with --resume {self.path}, "
                            "or choose another --output-dir")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise UserError(f"output directory {self.path} is not writable: {e.strerror or e}") from None
        free_mb = shutil.disk_usage(self.path).free / 2**20
        if free_mb < min_free_mb:
            raise UserError(f"output directory {self.path} has only {free_mb:.0f} MB free")

    @staticmethod
    def default(prefix: str) -> Path:
        return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"

    def save_config(self, cfg) -> None:
        save_config(cfg, self.path / "config.yaml")

    def append(self, name: str, rows: list[dict]) -> None:
        with open(self.path / name, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_json(self, name: str, data: dict) -> None:
        write_atomic(self.path / name, json.dumps(data, indent=2))

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


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old or the new file, never a torn one:
    write a temporary file beside it, fsync, rename over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
