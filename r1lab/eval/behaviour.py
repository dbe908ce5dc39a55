"""A batch of responses as flat behaviour numbers: a training step's rollouts and an evaluation
alike, so that a curve over steps and a before/after number mean the same thing.

`batch_behaviour` runs `verifiers.behaviour.analyse` on each response and adds, to what
`summarise` counts (lenient accuracy, answer styles and their accuracy, reflection, aha moments,
repetition, looping), the response lengths and language mixing:

* lengths are completion tokens (the caller's counts): the mean, the 50th and 90th percentiles
  (nearest rank: the smallest length with at least that share of responses at or below it),
  and the mean over correct, wrong and truncated responses and over each answer style
  (`length_<style>`); correct and wrong follow the strict grade, the reward's rule;
* language: the chain of thought (the ``<think>`` part, else the whole response; the reasoning
  tags themselves removed) is compared with the language of its question (`detect_language`) by
  `verifiers.language.cot_consistency`, the function `train --language-weight` rewards, over the
  responses with at least one counted word (an empty chain of thought is not mixing);
  `language_consistency` is the mean share of words in the question's script(s),
  `language_mixing_rate` the share of responses with any word outside it;
* `strict_accuracy` is left out: the caller's own accuracy already is the strict grade;
* a number with nothing to count (a style no response has, no truncated response) is None, not
  NaN, so that metrics.jsonl and summary.json stay valid JSON.

`reflection_spans` turns a response's classified reflections into plain data (character spans of
each marker, the claim it follows and the correction) for aha.jsonl, samples.jsonl and the
report's highlighting.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from r1lab.verifiers import Grade
from r1lab.verifiers.aha import REFLECTION_MARKERS, Claim
from r1lab.verifiers.behaviour import STYLES, Behaviour, analyse, summarise
from r1lab.verifiers.language import cot_consistency, detect_language


def batch_behaviour(texts: Sequence[str], references: Sequence[str], verifier: str, lengths: Sequence[int],
                    truncated: Sequence[bool], *, questions: Sequence[str] | None = None,
                    token_ids: Sequence[Sequence[int]] | None = None, strict: Sequence[Grade] | None = None,
                    markers: Iterable[str] = REFLECTION_MARKERS) -> tuple[dict[str, float | None], list[Behaviour]]:
    """(flat metrics, one Behaviour per response). `strict`: grades the caller already has (the
    reward's), so a costly verifier (code) is not run again; `token_ids`: for repetition."""
    markers = frozenset(markers)
    behaviours = [analyse(text, ref, verifier, None if token_ids is None else token_ids[i], bool(truncated[i]),
                          markers, strict=None if strict is None else strict[i])
                  for i, (text, ref) in enumerate(zip(texts, references, strict=True))]
    if not behaviours:
        return {}, []
    out = {k: _finite(v) for k, v in summarise(behaviours).items() if k != "strict_accuracy"}
    out.update(length_metrics(behaviours, lengths))
    if questions is not None:
        out.update(language_metrics(texts, questions))
    return out, behaviours


def length_metrics(behaviours: Sequence[Behaviour], lengths: Sequence[int]) -> dict[str, float | None]:
    lengths = [int(n) for n in lengths]
    rows = list(zip(behaviours, lengths, strict=True))
    out = {"length_p50": _percentile(lengths, 0.5), "length_p90": _percentile(lengths, 0.9),
           "length_correct": _mean(n for b, n in rows if b.strict.score == 1),
           "length_wrong": _mean(n for b, n in rows if b.strict.score != 1),
           "length_truncated": _mean(n for b, n in rows if b.truncated)}
    for style in STYLES:
        out[f"length_{style}"] = _mean(n for b, n in rows if b.style == style)
    return out


def language_metrics(texts: Sequence[str], questions: Sequence[str]) -> dict[str, float | None]:
    targets: dict[str, str] = {}
    shares = []
    for text, question in zip(texts, questions, strict=True):
        if question not in targets:
            targets[question] = detect_language(question)
        share = cot_consistency(text, targets[question])  # the same function as the RL reward's
        if share is not None:
            shares.append(share)
    return {"language_consistency": _mean(shares), "language_mixing_rate": _mean(s < 1.0 for s in shares)}


def reflection_spans(b: Behaviour) -> list[dict]:
    """Each reflection of a response: kind, reason, and character spans ([start, end] in the
    response) of its markers, of the claim before it and of the correction after it."""
    return [{"kind": r.kind, "reason": r.reason, "markers": [[m.start, m.end] for m in r.markers],
             "claim": _claim(r.claim), "correction": _claim(r.correction)} for r in b.aha.reflections]


def _claim(c: Claim | None) -> dict | None:
    return None if c is None else {"span": [c.start, c.end], "stated": str(c.stated), "true": str(c.true)}


def _percentile(values: Sequence[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _finite(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v
