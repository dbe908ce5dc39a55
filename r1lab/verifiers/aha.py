"""Checkable claims, reflective markers, and whether a reflection fixed anything (aha moments).

Pure functions over response text; nothing here knows about tokenizers, models or runs.

**Claims.** A claim is ``EXPR = NUMBER`` anywhere in the text, read left to right with its
character span:
* EXPR is two or more operands joined by ``+ - * / × ÷``; an operand is an integer or a decimal
  (``12``, ``0.5``), optionally negative, optionally wrapped in parentheses: ``47+19``,
  ``8+5+1``, ``7 * 3``, ``(16 + 8) + 5``, ``66-19``. Spaces and tabs (not newlines) may stand
  between the parts. A lone number ("= 66") is not a claim: a claim must have an operator.
* NUMBER is one integer or decimal, optionally negative. A right side followed by another
  operator is not a claim, so a chain "47+19 = 60+6 = 66" gives its last link ``60+6 = 66``
  only. A claim never starts right after a letter, digit, ")" or an operator, so algebra
  ("2x+3=7", "a-3+5=2") is skipped; so are numbers with thousands separators ("1,234").
* What surrounds a claim does not matter: the corpus's "4+7=11, so far 1, carry 1",
  "(11, carry 1; 5+5 left)", "Try 16*8=128, not 29", a reverse check "check: 66-19=47", or
  "so 7 * 3 = 21." all give one claim each.
* Each claim is checked with exact arithmetic over fractions by the Countdown verifier's
  evaluator (an AST walk accepting only numbers, + - * /, unary minus and parentheses, at most
  200 characters; nothing is eval'ed). Unbalanced or undefined expressions (x/0) are skipped.

**Reflective markers.** `REFLECTION_MARKERS` is the union of the R1 Nature paper's ten terms,
oat-zero's list, Dr. GRPO's additions, SimpleRL-Zoo's "alternatively", and the built-in corpus's
own correction phrases ("wait, that is wrong", "wait, check"); see r1-facts.md section 8. Matching
is case-insensitive on whole words (so "checks" or "waiting" do not count: add inflections to the
set if you want them); in a multi-word marker any run of spaces and commas matches any other, and
a hyphen may be a space ("double check"). Overlaps go to the longest marker, so "double-check",
"re-evaluate" and "wait, that is wrong" count once each, not as "check", "evaluate", "wait" +
"wrong". The R1 paper counts over the whole response; so do we (callers pass the response's own
part, without any continuation document a base model rambles into; see behaviour.own_part).

**Reflections and their kinds.** Markers with no claim between them and at most 40 characters
apart form one reflection ("Wait, let me check again" is one). A reflection spans from its first
marker's start p to its last marker's end e. Let C be the latest claim ending before p:
* **productive**: C is false, a later claim corrects it, and the response's final answer is
  right. A later claim (starting after e) corrects C when it is true and either is the first
  later claim over the same operands (the same expression, or commuted: "4+7" / "7+4") with C's
  true value, or is the very next claim and states C's true value (the quantity recomputed
  another way, e.g. "12-1=11").
* **superficial**: it "corrects" a true claim (C is true and the first later claim over C's
  operands states a different, false value), or it confirms a false claim: no correction follows
  and either the next claim repeats C's false value over the same operands, or a confirming word
  (yes, ok, okay, correct, right, true, works) follows the reflection before the next claim
  (within 60 characters when none follows) while C is false; or it confirms a wrong result: a
  confirming word follows it, the final answer is wrong, and either no claim follows (a final
  check: "Wait, check: 130 + 221 ends in 4. Yes, 354.") or an earlier false claim stands
  uncorrected.
* **neutral**: everything else: no claim before it, a check that confirms a true claim, a false
  claim corrected while the final answer is still wrong (`reason` says which), a false claim
  neither fixed nor confirmed.
**Verdicts** (the emergence corpus's design E, docs/emergence.md): a check may end in a local
verdict between the latest claim and the reflection, "same" ("совпало") or "not X" ("не X"). After
"not X" the doubted claim is the earlier claim over the same operands that stated X ("4+8+1=14,
1+8+4=13, not 14, wait, 4+8+1=13" doubts 4+8+1=14, so the redo is productive), not the check just
before it. After "same" over a true claim the reflection is **superficial** (a ritual "wait" after a
check that agreed: "4+2=6, 2+4=6, same, wait, 4+2=6"); over a false claim (a check that repeated
the slip) the rules above apply. The check the verdict compares may itself be the correction: in
the pair search (design F) a guess is doubted, added and rejected before the reflection, "7+3=16?
7+3=10, not 16, try again", and the reflection is productive when the final answer is right (the
search went on and found the pair); the pair search may write the gap first ("7+3=10, off by 6, not
16"). A "not X" that doubts a *true* claim and never returns to its operands ("12+4=16? 12+4=16,
not 16, try again": a right guess thrown away) is **superficial**.
An **aha moment** is a response with at least one productive reflection. Marker counts (for
rates) count every marker; reflection kinds count reflections.

Departures: the R1 paper counts words only; oat-zero judges "superficial" by whether the final
answer is right. Here a reflection's kind comes from checkable arithmetic around it, which only
works where the text states ``expr = number`` claims (the built-in tasks and much math text).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, NamedTuple

from r1lab.verifiers.countdown import evaluate

R1_MARKERS = ("wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check")
OAT_ZERO_MARKERS = ("recheck", "rethink", "reevaluate", "re-evaluate", "reevaluation", "re-examine", "reexamine",
                    "try again", "check again", "think again", "go over the steps")
DR_GRPO_MARKERS = ("reassess", "reconsider", "reanalyze", "double-check", "verify again")
CORPUS_MARKERS = ("wait, that is wrong", "wait, check")
REFLECTION_MARKERS: frozenset[str] = frozenset(R1_MARKERS + OAT_ZERO_MARKERS + DR_GRPO_MARKERS + CORPUS_MARKERS
                                               + ("alternatively",))

_NUM = r"\d+(?:\.\d+)?"
_OPERAND = rf"\(*[ \t]*-?{_NUM}[ \t]*\)*"
_OP = r"[-+*/×÷]"
_EXPR = rf"{_OPERAND}(?:[ \t]*{_OP}[ \t]*{_OPERAND})+"
_CLAIM = re.compile(rf"(?<![\w.)+*/×÷-])(?<![+*/×÷-][ \t])(?=[(\d-])(?P<lhs>{_EXPR})[ \t]*=[ \t]*(?P<rhs>-?{_NUM})"
                    rf"(?![\w.]*\d|,\d{{3}}\b|[ \t]*{_OP}[ \t]*[\d(])")
_LITERAL = re.compile(_NUM)
_VERDICT = re.compile(rf"(?i)[\s,]*(?:off[ \t]+by[ \t]+{_NUM}[\s,]*)?"  # the pair search's gap, "off by 6, "
                      rf"(?:(?P<same>same|совпало)|(?:not|не)[ \t]+(?P<named>-?{_NUM}))[\s,.;]*")
_CONFIRM = re.compile(r"(?i)(?<!\w)(?:yes|ok|okay|correct|right|true|works)(?!\w)")
GROUP_GAP = 40  # characters between markers of one reflection
CONFIRM_WINDOW = 60  # characters after a reflection searched for a confirming word when no claim follows


class Claim(NamedTuple):
    start: int  # character span of "EXPR = NUMBER" in the text
    end: int
    expr: str  # the left side, spaces removed
    stated: Fraction
    true: Fraction

    @property
    def correct(self) -> bool:
        return self.stated == self.true

    @property
    def operands(self) -> tuple[Fraction, ...]:
        return tuple(sorted(Fraction(x) for x in _LITERAL.findall(self.expr)))


class Marker(NamedTuple):
    start: int
    end: int
    text: str  # as written
    term: str  # the entry of the marker set it matched


class Reflection(NamedTuple):
    kind: str  # "productive", "superficial" or "neutral"
    markers: tuple[Marker, ...]
    claim: Claim | None  # the latest claim before the reflection
    correction: Claim | None  # the later claim that fixed (or "fixed") it
    reason: str  # one short phrase saying why this kind

    @property
    def start(self) -> int:
        return self.markers[0].start

    @property
    def end(self) -> int:
        return self.markers[-1].end


class Aha(NamedTuple):
    claims: tuple[Claim, ...]
    markers: tuple[Marker, ...]
    reflections: tuple[Reflection, ...]

    def count(self, kind: str) -> int:
        return sum(r.kind == kind for r in self.reflections)

    @property
    def productive(self) -> int:
        return self.count("productive")

    @property
    def superficial(self) -> int:
        return self.count("superficial")

    @property
    def neutral(self) -> int:
        return self.count("neutral")

    @property
    def aha(self) -> bool:
        return self.productive > 0


# ----- claims -----------------------------------------------------------------------------

def parse_claims(text: str) -> list[Claim]:
    """Every checkable `EXPR = NUMBER` claim in `text`, in order (see the module header)."""
    claims = []
    for m in _CLAIM.finditer(text):
        lhs, start = _balance(m.group("lhs"), m.start("lhs"))
        true = _value(lhs)
        if true is not None:
            claims.append(Claim(start, m.end(), re.sub(r"\s+", "", lhs), Fraction(m.group("rhs")), true))
    return claims


def _balance(lhs: str, start: int) -> tuple[str, int]:
    """Drop opening parentheses the expression never closes ("so (3+4=7)" reads 3+4)."""
    while lhs.startswith("(") and lhs.count("(") > lhs.count(")"):
        lhs, start = lhs[1:].lstrip(), start + len(lhs) - len(lhs[1:].lstrip())
    return lhs, start


@lru_cache(maxsize=65536)  # the same sub-expressions recur across a batch's responses
def _value(expr: str) -> Fraction | None:
    found = evaluate(_LITERAL.sub(_exact, expr))
    return None if found is None else found[0]


def _exact(m: re.Match) -> str:
    """A literal Python's parser accepts: "0.5" -> "(1/2)", "07" -> "7", "12" as it is."""
    value = Fraction(m.group())
    if value.denominator > 1:
        return f"({value.numerator}/{value.denominator})"
    return str(value.numerator)


