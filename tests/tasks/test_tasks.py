import random

import pytest

from r1lab.tasks import R1_ZERO, Addition, Countdown, MixedAddition, get_task, problems, r1_zero_prompt, split_of, take
from r1lab.verifiers import verify_countdown, verify_number


@pytest.mark.parametrize("task", [Addition(), MixedAddition(), Countdown()])
def test_splits_are_disjoint_and_seeded(task):
    train = take(task, "train", 300, seed=1)
    test = take(task, "test", 100, seed=1)
    assert {p.question for p in train}.isdisjoint({p.question for p in test})
    rng = random.Random(0)
    keys = [task.sample(rng)[0] for _ in range(2000)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]  # a pure function of the key
    assert 0.06 < splits.count("test") / len(splits) < 0.14  # about test_fraction (0.1) of the keys
    assert take(task, "test", 20, seed=1) == test[:20]  # same seed, same problems
    assert take(task, "test", 20, seed=2) != test[:20]


def test_reference_solutions_grade_correct():
    for p in take(Addition(), "test", 50, seed=0):
        a, b = p.meta["a"], p.meta["b"]
        assert 100 <= a <= 9999 and 100 <= b <= 9999
        assert verify_number(f"<answer>{a + b}</answer>", p.answer).score == 1.0
    for p in take(Countdown(), "train", 50, seed=0):
        assert verify_countdown(f"<answer>{p.meta['solution']}</answer>", p.answer).score == 1.0


def test_mixed_addition_spans_its_difficulties():
    """arithmetic-mixed: the longer operand has d digits (2..5, all drawn), the other at most d, and
    meta["difficulty"] is d, so length can be related to difficulty."""
    rows = take(get_task("arithmetic-mixed"), "train", 400, seed=0)
    seen = set()
    for p in rows:
        a, b, d = p.meta["a"], p.meta["b"], p.meta["difficulty"]
        assert d == max(len(str(a)), len(str(b))) and 2 <= min(len(str(a)), len(str(b))) <= d <= 5
        assert p.answer == str(a + b)
        seen.add(d)
    assert seen == {2, 3, 4, 5}


def test_template_is_the_papers():
    text = r1_zero_prompt("What is 2 + 3?")
    assert text.startswith("A conversation between User and Assistant.")
    assert text.endswith("User: What is 2 + 3? Assistant:")
    assert r1_zero_prompt("Compute this") .endswith("User: Compute this. Assistant:")
    assert "{prompt}" in R1_ZERO


def test_unknown_task():
    with pytest.raises(KeyError, match="unknown task"):
        get_task("chess")


def test_bad_split():
    with pytest.raises(ValueError):
        next(problems(Addition(), "valid", 0))
