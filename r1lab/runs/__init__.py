"""Run directories, crash-safe checkpoints and resuming: shared by every long-running command.

The names below load on first use (PEP 562), so that importing a light submodule such as
`r1lab.runs.trackers` (which config validation needs) does not pull in torch via the checkpoints.
"""

import importlib

_HOME = {
    "RUN_CONFIG": "checkpoint", "Checkpoints": "checkpoint", "rng_state": "checkpoint",
    "set_rng_state": "checkpoint", "verify": "checkpoint",
    "SAFE_TO_CHANGE": "resume", "check_resume_config": "resume", "resume_config": "resume",
    "truncate_jsonl": "resume",
    "ReadOnlyRunDir": "rundir", "RunDir": "rundir", "has_progress": "rundir",
    "open_run": "state", "read_run_state": "state", "write_run_state": "state",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'r1lab.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"r1lab.runs.{_HOME[name]}"), name)
