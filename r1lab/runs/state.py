"""What every resumable trainer (`train`, `sft`) shares about its run directory and checkpoints.

`open_run` is the pre-flight of a run: the directory (writable, free space, not holding another
run unless resuming), its checkpoint set with the leftovers of an interrupted save removed, and
the newest complete checkpoint when resuming. `write_run_state` adds to a checkpoint what is the
same for every trainer: the global RNG states, the position in the data, and the config as it
was; `read_run_state` restores the RNG states and returns the position. The trainer's own state
(model, optimizer, schedule, its generators) is the trainer's `save_state` / `load_state`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from r1lab.config import save as save_config
from r1lab.runs.checkpoint import RUN_CONFIG, Checkpoints, rng_state, set_rng_state
from r1lab.runs.rundir import RunDir


def open_run(output_dir: str | Path, keep: int, resume: bool) -> tuple[RunDir, Checkpoints, Path | None]:
    """(run directory, its checkpoints, the newest complete checkpoint or None when not resuming)."""
    rundir = RunDir(output_dir, resume=resume)  # pre-flight: writable, disk space, no run to overwrite
    ckpts = Checkpoints(rundir.path / "checkpoints", keep=keep)
    ckpts.clean()
    return rundir, ckpts, ckpts.latest() if resume else None


def write_run_state(out: Path, data_position: int, cfg) -> None:
    torch.save({"rng": rng_state(), "data_position": data_position}, out / "state.pt")
    save_config(cfg, out / RUN_CONFIG)  # the run's config as it was when this was written


def read_run_state(checkpoint: Path) -> int:
    """Restore the global RNG states saved in `checkpoint`; returns the data position."""
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    set_rng_state(state["rng"])
    return state["data_position"]
