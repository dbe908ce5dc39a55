import math
import random

import pytest

from r1lab.models.corpus import addition_steps, countdown_steps
from r1lab.verifiers import Grade, get_verifier
from r1lab.verifiers.behaviour import (
    STYLES,
    analyse,
    answer_style,
    count_markers,
    grade_both,
    is_looping,
    lenient_verifier,
    own_part,
    repeated_ngram_share,
    stated_answer,
    summarise,
)

STEPS = "7+2=9 (9; 628+65 left) 8+5=13 (39, carry 1; 62+6 left) 2+6+1=9 (939; 6 left) 6+0=6 (6939; nothing left)"


@pytest.mark.parametrize("response,style", [
    (" 6939", "answer_only"),
    (" <answer> 6939 </answer>", "answer_only"),
    (" The answer is 6939.", "answer_only"),
    (" = 6939", "answer_only"),
    (" It is 6939.\nQuestion: Add 461 and 8671.\nAnswer: 7+1=8 so 9132", "answer_only"),  # rambling cut off
    (f" <think> {STEPS} </think> <answer> 6939 </answer>", "worked_think"),
    (f" <think> {STEPS} </think> The answer is 6939.", "worked_think"),
    (f" <think> {STEPS}", "worked_think"),  # truncated inside the think span
    (f" Let's work it out. {STEPS} The answer is 6939.", "worked_plain"),
    (f" {STEPS} <answer> 6939 </answer>", "worked_plain"),
    (f" Step by step: {STEPS} So it is 6939.", "worked_plain"),
    (" <think> </think> <answer> 6939 </answer>", "answer_only"),
    ("", "other"),
    (" The teacher reads the weather.", "other"),
    # arbitrary math text: an equation, or enough words, before the answer is working
    (" We need x such that 2x = 10, so x = 5. The answer is 5.", "worked_plain"),
    (" " + "we think about the numbers carefully and " * 3 + "the answer is 5.", "worked_plain"),
])
def test_answer_style(response, style):
    assert style in STYLES
    assert answer_style(response, "number") == style


def test_answer_style_on_corpus_working_and_countdown():
    rng = random.Random(0)
    for _ in range(20):
        steps = addition_steps(rng, 4738, 596, slip=rng.random() < 0.5)
        assert answer_style(f"<think> {steps} </think> <answer> 5334 </answer>") == "worked_think"
        assert answer_style(f"Step by step: {steps} So it is 5334.") == "worked_plain"
    try_line = countdown_steps(random.Random(1), [16, 8, 5], 29, "(16 + 8) + 5")
    assert answer_style(f"<think> {try_line} </think> <answer> (16 + 8) + 5 </answer>", "countdown") == "worked_think"
    assert answer_style("<answer> (16 + 8) + 5 </answer>", "countdown") == "answer_only"
    assert answer_style("Try (16 + 8) + 5 = 29.", "countdown") == "answer_only"  # the answer is that claim
    assert answer_style("Try 16*8=128, not 29. (16 + 8) + 5 = 29.", "countdown") == "worked_plain"


@pytest.mark.parametrize("response,answer,how", [
    (" <answer> 6,939 </answer>", "6,939", "tag"),
    (" <answer> 12 </answer> then <answer> 6939 </answer>", "6939", "tag"),
    (" <think> 1+1=2 </think> <answer> 6939", "6939", "tag"),  # truncated answer tag
    (" <answer> 69+3=15 (5; 54 left) <answer> 5605 </answer>", "5605", "tag"),  # the last opening
    (" The answer is 579.", "579", "phrase"),
    (" So it is 579. And it is good.", "579", "phrase"),
    (" Step by step: 9+0=9. It is 579.", "579", "phrase"),
    (" = 10079", "10079", "equals"),
    (" 7+2=9 (9; 62 left) 6+0=6 (6939; nothing left)", "6939", "last number"),
    (" \\boxed{42} is it", "42", "boxed"),
    (" It is 6939.\nQ: What is 1 + 1?\nA: <answer> 2 </answer>", "6939", "phrase"),
])
def test_stated_answer(response, answer, how):
    stated = stated_answer(response, "number")
    assert (stated.text, stated.how) == (answer, how)
    assert stated_answer(" no number here", "number") is None


def test_stated_answer_shapes():
    assert stated_answer("So it is (16 + 8) + 5.", "expression").text == "(16 + 8) + 5"
    assert stated_answer("Try 16*8=128, not 29. (16 + 8) + 5 = 29. Yes.", "expression").text == "(16 + 8) + 5 = 29"
    assert stated_answer("Thus the final answer is $\\frac{1}{2}$.", "math").text == "$\\frac{1}{2}$"
    assert stated_answer("Clearly it is hard. So x = 1/2", "math").text == "1"  # "= X" reads a number


@pytest.mark.parametrize("response,strict,lenient", [
    (" The answer is 579.", None, True),  # the number verifier reads <answer> only
    (" So it is 579.", None, True),
    (" It is 578.", None, False),
    (" = 579", None, True),
    (" <answer> 579 </answer>", True, True),
    (" <answer> 578 </answer>", False, False),
    (" <answer> about 579 </answer>", None, True),
    (f" Step by step: {STEPS} So it is 579.\nQuestion: What is 1 + 1?\nAnswer: <answer> 2 </answer>", False, True),
    (" 579\nUser: What is 1+1? Assistant: <answer> 579 </answer>", True, True),
    (" nothing", None, None),
])
def test_lenient_beside_strict_number(response, strict, lenient):
    s, lo = grade_both(response, "579", "number")
    assert s == get_verifier("number")(response, "579")  # strict is the verifier itself
    assert (s.correct, lo.correct) == (strict, lenient)


