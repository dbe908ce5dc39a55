"""Rule rewards for RL: accuracy (the task's verifier) plus format, with weights.

A reward function that raises for one sample gives that sample `None` ("no opinion": NaN in
the reward tensor, excluded from the group statistics, advantage 0), logs a warning and counts
it; training goes on. The same verifier grades evaluation, so reward and grade cannot disagree.
Verifiers with a batch form (code: sandboxes in parallel) are run through it; if the batch call
raises, the samples are graded one by one so a bad sample still costs only itself.
`column_reward` applies any reward `fn(text, **columns) -> float | None` (for example the
language-consistency reward with a per-prompt `target` column) with the same protection.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import torch

from r1lab.verifiers import BATCH_VERIFIERS, format_reward, get_verifier

log = logging.getLogger("r1lab.rewards")


def rule_rewards(texts: list[str], references: list[str], verifier: str,
                 accuracy_weight: float = 1.0, format_weight: float = 1.0):
    """Returns (reward (N,), accuracy (N,), format (N,), number of failed reward calls)."""
    verify = get_verifier(verifier)
    batched = _batch_scores(verifier, texts, references)
    acc, fmt, failures = [], [], 0
    for i, (text, ref) in enumerate(zip(texts, references)):
        a = batched[i] if batched is not None else _safe(lambda: verify(text, ref).score)
        f = _safe(lambda: format_reward(text))
        failures += (a is None) + (f is None)
        acc.append(math.nan if a is None else a)
        fmt.append(math.nan if f is None else f)
    acc_t = torch.tensor(acc, dtype=torch.float32)  # (N,)
    fmt_t = torch.tensor(fmt, dtype=torch.float32)  # (N,)
    return accuracy_weight * acc_t + format_weight * fmt_t, acc_t, fmt_t, failures


def _batch_scores(verifier: str, texts: list[str], references: list[str]) -> list[float] | None:
    batch = BATCH_VERIFIERS.get(verifier)
    if batch is None or len(texts) < 2:
        return None
    try:
        return [g.score for g in batch(texts, references)]
    except Exception as e:  # noqa: BLE001 - fall back to one by one, where failures stay per sample
        log.warning("batch grading failed, grading one by one: %s: %s", type(e).__name__, e)
        return None


def _safe(fn) -> float | None:
    try:
        value = float(fn())
    except Exception as e:  # a broken reward costs one sample, never the run
        log.warning("reward function failed: %s: %s", type(e).__name__, e)
        return None
    return value if math.isfinite(value) else None


def column_reward(fn: Callable[..., float | None], texts: Sequence[str],
                  columns: dict[str, Sequence] | None = None) -> tuple[torch.Tensor, int]:
    """(rewards (N,), number of failed calls): fn(text, **row) per sample, where row holds the
    sample's value of each extra dataset column. None, NaN or an exception gives NaN ("no
    opinion"); exceptions and non-finite values are logged and counted, None is not."""
    columns = columns or {}
    for name, values in columns.items():
        if len(values) != len(texts):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(texts)} texts")
    out, failures = [], 0
    for i, text in enumerate(texts):
        row = {name: values[i] for name, values in columns.items()}
        value = _safe_optional(lambda: fn(text, **row))
        failures += value is _FAILED
        out.append(math.nan if value is None or value is _FAILED else value)
    return torch.tensor(out, dtype=torch.float32), failures


_FAILED = object()


def _safe_optional(fn):
    try:
        value = fn()
        if value is None:
            return None
        value = float(value)
    except Exception as e:  # noqa: BLE001 - a broken reward costs one sample, never the run
        log.warning("reward function failed: %s: %s", type(e).__name__, e)
        return _FAILED
    if not math.isfinite(value):
        log.warning("reward function returned %r", value)
        return _FAILED
    return value
