from fractions import Fraction

import pytest

from r1lab.verifiers.aha import REFLECTION_MARKERS, find_markers, find_reflections, parse_claims


def claims(text):
    return [(text[c.start:c.end], c.expr, c.stated, c.true) for c in parse_claims(text)]


@pytest.mark.parametrize("text,expected", [
    ("47+19=66", [("47+19=66", "47+19", 66, 66)]),
    ("8+5+1=14 (4, carry 1; 5+5 left)", [("8+5+1=14", "8+5+1", 14, 14)]),
    ("so 7 * 3 = 21.", [("7 * 3 = 21", "7*3", 21, 21)]),
    ("check: 66-19=47", [("66-19=47", "66-19", 47, 47)]),
    ("4+7=11, so far 1, carry 1, left 6+2.", [("4+7=11", "4+7", 11, 11)]),
    ("Try 16*8=128, not 29. (16 + 8) + 5 = 29. Yes", [("16*8=128", "16*8", 128, 128),
                                                      ("(16 + 8) + 5 = 29", "(16+8)+5", 29, 29)]),
    ("so (3+4=7)", [("3+4=7", "3+4", 7, 7)]),  # an unclosed parenthesis is dropped
    ("0.5*3=1.5 and 7 × 3 = 20", [("0.5*3=1.5", "0.5*3", Fraction(3, 2), Fraction(3, 2)),
                                  ("7 × 3 = 20", "7×3", 20, 21)]),
    ("47+19 = 60+6 = 66", [("60+6 = 66", "60+6", 66, 66)]),  # a chain gives its last link
])
def test_claims_are_read_in_order_with_spans_and_checked_exactly(text, expected):
    assert claims(text) == expected


@pytest.mark.parametrize("text", ["= 66", "66", "2x+3=7", "a-3+5=2", "1+1=2,000", "8/0=1", "3+4 = x",
                                  "1+" * 150 + "1=151"])
def test_non_claims_are_skipped(text):
    assert parse_claims(text) == []


def test_markers_whole_words_case_phrases_longest_first():
    text = "Wait, that is wrong. Let me double-check and Re-evaluate. WAIT, check: it checks. But a button."
    found = find_markers(text)
    assert [m.term for m in found] == ["wait, that is wrong", "double-check", "re-evaluate", "wait, check", "but"]
    assert [text[m.start:m.end] for m in found][0] == "Wait, that is wrong"
    assert find_markers("waiting, checked, errors, butter, evaluated") == []
    assert [m.term for m in find_markers("double check, verify again, try again")] == \
        ["double-check", "verify again", "try again"]
    # configurable: a custom set replaces the default
    assert [m.term for m in find_markers("Hmm. Wait.", {"hmm"})] == ["hmm"]
    assert find_markers("Wait.", set()) == []
    assert {"wait", "check", "recheck", "reassess", "double-check", "wait, that is wrong"} <= REFLECTION_MARKERS


WORK = "7+3=10 (0, carry 1; 9+4 left) "


def test_productive_reflection_is_an_aha_moment():
    text = WORK + "4+7=12, wait, that is wrong. 4+7=11 (110; nothing left) <answer> 110 </answer>"
    aha = find_reflections(text, final_correct=True)
    (r,) = aha.reflections
    assert (r.kind, aha.aha, aha.productive) == ("productive", True, 1)
    assert text[r.start:r.end] == "wait, that is wrong"
    assert text[r.claim.start:r.claim.end] == "4+7=12" and text[r.correction.start:r.correction.end] == "4+7=11"


def test_recomputed_another_way_is_a_correction():
    aha = find_reflections("47+19=67. Check: 67-19=48, not 47. Wait: 47+19=66. <answer>66</answer>", True)
    assert [r.kind for r in aha.reflections] == ["productive", "neutral"]  # the second follows a true claim
    aha = find_reflections("8+5=12, wait. 10+3=13 so 13. <answer>13</answer>", True)
    assert aha.aha and aha.reflections[0].correction.expr == "10+3"


def test_correction_with_a_wrong_final_answer_is_not_productive():
    text = WORK + "4+7=12, wait, that is wrong. 4+7=11 (110; nothing left) <answer> 120 </answer>"
    aha = find_reflections(text, final_correct=False)
    assert [r.kind for r in aha.reflections] == ["neutral"] and not aha.aha
    assert aha.reflections[0].correction is not None
    assert not find_reflections(text, final_correct=None).aha


