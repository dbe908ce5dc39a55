"""--report-to: names, what is streamed, tensorboard read back (also after a resume), and a
missing package as a one-line user error."""

import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from r1lab.config import ConfigError
from r1lab.errors import UserError
from r1lab.runs.trackers import Trackers, open_trackers, parse_report_to, scalars
from r1lab.train.config import GRPOConfig


def test_names():
    assert parse_report_to(" tensorboard, WANDB ,tensorboard") == ["tensorboard", "wandb"]
    assert parse_report_to("") == [] and parse_report_to("none") == []
    with pytest.raises(UserError, match="unknown tracker 'tensorbord'"):
        parse_report_to("tensorbord")
    with pytest.raises(ConfigError, match="report_to"):
        GRPOConfig(report_to="mlflow").validate()


def test_only_finite_numbers_are_streamed():
    row = {"step": 3, "accuracy": 0.5, "length_other": None, "reward": float("nan"), "skipped_updates": 2,
           "flag": True, "name": "x"}
    assert scalars(row) == {"accuracy": 0.5, "skipped_updates": 2.0}


def test_missing_package_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(UserError, match=r'pip install "r1lab\[wandb\]"'):
        open_trackers("wandb", tmp_path)
    with open_trackers("", tmp_path) as none:  # no tracker: log and close do nothing
        none.log({"accuracy": 1.0}, 1)
    assert not any(tmp_path.iterdir())


def test_tensorboard_read_back_and_a_resume_replaces_the_steps_it_reruns(tmp_path):
    with Trackers(["tensorboard"], tmp_path) as first:
        for step in (1, 2, 3):
            first.log({"step": step, "accuracy": step / 10}, step)
    with Trackers(["tensorboard"], tmp_path, start_step=1) as resumed:  # resumed from the step-1 checkpoint
        for step in (2, 3):
            resumed.log({"step": step, "accuracy": step / 100}, step)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    got = [(e.step, round(e.value, 6)) for e in events.Scalars("accuracy")]
    assert got == [(1, 0.1), (2, 0.02), (3, 0.03)]
