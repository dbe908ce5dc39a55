"""Pair (or triple) search: the answer must be "a+b" with a and b two of the listed numbers (two
different entries of the list) and a + b equal to the target. The reference is written as
Countdown's, "[7, 3, 12, 4] -> 16", with the answer's size after it when it is not two:
"[6, 2, 9, 4, 7] -> 19 (3)" wants "a+b+c". "12 + 4 = 16" in the tag is accepted, and the sum is
recomputed."""

from __future__ import annotations

import re
from collections import Counter

from r1lab.verifiers.base import Grade, answer_tag
from r1lab.verifiers.countdown import parse_reference as countdown_reference

_SIZE = re.compile(r"(.*?)\s*\((\d)\)\s*")
_SUM = re.compile(r"\s*\d+(?:\s*\+\s*\d+)+\s*")


def parse_reference(reference: str) -> tuple[list[int], int, int]:
    """(numbers, target, size of the answer); ValueError when it is not "[n1, n2, ...] -> t [(k)]"."""
    m = _SIZE.fullmatch(reference)
    numbers, target = countdown_reference(m.group(1) if m else reference)
    return numbers, target, int(m.group(2)) if m else 2


def verify_pairsum(response: str, reference: str) -> Grade:
    numbers, target, size = parse_reference(reference)
    raw = answer_tag(response)
    if raw is None:
        return Grade(0.0, None)
    expr = raw.split("=")[0].strip()
    if _SUM.fullmatch(expr) is None:
        return Grade(0.0, expr)
    terms = [int(t) for t in expr.split("+")]
    ok = len(terms) == size and sum(terms) == target and not Counter(terms) - Counter(numbers)
    return Grade(float(ok), expr)
