from fractions import Fraction

import pytest

from r1lab.verifiers import get_verifier
from r1lab.verifiers.gsm8k import parse_number, reference_number, verify_gsm8k
from tests.helpers import bench_rows

REF = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 1,218"


@pytest.mark.parametrize("text,value", [
    ("$1,200 per month", 1200), ("\\$18", 18), ("-3", -3), ("2.50", Fraction(5, 2)), ("1/2", Fraction(1, 2)),
    ("18 dollars.", 18), ("1{,}000", 1000), ("3,4", 3), ("x", None), ("", None),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("response,score,extracted", [
    ("so \\boxed{1218}", 1.0, "1218"),
    ("<answer>$1,218 in total</answer>", 1.0, "1218"),
    ("work...\n#### 1218", 1.0, "1218"),
    ("The answer is 1218 dollars.", 1.0, "1218"),
    ("The answer is 1219.", 0.0, "1219"),
    ("\\boxed{1218.0}", 1.0, "1218"),
    ("I am not sure", 0.0, None),
    ("<answer>many</answer>", 0.0, None),
])
def test_verify(response, score, extracted):
    assert tuple(verify_gsm8k(response, REF)) == (score, extracted)


def test_reference():
    assert reference_number(REF) == 1218 and reference_number("42") == 42
    with pytest.raises(ValueError, match="####"):
        reference_number("#### none")
    assert get_verifier("gsm8k") is verify_gsm8k


def test_gsm8k_reference_answers_grade_themselves():
    rows = bench_rows("gsm8k_test.jsonl")
    assert len(rows) == 1319
    assert all(verify_gsm8k(r["answer"], r["answer"]).score == 1.0 for r in rows)
    # and a wrong final number is caught on every row
    wrong = [r["answer"].rsplit("####", 1)[0] + f"#### {reference_number(r['answer']) + 1}" for r in rows]
    assert not any(verify_gsm8k(w, r["answer"]).score for w, r in zip(wrong, rows, strict=True))
