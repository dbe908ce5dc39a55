"""Math answers: the final answer is read from the response and judged equal with math-verify.

Extraction, in order: the last complete `\\boxed{...}` or `\\fbox{...}` (nested braces, also
`\\boxed 5`), else the last `<answer>...</answer>`, else the last "the (final) answer is ..." line.
No answer found gives `Grade(0, None)` (unparseable, counted apart from wrong answers). A
reference holding a whole solution is reduced to its last boxed answer the same way.

Equivalence, in order:
1. the two answers are equal after a light normalisation (spaces, `\\left`/`\\right`, `\\dfrac`,
   `\\text{}`, `^\\circ`, `\\%`, `$`, a trailing period; integers lose their leading zeros, so
   AIME's "025" equals 25): this is also the fast path;
2. a multiple-choice letter reference ("C", "(C)", "\\text{(C)}") equals the same letter;
3. math-verify (`pip install math-verify`): LaTeX or plain, fractions, radicals, pi, intervals,
   tuples, sets, percentages, degrees, symbolic equality.

math-verify bounds each parse/compare with SIGALRM, which only works in the main thread, so
the timeouts are passed only there; elsewhere (threads of a pool) they are off. Because an
unbounded sympy call can then hang, answers sympy cannot handle quickly (over 300 characters,
exponent towers, exponents or factorials of 4+ digits) skip step 3 in every thread alike, so
the grade never depends on the thread. math-verify is imported on first use (about 1 s).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Callable

from r1lab.verifiers.base import Grade, answer_tag

TIMEOUT_S = 5  # math-verify's per-call limits, main thread only
_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
ANSWER_IS = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\s*:?\s*([^\n]+)")
_LETTER = re.compile(r"\(?([A-E])\)?")
_HARD = re.compile(r"\^\s*\{[^{}]*\^|\^\s*\{?\s*\d{4,}|\d{4,}\s*!|\\(?:begin|matrix)")
_mv = None
_mv_lock = threading.Lock()


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{...}/\\fbox{...} in `text`, stripped; None if none."""
    for m in reversed(list(_BOX.finditer(text))):
        rest = text[m.end():]
        body = rest.lstrip()
        if body.startswith("{"):
            depth = 0
            for i, ch in enumerate(body):
                depth += (ch == "{") - (ch == "}")
                if depth == 0:
                    return body[1:i].strip()
            continue  # truncated: an earlier complete box may still be the answer
        if rest[:1].isspace() and body:  # "\boxed 5"
            return re.split(r"[\s$]", body, maxsplit=1)[0].strip() or None
    return None


def final_span(response: str, before_last: tuple[Callable[[str], str | None], ...] = ()) -> str | None:
    """Where the response states its final answer: the last complete `\\boxed{}`, else the last
    <answer>, else each finder of `before_last` in turn, else the last "the answer is" line."""
    for find in (last_boxed, answer_tag, *before_last, _answer_is):
        found = find(response)
        if found is not None:
            return found
    return None


def _answer_is(text: str) -> str | None:
    said = ANSWER_IS.findall(text)
    return said[-1].strip() if said else None


def extract_answer(response: str) -> str | None:
    """The response's final answer as text, or None when it gives none."""
    found = final_span(response)
    return (_unwrap(found) or None) if found is not None else None


def _unwrap(s: str) -> str:
    s = s.strip().rstrip(".").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left):len(s) - len(right)].strip()
    return s.rstrip(".").strip()


def normalize(s: str) -> str:
    """A light canonical form used for the fast string comparison."""
    s = re.sub(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\$|\s+", "", s)
    s = re.sub(r"\^\{?\\circ\}?|°|\\%|%", "", s).rstrip(".")
    if re.fullmatch(r"[+-]?\d+", s):
        s = str(int(s))
    return s


def equivalent(reference: str, answer: str) -> bool:
    """Whether two final answers are mathematically the same (see the module header)."""
    ref, ans = normalize(reference), normalize(answer)
    if not ref or not ans:
        return False
    if ref == ans:
        return True
    letter = _LETTER.fullmatch(ref)
    if letter:
        got = _LETTER.fullmatch(ans)
        return bool(got) and got.group(1) == letter.group(1)
    if len(reference) > 300 or len(answer) > 300 or _HARD.search(reference) or _HARD.search(answer):
        return False
    return _math_verify(reference, answer)


def _math_verify(reference: str, answer: str) -> bool:
    mv = _load()
    main = threading.current_thread() is threading.main_thread()
    limit = TIMEOUT_S if main else None
    cfg = [mv.LatexExtractionConfig(), mv.ExprExtractionConfig()]

    def parse(s: str):
        return mv.parse(f"${s}$", extraction_config=cfg, parsing_timeout=limit) or \
            mv.parse(s, extraction_config=cfg, parsing_timeout=limit)
    gold, pred = parse(reference), parse(answer)
    if not gold or not pred:
        return False
    return bool(mv.verify(gold, pred, timeout_seconds=limit))


def _load():
    global _mv
    with _mv_lock:
        if _mv is None:
            import math_verify
            quiet = _DropTimeoutDisabled()
            for name in ("math_verify.grader", "math_verify.parser"):
                logging.getLogger(name).addFilter(quiet)
            _mv = math_verify
    return _mv


class _DropTimeoutDisabled(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # we disable it on purpose in threads
        return "Timeout is disabled" not in record.getMessage()


def reference_answer(reference: str) -> str:
    """The reference's answer: its last boxed content when it is a worked solution."""
    boxed = last_boxed(reference)
    return _unwrap(boxed if boxed is not None else reference)


def verify_math(response: str, reference: str) -> Grade:
    answer = extract_answer(response)
    if answer is None:
        return Grade(0.0, None)
    return Grade(float(equivalent(reference_answer(reference), answer)), answer)
