"""Unbiased pass@k from n samples with c correct (Chen et al. 2021, Codex; used by DeepSeek-R1),
and cons@k, the majority vote over extracted answers.

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

The product form never builds the huge binomials, so it is stable for n in the thousands.
If n - c < k every k-subset holds a correct sample and pass@k = 1. pass@1 = c / n.

``pass_at_k_batch(n, c, k)``: many problems at once, tensors ``(P,)`` in, ``((P,), metrics)`` out,
metrics {"pass@k": mean over problems}. Computed in float64. The evaluation reports it
(`r1lab.eval.protocol`); the tests check it against exact binomials and a brute force count.

cons@k (the paper's cons@64): the k samples vote with their extracted answers, and the problem
counts as solved when the winning answer is correct. Answers are clustered by the verifier's own
equivalence (`cluster_answers`: `1/2`, `0.5` and `\\frac{1}{2}` are one cluster), never by
raw string as lighteval's maj@n does. Choices:

- an unparseable sample (no extracted answer, cluster id -1) never votes: it cannot form or
  join a cluster, so it can never win. A problem with no parseable sample scores 0;
- a cluster's correctness is the share of its members graded correct (all or none of them
  whenever the equivalence agrees with the grader, the usual case);
- ties: when several clusters share the largest vote, the score is the expected value of
  picking one of them uniformly at random, the mean of their correctness. Two tied clusters,
  one right and one wrong, score 0.5.

- ``cluster_answers(answers, same)``: cluster ids (first-come representatives), -1 for None.
- ``cons_at_k_batch(cluster_ids, correct)``: tensors ``(P, n)`` in, ``((P,), metrics)`` out,
  metrics {"cons@n": mean over problems}.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def pass_at_k_batch(n: Tensor | int, c: Tensor, k: int) -> tuple[Tensor, dict[str, float]]:
    """Vectorised unbiased pass@k.

    Args: n ``(P,)`` samples per problem (or one int for all), c ``(P,)`` correct counts, k >= 1.
    Returns: pass@k per problem ``(P,)`` float64, metrics {"pass@k": mean, 0 if P == 0}.
    """
    c = torch.as_tensor(c, dtype=torch.int64)  # (P,)
    n = torch.as_tensor(n, dtype=torch.int64).expand_as(c)  # (P,)
    if c.numel() == 0:
        return torch.zeros(0, dtype=torch.float64), {f"pass@{k}": 0.0}
    if bool(((c < 0) | (c > n) | (n < k)).any()) or k < 1:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n; got k={k}")
    i = torch.arange(1, int(n.max()) + 1, dtype=torch.float64)  # (I,)
    in_prod = (i > (n - c).unsqueeze(-1)) & (i <= n.unsqueeze(-1))  # (P, I)
    factor = torch.where(in_prod, 1.0 - k / i, torch.ones_like(i))  # (P, I)
    miss = factor.prod(-1)  # (P,)
    out = torch.where(n - c < k, torch.ones_like(miss), 1.0 - miss)  # (P,)
    return out, {f"pass@{k}": out.mean().item()}


def cluster_answers(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> list[int]:
    """Cluster id of each answer (0, 1, ... in order of first appearance), -1 for None.

    An answer joins the first cluster whose representative (its first member) it is `same` as;
    comparing with representatives only keeps the result independent of a non-transitive
    equivalence's chains. At most n * (number of clusters) calls of `same`."""
    reps: list[str] = []
    ids = []
    for a in answers:
        if a is None:
            ids.append(-1)
            continue
        found = next((j for j, r in enumerate(reps) if a == r or same(r, a)), None)
        if found is None:
            reps.append(a)
            found = len(reps) - 1
        ids.append(found)
    return ids


def cons_at_k_batch(cluster_ids: Tensor, correct: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Majority vote over answer clusters, ties counted at their expected value.

    Args: cluster_ids ``(P, n)`` long in [-1, n) (-1: unparseable, never votes),
    correct ``(P, n)`` bool. Returns: cons@n per problem ``(P,)`` float64, metrics {"cons@n": mean}.
    """
    ids = torch.as_tensor(cluster_ids, dtype=torch.int64)  # (P, n)
    ok = torch.as_tensor(correct, dtype=torch.bool)  # (P, n)
    p, n = ids.shape
    if ids.numel() and (int(ids.min()) < -1 or int(ids.max()) >= n):
        raise ValueError(f"cluster ids must be in [-1, {n}), got {ids.min().item()}..{ids.max().item()}")
    votes = (ids >= 0).to(torch.float64)  # (P, n)
    slot = ids.clamp(min=0)  # (P, n)
    counts = torch.zeros(p, n, dtype=torch.float64).scatter_add_(1, slot, votes)  # (P, C=n) votes per cluster
    hits = torch.zeros(p, n, dtype=torch.float64).scatter_add_(1, slot, votes * ok)  # (P, C) correct votes
    top = counts.max(-1, keepdim=True).values if n else torch.zeros(p, 1, dtype=torch.float64)  # (P, 1)
    tied = (counts == top) & (top > 0)  # (P, C)
    share = torch.where(tied, hits / counts.clamp(min=1), torch.zeros_like(hits))  # (P, C)
    out = share.sum(-1) / tied.sum(-1).clamp(min=1)  # (P,)
    return out, {f"cons@{n}": out.mean().item() if p else 0.0}
