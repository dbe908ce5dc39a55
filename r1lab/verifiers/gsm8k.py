"""GSM8K answers: one number, compared exactly as a fraction.

The reference is the dataset's answer text; the number after its last `#### ` is the answer (a
bare number is accepted too). The response's answer is found by the math verifier's `final_span` (last
`\\boxed{}`, else `<answer>`, else "the answer is" line) with one more place before the last:
a `#### ` line, GSM8K's own format. The first number in that span is the answer; it may carry
thousands commas, `$`, `\\$`, a unit or a trailing period ("$1,200 per month" is 1200), and may be
negative, a decimal or a fraction `a/b`. No number there gives `Grade(0, None)`.
"""

from __future__ import annotations

import re
from fractions import Fraction

from r1lab.verifiers.base import Grade
from r1lab.verifiers.math import final_span

_HASHES = re.compile(r"####\s*([^\n]*)")
_NUMBER = re.compile(r"(?<![\d.])-?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?")


def parse_number(text: str) -> Fraction | None:
    """The first number in `text` as an exact fraction, or None."""
    text = text.replace("{,}", ",").replace("\\!", "").replace("\u2212", "-")
    m = _NUMBER.search(text)
    if not m:
        return None
    raw = m.group().replace(",", "").replace(" ", "")
    try:
        return Fraction(raw)
    except (ValueError, ZeroDivisionError):
        return None


def _hashes(text: str) -> str | None:
    return _last(_HASHES, text)


def _last(pattern: re.Pattern, text: str) -> str | None:
    found = pattern.findall(text)
    return found[-1] if found else None


def reference_number(reference: str) -> Fraction:
    span = _last(_HASHES, reference)
    value = parse_number(reference if span is None else span)
    if value is None:
        raise ValueError(f"GSM8K reference has no number after '#### ': {reference[-80:]!r}")
    return value


def verify_gsm8k(response: str, reference: str) -> Grade:
    target = reference_number(reference)
    span = final_span(response, before_last=(_hashes,))
    value = None if span is None else parse_number(span)
    if value is None:
        return Grade(0.0, None)
    shown = str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return Grade(float(value == target), shown)
