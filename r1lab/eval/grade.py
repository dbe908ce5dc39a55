"""`r1lab grade`: grade a JSONL file of responses with any registered verifier.

Each input row is written back unchanged plus `correct` (true, false, or null when the
response had no parseable answer) and `extracted` (the answer the verifier read). Rows are
graded by the very function used as the RL reward. Code is run in parallel sandboxes; the other
verifiers run in the calling thread (math-verify's timeouts need the main thread).

Bad input is a `UserError` naming the file and the 1-based line: a missing or unreadable file,
bytes that are not UTF-8, a line that is not a JSON object, a row without the response or
reference field (or with a non-string one), a reference the verifier rejects. Blank lines are
skipped. The output is written to a temporary file and renamed over the target, and an existing
target is replaced only if it is a graded file (its first row has `correct` and `extracted`):
grading never overwrites anything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from r1lab.errors import UserError, writing
from r1lab.models.machine import cores
from r1lab.tasks.jsonl import read_rows
from r1lab.verifiers import BATCH_VERIFIERS, REFERENCE_CHECKS, VERIFIERS, Grade, get_verifier


class Summary(NamedTuple):
    correct: int
    wrong: int
    unparseable: int
    total: int

    def line(self) -> str:
        acc = self.correct / self.total if self.total else 0.0
        return (f"correct {self.correct} / wrong {self.wrong} / unparseable {self.unparseable} / "
                f"total {self.total} (accuracy {acc:.2%})")


def _grade_all(path: Path, verifier: str, rows: list[tuple[int, dict]], response_field: str,
               reference_field: str, workers: int | None) -> list[Grade]:
    responses = [r[response_field] for _, r in rows]
    references = [r[reference_field] for _, r in rows]
    batch = BATCH_VERIFIERS.get(verifier)
    if batch is not None:  # graded all at once, so check every reference first to name its line
        check = REFERENCE_CHECKS.get(verifier, lambda ref: None)
        for (n, _), ref in zip(rows, references, strict=True):
            try:
                check(ref)
            except ValueError as e:
                raise UserError(f"{path}:{n}: bad reference: {e}") from None
        return batch(responses, references, workers)
    verify = get_verifier(verifier)
    grades = []
    for (n, _), resp, ref in zip(rows, responses, references, strict=True):
        try:
            grades.append(verify(resp, ref))
        except ValueError as e:
            raise UserError(f"{path}:{n}: bad reference: {e}") from None
    return grades


def _check_output(out: Path) -> None:
    """`out` may be written: absent, empty, or an earlier graded file (never anyone else's file)."""
    if out.is_dir():
        raise UserError(f"{out}: is a directory; --output takes a file name")
    if not out.exists() or out.stat().st_size == 0:
        return
    with open(out, "rb") as f:
        first = f.readline(1 << 20)
    try:
        row = json.loads(first)
    except ValueError:
        row = None
    if not (isinstance(row, dict) and "correct" in row and "extracted" in row):
        raise UserError(f"{out} exists and is not a graded file; refusing to overwrite it: choose another --output")


def grade_file(file: str | Path, verifier: str, response_field: str = "response",
               reference_field: str = "answer", output: str | Path | None = None,
               workers: int | None = None) -> tuple[Summary, Path]:
    """Grade every row of `file`; write the graded rows to `output`; return (summary, output path)."""
    path = Path(file)
    if verifier not in VERIFIERS:
        raise UserError(f"unknown verifier {verifier!r}; known: {', '.join(VERIFIERS)}")
    out = Path(output) if output is not None else path.with_name(path.name.removesuffix(".jsonl") + ".graded.jsonl")
    if out.resolve() == path.resolve():
        raise UserError(f"{out}: the output would overwrite the input")
    if workers is not None and not 0 <= workers <= cores():
        raise UserError(f"--workers must be in [0, {cores()}] (the cores this machine gives; 0 = all), got {workers}")
    _check_output(out)
    rows = read_rows(path, (response_field, reference_field))
    grades = _grade_all(path, verifier, rows, response_field, reference_field, workers)
    text = "".join(json.dumps({**row, "correct": g.correct, "extracted": g.extracted}, ensure_ascii=False) + "\n"
                   for (_, row), g in zip(rows, grades, strict=True))
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with writing(str(out)):
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)
    except OSError as e:
        raise UserError(f"{out}: cannot write ({e.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)
    correct = sum(g.correct is True for g in grades)
    unparseable = sum(g.correct is None for g in grades)
    return Summary(correct, len(grades) - correct - unparseable, unparseable, len(grades)), out
