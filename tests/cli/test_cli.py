"""The command-line contract, through a real subprocess: user errors are one line and exit 2."""

import dataclasses
import re

from r1lab.train.config import GRPOConfig
from tests.helpers import assert_user_error, r1lab


def test_help_lists_every_config_field():
    res = r1lab("train", "--help")
    assert res.returncode == 0
    text = re.sub(r"[\s│]+", " ", res.stdout)  # rich wraps the help in a box: fold its borders and lines
    for f in dataclasses.fields(GRPOConfig):
        assert f"--{f.name.replace('_', '-')} " in text, f.name


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
