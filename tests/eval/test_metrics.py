"""results.json's metrics from per-problem stats: hand-worked, and pass@k against enumeration."""

import itertools
import math
import random

import pytest

from r1lab.eval.metrics import ProblemStats, ks_for, summarize


def stats(correct, clusters, tokens=None, truncated=0, formatted=0, unparseable=0):
    return ProblemStats(correct, clusters, tokens or [10] * len(correct), truncated, formatted, unparseable)


def test_hand_worked_summary():
    s = [stats([True, False, False, False], [0, 1, 1, -1], [4, 6, 8, None], truncated=1, formatted=2, unparseable=1),
         stats([True, True, False, True], [0, 0, 1, 0], [10, 10, 10, 10], formatted=4)]
    r = summarize(s, 4)
    # pass@1 per problem 0.25 and 0.75: mean 0.5, sample std 0.3536, stderr 0.3536 / sqrt(2) = 0.25
    assert r["pass@1"] == 0.5 and r["pass@1_stderr"] == pytest.approx(0.25)
    # pass@2: 1 - C(3,2)/C(4,2) = 0.5 and 1 - 0 = 1
    assert r["pass@2"] == pytest.approx(0.75) and r["pass@4"] == 1.0
    assert r["cons@4"] == 0.5  # problem 1: the wrong cluster has 2 votes; problem 2: the right one 3
    assert r["mean_tokens"] == pytest.approx(58 / 7)  # the unknown length is left out
    assert (r["truncation_rate"], r["format_rate"], r["unparseable_rate"]) == (1 / 8, 6 / 8, 1 / 8)
    assert (r["n_problems"], r["samples_per_problem"]) == (2, 4)
    assert summarize([], 4) == {"n_problems": 0, "samples_per_problem": 4}
    assert ks_for(6) == [1, 2, 4, 6] and ks_for(1) == [1] and ks_for(64)[-2:] == [32, 64]


def test_pass_at_k_matches_enumeration_of_k_subsets():
    rng = random.Random(0)
    n = 6
    s = [stats([rng.random() < 0.3 for _ in range(n)], [-1] * n) for _ in range(20)]
    r = summarize(s, n)
    for k in (2, 4, 6):
        brute = [sum(any(p.correct[i] for i in sub) for sub in itertools.combinations(range(n), k)) / math.comb(n, k)
                 for p in s]
        assert r[f"pass@{k}"] == pytest.approx(sum(brute) / len(brute), abs=1e-12)