def test_superficial_correction_of_a_true_claim():
    aha = find_reflections(WORK + "4+7=11, wait, that is wrong. 4+7=12 <answer> 120 </answer>", False)
    (r,) = aha.reflections
    assert (r.kind, r.reason, r.correction.expr) == ("superficial", "changes a true claim to a false value", "4+7")


def test_superficial_confirmation_of_a_false_claim():
    by_word = find_reflections("4+7=12, wait, check: yes, that is right. 5+1=6 <answer>62</answer>", False)
    by_repeat = find_reflections("4+7=12. Let me verify: 4+7=12. <answer>12</answer>", False)
    final_check = find_reflections("3+1=4, we have 4. 1+2=3, we have 34. Wait, check: 13 + 21 ends in 4. Yes, 34.",
                                   False)
    for aha in (by_word, by_repeat, final_check):
        assert [r.kind for r in aha.reflections] == ["superficial"] and not aha.aha
    assert final_check.reflections[0].reason == "confirms a wrong result"


def test_neutral_reflections():
    no_claims = find_reflections("Wait, let me think again. The answer is 5.", True)
    true_check = find_reflections("4+7=11. Wait, check: yes. <answer>11</answer>", True)
    unresolved = find_reflections("4+7=12. Hmm, but the next column: 5+1=6. <answer>62</answer>", False)
    for aha in (no_claims, true_check, unresolved):
        assert [r.kind for r in aha.reflections] == ["neutral"] and not aha.aha
    assert len(no_claims.reflections[0].markers) == 2  # "Wait" and "think again": one reflection
    assert no_claims.reflections[0].claim is None
    assert find_reflections("4+7=11 <answer>11</answer>", True).reflections == ()


def test_verdicts_after_a_check_say_which_claim_a_reflection_is_about():
    """Design E's verdicts (docs/emergence.md): "not X" points the reflection at the claim that stated
    X, so its redo is productive; a "wait" after "same" over a true claim is a ritual: superficial."""
    def kinds(text, final_correct=True):
        return [(r.kind, r.reason) for r in find_reflections(text, final_correct).reflections]
    assert kinds("4+8+1=14, 1+8+4=13, not 14, wait, 4+8+1=13, so far 3.")[0][0] == "productive"
    assert kinds("4+8+1=14, 1+8+4=13, not 14, wait, 4+8+1=13.", final_correct=False)[0][0] == "neutral"
    assert kinds("4+2=6, 2+4=6, same, wait, 4+2=6, so far 6.") == [
        ("superficial", "reflects after a check that agreed")]
    # a check that repeated the slip ("same" over a false claim), then fixed: still productive
    assert kinds("7+2=8, 2+7=8, same, wait, 7+2=9, so far 9.")[0][0] == "productive"
    # without a verdict the D rules stand: a redo after an agreeing check is neutral
    assert kinds("4+2=6, 2+4=6, wait, 4+2=6.")[0] == ("neutral", "latest claim is true")


def test_a_rejected_guess_in_a_pair_search_is_productive_only_when_the_search_finds_the_pair():
    """Design F (docs/emergence.md): "7+3=16? 7+3=10, not 16, try again" doubts the guess 7+3=16, and
    its own check already states the true sum; the reflection pays when the final answer is right.
    Throwing away a right guess ("12+4=16? 12+4=16, not 16") and never coming back is superficial."""
    def kinds(text, final_correct=True):
        return [(r.kind, r.reason) for r in find_reflections(text, final_correct).reflections]
    found = "7+3=16? 7+3=10, not 16, try again. 12+4=16? 12+4=16, yes. <answer> 12+4 </answer>"
    assert kinds(found) == [("productive", "false claim corrected, final answer right")]
    assert kinds("7+3=16? 7+3=10, not 16, wait. So 7+3.", final_correct=False)[0][0] == "neutral"
    assert kinds("12+4=16? 12+4=16, not 16, wait. 7+3=16? 7+3=10, yes.", final_correct=False) == [
        ("superficial", "rejects a true claim and never returns to it")]
    # a check that slipped onto the guess's value and is rejected anyway is not a correction
    assert kinds("7+3=16? 7+3=11, not 16, wait. 12+4=16? 12+4=16, yes.")[0][0] == "neutral"
