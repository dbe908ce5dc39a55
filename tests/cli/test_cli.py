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


def test_base_config_error_is_one_line():
    assert_user_error(r1lab("base", "--hidden-size", "100", "--num-heads", "3"), "hidden_size must divide")


def test_corrupt_and_empty_model_dirs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(r1lab("train", "--model", str(empty), "--output-dir", str(tmp_path / "o")), "no config.json")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert_user_error(r1lab("train", "--model", str(bad), "--output-dir", str(tmp_path / "o")), str(bad))
