"""What a GRPO step's rollouts did, for metrics.jsonl, and the run's capped log of aha moments.

`step_behaviour` reads the step's fresh rollout (the questions drawn for the step, before any
dynamic-sampling refill, as the step's reward and accuracy do) and returns:
* the mean reward by component, `reward_<part>`: accuracy and format (each times its weight),
  `language` (R1's language-consistency reward times `language_weight`; the same function as the
  `language_consistency` metric, with 0 for a wordless chain of thought), `extra` (the
  `--reward-fn`) and `overlong` (DAPO's soft penalty) when the run has them; they
  sum to `reward` over responses whose rewards are all finite;
* everything `eval.behaviour.batch_behaviour` counts (lenient accuracy, answer styles and their
  accuracy, lengths by outcome and style, reflection, aha moments, repetition, language mixing),
  with the strict grades taken from the reward so the verifier is not run again;
* the responses worth reading: those with an aha moment (a productive reflection) or a
  superficial reflection, with their reflections' character spans.

`AhaLog` appends those to aha.jsonl with their step, at most `AHA_ROWS` aha moments and
`SUPERFICIAL_ROWS` superficial ones per run, so a long run cannot fill the disk; the counts of
all of them are in metrics.jsonl (`aha_moments`, `reflections_superficial`). A resumed run trims
the log back to its checkpoint (train/run.py) and counts what is left, so it logs what an
uninterrupted run would have.
"""

from __future__ import annotations

import json
import math

import torch

from r1lab.eval.behaviour import batch_behaviour, reflection_spans
from r1lab.runs import RunDir
from r1lab.train.batch import Batch
from r1lab.verifiers import Grade

AHA_ROWS = 200
SUPERFICIAL_ROWS = 50
CAPS = {"aha": AHA_ROWS, "superficial": SUPERFICIAL_ROWS}


def step_behaviour(batch: Batch, verifier: str) -> tuple[dict[str, float | None], list[dict]]:
    """(metrics for the step's row, responses with an aha moment or a superficial reflection)."""
    ro, G = batch.rollout, batch.rollout.group_size
    lengths = ro.lengths.tolist()
    ids = [row[:n] for row, n in zip(ro.completion_ids.tolist(), lengths, strict=True)]  # right-padded rows
    questions = [p.question for p in batch.problems for _ in range(G)]
    refs = [p.answer for p in batch.problems for _ in range(G)]
    strict = [Grade(0.0 if math.isnan(a) else a, None) for a in batch.accuracy.tolist()]  # NaN: the verifier failed
    metrics = {f"reward_{part}": _nanmean(v) for part, v in batch.reward_parts.items()}
    found, behaviours = batch_behaviour(batch.texts, refs, verifier, lengths, ro.truncated.tolist(),
                                        questions=questions, token_ids=ids, strict=strict)
    metrics.update(found)
    notable = []
    for text, q, ref, b in zip(batch.texts, questions, refs, behaviours, strict=True):
        kind = "aha" if b.aha.aha else "superficial" if b.aha.superficial else None
        if kind is not None:
            notable.append({"kind": kind, "question": q, "reference": ref, "response": text,
                            "correct": b.lenient.correct, "style": b.style, "reflections": reflection_spans(b)})
    return metrics, notable


class AhaLog:
    """aha.jsonl in the run directory, capped per kind (see the module header)."""

    def __init__(self, rundir: RunDir):
        self.rundir = rundir
        self.counts = dict.fromkeys(CAPS, 0)
        path = rundir.path / "aha.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
            try:
                kind = json.loads(line).get("kind")
            except (ValueError, AttributeError):
                continue  # a torn line (resume trims them first)
            if kind in self.counts:
                self.counts[kind] += 1

    def add(self, step: int, rows: list[dict]) -> list[dict]:
        """Append the rows the caps still allow, tagged with `step`; returns them."""
        kept = []
        for row in rows:
            if self.counts[row["kind"]] < CAPS[row["kind"]]:
                self.counts[row["kind"]] += 1
                kept.append({"step": step, "phase": "train", **row})
        if kept:
            self.rundir.append("aha.jsonl", kept)
        return kept


def _nanmean(t: torch.Tensor) -> float | None:
    v = t[~torch.isnan(t)]
    return v.float().mean().item() if v.numel() else None
