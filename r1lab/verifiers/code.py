"""Code answers: the response's program runs against the reference's tests in the sandbox.

Extraction: the last fenced block tagged python/py/python3 or untagged (```...```), else the
content of the last <answer>...</answer> (a fence inside it is removed). No code gives
`Grade(0, None)`.

The reference is a JSON object (a string, as every reference is; `r1lab.tasks.humaneval.code_reference`
writes one), HumanEval's fields:

    {"test": "def check(candidate):\\n    assert candidate(1) == 2\\n",
     "entry_point": "add_one",          # optional: without it `test` is top-level asserts
     "prompt": "def add_one(x):\\n ...", # optional: signature, imports and helpers
     "timeout": 10}                      # optional wall seconds

With a prompt, the program is `prompt + "\\n" + code` when the code defines the entry point at
column 0 (a whole function: the prompt still brings its imports and helpers), else
`prompt + code` (a completion of the body). A pass is decided only by the sandbox's sentinel
(see `sandbox.py`). `verify_code_many` grades a batch on a thread pool.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from r1lab.verifiers.base import Grade, answer_tag
from r1lab.verifiers.sandbox import Job, Limits, Outcome, run_many, run_tests

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
LIMITS = Limits(timeout=10.0)


def extract_code(response: str) -> str | None:
    blocks = _FENCE.findall(response)
    code = blocks[-1] if blocks else None
    if code is None:
        tagged = answer_tag(response)
        if tagged is not None:
            inner = _FENCE.findall(tagged + "\n")
            code = inner[-1] if inner else tagged
    if code is None or not code.strip():
        return None
    return code


def parse_reference(reference: str) -> dict:
    try:
        ref = json.loads(reference)
    except json.JSONDecodeError as e:
        raise ValueError(f"code reference must be JSON with a 'test' field: {e}") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("test"), str):
        raise ValueError("code reference must be a JSON object with a 'test' string")
    return ref


def build_job(code: str, ref: dict) -> Job:
    entry, prompt = ref.get("entry_point"), ref.get("prompt") or ""
    if prompt:
        whole = entry and re.search(rf"^def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE)
        code = prompt + "\n" + code if whole else prompt + code
    return Job(code, ref["test"], entry)


def _limits(ref: dict) -> Limits:
    t = ref.get("timeout")
    return LIMITS if t is None else Limits(**{**LIMITS.__dict__, "timeout": float(t)})


def verify_code(response: str, reference: str) -> Grade:
    ref = parse_reference(reference)
    code = extract_code(response)
    if code is None:
        return Grade(0.0, None)
    job = build_job(code, ref)
    out = run_tests(job.program, job.test, job.entry_point, _limits(ref))
    return Grade(float(out.passed), code)


def verify_code_many(responses: Sequence[str], references: Sequence[str],
                     workers: int | None = None) -> list[Grade]:
    """Grades for a batch, the sandboxed runs in parallel (`workers` threads, default all CPUs)."""
    refs = [parse_reference(r) for r in references]
    codes = [extract_code(r) for r in responses]
    todo = [i for i, c in enumerate(codes) if c is not None]
    jobs = [build_job(codes[i], refs[i]) for i in todo]
    outs: list[Outcome] = run_many(jobs, [_limits(refs[i]) for i in todo], workers)  # each its own timeout
    grades = [Grade(0.0, None)] * len(responses)
    for i, out in zip(todo, outs, strict=True):
        grades[i] = Grade(float(out.passed), codes[i])
    return grades
