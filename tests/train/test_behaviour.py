"""Per-step behaviour metrics from a hand-built batch, and the capped aha log."""

import json
import math

import pytest
import torch

from r1lab.rollout.engine import Rollout
from r1lab.runs import RunDir
from r1lab.tasks import Problem
from r1lab.train import behaviour as tb
from r1lab.train.batch import Batch
from r1lab.train.behaviour import AhaLog, step_behaviour

AHA = " <think> 4+7=12, wait, that is wrong. 4+7=11 </think> <answer> 11 </answer>"
SUPERFICIAL = " <think> 4+7=12, wait, check: yes. </think> <answer> 12 </answer>"


def _batch():
    texts = [AHA, SUPERFICIAL, " <answer> 11 </answer>", " 7 7 7 7 7 7 7 7"]
    lengths = torch.tensor([12, 11, 3, 8])
    ids = torch.zeros(4, 12, dtype=torch.long)
    ids[3, :8] = torch.tensor([5, 6, 5, 6, 5, 6, 5, 6])  # a loop, right-padded
    mask = torch.arange(12)[None, :] < lengths[:, None]
    ro = Rollout(prompt_ids=[[1], [1]], group_size=2, completion_ids=ids, completion_mask=mask, lengths=lengths,
                 truncated=torch.tensor([False, False, False, True]), engine="lean")
    acc = torch.tensor([1.0, 0.0, 1.0, float("nan")])  # the last: its verifier failed
    fmt = torch.tensor([1.0, 1.0, 0.0, 0.0])
    parts = {"accuracy": 2.0 * acc, "format": fmt, "overlong": torch.tensor([0.0, 0.0, 0.0, -0.5])}
    rewards = parts["accuracy"] + parts["format"] + parts["overlong"]
    problems = [Problem("What is 4 + 7?", "11", "arithmetic"), Problem("What is 5 + 6?", "11", "arithmetic")]
    return Batch(ro, problems, texts, rewards, acc, fmt, 1, reward_parts=parts)


def test_step_metrics_components_styles_and_notable_responses():
    batch = _batch()
    m, notable = step_behaviour(batch, "number")
    assert m["reward_accuracy"] == pytest.approx(4 / 3) and m["reward_format"] == 0.5
    assert m["reward_overlong"] == -0.125
    finite = ~torch.isnan(batch.rewards)  # the components sum to the reward
    assert sum(v[finite].mean().item() for v in batch.reward_parts.values()) == pytest.approx(
        batch.rewards[finite].mean().item())
    assert m["style_share_worked_think"] == 0.5 and m["style_share_answer_only"] == 0.5  # " 7 7 7 ...": a last number
    assert m["length_correct"] == pytest.approx((12 + 3) / 2)  # the reward's accuracy, not graded again
    assert m["length_truncated"] == 8 and m["looping_rate"] == 0.25  # token ids: 5 6 5 6 ... repeats
    assert (m["aha_moments"], m["reflections_superficial"]) == (1, 1)
    assert [r["kind"] for r in notable] == ["aha", "superficial"]
    assert notable[0]["question"] == "What is 4 + 7?" and notable[1]["reference"] == "11"
    assert notable[0]["reflections"][0]["kind"] == "productive"
    assert all(v is None or math.isfinite(v) for v in m.values())


def test_aha_log_caps_each_kind_and_counts_what_is_on_disk(tmp_path, monkeypatch):
    monkeypatch.setitem(tb.CAPS, "aha", 3)
    monkeypatch.setitem(tb.CAPS, "superficial", 1)
    rundir = RunDir(tmp_path)
    log = AhaLog(rundir)
    rows = [{"kind": "aha", "response": "a"}, {"kind": "superficial", "response": "s"}] * 2
    assert [r["kind"] for r in log.add(1, rows)] == ["aha", "superficial", "aha"]
    (tmp_path / "aha.jsonl").open("a").write('{"kind": "aha", "step"')  # a torn line
    reopened = AhaLog(rundir)  # a resumed run counts what the file holds
    assert reopened.counts == {"aha": 2, "superficial": 1}
    kept = reopened.add(2, rows)
    assert [(r["step"], r["kind"]) for r in kept] == [(2, "aha")]
    lines = (tmp_path / "aha.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"step": 1, "phase": "train", "kind": "aha", "response": "a"}
