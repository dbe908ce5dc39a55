"""The run directory: the interface between stages and tools.

    config.yaml     the resolved config
    metrics.jsonl   one line per step
    samples.jsonl   completions every N steps (and the before/after evaluations)
    checkpoints/    step-NNNNNN/ model directories that from_pretrained loads
    summary.json    the before/after numbers
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from r1lab.config import save as save_config
from r1lab.errors import UserError
from r1lab.models.io import save as save_model


class RunDir:
    def __init__(self, path: str | Path, min_free_mb: int = 50):
        self.path = Path(path)
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

    def checkpoint(self, model, tokenizer, step: int) -> Path:
        return save_model(model, tokenizer, self.path / "checkpoints" / f"step-{step:06d}")

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.path / name)
