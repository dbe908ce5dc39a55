"""Rule rewards for RL: accuracy (the task's verifier) plus format, with weights.

A reward function that raises for one sample gives that sample `None` ("no opinion": NaN in
the reward tensor, excluded from the group statistics, advantage 0), logs a warning and counts
it; training goes on. The same verifier grades evaluation, so reward and grade cannot disagree.
"""

from __future__ import annotations

import logging
import math

import torch

from r1lab.verifiers import format_reward, get_verifier

log = logging.getLogger("r1lab.rewards")


def rule_rewards(texts: list[str], references: list[str], verifier: str,
                 accuracy_weight: float = 1.0, format_weight: float = 1.0):
    """Returns (reward (N,), accuracy (N,), format (N,), number of failed reward calls)."""
    verify = get_verifier(verifier)
    acc, fmt, failures = [], [], 0
    for text, ref in zip(texts, references):
        a = _safe(lambda: verify(text, ref).score)
        f = _safe(lambda: format_reward(text))
        failures += (a is None) + (f is None)
        acc.append(math.nan if a is None else a)
        fmt.append(math.nan if f is None else f)
    acc_t = torch.tensor(acc, dtype=torch.float32)  # (N,)
    fmt_t = torch.tensor(fmt, dtype=torch.float32)  # (N,)
    return accuracy_weight * acc_t + format_weight * fmt_t, acc_t, fmt_t, failures


def _safe(fn) -> float | None:
    try:
        value = float(fn())
    except Exception as e:  # a broken reward costs one sample, never the run
        log.warning("reward function failed: %s: %s", type(e).__name__, e)
        return None
    return value if math.isfinite(value) else None
