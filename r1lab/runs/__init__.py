"""Run directories, crash-safe checkpoints and resuming: shared by every long-running command."""

from r1lab.runs.checkpoint import RUN_CONFIG, Checkpoints, rng_state, set_rng_state, verify
from r1lab.runs.resume import SAFE_TO_CHANGE, check_resume_config, resume_config, truncate_jsonl
from r1lab.runs.rundir import ReadOnlyRunDir, RunDir, has_progress

__all__ = ["Checkpoints", "RUN_CONFIG", "ReadOnlyRunDir", "RunDir", "SAFE_TO_CHANGE", "check_resume_config",
           "has_progress", "resume_config", "rng_state", "set_rng_state", "truncate_jsonl", "verify"]
