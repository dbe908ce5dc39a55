"""Live metrics where users already look: `--report-to tensorboard,wandb` streams every row of
metrics.jsonl (its numbers, at its step) to TensorBoard and/or Weights & Biases, as TRL's
`report_to` does. metrics.jsonl stays the source of truth; neither package is a core dependency
(`pip install "r1lab[tensorboard]"` or `"r1lab[wandb]"`).

* tensorboard: `torch.utils.tensorboard.SummaryWriter` into RUN_DIR/tensorboard, one scalar per
  metric under its metrics.jsonl name. A resumed run passes `purge_step`, so the events of steps
  after its checkpoint (which run again) are dropped instead of drawn twice.
* wandb: `wandb.init(project=$WANDB_PROJECT or "r1lab", name=the run directory's name,
  dir=RUN_DIR, config=the resolved config)`, then `wandb.log(row, step=step)`. Whether it logs
  online or offline is wandb's own configuration (`wandb login`, WANDB_API_KEY, WANDB_MODE).
None, NaN and non-numbers are skipped (a style no response had at that step).

`open_trackers` is the pre-flight check: an unknown name or a missing package is a one-line
user error before any compute.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path

from r1lab.errors import UserError

TRACKERS = ("tensorboard", "wandb")


def parse_report_to(value: str) -> list[str]:
    """"tensorboard,wandb" -> ["tensorboard", "wandb"]; "" or "none" -> []. Unknown names raise."""
    names = [n.strip().lower() for n in value.split(",") if n.strip() and n.strip().lower() != "none"]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise UserError(f"report_to: unknown tracker {unknown[0]!r}; known: {', '.join(TRACKERS)}")
    return list(dict.fromkeys(names))


def scalars(row: dict) -> dict[str, float]:
    """The numbers of a metrics row worth drawing (not the step, not None/NaN/strings)."""
    return {k: float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class Trackers:
    """The open trackers of one run; `log` and `close` do nothing when there are none."""

    def __init__(self, names: list[str], run_dir: Path, config=None, start_step: int = 0):
        self.tb = self.wandb = None
        if "tensorboard" in names:
            self.tb = _tensorboard(Path(run_dir) / "tensorboard", start_step)
        if "wandb" in names:
            self.wandb = _wandb(Path(run_dir), config)

    def log(self, row: dict, step: int) -> None:
        values = scalars(row)
        if self.tb is not None:
            for key, v in values.items():
                self.tb.add_scalar(key, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(values, step=step)

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def open_trackers(report_to: str, run_dir: Path, config=None, start_step: int = 0) -> Trackers:
    return Trackers(parse_report_to(report_to), run_dir, config, start_step)


def _tensorboard(log_dir: Path, start_step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--report-to tensorboard needs the tensorboard package: "
                        "pip install \"r1lab[tensorboard]\"") from None
    return SummaryWriter(str(log_dir), purge_step=start_step + 1 if start_step else None)


def _wandb(run_dir: Path, config):
    try:
        import wandb
    except ImportError:
        raise UserError("--report-to wandb needs the wandb package: pip install \"r1lab[wandb]\" "
                        "(then wandb login, or WANDB_MODE=offline)") from None
    try:
        return wandb.init(project=os.environ.get("WANDB_PROJECT", "r1lab"), name=run_dir.name, dir=str(run_dir),
                          config=asdict(config) if is_dataclass(config) else None, resume="allow")
    except Exception as e:  # noqa: BLE001 - any failure to start (not logged in, no network) is the user's setup
        raise UserError(f"wandb could not start: {type(e).__name__}: {e} "
                        "(run wandb login, or set WANDB_MODE=offline)") from None
