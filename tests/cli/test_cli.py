"""The command-line contract, through a real subprocess: user errors are one line and exit 2."""

import os
import subprocess
import sys

import pytest

ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")


def r1lab(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "r1lab.cli", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def assert_user_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_help_lists_every_config_field():
    from r1lab.train.config import GRPOConfig
    import dataclasses
    res = r1lab("train", "--help")
    assert res.returncode == 0
    for f in dataclasses.fields(GRPOConfig):
        assert f"--{f.name.replace('_', '-')}" in res.stdout.replace("\n", " ").replace("│", " ") or \
               f.name.replace("_", "-") in res.stdout


@pytest.mark.parametrize("args,needles", [
    (["train", "--no-such-field", "3"], ["unknown key 'no_such_field'"]),
    (["train", "--max-steps", "ten"], ["max_steps must be int"]),
    (["train", "--model", "/no/such/model"], ["/no/such/model", "not found"]),
    (["train", "--config", "/no/such.yaml"], ["config file not found"]),
    (["train", "--task", "chess", "--output-dir", "{tmp}/o"], ["unknown task 'chess'"]),
    (["base", "--hidden-size", "100", "--num-heads", "3"], ["hidden_size must divide"]),
])
def test_user_errors_are_one_line(tmp_path, args, needles):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert_user_error(r1lab(*args), *needles)


def test_corrupt_and_empty_model_dirs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(r1lab("train", "--model", str(empty), "--output-dir", str(tmp_path / "o")), "no config.json")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert_user_error(r1lab("train", "--model", str(bad), "--output-dir", str(tmp_path / "o")), str(bad))


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the run directory should go
    assert_user_error(r1lab("train", "--output-dir", str(blocker / "run")), "not writable")
