import math

import pytest
import torch

from r1lab.algos import kl_k3

LN_HALF = math.log(0.5)


def _hand():
    logp = torch.tensor([[0.0, -2.0, -1.0, -float("inf")]], requires_grad=True)
    ref = torch.tensor([[LN_HALF, -1.0, -1.0, -3.0]])
    mask = torch.tensor([[True, True, True, False]])
    return logp, ref, mask


def test_k3_hand_worked_and_gradient():
    logp, ref, mask = _hand()
    kl, m = kl_k3(logp, ref, mask)
    # d = ref - logp: -0.693147, 1, 0, (masked)
    # k3 = e^d - d - 1: 0.5 + 0.693147 - 1 = 0.193147;  e - 1 - 1 = 0.718282;  0;  masked -> 0
    torch.testing.assert_close(kl, torch.tensor([[0.193147, 0.718282, 0.0, 0.0]]), atol=1e-6, rtol=0)
    assert m["kl_mean"] == pytest.approx((0.193147 + 0.718282) / 3, abs=1e-6)  # 0.303810
    kl.sum().backward()
    # d k3 / d logp = 1 - e^d: 1 - 0.5 = 0.5;  1 - e = -1.718282;  0;  masked 0 (finite despite -inf)
    torch.testing.assert_close(logp.grad, torch.tensor([[0.5, -1.718282, 0.0, 0.0]]), atol=1e-6, rtol=0)


def test_fully_masked():
    x = torch.full((2, 3), -float("inf"), requires_grad=True)
    kl, m = kl_k3(x, torch.zeros(2, 3), torch.zeros(2, 3))
    kl.sum().backward()
    assert torch.equal(kl, torch.zeros(2, 3)) and m["kl_mean"] == 0.0
    assert torch.equal(x.grad, torch.zeros(2, 3))


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference_and_k3_nonnegative(seed):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(5, 8, generator=g, dtype=torch.float64) * 6
    ref = -torch.rand(5, 8, generator=g, dtype=torch.float64) * 6
    mask = torch.rand(5, 8, generator=g) < 0.6
    k3, m3 = kl_k3(logp, ref, mask)
    ref3 = torch.zeros(5, 8, dtype=torch.float64)
    for i in range(5):
        for t in range(8):
            if mask[i, t]:
                d = float(ref[i, t]) - float(logp[i, t])
                ref3[i, t] = math.exp(d) - d - 1
    torch.testing.assert_close(k3, ref3, atol=1e-12, rtol=1e-12)
    assert (k3 >= 0).all()
    n = int(mask.sum())
    assert m3["kl_mean"] == pytest.approx(float(ref3.sum()) / n)


def test_k3_unbiased_for_kl_monte_carlo():
    # tokens sampled from pi: E[k3] = KL(pi || ref) = sum_x pi(x) log(pi(x) / ref(x))
    g = torch.Generator().manual_seed(0)
    pi = torch.softmax(torch.randn(6, generator=g, dtype=torch.float64), -1)
    ref = torch.softmax(torch.randn(6, generator=g, dtype=torch.float64), -1)
    exact = float((pi * (pi / ref).log()).sum())
    x = torch.multinomial(pi, 400_000, replacement=True, generator=g).view(400, 1000)  # (N, T)
    logp, ref_logp = pi.log()[x], ref.log()[x]
    mask = torch.ones_like(x, dtype=torch.bool)
    kl, m = kl_k3(logp, ref_logp, mask)
    sem = float(kl.std()) / math.sqrt(kl.numel())
    assert abs(m["kl_mean"] - exact) < 4 * sem, (m["kl_mean"], exact, sem)
