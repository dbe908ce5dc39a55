import math

import pytest

from r1lab.verifiers import answer_tag, format_reward, get_verifier, verify_countdown, verify_number
from r1lab.verifiers.countdown import evaluate, parse_reference
from r1lab.verifiers.rewards import rule_rewards


@pytest.mark.parametrize("text,ref,score,extracted", [
    ("<think>x</think> <answer> 6912 </answer>", "6912", 1.0, "6912"),
    ("<answer>6,912</answer>", "6912", 1.0, "6912"),
    ("<answer>6913</answer>", "6912", 0.0, "6913"),
    ("<answer>1</answer> then <answer>6912</answer>", "6912", 1.0, "6912"),  # the last one counts
    ("The answer is 6912.", "6912", 0.0, None),  # no answer tag: unparseable
    ("<answer>about 6912</answer>", "6912", 0.0, None),
    ("<answer>6912", "6912", 0.0, None),
])
def test_number(text, ref, score, extracted):
    g = verify_number(text, ref)
    assert (g.score, g.extracted) == (score, extracted)
    assert g.correct is (None if extracted is None else score > 0)


@pytest.mark.parametrize("expr,ok", [
    ("(16 + 8) + 5", True), ("5 + 8 + 16", True), ("16 + 8 + 5 = 29", True),
    ("16 * 8 - 5", False),  # wrong value
    ("16 + 13", False),  # numbers not used as given
    ("16 + 8 + 5 + 0", False),  # an extra number
    ("(16+8)+5)", False), ("__import__('os')", False), ("16 ** 2", False), ("", False),
])
def test_countdown(expr, ok):
    assert verify_countdown(f"<answer>{expr}</answer>", "[8, 16, 5] -> 29").score == float(ok)


def test_countdown_exact_fractions_and_division_by_zero():
    assert verify_countdown("<answer>(3 - 1/3) * 9</answer>", "[3, 1, 3, 9] -> 24").score == 1.0
    assert verify_countdown("<answer>8 / (3 - 3) + 5</answer>", "[8, 3, 3, 5] -> 5").extracted is None
    assert evaluate("1" * 300) is None
    with pytest.raises(ValueError, match="countdown reference"):
        parse_reference("29")


def test_format():
    assert format_reward(" <think> a b </think> <answer> 3 </answer>") == 1.0
    assert format_reward("<think>a</think>\n<answer>3</answer>\n") == 1.0
    assert format_reward("<answer>3</answer>") == 0.0
    assert format_reward("<think>a</think> 3") == 0.0
    assert format_reward("<think>a</think> <answer>3</answer> more text") == 0.0
    assert format_reward("<think><think>a</think> <answer>3</answer>") == 0.0
    assert answer_tag("no tags") is None


def test_rewards_sum_and_failures_cost_one_sample(monkeypatch):
    texts = ["<think>a</think> <answer>5</answer>", "<answer>5</answer>", "<answer>4</answer>"]
    r, acc, fmt, fails = rule_rewards(texts, ["5", "5", "5"], "number", 1.0, 1.0)
    assert r.tolist() == [2.0, 1.0, 0.0] and acc.tolist() == [1.0, 1.0, 0.0] and fails == 0
    # a malformed reference makes the countdown verifier raise: that sample's reward is None (NaN)
    r, acc, fmt, fails = rule_rewards(["<answer>1+2</answer>"] * 2, ["[1, 2] -> 3", "garbage"], "countdown")
    assert r[0].item() == 1.0 and math.isnan(r[1].item()) and fails == 1


def test_get_verifier():
    assert get_verifier("number") is verify_number
    with pytest.raises(KeyError):
        get_verifier("nope")


def test_column_reward_passes_extra_columns_and_survives_failures(caplog):
    import math as m

    from r1lab.verifiers import language_consistency
    from r1lab.verifiers.rewards import column_reward
    texts = ["<think>we add</think>", "<think>我们加</think>", "<think>x</think>"]
    r, fails = column_reward(lambda t, target: language_consistency(t, target), texts, {"target": ["en", "en", "zh"]})
    assert r[:2].tolist() == [1.0, 0.0] and r[2].item() == 0.0 and fails == 0

    def flaky(text, k):
        if k == 1:
            raise RuntimeError("boom")
        return None if k == 2 else (m.nan if k == 3 else 0.5)
    r, fails = column_reward(flaky, ["a"] * 4, {"k": [0, 1, 2, 3]})
    assert r[0].item() == 0.5 and all(m.isnan(v) for v in r[1:].tolist()) and fails == 2
    assert "boom" in caplog.text
    with pytest.raises(ValueError, match="column 'k'"):
        column_reward(flaky, ["a"], {"k": [0, 1]})


def test_warning_limit_is_per_run_not_per_process(caplog):
    """Each run (one guard each, as each trainer makes) logs its own first failures; an 8-run ablate
    in one process must not go quiet after the first run's five."""
    from r1lab.verifiers.rewards import RewardGuard, column_reward

    def broken(text):
        raise RuntimeError("boom")
    for _ in range(3):  # three runs
        guard = RewardGuard(max_warnings=2)
        _, fails = column_reward(broken, ["a"] * 4, guard=guard)
        assert fails == 4 and guard.warnings_left == 0
    assert caplog.text.count("boom") == 3 * 2


def test_readable_format():
    from r1lab.verifiers.format import readable_format_reward
    assert readable_format_reward("<think>\n1+2=3\n</think>\nThe answer is 3. <answer> 3 </answer>") == 1.0
    assert readable_format_reward(" <think> a </think> So \\boxed{3}.") == 1.0  # a teacher's summary
    assert readable_format_reward("<think>\n</think>\nThe teacher reads.") == 1.0  # empty reasoning: non-reasoning rows
    assert readable_format_reward("<think> a </think> <answer> 3 </answer>") == 0.0  # R1-Zero's: no summary
    assert readable_format_reward("<think> a </think> 3. <answer> 3 </answer>") == 0.0  # a number is no summary
    assert readable_format_reward("<think> a </think> The answer <answer> 3 </answer> more") == 0.0
    assert readable_format_reward("<think> a <think> b </think> ok") == 0.0
    assert readable_format_reward("The answer is 3.") == 0.0
