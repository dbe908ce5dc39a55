"""Run directories, crash-safe checkpoints and resuming: shared by every long-running command."""

from r1lab.runs.checkpoint import Checkpoints, rng_state, set_rng_state, verify
from r1lab.runs.resume import SAFE_TO_CHANGE, check_resume_config, resume_config, truncate_jsonl
from r1lab.runs.rundir import ReadOnlyRunDir, RunDir

__all__ = ["Checkpoints", "ReadOnlyRunDir", "RunDir", "SAFE_TO_CHANGE", "check_resume_config", "resume_config",
           "rng_state", "set_rng_state", "truncate_jsonl", "verify"]
