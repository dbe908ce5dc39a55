import itertools
from fractions import Fraction
from math import comb

import pytest
import torch

from r1lab.algos import pass_at_k_batch


def pass_at_k(n: int, c: int, k: int) -> float:
    """One problem through the vectorised function (the exact and brute-force checks below hold it)."""
    return float(pass_at_k_batch(n, torch.tensor([c]), k)[0][0])


def test_hand_worked():
    # n=5, c=2, k=2: C(3,2)/C(5,2) = 3/10 -> 1 - 0.3 = 0.7
    #   product form: i = 4, 5: (1 - 2/4)(1 - 2/5) = 0.5 * 0.6 = 0.3
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 = c / n
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 6, 5) == 1.0  # n - c = 4 < k: every 5-subset holds a correct sample


def _brute(n, c, k):
    # fraction of k-subsets of n samples (the first c correct) that contain a correct one
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_brute_force_small_n():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(_brute(n, c, k), abs=1e-12), (n, c, k)


def test_stable_for_large_n():
    # exact rational reference with Python big ints; C(1000, 500) has ~300 digits
    for n, c, k in [(1000, 1, 1), (1000, 7, 64), (1000, 500, 500), (200, 100, 100), (64, 1, 32)]:
        exact = 1 - Fraction(comb(n - c, k), comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_batch_matches_exact_binomials(seed):
    g = torch.Generator().manual_seed(seed)
    k = [1, 4, 8, 16][seed]
    n = torch.randint(k, 70, (50,), generator=g)
    c = (torch.rand(50, generator=g) * (n + 1)).long().clamp(max=n)
    c[:3] = torch.stack([torch.tensor(0), n[1], n[2] - k + 1])  # c = 0, c = n, n - c < k
    out, m = pass_at_k_batch(n, c, k)
    exact = [1 - Fraction(comb(int(a) - int(b), k), comb(int(a), k)) for a, b in zip(n, c, strict=True)]
    ref = torch.tensor([float(x) for x in exact], dtype=torch.float64)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-12)
    assert m[f"pass@{k}"] == pytest.approx(float(ref.mean()))


def test_batch_int_n_and_errors():
    out, m = pass_at_k_batch(5, torch.tensor([0, 2, 5]), 2)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.7, 1.0], dtype=torch.float64))
    assert m["pass@2"] == pytest.approx(1.7 / 3)
    assert pass_at_k_batch(5, torch.zeros(0, dtype=torch.long), 2)[0].numel() == 0
    for n, c, k in [(5, 6, 1), (5, -1, 1), (5, 2, 6), (5, 2, 0)]:
        with pytest.raises(ValueError):
            pass_at_k_batch(n, torch.tensor([c]), k)
