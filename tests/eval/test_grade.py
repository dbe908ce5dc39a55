import json

import pytest

from r1lab.errors import UserError
from r1lab.eval.grade import Summary, grade_file
from tests.helpers import assert_user_error, bench_file, r1lab


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rows_are_written_back_with_correct_and_extracted(tmp_path):
    src = write(tmp_path / "in.jsonl", [
        {"id": 1, "response": "so \\boxed{\\frac12}", "answer": "0.5"},
        {"id": 2, "response": "so \\boxed{3}", "answer": "4"},
        {"id": 3, "response": "no idea", "answer": "4"},
    ])
    summary, out = grade_file(src, "math")
    assert summary == Summary(1, 1, 1, 3) and out == tmp_path / "in.graded.jsonl"
    rows = read(out)
    assert [(r["id"], r["correct"], r["extracted"]) for r in rows] == [(1, True, "\\frac12"), (2, False, "3"),
                                                                       (3, None, None)]
    assert summary.line() == "correct 1 / wrong 1 / unparseable 1 / total 3 (accuracy 33.33%)"


def test_math500_solutions_grade_correct(tmp_path):
    summary, out = grade_file(bench_file("math500.jsonl"), "math", response_field="solution",
                              output=tmp_path / "m.jsonl")
    assert summary.total == 500 and summary.correct / summary.total >= 0.995
    assert all("unique_id" in r and "correct" in r for r in read(out))


def test_gsm8k_answers_grade_themselves(tmp_path):
    summary, _ = grade_file(bench_file("gsm8k_test.jsonl"), "gsm8k", response_field="answer",
                            output=tmp_path / "g.jsonl")
    assert summary == Summary(1319, 0, 0, 1319)


def test_code_rows_run_in_the_sandbox(tmp_path):
    ref = json.dumps({"test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "sq"})
    src = write(tmp_path / "code.jsonl", [
        {"response": "```python\ndef sq(x):\n    return x * x\n```", "answer": ref},
        {"response": "```python\ndef sq(x):\n    return x + x + 1\n```", "answer": ref}])
    summary, out = grade_file(src, "code", workers=2)
    assert summary == Summary(1, 1, 0, 2) and [r["correct"] for r in read(out)] == [True, False]


@pytest.mark.parametrize("content,needle", [
    (b'{"response": "x", "answer": "1"}\n{bad json\n', "bad.jsonl:2: malformed JSON"),
    (b'{"response": "x", "answer": "1"}\n\xff\xfe\n', "bad.jsonl:2: not valid UTF-8"),
    (b'{"response": "x"}\n', "bad.jsonl:1: row has no field 'answer'"),
    (b'\n{"response": 3, "answer": "1"}\n', "bad.jsonl:2: field 'response' must be a string"),
    (b'[1, 2]\n', "bad.jsonl:1: expected a JSON object"),
])
def test_bad_input_names_file_and_line(tmp_path, content, needle):
    (tmp_path / "bad.jsonl").write_bytes(content)
    with pytest.raises(UserError, match=needle):
        grade_file(tmp_path / "bad.jsonl", "math")


def test_other_user_errors(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        grade_file(tmp_path / "missing.jsonl", "math")
    src = write(tmp_path / "in.jsonl", [{"response": "#### 3", "answer": "no number"}])
    with pytest.raises(UserError, match="in.jsonl:1: bad reference"):
        grade_file(src, "gsm8k")
    with pytest.raises(UserError, match="unknown verifier 'chess'"):
        grade_file(src, "chess")
    with pytest.raises(UserError, match="overwrite the input"):
        grade_file(src, "gsm8k", output=src)


@pytest.mark.slow
def test_cli_grade_prints_counts_and_fails_in_one_line(tmp_path):
    src = write(tmp_path / "in.jsonl", [{"response": "\\boxed{025}", "answer": "25"}, {"response": "?", "answer": "1"}])
    res = r1lab("grade", src, "--verifier", "math", "--output", tmp_path / "out.jsonl")
    assert res.returncode == 0, res.stderr
    assert "correct 1 / wrong 0 / unparseable 1 / total 2" in res.stdout
    assert [r["correct"] for r in read(tmp_path / "out.jsonl")] == [True, None]
    (tmp_path / "bad.jsonl").write_text('{"response": "x", "answer": "1"}\n{oops\n')
    assert_user_error(r1lab("grade", tmp_path / "bad.jsonl", "--verifier", "math"), "bad.jsonl:2: malformed JSON")
