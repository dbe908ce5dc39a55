"""JSONL files: the one reader every command uses, and a training task made from a file.

`read_rows` validates a file up front and names the file and 1-based line of the first problem:
a missing or unreadable file, bytes that are not UTF-8, a line that is not a JSON object (or is
nested too deeply to parse), a string holding a lone surrogate escape such as "\\ud800" (valid
JSON, but not text that can be written back or tokenized), a row without a required field, or
with one that is not a string or is empty. Blank lines are skipped.

`JsonlTask` turns rows of {"question": ..., "answer": ...} into a task for `r1lab train --task
FILE.jsonl --verifier math`. Its train/test split is the same hash split as the built-in tasks
(about 10% of questions are test), so the two never share a question.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from r1lab.errors import UserError
from r1lab.tasks.base import Problem, split_of


def read_rows(path: str | Path, fields: tuple[str, ...], allow_empty: bool = True) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank line; every row must hold `fields` as strings
    (non-empty ones unless `allow_empty`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a JSONL file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    rows = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}:{n}: not valid UTF-8 (byte {e.start + 1})") from None
        if not text.strip():
            continue
        try:
            row = json.loads(text)
            surrogate = "\\u" in text and _has_surrogate(row)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: malformed JSON ({e.msg}, column {e.colno})") from None
        except RecursionError:
            raise UserError(f"{path}:{n}: malformed JSON (nested too deeply)") from None
        if surrogate:
            raise UserError(f"{path}:{n}: a string holds a lone surrogate escape (\\ud800-\\udfff), which is not text")
        if not isinstance(row, dict):
            raise UserError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        for f in fields:
            if f not in row:
                raise UserError(f"{path}:{n}: row has no field {f!r}")
            if not isinstance(row[f], str):
                raise UserError(f"{path}:{n}: field {f!r} must be a string, got {type(row[f]).__name__}")
            if not allow_empty and not row[f].strip():
                raise UserError(f"{path}:{n}: field {f!r} is empty")
        rows.append((n, row))
    return rows


def _has_surrogate(value) -> bool:
    """Any string in a parsed JSON value holds a lone surrogate (JSON allows the escape; UTF-8 cannot hold it)."""
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


class JsonlTask:
    """Problems from a JSONL file with `question` and `answer` fields, graded by `verifier`."""

    def __init__(self, path: str | Path, verifier: str):
        self.path, self.verifier, self.name = Path(path), verifier, Path(path).stem
        rows = read_rows(self.path, ("question", "answer"), allow_empty=False)
        if not rows:
            raise UserError(f"{self.path}: no rows")
        self._split: dict[str, list[Problem]] = {"train": [], "test": []}
        seen: set[str] = set()
        for _, row in rows:
            q = row["question"].strip()
            if q not in seen:
                seen.add(q)
                self._split[split_of(q)].append(Problem(q, row["answer"].strip(), self.name))
        self.questions = sorted(seen)  # every distinct question (the trainer measures the longest prompt)
        for split, probs in self._split.items():
            if not probs:
                raise UserError(f"{self.path}: no {split} problems after the hash split "
                                f"({len(seen)} distinct questions; about 10% go to test): add rows")

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        split = "train" if rng.random() < 0.9 else "test"
        prob = rng.choice(self._split[split])
        return prob.question, prob

    def size(self, split: str) -> int:
        return len(self._split[split])
