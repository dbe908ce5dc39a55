"""`evaluate`: the paper's protocol on the shipped tiny model, with a verifier that misbehaves."""

import pytest

from r1lab.eval.protocol import evaluate
from r1lab.models.io import load
from r1lab.tasks import get_task, take
from r1lab.verifiers import VERIFIERS, Grade


def test_a_raising_verifier_costs_its_sample_and_train_mode_comes_back(monkeypatch):
    calls = []

    def flaky(response, reference):
        calls.append(response)
        if len(calls) % 2:
            raise ValueError("grader bug")
        return Grade(1.0, "x")
    monkeypatch.setitem(VERIFIERS, "flaky", flaky)
    model, tok = load("tiny")
    model.train()
    res = evaluate(model, tok, take(get_task("arithmetic"), "test", 2, seed=0), "flaky", k=2, max_new_tokens=8)
    assert len(calls) == 4 and res.grading_failures == 2
    assert res.accuracy == 0.5 and res.unparseable_rate == 0.5 and res.pass_at_k == 1.0
    assert [s["correct"] for s in res.samples] == [None, True, None, True]
    assert model.training  # restored

    def broken(response, reference):
        raise KeyboardInterrupt  # not a verifier failure: it propagates, and train mode still comes back
    monkeypatch.setitem(VERIFIERS, "broken", broken)
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, tok, take(get_task("arithmetic"), "test", 1, seed=0), "broken", k=1, max_new_tokens=4)
    assert model.training
