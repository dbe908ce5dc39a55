from concurrent.futures import ThreadPoolExecutor

import pytest

from r1lab.verifiers import get_verifier
from r1lab.verifiers.math import equivalent, extract_answer, normalize, verify_math
from tests.helpers import bench_rows, perturb_boxed


@pytest.mark.parametrize("text,found", [
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
    ("\\boxed{1} then \\boxed{\\{1, {2}\\}}", "\\{1, {2}\\}"),  # nested braces, the last box
    ("\\fbox{7}", "7"),
    ("\\boxed 5$ done", "5"),
    ("\\boxed{3} and a cut-off \\boxed{4", "3"),  # a truncated last box: the last complete one
    ("<think>x</think><answer> $42$ </answer>", "42"),
    ("We get 3. So the final answer is: 17.\nBye", "17"),
    ("The answer is \\(x+1\\).", "x+1"),
    ("no answer here", None),
    ("\\boxed{}", None),
])
def test_extract(text, found):
    assert extract_answer(text) == found


@pytest.mark.parametrize("ref,ans", [
    ("\\frac{1}{2}", "0.5"), ("\\dfrac{14}{3}", "\\frac{14}{3}"), ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"),
    ("2\\pi", "2π"), ("[1,2)", "[1, 2)"), ("(3, -1)", "(3,-1)"), ("\\{1,2\\}", "\\{2,1\\}"),
    ("50\\%", "50"), ("30^\\circ", "30"), ("\\text{Evelyn}", "Evelyn"), ("\\text{(C)}", "C"),
    ("(C)", "\\text{(C)}"), ("025", "25"), ("7", "007"), ("x+1", "1+x"), ("6,912", "6912"),
    ("\\$18", "18"), ("\\infty", "\\infty"), ("3\\sqrt{3}", "\\sqrt{27}"),
])
def test_equivalent(ref, ans):
    assert equivalent(ref, ans)


@pytest.mark.parametrize("ref,ans", [
    ("\\frac{1}{2}", "0.51"), ("[1,2)", "(1,2)"), ("(1,2)", "(2,1)"), ("C", "D"), ("(C)", "5"),
    ("\\text{Evelyn}", "\\text{Bob}"), ("25", "26"), ("2\\pi", "2"), ("\\sqrt{2}", "1.414"),
    ("10^{10^{10}}", "1"),  # hard for sympy: refused quickly, not timed out
])
def test_not_equivalent(ref, ans):
    assert not equivalent(ref, ans)


def test_grade_fields_and_registry():
    assert get_verifier("math") is verify_math
    assert tuple(verify_math("\\boxed{4}", "4")) == (1.0, "4")
    assert tuple(verify_math("\\boxed{5}", "4")) == (0.0, "5")
    g = verify_math("I give up", "4")
    assert tuple(g) == (0.0, None) and g.correct is None
    assert verify_math("\\boxed{4}", "The sum is \\boxed{2+2}.").score == 1.0  # reference = a solution
    assert normalize("\\left( 1,\\ 2 \\right)") == "(1,2)"


def test_works_in_worker_threads():
    pairs = [("\\boxed{\\frac{2}{4}}", "\\frac12"), ("\\boxed{\\sqrt{8}}", "2\\sqrt2"), ("\\boxed{3}", "4")] * 4
    main = [verify_math(r, a).score for r, a in pairs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: verify_math(*p).score, pairs))
    assert threaded == main == [1.0, 1.0, 0.0] * 4


@pytest.mark.slow
def test_math500_reference_solutions():
    rows = bench_rows("math500.jsonl")
    grades = [verify_math(r["solution"], r["answer"]) for r in rows]
    right = sum(g.score for g in grades)
    assert right / len(rows) >= 0.995, [r["answer"] for r, g in zip(rows, grades, strict=True) if not g.score]
    wrong = sum(verify_math(perturb_boxed(r["solution"]), r["answer"]).score for r in rows)
    assert wrong == 0


def test_aime_leading_zeros():
    rows = bench_rows("aime24.jsonl")
    for r in rows:
        a = r["answer"]
        other = (a.lstrip("0") or "0") if a.startswith("0") else "0" + a
        assert verify_math(f"\\boxed{{{other}}}", a).score == 1.0, (a, other)
        assert verify_math(f"<answer>{a}</answer>", other).score == 1.0, (a, other)
        assert verify_math(f"\\boxed{{{int(a) + 1}}}", a).score == 0.0


def test_amc_decimal_answers():
    rows = bench_rows("amc23.jsonl")
    assert all(verify_math(f"The answer is {float(r['answer']):g}.", r["answer"]).score for r in rows)
