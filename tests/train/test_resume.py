"""Fault injection: a seeded run killed with SIGKILL at 5 random moments and resumed each time
ends exactly where an uninterrupted run ends: the same metrics rows (all but wall-clock fields),
no step missing or repeated, the same logged samples and bit-identical final weights (CPU)."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import ENV

STEPS = 14
ARGS = ["--max-steps", str(STEPS), "--prompts-per-step", "2", "--group-size", "4", "--eval-problems", "2",
        "--eval-samples", "2", "--max-new-tokens", "40", "--save-every", "3", "--keep-checkpoints", "2",
        "--log-samples-every", "1", "--threads", "1", "--lr", "1e-3", "--seed", "3"]
WALL_CLOCK = {"tokens_per_second", "rollout_seconds", "seconds"}


def _cmd(*args):
    return [sys.executable, "-m", "r1lab.cli", "train", *args]


def _rows(path, name):
    return [json.loads(line) for line in (path / name).read_text().splitlines()]


def _metrics(path):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in _rows(path, "metrics.jsonl")]


def _weights(path):
    return load_file(str(path / "checkpoints" / f"step-{STEPS:06d}" / "model.safetensors"))


def _kill_at(proc, run, min_rows, delay):
    """SIGKILL `proc` `delay` seconds after metrics.jsonl has `min_rows` rows; it must still be alive."""
    metrics = run / "metrics.jsonl"
    while proc.poll() is None:
        n = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        if n >= min_rows and (run / "config.yaml").exists():
            break
        time.sleep(0.02)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert alive, err.decode()[-2000:]


@pytest.mark.slow
def test_sigkill_five_times_then_resume_matches_uninterrupted(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(_cmd(*ARGS, "--output-dir", str(ref)), env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr

    rng = random.Random(7)
    # five moments spread over the run: during the base evaluation, then mid-step at random
    moments = [(0, rng.uniform(0.0, 1.0))]
    moments += [(n, rng.uniform(0.0, 0.3)) for n in sorted(rng.sample(range(1, STEPS - 2), 4))]
    for i, (min_rows, delay) in enumerate(moments):
        args = ARGS + ["--output-dir", str(run)] if i == 0 else ["--resume", str(run)]
        proc = subprocess.Popen(_cmd(*args), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _kill_at(proc, run, min_rows, delay)  # asserts that each kill hit a live run
    assert not (run / "summary.json").exists()  # the last kill interrupted it: the final resume has work left
    final = subprocess.run(_cmd("--resume", str(run)), env=ENV, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    got, want = _metrics(run), _metrics(ref)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    assert got == want
    train_samples = lambda p: [r for r in _rows(p, "samples.jsonl") if r["phase"] == "train"]  # noqa: E731
    assert train_samples(run) == train_samples(ref)
    aha = lambda p: _rows(p, "aha.jsonl") if (p / "aha.jsonl").exists() else []  # noqa: E731
    assert aha(run) == aha(ref)  # trimmed to each checkpoint, then logged again: no row lost or doubled
    w_run, w_ref = _weights(run), _weights(ref)
    assert w_run.keys() == w_ref.keys() and all(torch.equal(w_run[k], w_ref[k]) for k in w_ref)
    s_run, s_ref = json.loads((run / "summary.json").read_text()), json.loads((ref / "summary.json").read_text())
    assert s_run["final_accuracy"] == s_ref["final_accuracy"] and s_run["base_accuracy"] == s_ref["base_accuracy"]
    assert len(list((run / "checkpoints").iterdir())) == 2  # keep_checkpoints, no leftovers
    last = run / "checkpoints" / f"step-{STEPS:06d}"
    assert {"model.safetensors", "reference.safetensors", "trainer.pt", "state.pt", "run_config.yaml",
            "manifest.json"} <= {p.name for p in last.iterdir()}
    assert "seed: 3" in (last / "run_config.yaml").read_text()


def test_resume_with_dynamic_sampling_continues_the_problem_stream(tmp_path):
    """In process: DAPO's refills consume a varying number of questions; a run stopped after
    2 steps and resumed to 4 must draw the same ones as a run of 4 (data position restored)."""
    from r1lab.config import load
    from r1lab.runs import resume_config
    from r1lab.train.config import GRPOConfig
    from r1lab.train.console import Console
    from r1lab.train.run import run

    small = {"algo": "dapo", "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 32, "eval_problems": 2,
             "eval_samples": 1, "save_every": 1, "log_samples_every": 1, "threads": 1, "seed": 5,
             "kl_every": 1}
    run(load(GRPOConfig, None, dict(small, max_steps=4, output_dir=str(tmp_path / "ref"))), Console(quiet=True))
    run(load(GRPOConfig, None, dict(small, max_steps=2, output_dir=str(tmp_path / "cut"))), Console(quiet=True))
    run(resume_config(GRPOConfig, tmp_path / "cut", {"max_steps": "4"}), Console(quiet=True), resume=True)
    got, want = _metrics(tmp_path / "cut"), _metrics(tmp_path / "ref")
    assert sum(r["resample_rounds"] for r in want) > 0  # the refill path ran
    # beta = 0: after the resume kl_init comes from initial.safetensors; step 1 samples from the initial policy
    assert want[0]["kl_init"] == 0.0 and want[-1]["kl_init"] > 0.0 and want[0]["kl"] is None
    assert got == want
    questions = lambda p: [r["question"] for r in _rows(p, "samples.jsonl") if r["phase"] == "train"]  # noqa: E731
    assert questions(tmp_path / "cut") == questions(tmp_path / "ref")
