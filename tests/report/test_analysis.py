"""The length decomposition on hand-built cases, and the generated summary's numbers."""

import math

import pytest

from r1lab.report.analysis import Num, findings, length_shift, summary_length_shift
from r1lab.report.load import RunData
from r1lab.report.markdown import sentence_text


def test_shift_share_on_a_hand_built_case():
    # base: 80% answer-only at 10 tokens, 20% worked at 100 -> 0.8*10 + 0.2*100 = 28
    # final: all worked, at 80 tokens -> 80; growth 80/28 = 2.857
    # mix: the final mix at the base's lengths = 1.0*100 = 100 -> 100/28 = 3.571 (the switch of style)
    # within: 80/100 = 0.8 (worked answers got shorter)
    got = length_shift({"answer_only": 0.8, "worked_think": 0.2}, {"answer_only": 10.0, "worked_think": 100.0},
                       {"answer_only": 0.0, "worked_think": 1.0}, {"answer_only": None, "worked_think": 80.0})
    assert (got.base, got.final) == (pytest.approx(28.0), pytest.approx(80.0))
    assert got.total == pytest.approx(80 / 28) and got.mix == pytest.approx(100 / 28)
    assert got.within == pytest.approx(0.8)
    assert got.mix * got.within == pytest.approx(got.total)
    assert got.styles["answer_only"] == (0.8, 0.0, 10.0, None)


def test_a_style_new_after_rl_counts_as_a_switch_of_style():
    # base: all answer-only at 10. final: half worked at 50 (new), half answer-only at 12 -> 31
    # the new style's base length is its final length: mix = (0.5*50 + 0.5*10)/10 = 3.0, within = 31/30
    got = length_shift({"answer_only": 1.0}, {"answer_only": 10.0},
                       {"answer_only": 0.5, "worked_think": 0.5}, {"answer_only": 12.0, "worked_think": 50.0})
    assert got.total == pytest.approx(3.1) and got.mix == pytest.approx(3.0) and got.within == pytest.approx(31 / 30)


def test_no_length_gives_no_decomposition():
    assert length_shift({"other": 1.0}, {"other": 0.0}, {"other": 1.0}, {"other": 5.0}) is None
    assert length_shift({"other": 1.0}, {"other": None}, {"other": 1.0}, {"other": 5.0}) is None


def test_the_issues_sentence_shape_from_summary_keys():
    # "length grew 1.6x, of which ... from the switch of style and ... within a style":
    # base: half answer-only at 20, half worked at 100 -> 60. final: a quarter answer-only at 20,
    # three quarters worked at 121.33 -> 5 + 91 = 96 = 1.6x. At the base's lengths the final mix
    # gives 5 + 75 = 80: mix 80/60 = 1.333x, within 96/80 = 1.2x.
    s = {"base_style_share_answer_only": 0.5, "base_style_share_worked_think": 0.5,
         "base_length_answer_only": 20.0, "base_length_worked_think": 100.0,
         "final_style_share_answer_only": 0.25, "final_style_share_worked_think": 0.75,
         "final_length_answer_only": 20.0, "final_length_worked_think": 91 / 0.75}
    got = summary_length_shift(s)
    assert (got.total, got.mix, got.within) == (pytest.approx(1.6), pytest.approx(4 / 3), pytest.approx(1.2))
    assert summary_length_shift({"base_accuracy": 0.5}) is None  # an older summary without styles


def _run(summary, metrics):
    return RunData(path=None, name="r", metrics=metrics, summary=summary, config={}, samples={}, aha=[])


def test_findings_say_what_changed_with_their_numbers():
    s = {"base_accuracy": 0.18, "final_accuracy": 0.98, "base_lenient_accuracy": 0.38, "final_lenient_accuracy": 0.98,
         "base_mean_length": 28.0, "final_mean_length": 80.0,
         "base_style_share_answer_only": 0.8, "base_style_share_worked_think": 0.2,
         "final_style_share_answer_only": 0.0, "final_style_share_worked_think": 1.0,
         "base_length_answer_only": 10.0, "base_length_worked_think": 100.0, "final_length_answer_only": None,
         "final_length_worked_think": 80.0, "base_style_accuracy_worked_think": 0.97,
         "base_reflection_rate": 0.004, "final_reflection_rate": 0.0, "base_markers_per_1k": 0.1,
         "final_markers_per_1k": 0.0, "base_aha_moments": 0, "final_aha_moments": 0,
         "base_reflections_superficial": 1, "final_reflections_superficial": 0}
    metrics = [{"step": i, "accuracy": i / 20, "mean_length": 30 + i, "aha_moments": 0.0,
                "reflections_superficial": float(i == 3)} for i in range(1, 21)]
    text = [sentence_text(x) for x in findings(_run(s, metrics))]
    assert text[0].startswith("Held-out accuracy went from 18.0% to 98.0% by the reward's strict rule, and from "
                              "38.0% to 98.0%")
    assert "strict gain of +80.0 points, +60.0 are answers that became right and +20.0 the gap" in text[0]
    assert "grew 2.86× (28.0 → 80.0 tokens): 3.57× from the switch of answer style" in text[1]
    assert "0.80× from lengths within a style" in text[1] and "Within worked in <think>: 100.0 → 80.0" in text[1]
    assert "already answered in that style in 20.0% of its samples, with strict accuracy 97.0%" in text[2]
    assert "1 during training" in text[3]  # superficial reflections summed over the steps
    assert text[-1].startswith("During training (first 10 steps → last 10): strict accuracy 27.5% → 77.5%")
    nums = [p for x in findings(_run(s, metrics)) for p in x if isinstance(p, Num) and p.key]
    assert all(p.value == s[p.key] for p in nums)  # a number marked with a key is that key's value


def test_an_unfinished_run_has_training_findings_only():
    (only,) = findings(_run(None, [{"step": 1, "accuracy": 0.5, "mean_length": 10.0}]))
    assert "no summary.json yet" in sentence_text(only)
    assert Num(math.nan, "pct").text() == "n/a" and Num(None, "x").text() == "n/a"
