"""Small-sample statistics over runs (one number per seed): a t interval and a paired t-test.

- ``mean_interval(xs)``: mean and the half-width of its two-sided 95% Student-t interval,
  t_{0.975, n-1} · s / sqrt(n) with the sample std s (n - 1). None for the half-width when n < 2.
- ``paired_t_test(a, b)``: the mean of the paired differences a_i - b_i (the same seed in both)
  and the two-sided p-value of Student's paired t-test, t = mean / (s_d / sqrt(n)), n - 1 df.

Choices:
- Student's t distribution is computed here, in pure Python, from the closed form for an integer
  number of degrees of freedom (Abramowitz & Stegun 26.7.3-4), so no scipy is needed; quantiles
  by bisection. Degrees of freedom are always integers here (n - 1).
- Why a t-test rather than an exact sign-flip permutation test: with 5 seeds the permutation
  test's smallest two-sided p-value is 2/2^5 = 0.0625, so it could never reach 0.05. The t-test
  assumes roughly normal differences, which near-binary outcomes (format rate 0 or 1 per run)
  are not; read its p-values as a guide, together with the per-seed numbers.
- Degenerate cases: fewer than 2 pairs, or differences all equal but not 0 (s_d = 0, t is
  undefined): p is None. With pass@1 and format measured in steps of 1/(problems x samples) equal
  differences do happen by chance at 2 seeds, and p = 0 there would claim a certainty that two
  seeds cannot give. All differences 0: p = 1.0 (no difference at all).
"""

from __future__ import annotations

import math
from statistics import fmean, stdev


def t_two_sided_cdf(t: float, df: int) -> float:
    """P(|T| < t) for Student's T with `df` >= 1 integer degrees of freedom (0 for t <= 0)."""
    if df < 1 or df != int(df):
        raise ValueError(f"df must be a positive integer, got {df}")
    if t <= 0:
        return 0.0
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2:  # odd: (2/π)(θ + sinθ Σ_{k=0}^{(df-3)/2} a_k cos^{2k+1}θ), a_k = a_{k-1}·2k/(2k+1)
        total, term = 0.0, c
        for k in range((df - 1) // 2):
            total += term
            term *= c * c * (2 * k + 2) / (2 * k + 3)
        return min(1.0, 2.0 / math.pi * (theta + s * total))
    total, term = 0.0, 1.0  # even: sinθ Σ_{k=0}^{(df-2)/2} b_k cos^{2k}θ, b_k = b_{k-1}·(2k-1)/(2k)
    for k in range(df // 2):
        total += term
        term *= c * c * (2 * k + 1) / (2 * k + 2)
    return min(1.0, s * total)


def t_quantile(level: float, df: int) -> float:
    """The t with P(|T| < t) = level (e.g. level 0.95 gives t_{0.975, df})."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, hi = 0.0, 1.0
    while t_two_sided_cdf(hi, df) < level:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_two_sided_cdf(mid, df) < level else (lo, mid)
        if hi - lo < 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def mean_interval(xs: list[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its Student-t interval at `level` (None when len(xs) < 2)."""
    if not xs:
        raise ValueError("mean_interval needs at least one value")
    if len(xs) < 2:
        return fmean(xs), None
    return fmean(xs), t_quantile(level, len(xs) - 1) * stdev(xs) / math.sqrt(len(xs))


def paired_t_test(a: list[float], b: list[float]) -> tuple[float, float | None]:
    """Mean of a_i - b_i and the two-sided p-value of the paired t-test (None when undefined)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need two non-empty lists of equal length, got {len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean = fmean(d)
    if len(d) < 2:
        return mean, None
    sd = stdev(d)
    if sd == 0.0:
        return mean, 1.0 if mean == 0.0 else None
    t = abs(mean) / (sd / math.sqrt(len(d)))
    return mean, max(0.0, 1.0 - t_two_sided_cdf(t, len(d) - 1))