# ----- markers ----------------------------------------------------------------------------

def _norm(term: str) -> str:
    return re.sub(r"[\s,\-]+", " ", term.lower()).strip()


def _marker_pattern(markers: Iterable[str]) -> re.Pattern:
    terms = sorted({_norm(t) for t in markers}, key=len, reverse=True)  # longest first wins overlaps
    alts = [r"[\s,\-]+".join(re.escape(w) for w in t.split(" ")) for t in terms if t]
    return re.compile(rf"(?i)(?<!\w)(?:{'|'.join(alts)})(?!\w)")


_PATTERNS: dict[frozenset[str], tuple[re.Pattern, dict[str, str]]] = {}  # marker set -> (regex, normalised -> term)


def find_markers(text: str, markers: Iterable[str] = REFLECTION_MARKERS) -> list[Marker]:
    """Every reflective marker in `text`, in order, non-overlapping (longest marker first)."""
    key = frozenset(markers)
    if not key:
        return []
    if key not in _PATTERNS:
        _PATTERNS[key] = _marker_pattern(key), {_norm(t): t for t in key}
    pattern, terms = _PATTERNS[key]
    return [Marker(m.start(), m.end(), m.group(), terms[_norm(m.group())]) for m in pattern.finditer(text)]


# ----- reflections ------------------------------------------------------------------------

