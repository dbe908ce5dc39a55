import math

import pytest

from r1lab.eval.stats import mean_interval, paired_t_test, t_quantile, t_two_sided_cdf


def _slow_two_sided_cdf(t, df, n=2000):
    """Simpson's rule on Student's t density from 0 to t, doubled."""
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    pdf = lambda x: c * (1 + x * x / df) ** (-(df + 1) / 2)  # noqa: E731
    h = t / n
    s = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, n))
    return 2 * s * h / 3


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 29])
@pytest.mark.parametrize("t", [0.1, 1.0, 2.5, 6.0])
def test_cdf_matches_numerical_integration(df, t):
    assert t_two_sided_cdf(t, df) == pytest.approx(_slow_two_sided_cdf(t, df), abs=1e-9)


@pytest.mark.parametrize("df,q", [(1, 12.706205), (2, 4.302653), (4, 2.776445), (10, 2.228139), (30, 2.042272)])
def test_quantiles_match_the_printed_tables(df, q):
    # t_{0.975, df} from standard tables
    assert t_quantile(0.95, df) == pytest.approx(q, abs=1e-6)


def test_hand_worked_interval_and_paired_test():
    # xs = 1, 2, 3: mean 2, s = 1, half-width t_{0.975,2} * 1 / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    mean, half = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(2.484138, abs=1e-6)
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3) = 3.464102, 2 df: P(|T| < t) = t / sqrt(2 + t^2) = 0.925820
    diff, p = paired_t_test([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert diff == 2.0 and p == pytest.approx(1 - 0.925820, abs=1e-6)
    # the sign of the difference does not change the two-sided p
    assert paired_t_test([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == (-2.0, p)


def test_degenerate_cases():
    assert mean_interval([0.5]) == (0.5, None)
    assert paired_t_test([1.0], [0.0]) == (1.0, None)
    assert paired_t_test([1.0, 1.0, 0.5], [1.0, 1.0, 0.5]) == (0.0, 1.0)  # no difference at all
    assert paired_t_test([1.0] * 5, [0.0] * 5) == (1.0, None)  # the same move on every seed: t undefined
    with pytest.raises(ValueError):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        t_two_sided_cdf(1.0, 0)
