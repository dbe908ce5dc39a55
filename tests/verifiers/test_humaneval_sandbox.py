"""All 164 HumanEval canonical solutions pass the sandbox; the same prompts with an empty body fail."""

import pytest

from r1lab.tasks.humaneval import load_humaneval, reference
from r1lab.verifiers.code import verify_code_many


@pytest.mark.slow
def test_canonical_solutions_pass_and_empty_bodies_fail():
    problems = load_humaneval()
    assert len(problems) == 164
    refs = [reference(p) for p in problems]
    good = verify_code_many([f"```python\n{p.prompt}{p.canonical_solution}```" for p in problems], refs, workers=2)
    empty = verify_code_many([f"```python\n{p.prompt}    pass\n```" for p in problems], refs, workers=2)
    assert [p.task_id for p, g in zip(problems, good, strict=True) if g.score != 1.0] == []
    assert [p.task_id for p, g in zip(problems, empty, strict=True) if g.score != 0.0] == []
