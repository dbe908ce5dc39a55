"""One step's rollout with its rewards, and DAPO's dynamic sampling over such batches.

Dynamic sampling (DAPO, arXiv 2503.14476): a group whose rewards are all equal has zero
advantage and teaches nothing, so it is dropped and more questions are rolled out until the
batch holds `prompts_per_step` informative groups. Here that takes at most `max_rounds` extra
rollouts of a full batch each; if the batch is still short, it is topped up with dropped
groups (advantage 0: they add only the KL term) so that every step has the same shape, and the
shortfall is logged. DAPO itself samples until full with no limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from r1lab.algos.advantages import informative_groups
from r1lab.rollout.engine import Rollout
from r1lab.tasks import Problem


@dataclass
class Batch:
    """Rows ordered question-major (i*G + j); advantages are set once the batch is final."""
    rollout: Rollout
    problems: list[Problem]
    texts: list[str]
    rewards: torch.Tensor  # (N,)
    accuracy: torch.Tensor  # (N,)
    format: torch.Tensor  # (N,)
    reward_failures: int
    advantages: torch.Tensor | None = None  # (N,)
    reward_parts: dict[str, torch.Tensor] = field(default_factory=dict)  # (N,) each: the weighted terms of rewards
    notable: list[dict] = field(default_factory=list)  # the step's aha / superficial responses (train/behaviour.py)


def _informative(rewards: torch.Tensor, group_size: int) -> list[int]:
    return informative_groups(rewards, group_size).nonzero().flatten().tolist()


def refill(first: Batch, more: Callable[[], Batch], max_rounds: int, pad_id: int) -> tuple[Batch, dict]:
    """Keep the informative groups of `first`, roll out `more()` until there are as many as `first`
    has groups (at most `max_rounds` times), and merge them into one batch of the same shape."""
    P, G = len(first.problems), first.rollout.group_size
    batches = [first]
    picks = [(0, i) for i in _informative(first.rewards, G)]
    while len(picks) < P and len(batches) <= max_rounds:
        batches.append(more())
        picks += [(len(batches) - 1, i) for i in _informative(batches[-1].rewards, G)]
    short = max(0, P - len(picks))
    chosen = set(picks)
    picks += [(0, i) for i in range(P) if (0, i) not in chosen][:short]
    stats = {"resample_rounds": len(batches) - 1, "groups_short": short,
             "reward_failures": sum(b.reward_failures for b in batches)}
    return merge(batches, picks[:P], pad_id), stats


def merge(batches: list[Batch], picks: list[tuple[int, int]], pad_id: int) -> Batch:
    """One batch made of group `i` of `batches[b]` for each (b, i) in `picks`, in that order."""
    G = batches[0].rollout.group_size
    width = max(b.rollout.completion_ids.shape[1] for b in batches)

    def rows(get: Callable[[Batch], torch.Tensor], pad_value) -> torch.Tensor:
        parts = []
        for b, i in picks:
            t = get(batches[b])[i * G:(i + 1) * G]  # (G, ...) this group's rows
            if t.dim() == 2:
                t = F.pad(t, (0, width - t.shape[1]), value=pad_value)  # (G, width)
            parts.append(t)
        return torch.cat(parts)  # (P*G, ...)

    ro0 = batches[0].rollout
    sampled = all(b.rollout.logprobs is not None for b in batches)  # the sampler's log-probs (vllm)
    rollout = Rollout(
        prompt_ids=[batches[b].rollout.prompt_ids[i] for b, i in picks], group_size=G,
        completion_ids=rows(lambda x: x.rollout.completion_ids, pad_id),
        completion_mask=rows(lambda x: x.rollout.completion_mask, False),
        lengths=rows(lambda x: x.rollout.lengths, 0), truncated=rows(lambda x: x.rollout.truncated, False),
        engine=ro0.engine, logprobs=rows(lambda x: x.rollout.logprobs, 0.0) if sampled else None)
    texts = [batches[b].texts[i * G + j] for b, i in picks for j in range(G)]
    parts = {k: rows(lambda x, k=k: x.reward_parts[k], 0.0) for k in batches[0].reward_parts
             if all(k in b.reward_parts for b in batches)}
    return Batch(rollout, [batches[b].problems[i] for b, i in picks], texts,
                 rows(lambda x: x.rewards, 0.0), rows(lambda x: x.accuracy, 0.0), rows(lambda x: x.format, 0.0),
                 sum(b.reward_failures for b in batches), reward_parts=parts)