def find_reflections(text: str, final_correct: bool | None,
                     markers: Iterable[str] = REFLECTION_MARKERS) -> Aha:
    """Claims, markers and each reflection's kind in `text`. `final_correct` is whether the
    response's final answer is right (None: no answer, counted as not right)."""
    claims = parse_claims(text)
    found = find_markers(text, markers)
    groups = _group(found, claims)
    return Aha(tuple(claims), tuple(found),
               tuple(_classify(g, claims, text, bool(final_correct)) for g in groups))


def _group(markers: list[Marker], claims: list[Claim]) -> list[tuple[Marker, ...]]:
    groups: list[list[Marker]] = []
    for m in markers:
        last = groups[-1][-1] if groups else None
        if last and m.start - last.end <= GROUP_GAP and not any(last.end <= c.start < m.start for c in claims):
            groups[-1].append(m)
        else:
            groups.append([m])
    return [tuple(g) for g in groups]


def _classify(group: tuple[Marker, ...], claims: list[Claim], text: str, final_correct: bool) -> Reflection:
    p, e = group[0].start, group[-1].end
    before = [c for c in claims if c.end <= p]
    after = [c for c in claims if c.start >= e]
    if not before:
        return Reflection("neutral", group, None, None, "no claim before it")
    claim = check = before[-1]
    verdict = _VERDICT.fullmatch(text, claim.end, p)
    if verdict and verdict["named"] is not None:
        named = Fraction(verdict["named"])
        claim = next((c for c in reversed(before[:-1]) if c.operands == claim.operands and c.stated == named), claim)
        if claim is not check and claim.correct and not any(c.operands == claim.operands for c in after):
            return Reflection("superficial", group, claim, check, "rejects a true claim and never returns to it")
    if not claim.correct:
        fix = _correction(claim, after)
        if fix is None and claim is not check and check.correct and check.stated == claim.true:
            fix = check  # the check the verdict compares states the true value: "7+3=16? 7+3=10, not 16, wait"
        if fix is not None and final_correct:
            return Reflection("productive", group, claim, fix, "false claim corrected, final answer right")
        if fix is not None:
            return Reflection("neutral", group, claim, fix, "false claim corrected, final answer wrong")
        if _confirms(claim, after, text, e):
            return Reflection("superficial", group, claim, None, "confirms a false claim")
    elif verdict and verdict["same"]:
        return Reflection("superficial", group, claim, None, "reflects after a check that agreed")
    else:
        redo = next((c for c in after if c.operands == claim.operands), None)
        if redo is not None and not redo.correct and redo.stated != claim.stated:
            return Reflection("superficial", group, claim, redo, "changes a true claim to a false value")
    stale = [c for c in before if not c.correct and _correction(c, [x for x in claims if x.start >= c.end]) is None]
    if not final_correct and (stale or not after) and _confirm_word(after, text, e):
        return Reflection("superficial", group, stale[-1] if stale else claim, None, "confirms a wrong result")
    return Reflection("neutral", group, claim, None,
                      "latest claim is true" if claim.correct else "false claim neither corrected nor confirmed")


def _correction(claim: Claim, after: list[Claim]) -> Claim | None:
    same = next((c for c in after if c.operands == claim.operands), None)
    if same is not None and same.correct and same.stated == claim.true:
        return same
    if after and after[0].correct and after[0].stated == claim.true:
        return after[0]
    return None


def _confirms(claim: Claim, after: list[Claim], text: str, end: int) -> bool:
    nxt = after[0] if after else None
    if nxt is not None and nxt.operands == claim.operands and nxt.stated == claim.stated:
        return True
    return _confirm_word(after, text, end)


def _confirm_word(after: list[Claim], text: str, end: int) -> bool:
    stop = after[0].start if after else min(len(text), end + CONFIRM_WINDOW)
    return _CONFIRM.search(text, end, stop) is not None
