import itertools
from collections import Counter
from fractions import Fraction
from math import comb

import pytest
import torch

from r1lab.algos import cluster_answers, cons_at_k_batch, pass_at_k_batch


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


# ----------------------------------------------------------------------------------------- cons@k


def cons(ids, correct):
    return cons_at_k_batch(torch.tensor([ids]), torch.tensor([correct]))[0].item()


def test_cons_hand_built_cases():
    assert cons([0, 0, 1, -1], [True, True, False, False]) == 1.0  # the right cluster has 2 votes of 3
    assert cons([0, 1, 1, -1], [True, False, False, False]) == 0.0  # the wrong one wins
    assert cons([0, 0, 1, 1], [True, True, False, False]) == 0.5  # tie: expected value over the tied clusters
    assert cons([0, 1, 2, 2, 1, 0], [True, False, False, False, False, True]) == pytest.approx(1 / 3)  # 3-way tie
    assert cons([-1, -1, -1, 0], [False, False, False, True]) == 1.0  # unparseable samples never vote
    assert cons([-1, -1], [False, False]) == 0.0  # no parseable answer at all
    assert cons([0, 0, 1], [True, False, False]) == 0.5  # a cluster the grader splits counts its share
    out, m = cons_at_k_batch(torch.tensor([[0, 0, 1, -1], [0, 1, 1, 0]]),
                             torch.tensor([[True, True, False, False], [False, True, True, False]]))
    assert out.tolist() == [1.0, 0.5] and m == {"cons@4": 0.75}


def test_equivalent_spellings_form_one_cluster():
    from r1lab.verifiers import same_answer, verify_math
    answers = ["1/2", "3", "0.5", "3", "\\frac{1}{2}", None, "\\dfrac12", "3"]
    ids = cluster_answers(answers, same_answer("math"))
    assert ids == [0, 1, 0, 1, 0, -1, 0, 1]
    correct = [a is not None and verify_math(f"\\boxed{{{a}}}", "0.5").correct for a in answers]
    # as raw strings "3" has the plurality (3 votes) and would be wrong; by equivalence 1/2 has 4
    assert cons(ids, correct) == 1.0
    assert cluster_answers(["12", "012", "12.0"], same_answer("number")) == [0, 1, 2]  # number: canonical already


def _cons_loop(ids, correct):
    votes = Counter(i for i in ids if i >= 0)
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [c for c, v in votes.items() if v == top]
    share = [sum(ok for i, ok in zip(ids, correct, strict=True) if i == c) / votes[c] for c in tied]
    return sum(share) / len(tied)


@pytest.mark.parametrize("seed", range(3))
def test_cons_batch_matches_a_loop(seed):
    g = torch.Generator().manual_seed(seed)
    n = [1, 5, 16][seed]
    ids = torch.randint(-1, min(n, 4), (64, n), generator=g)  # few clusters: many ties
    correct = torch.rand(64, n, generator=g) < 0.4
    out, m = cons_at_k_batch(ids, correct)
    ref = [_cons_loop(i.tolist(), c.tolist()) for i, c in zip(ids, correct, strict=True)]
    assert out.tolist() == pytest.approx(ref, abs=1e-12) and m[f"cons@{n}"] == pytest.approx(sum(ref) / 64)
    with pytest.raises(ValueError):
        cons_at_k_batch(torch.tensor([[0, 2]]), torch.tensor([[True, True]]))  # ids must be < n = 2
