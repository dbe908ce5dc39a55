import json
import time

import pytest

from r1lab.tasks.humaneval import code_reference
from r1lab.verifiers import get_verifier
from r1lab.verifiers.code import build_job, extract_code, parse_reference, verify_code, verify_code_many
from r1lab.verifiers.rewards import rule_rewards

REF = code_reference("def check(candidate):\n    assert candidate([3, 1, 2]) == [1, 2, 3]\n", "sort_list",
                     "from typing import List\n\ndef sort_list(xs: List[int]) -> List[int]:\n    \"\"\"Sort.\"\"\"\n")


@pytest.mark.parametrize("text,code", [
    ("```python\nx = 1\n```", "x = 1\n"),
    ("```py\na\n```\ntext\n```python3\nb\n```", "b\n"),  # the last block
    ("```\nplain\n```", "plain\n"),
    ("<think>t</think><answer>\n```python\nc = 2\n```\n</answer>", "c = 2\n"),
    ("<answer>d = 3</answer>", "d = 3"),
    ("no code at all", None),
    ("```python\n\n```", None),
])
def test_extract_code(text, code):
    assert extract_code(text) == code


def test_reference_format_and_program_assembly():
    ref = parse_reference(REF)
    assert ref["entry_point"] == "sort_list" and "check" in ref["test"]
    whole = build_job("def sort_list(xs):\n    return sorted(xs)\n", ref)
    assert whole.program.startswith("from typing import List") and whole.program.count("def sort_list") == 2
    body = build_job("    return sorted(xs)\n", ref)
    assert body.program.endswith('"""Sort."""\n    return sorted(xs)\n')
    with pytest.raises(ValueError, match="JSON"):
        parse_reference("assert f(1) == 2")
    with pytest.raises(ValueError, match="'test'"):
        parse_reference(json.dumps({"entry_point": "f"}))


def test_verify_code():
    assert get_verifier("code") is verify_code
    assert verify_code("```python\ndef sort_list(xs):\n    return sorted(xs)\n```", REF).score == 1.0
    assert verify_code("```python\n    return sorted(xs)\n```", REF).score == 1.0  # a body completion
    g = verify_code("```python\ndef sort_list(xs):\n    return xs\n```", REF)
    assert g.score == 0.0 and g.correct is False
    g = verify_code("I cannot write code", REF)
    assert g.score == 0.0 and g.correct is None
    top_level = code_reference("assert add(2, 3) == 5\n")
    assert verify_code("```python\ndef add(a, b):\n    return a + b\n```", top_level).score == 1.0
    slow = code_reference("def check(c):\n    assert c() == 1\n", "f", timeout=1)
    start = time.monotonic()
    assert verify_code("```python\ndef f():\n    while True:\n        pass\n```", slow).score == 0.0
    assert time.monotonic() - start < 5


def test_batch_matches_one_by_one_and_rewards_use_it():
    responses = ["```python\ndef sort_list(xs):\n    return sorted(xs)\n```", "nothing",
                 "```python\ndef sort_list(xs):\n    return xs[::-1]\n```"] * 2
    batch = verify_code_many(responses, [REF] * 6, workers=2)
    assert [tuple(g) for g in batch] == [tuple(verify_code(r, REF)) for r in responses]
    assert [g.correct for g in batch] == [True, None, False] * 2
    r, acc, fmt, fails = rule_rewards(responses[:3] + ["x"], [REF] * 3 + ["not json"], "code")
    assert acc[:3].tolist() == [1.0, 0.0, 0.0] and fails == 1  # a broken reference costs one sample


def test_batch_gives_each_job_its_own_timeout():
    """A 1 s reference next to a default (10 s) one: the slow program still times out after 1 s."""
    quick = code_reference("def check(c):\n    assert c() == 1\n", "f", timeout=1)
    sleepy = "```python\ndef f():\n    import time\n    time.sleep(3)\n    return 1\n```"
    grades = verify_code_many([sleepy, "```python\ndef sort_list(xs):\n    return sorted(xs)\n```"], [quick, REF],
                              workers=2)
    assert [g.score for g in grades] == [0.0, 1.0]