def test_lenient_reuses_each_verifiers_equivalence():
    assert lenient_verifier("countdown")("So it is (16 + 8) + 5.", "[16, 8, 5] -> 29").correct is True
    assert lenient_verifier("countdown")("Try 16*8=128, not 29. (16+8)+5 = 29.", "[16, 8, 5] -> 29").correct is True
    assert lenient_verifier("countdown")("So it is 16 + 8.", "[16, 8, 5] -> 29").correct is False
    assert lenient_verifier("gsm8k")("She pays $1,200 in total. The answer is 1200 dollars", "#### 1200").correct
    assert lenient_verifier("math")("so the answer is 0.5", "\\frac{1}{2}").correct is True  # math-verify
    assert lenient_verifier("code") is get_verifier("code")
    with pytest.raises(KeyError):
        lenient_verifier("nope")


def test_own_part_cuts_continuation_documents():
    assert own_part(" It is 5.\nProblem: 1 + 2 = ?") == " It is 5."
    assert own_part(" 1277\nUser: What is 58 + 53? Assistant: 111") == " 1277"
    assert own_part(" It is 5. The question was hard.") == " It is 5. The question was hard."


def test_count_markers():
    text = "4+7=12, Wait, that is wrong. 4+7=11. Let me double-check. BUT it is fine. However."
    counted = count_markers(text, n_tokens=40)
    assert [m.term for m in counted.markers] == ["wait, that is wrong", "double-check", "but", "however"]
    assert counted.count == 4 and counted.any and counted.per_1k == pytest.approx(100.0)
    assert count_markers("Wait.", n_tokens=0).per_1k == 0.0
    assert count_markers("wait wait", markers={"hmm"}).count == 0
    none = count_markers("4+7=11, so far 1. The teacher checks the results.", n_tokens=20)
    assert (none.count, none.any, none.per_1k) == (0, False, 0.0)
    assert count_markers("It is 5.\nQuestion: wait, why?").count == 0  # the rambled-on document is not counted


def test_repetition_share_and_looping():
    loop = "so far 1, left 2. " * 20
    normal = f"<think> {STEPS} </think> <answer> 6939 </answer>"
    assert repeated_ngram_share(loop) > 0.8
    assert repeated_ngram_share(normal) == 0.0
    assert repeated_ngram_share("a b c a b c a", n=3) == pytest.approx(1 - 3 / 5)  # abc bca cab abc bca
    assert repeated_ngram_share([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(1 - 4 / 5)
    assert repeated_ngram_share("too short") == 0.0
    assert is_looping(loop, truncated=True) and not is_looping(loop, truncated=False)
    assert not is_looping(normal, truncated=True)


def test_analyse_and_summarise():
    slip = (" 7+3=10 (0, carry 1; 9+4 left) 4+7=12, wait, that is wrong. 4+7=11 (110; nothing left)"
            " <answer> 110 </answer>")
    rows = [(slip, "110"), (" The answer is 110.", "110"), (" 7", "110"), ("so far 1, left 2. " * 20, "110")]
    out = [analyse(r, ref, "number", truncated=i == 3) for i, (r, ref) in enumerate(rows)]
    assert [b.style for b in out] == ["worked_plain", "answer_only", "answer_only", "worked_plain"]
    assert out[0].aha.aha and out[0].has_reflection and out[0].markers.count == 1
    assert out[3].looping and not out[0].looping
    s = summarise(out)
    assert (s["strict_accuracy"], s["lenient_accuracy"]) == (0.25, 0.5)
    assert s["style_share_answer_only"] == 0.5 and s["style_accuracy_answer_only"] == 0.0
    assert math.isnan(s["style_accuracy_worked_think"])
    assert (s["reflection_rate"], s["aha_moments"], s["reflections_productive"], s["looping_rate"]) == \
        (0.25, 1.0, 1.0, 0.25)
    assert s["markers_per_1k"] == pytest.approx(1000 * 1 / sum(b.n_tokens for b in out))
    assert summarise([]) == {}
    ids = analyse(" 7", "110", "number", token_ids=[5, 6, 7, 5, 6, 7, 5, 6, 7])
    assert ids.n_tokens == 9 and ids.repeat_share > 0


def test_analyse_reuses_a_given_strict_grade():
    given = Grade(1.0, "seen")  # what the reward path graded; analyse must not grade again
    b = analyse(" The answer is 110.", "110", "number", strict=given)
    assert b.strict is given and b.lenient.correct is True  # lenient still read from the text
    assert analyse("anything", "ref", "code", strict=given).lenient is given  # code: lenient is strict



@pytest.mark.parametrize("verifier", ["number", "countdown", "gsm8k"])
def test_arbitrary_text_never_raises(verifier):
    rng = random.Random(verifier)
    pieces = list("0123456789+-*/=() .,\n") + ["<answer>", "</answer>", "<think>", "</think>", "Wait", "check",
                                                "Yes", "The answer is", "\\boxed{", "}", "$"]
    for _ in range(200):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(60)))
        b = analyse(text, "[1, 2] -> 3" if verifier == "countdown" else "12", verifier)
        assert b.style in STYLES and 0.0 <= b.repeat_share <= 1.0
        assert b.aha.productive + b.aha.superficial + b.aha.neutral == len(b.aha.reflections)
