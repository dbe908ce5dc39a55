"""Data parallel training under torchrun on CPU (gloo), 2 ranks against 1 process:

* one step on the same global batch: loss, gradients and new weights within 1e-5 with DDP, and
  the step's metrics equal, exactly for everything computed from the rollout (EXACT: rewards,
  lengths, behaviour, counts) and within 1e-5 for the update's reductions over ranks (REDUCED);
  the same with FSDP2, whose checkpoint is a plain model directory;
* a rank killed mid-run: the job exits with a clear error, it does not hang;
* a 2-rank run's checkpoint resumed in 1 process, and a 1-process run's resumed with 2 ranks,
  continue with the metrics of an uninterrupted run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from r1lab.models.io import load
from r1lab.train.dist import Dist
from tests.helpers import ENV, LENGTH_REWARD, ROOT, dist_step

WALL_CLOCK = {"tokens_per_second", "rollout_seconds", "seconds"}
REDUCED = {"loss", "grad_norm", "entropy", "kl", "kl_init", "clip_fraction", "clip_fraction_low",
           "clip_fraction_high"}  # sums / token-weighted means over ranks: equal up to float rounding
RUN_ENV = dict(ENV, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
ARGS = ["--prompts-per-step", "4", "--group-size", "4", "--max-new-tokens", "24", "--eval-problems", "1",
        "--eval-samples", "1", "--threads", "1", "--seed", "3", "--lr", "1e-3", "--save-every", "2",
        "--kl-every", "1"]


def _train(ranks: int, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [*TORCHRUN, str(ranks), "-m", "r1lab"] if ranks > 1 else [sys.executable, "-m", "r1lab"]
    res = subprocess.run([*cmd, "train", *map(str, args)], cwd=ROOT, env=RUN_ENV, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_metrics(got: list[dict], want: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k not in REDUCED} == {k: v for k, v in w.items() if k not in REDUCED}
        for k in REDUCED:
            assert (g[k] is None) == (w[k] is None) and (g[k] is None or abs(g[k] - w[k]) <= 1e-5), (k, g[k], w[k])


def _max_diff(a: dict, b: dict) -> float:
    return max((a[n] - b[n]).abs().max().item() for n in a)


@pytest.mark.slow
def test_two_ranks_match_one_process_after_one_step(tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text(LENGTH_REWARD)
    res = subprocess.run([*TORCHRUN, "2", "tests/train/dist_worker.py", str(tmp_path), str(reward)], cwd=ROOT,
                         env=RUN_ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    one = dist_step(Dist(), reward)
    assert one["metrics"]["frac_zero_std_groups"] < 1.0 and max(g.abs().max() for g in one["grads"].values()) > 0
    for name, weight_tol in (("ddp", 1e-5), ("fsdp", 1e-4)):
        two = torch.load(tmp_path / f"{name}.pt", weights_only=False)
        assert two["world"] == 2
        m1, m2 = ({k: v for k, v in r["metrics"].items() if k not in WALL_CLOCK} for r in (one, two))
        _assert_same_metrics([m2], [m1])
        assert _max_diff(two["grads"], one["grads"]) <= 1e-5, name
        # FSDP trains through the HF forward, which rounds differently from the packed one (gradients
        # within 3e-7); Adam's first step divides each gradient by its own size, so a weight whose
        # gradient is near 0 can move by up to lr in either direction: hence 1e-4 there
        assert _max_diff(two["weights"], one["weights"]) <= weight_tol, name
    model, _ = load(str(tmp_path / "fsdp-checkpoint"))  # FSDP's checkpoint: a plain model directory
    fsdp = torch.load(tmp_path / "fsdp.pt", weights_only=False)["weights"]
    assert _max_diff({n: p.detach() for n, p in model.named_parameters()}, fsdp) == 0.0


@pytest.mark.slow
def test_resume_across_world_sizes_continues_the_same_run(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _train(1, *ARGS, "--max-steps", 3, "--output-dir", one)
    _train(2, *ARGS, "--max-steps", 3, "--output-dir", two)
    _assert_same_metrics(_metrics(two), _metrics(one))  # 2 ranks = 1 process, step after step
    for src, ranks in ((two, 1), (one, 2)):  # each run interrupted after its step-2 checkpoint...
        cut = tmp_path / f"{src.name}-then-{ranks}"
        shutil.copytree(src, cut)
        shutil.rmtree(cut / "checkpoints" / "step-000003")
        (cut / "summary.json").unlink()
        _train(ranks, "--resume", cut)  # ...and resumed with the other number of ranks
        _assert_same_metrics(_metrics(cut), _metrics(one))


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=`rank` (its child with that environment)."""
    for child in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(child)
    return None


@pytest.mark.slow
def test_a_killed_rank_stops_the_job_with_a_clear_error(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([*TORCHRUN, "2", "-m", "r1lab", "train", *ARGS, "--max-steps", "500", "--output-dir",
                             str(run)], cwd=ROOT, env=RUN_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        metrics = run / "metrics.jsonl"
        while proc.poll() is None and not (metrics.exists() and metrics.read_text().count("\n") >= 1):
            time.sleep(0.1)
        victim = _rank_pid(proc, 1)
        assert proc.poll() is None and victim is not None, proc.stderr.read()[-2000:]
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)  # bounded: torchrun notices and stops rank 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "error: rank 0 stopped by the launcher" in err, err[-3000:]
    assert "SIGKILL" in err  # torchrun's report names the signal that ended rank 1
    assert not (run / "summary.json").exists()
