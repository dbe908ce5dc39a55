"""Pair search: the answer must be "a+b" with a and b two of the listed numbers (two different
entries of the list) and a + b equal to the target. The reference is written as Countdown's,
"[7, 3, 12, 4] -> 16"; "12 + 4 = 16" in the tag is accepted, and the sum is recomputed."""

from __future__ import annotations

import re
from collections import Counter

from r1lab.verifiers.base import Grade, answer_tag
from r1lab.verifiers.countdown import parse_reference

_PAIR = re.compile(r"\s*(\d+)\s*\+\s*(\d+)\s*")


def verify_pairsum(response: str, reference: str) -> Grade:
    numbers, target = parse_reference(reference)
    raw = answer_tag(response)
    if raw is None:
        return Grade(0.0, None)
    expr = raw.split("=")[0].strip()
    m = _PAIR.fullmatch(expr)
    if m is None:
        return Grade(0.0, expr)
    a, b = int(m.group(1)), int(m.group(2))
    ok = a + b == target and not Counter([a, b]) - Counter(numbers)
    return Grade(float(ok), expr)
