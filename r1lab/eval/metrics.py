"""The paper's metrics from graded samples (r1-facts.md section 5).

Per problem with its n = K samples: c correct, the cluster of each extracted answer (by the
verifier's equivalence, `r1lab.algos.cluster_answers`), token counts, finish reasons, format.
Over problems:

* `pass@1`: the mean over problems of c / n (pass@1 over n samples, never greedy), and
  `pass@1_stderr`: the standard error of that mean over problems, sample std (ddof 1) / sqrt(P)
  (0 for one problem). It measures the spread between problems, not the sampling noise within one;
* `pass@k` for k = 1, 2, 4, ... and K itself: the unbiased estimator, `pass_at_k_batch`;
* `cons@K`: the majority vote over the K extracted answers, `cons_at_k_batch` (its header gives
  the tie rule: the expected value over tied clusters; unparseable answers never vote);
* `mean_tokens` (samples whose length is known), `truncation_rate` (finish_reason "length"),
  `format_rate`, `unparseable_rate` (no extracted answer; such a sample counts as wrong).

Only problems with all K samples count; `n_problems` says how many that is.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

from r1lab.algos.passk import cluster_answers, cons_at_k_batch, pass_at_k_batch


class ProblemStats(NamedTuple):
    correct: list[bool]  # per sample, in sample order
    clusters: list[int]  # cluster id per sample, -1 unparseable
    tokens: list[int | None]
    truncated: int
    formatted: int
    unparseable: int


def problem_stats(rows: list[dict], same: Callable[[str, str], bool]) -> ProblemStats:
    """Stats of one problem from its rows, sorted by sample index."""
    rows = sorted(rows, key=lambda r: r["sample"])
    answers = [r["extracted"] for r in rows]
    return ProblemStats([r["correct"] is True for r in rows], cluster_answers(answers, same),
                        [r["tokens"] for r in rows], sum(r["finish_reason"] == "length" for r in rows),
                        sum(bool(r["format"]) for r in rows), sum(a is None for a in answers))


def ks_for(n: int) -> list[int]:
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def summarize(stats: list[ProblemStats], k: int) -> dict:
    """The metrics of results.json over complete problems (each with exactly k samples)."""
    p = len(stats)
    out: dict = {"n_problems": p, "samples_per_problem": k}
    if p == 0:
        return out
    correct = torch.tensor([s.correct for s in stats], dtype=torch.bool)  # (P, K)
    c = correct.sum(-1)  # (P,)
    per_problem = c.double() / k  # (P,)
    out["pass@1"] = per_problem.mean().item()
    out["pass@1_stderr"] = per_problem.std().item() / math.sqrt(p) if p > 1 else 0.0
    for kk in ks_for(k)[1:]:
        out.update(pass_at_k_batch(k, c, kk)[1])
    clusters = torch.tensor([s.clusters for s in stats], dtype=torch.int64)  # (P, K)
    out.update(cons_at_k_batch(clusters, correct)[1])
    n = p * k
    known = [t for s in stats for t in s.tokens if t is not None]
    out["mean_tokens"] = sum(known) / len(known) if known else None
    out["truncation_rate"] = sum(s.truncated for s in stats) / n
    out["format_rate"] = sum(s.formatted for s in stats) / n
    out["unparseable_rate"] = sum(s.unparseable for s in stats) / n
    return out
