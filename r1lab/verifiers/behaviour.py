"""What a response does, beside whether it is right: answer style, reflection, repetition,
the stated answer wherever it stands (lenient grading), and aha moments (see aha.py).

Pure functions over response text, for training metrics, evaluation and reports alike.

**Own part.** A base model often finishes its answer and rambles on into a new document
("...So it is 6939.\\nQuestion: Add 461 and 8671.\\nAnswer: It is 9128."). Everything here except
repetition reads only the response's own part: the text before the first line that opens with
``Q:``, ``Question:``, ``Problem:``, ``User:`` or ``Human:``, or before any ``User:`` (the
corpus's one-line "User: ... Assistant: ..." frame). Repetition reads the whole response, since a
loop is a loop wherever it runs.

**Stated answer** (`stated_answer`), looked for in this order, the last one of the first kind found:
1. the last complete ``\\boxed{...}``;
2. the last ``<answer>`` opening, up to its ``</answer>``, the next ``<answer>`` or the end (so a
   truncated ``<answer> 6939`` still states 6939);
3. a phrase: "the (final) answer is", "answer:", "so it is", "it is", "####";
4. ``= X`` where that "=" is not part of a claim ("= 10079");
5. the last number (for Countdown: the left side of the last claim, "Try (16+8)+5 = 29").
What X is depends on the verifier's answer shape: a number (number, gsm8k: the first number in a
tag or box), an expression (countdown), or free text (math: the rest of the line after "answer
is"; a number or ``$...$`` after the shorter phrases). Code answers have no lenient form.

**Lenient grading** (`lenient_verifier`): the task's own verifier applied to
``<answer>X</answer>`` for the stated answer X, so the equivalence rules are the verifier's and
nothing else. Strict grading stays the verifier on the raw response. Lenient can be below strict
in one case: the strict verifier takes the last ``<answer>`` of the whole response, which may
belong to a rambled-on document; lenient reads the own part only.

**Answer style** (`answer_style`): "working" is at least one checkable claim ``expr = number``
(aha.py), another ``=`` between two non-space characters, or at least 20 words, standing before
the stated answer (before the end when none is stated).
* ``worked_think``: working inside ``<think>...</think>`` (an unclosed ``<think>`` runs to the end);
* ``worked_plain``: working outside any think span;
* ``answer_only``: an answer is stated with no working before it;
* ``other``: neither working nor a stated answer (empty, prose, a cut-off fragment).

**Reflection** (`count_markers`): markers found in the own part (aha.py has the set and the
matching rules), whether any, and markers per 1,000 tokens of the whole response (the caller
gives the token count; without one, whitespace words are counted).

**Repetition** (`repeated_ngram_share`): the share of the response's n-grams (n=4 over whitespace
tokens, or over token ids when given) that already occurred earlier in it: 0 for no repeats,
near 1 for a loop. A response is **looping** when it was truncated (hit the token limit) and its
share is at least `LOOP_THRESHOLD`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Hashable, Iterable, NamedTuple, Sequence

from r1lab.verifiers import Grade, Verifier, get_verifier
from r1lab.verifiers.aha import REFLECTION_MARKERS, Aha, Claim, Marker, find_markers, find_reflections, parse_claims
from r1lab.verifiers.math import last_boxed

STYLES = ("answer_only", "worked_plain", "worked_think", "other")
ANSWER_SHAPES = {"number": "number", "gsm8k": "number", "math": "math", "countdown": "expression",
                 "pairsum": "expression"}
LOOP_THRESHOLD = 0.5  # repeated 4-gram share above which a truncated response counts as looping
WORKING_WORDS = 20  # words before the answer that count as working when no claim or "=" is there

_CONTINUATION = re.compile(r"\n[ \t]*(?:Q|Question|Problem|User|Human)[ \t]*:|(?<!\w)User:")
_NUMBER = re.compile(r"(?:(?<![\w)])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_EXPRESSION = re.compile(r"[(\d-][\d\s+\-*/×÷().]*")
_MATH_SHORT = re.compile(r"\$[^$\n]+\$|-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_PHRASE = re.compile(r"(?i)(?P<long>\bthe\s+(?:final\s+)?answer\s+is|\banswer\s*:)\s*:?[ \t]*"
                     r"|(?P<short>\bso\s+it\s+is|\bit\s+is|####)[ \t]*")
_EQUALS = re.compile(r"=[ \t]*")
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]+")
_EQUATION = re.compile(r"\S[ \t]*=[ \t]*\S")


class Stated(NamedTuple):
    text: str  # the answer, ready to put in <answer> tags for the verifier
    start: int  # span of the statement in the response (tag, phrase or number)
    end: int
    how: str  # "boxed", "tag", "phrase", "equals", "claim" or "last number"


def own_part(response: str) -> str:
    """The response up to any continuation document it rambles into (see the module header)."""
    m = _CONTINUATION.search(response)
    return response if m is None else response[:m.start()]


# ----- stated answer and lenient grading --------------------------------------------------

def stated_answer(response: str, shape: str = "number") -> Stated | None:
    """The final answer the response states, wherever it stands; None when it states none."""
    text = own_part(response)
    claims = parse_claims(text)
    for find in (_boxed, _tag, _phrase, _equals, _last):
        found = find(text, shape, claims)
        if found is not None:
            return found
    return None


def _payload(content: str, shape: str) -> str | None:
    """The answer inside a tag or box, shaped for the verifier."""
    if shape == "number":
        m = _NUMBER.search(content)
        return m.group() if m else None
    content = content.strip().split("\n")[0].strip().rstrip(".").strip()
    return content or None


def _boxed(text: str, shape: str, claims: list[Claim]) -> Stated | None:
    for m in reversed(list(re.finditer(r"\\(?:boxed|fbox)", text))):
        content = last_boxed(text[m.start():])
        if content is not None:
            value = _payload(content, shape)
            end = text.find(content, m.start()) + len(content)
            return None if value is None else Stated(value, m.start(), end, "boxed")
    return None


def _tag(text: str, shape: str, claims: list[Claim]) -> Stated | None:
    start = text.rfind("<answer>")
    if start < 0:
        return None
    body = text[start + len("<answer>"):]
    stop = min((i for i in (body.find("</answer>"), body.find("<answer>")) if i >= 0), default=len(body))
    value = _payload(body[:stop], shape)
    return None if value is None else Stated(value, start, start + len("<answer>") + stop, "tag")


def _phrase(text: str, shape: str, claims: list[Claim]) -> Stated | None:
    found = None
    for m in _PHRASE.finditer(text):
        rest = text[m.end():]
        if shape == "number":
            got = _NUMBER.match(rest)
        elif shape == "expression":
            got = _EXPRESSION.match(rest)
        else:
            got = re.match(r"[^\n]+", rest) if m.group("long") else _MATH_SHORT.match(rest)
        value = got and _payload(got.group(), "text")
        if value:
            found = Stated(value, m.start(), m.end() + got.end(), "phrase")
    return found


def _equals(text: str, shape: str, claims: list[Claim]) -> Stated | None:
    if shape == "expression":
        return None
    found = None
    for m in _EQUALS.finditer(text):
        got = _NUMBER.match(text, m.end())
        if got and not any(c.start <= m.start() < c.end for c in claims):
            found = Stated(got.group(), m.start(), got.end(), "equals")
    return found


def _last(text: str, shape: str, claims: list[Claim]) -> Stated | None:
    if shape == "expression":
        return Stated(text[claims[-1].start:claims[-1].end], claims[-1].start, claims[-1].end, "claim") \
            if claims else None
    numbers = list(_NUMBER.finditer(text))
    return Stated(numbers[-1].group(), numbers[-1].start(), numbers[-1].end(), "last number") if numbers else None


def lenient_verifier(name: str) -> Verifier:
    """A verifier (response, reference) -> Grade that grades the stated answer wherever it
    stands with verifier `name`'s own rules; for answer types without a lenient form (code)
    it is the strict verifier itself."""
    strict = get_verifier(name)
    shape = ANSWER_SHAPES.get(name)
    if shape is None:
        return strict

    def lenient(response: str, reference: str) -> Grade:
        stated = stated_answer(response, shape)
        return Grade(0.0, None) if stated is None else strict(f"<answer>{stated.text}</answer>", reference)
    return lenient


def grade_both(response: str, reference: str, verifier: str) -> tuple[Grade, Grade]:
    """(strict, lenient) grades of one response: the reward's rule and the stated answer's."""
    return get_verifier(verifier)(response, reference), lenient_verifier(verifier)(response, reference)


# ----- answer style -----------------------------------------------------------------------

def answer_style(response: str, verifier: str = "number") -> str:
    """One of STYLES (see the module header)."""
    text = own_part(response)
    stated = stated_answer(text, ANSWER_SHAPES.get(verifier, "math"))
    cut = len(text) if stated is None else stated.start
    think = _THINK.search(text[:cut])
    if think is not None and _has_working(think.group(1)):
        return "worked_think"
    outside = text[:cut] if think is None else text[:think.start()] + " " + text[think.end():cut]
    if _has_working(outside):
        return "worked_plain"
    return "other" if stated is None else "answer_only"


def _has_working(segment: str) -> bool:
    return bool(parse_claims(segment)) or bool(_EQUATION.search(segment)) or \
        len(_WORD.findall(segment)) >= WORKING_WORDS


# ----- reflection and repetition ----------------------------------------------------------

class MarkerCount(NamedTuple):
    markers: tuple[Marker, ...]
    count: int
    per_1k: float  # markers per 1,000 tokens

    @property
    def any(self) -> bool:
        return self.count > 0


def count_markers(response: str, n_tokens: int | None = None,
                  markers: Iterable[str] = REFLECTION_MARKERS) -> MarkerCount:
    """Reflective markers in the response's own part, and their rate per 1,000 tokens of the
    response (`n_tokens` from the caller's tokenizer; whitespace words when None)."""
    found = tuple(find_markers(own_part(response), markers))
    n = len(response.split()) if n_tokens is None else n_tokens
    return MarkerCount(found, len(found), 1000.0 * len(found) / n if n > 0 else 0.0)


def repeated_ngram_share(tokens: str | Sequence[Hashable], n: int = 4) -> float:
    """Share of the n-grams that already occurred earlier in the same sequence (a string is
    split on white space); 0.0 when there are fewer than n tokens."""
    seq = tokens.split() if isinstance(tokens, str) else list(tokens)
    grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def is_looping(tokens: str | Sequence[Hashable], truncated: bool, n: int = 4,
               threshold: float = LOOP_THRESHOLD) -> bool:
    """Truncated while repeating itself: hit the token limit with a repeated n-gram share of at
    least `threshold`."""
    return truncated and repeated_ngram_share(tokens, n) >= threshold


# ----- everything for one response, and a batch summary -----------------------------------

@dataclass(frozen=True)
class Behaviour:
    style: str
    strict: Grade
    lenient: Grade
    n_tokens: int
    truncated: bool
    markers: MarkerCount
    repeat_share: float
    looping: bool
    aha: Aha  # claims, markers and classified reflections of the own part

    @property
    def has_reflection(self) -> bool:
        return self.markers.any


def analyse(response: str, reference: str, verifier: str, token_ids: Sequence[int] | None = None,
            truncated: bool = False, markers: Iterable[str] = REFLECTION_MARKERS,
            strict: Grade | None = None) -> Behaviour:
    """All of the above for one response. Reflections are judged against the lenient grade (the
    stated final answer is right). Token counts and n-grams use `token_ids` when given, else
    whitespace words. `strict`: the verifier's grade when the caller already has it (the reward
    path), so a costly verifier (code, whose lenient grade is the strict one) runs only once."""
    markers = frozenset(markers)
    tokens = response.split() if token_ids is None else list(token_ids)
    if strict is None:
        strict, lenient = grade_both(response, reference, verifier)
    else:
        lenient = lenient_verifier(verifier)(response, reference) if verifier in ANSWER_SHAPES else strict
    return Behaviour(
        style=answer_style(response, verifier), strict=strict, lenient=lenient, n_tokens=len(tokens),
        truncated=truncated, markers=count_markers(response, len(tokens), markers),
        repeat_share=repeated_ngram_share(tokens), looping=is_looping(tokens, truncated),
        aha=find_reflections(own_part(response), lenient.correct, markers))


def summarise(behaviours: Sequence[Behaviour]) -> dict[str, float]:
    """Flat numbers for a batch (a step's rollouts, an evaluation): strict and lenient accuracy,
    style shares and per-style accuracy (strict and lenient; NaN for a style no response has),
    reflection rate, markers per 1k tokens (over all tokens), reflection kinds, aha moments,
    repetition and looping. Keys are flat names, ready for metrics.jsonl."""
    n = len(behaviours)
    if n == 0:
        return {}
    tokens = sum(b.n_tokens for b in behaviours)
    out = {"strict_accuracy": _mean(b.strict.score for b in behaviours),
           "lenient_accuracy": _mean(b.lenient.score for b in behaviours)}
    for style in STYLES:
        members = [b for b in behaviours if b.style == style]
        out[f"style_share_{style}"] = len(members) / n
        out[f"style_accuracy_{style}"] = _mean(b.strict.score for b in members) if members else math.nan
        out[f"style_lenient_accuracy_{style}"] = _mean(b.lenient.score for b in members) if members else math.nan
    out.update({
        "reflection_rate": _mean(b.has_reflection for b in behaviours),
        "markers_per_1k": 1000.0 * sum(b.markers.count for b in behaviours) / tokens if tokens else 0.0,
        "reflections_productive": float(sum(b.aha.productive for b in behaviours)),
        "reflections_superficial": float(sum(b.aha.superficial for b in behaviours)),
        "reflections_neutral": float(sum(b.aha.neutral for b in behaviours)),
        "aha_moments": float(sum(b.aha.aha for b in behaviours)),
        "repeat_share": _mean(b.repeat_share for b in behaviours),
        "looping_rate": _mean(b.looping for b in behaviours),
    })
    return out


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
