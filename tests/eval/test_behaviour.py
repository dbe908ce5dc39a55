"""Batch behaviour numbers on hand-written responses: lengths by outcome and style, language
mixing, reflection spans, and a strict grade passed in instead of recomputed."""

import pytest

from r1lab.eval.behaviour import batch_behaviour, language_metrics, reflection_spans
from r1lab.verifiers import Grade

AHA = (" <think> 7+3=10 (0, carry 1; 9+4 left) 4+7=12, wait, that is wrong. 4+7=11 (110; nothing left) </think>"
       " <answer> 110 </answer>")
SUPERFICIAL = " <think> 4+7=12, wait, check: yes. </think> <answer> 120 </answer>"
ROWS = [  # (response, length in tokens, truncated)
    (AHA, 40, False),  # worked_think, strict right, an aha moment
    (" <answer> 110 </answer>", 5, False),  # answer_only, right
    (" The answer is 110.", 6, False),  # answer_only, strict wrong (no tag), lenient right
    (SUPERFICIAL, 20, False),  # worked_think, wrong, a superficial reflection
    (" Step by step: 7+3=10 (0, carry 1; 9+4 left) 9+4=13 and then", 50, True),  # worked_plain, cut off
]


def _run(**kw):
    texts = [r for r, _, _ in ROWS]
    return batch_behaviour(texts, ["110"] * len(ROWS), "number", [n for _, n, _ in ROWS], [t for _, _, t in ROWS],
                           questions=["What is 97 + 13?"] * len(ROWS), **kw)


def test_lengths_by_outcome_style_and_percentile():
    m, behaviours = _run()
    assert [b.style for b in behaviours] == ["worked_think", "answer_only", "answer_only", "worked_think",
                                             "worked_plain"]
    assert m["lenient_accuracy"] == pytest.approx(3 / 5) and "strict_accuracy" not in m
    assert m["length_correct"] == pytest.approx((40 + 5) / 2)  # the strict grade: rows 0 and 1
    assert m["length_wrong"] == pytest.approx((6 + 20 + 50) / 3)
    assert m["length_truncated"] == 50
    assert m["length_worked_think"] == 30 and m["length_answer_only"] == 5.5 and m["length_worked_plain"] == 50
    assert m["length_other"] is None and m["style_accuracy_other"] is None  # nothing to count: None, not NaN
    assert (m["length_p50"], m["length_p90"]) == (20, 50)  # nearest rank over 5, 6, 20, 40, 50
    assert (m["aha_moments"], m["reflections_superficial"]) == (1, 1)
    assert m["language_consistency"] == 1.0 and m["language_mixing_rate"] == 0.0


def test_given_strict_grades_are_used():
    m, behaviours = _run(strict=[Grade(1.0, "x")] * len(ROWS))  # as if the reward had graded all right
    assert m["length_wrong"] is None and m["length_correct"] == pytest.approx(121 / 5)
    assert behaviours[2].lenient.correct is True  # lenient still read from the text


def test_language_mixing_against_the_question():
    texts = ["<think>We add 4 and 7 первый</think> <answer>11</answer>",  # 3 Latin words, 1 Cyrillic
             "<think>We add them</think> <answer>11</answer>", " 11"]  # the last has no CoT words
    m = language_metrics(texts, ["What is 4 + 7?"] * 3)
    assert m["language_consistency"] == pytest.approx((3 / 4 + 1) / 2)  # the wordless response is not counted
    assert m["language_mixing_rate"] == 0.5
    assert language_metrics(["<think>Мы складываем</think>"], ["Сколько будет 4 + 7?"])["language_consistency"] == 1.0
    none = {"language_consistency": None, "language_mixing_rate": None}
    assert language_metrics(["<answer>1</answer>"], ["q"]) == none


def test_reflection_spans_point_into_the_response():
    _, behaviours = _run()
    (aha,) = reflection_spans(behaviours[0])
    text = ROWS[0][0]
    assert aha["kind"] == "productive"
    assert [text[s:e] for s, e in aha["markers"]] == ["wait, that is wrong"]
    assert text[slice(*aha["claim"]["span"])] == "4+7=12"
    assert (aha["claim"]["stated"], aha["claim"]["true"]) == ("12", "11")
    assert text[slice(*aha["correction"]["span"])] == "4+7=11"
    (sup,) = reflection_spans(behaviours[3])
    assert sup["kind"] == "superficial" and sup["correction"] is None and reflection_spans(behaviours[1]) == []


def test_empty_batch():
    assert batch_behaviour([], [], "number", [], []) == ({}, [])
