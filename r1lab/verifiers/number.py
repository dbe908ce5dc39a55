"""Integer answers (the built-in arithmetic task): the answer is read from <answer> tags.

The answer may carry thousands separators or surrounding spaces ("6,912"); anything that is
not a single integer is unparseable.
"""

from __future__ import annotations

import re

from r1lab.verifiers.base import Grade, answer_tag

_INT = re.compile(r"[-+]?\d[\d,]*")


def parse_int(text: str) -> int | None:
    text = text.strip().rstrip(".")
    if not _INT.fullmatch(text):
        return None
    return int(text.replace(",", ""))


def reference_int(reference: str) -> int:
    """The integer a reference holds; ValueError if it holds none (every answer would be graded wrong)."""
    value = parse_int(reference)
    if value is None:
        raise ValueError(f"number reference must be an integer, got {reference[:80]!r}")
    return value


def verify_number(response: str, reference: str) -> Grade:
    raw = answer_tag(response)
    value = None if raw is None else parse_int(raw)
    if value is None:
        return Grade(0.0, None)
    return Grade(float(value == parse_int(reference)), str(value))
