import math

import pytest
import torch

from r1lab.algos import clipped_policy_loss, seq_mean_token_mean, token_mean

INF = float("inf")


def _hand_batch():
    # log-ratios logp - old_logp: [0.5, -0.5, 0.1, pad] in rows 0 and 1; row 2 fully masked, logp = -inf
    old = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [-2.0, -2.0, -2.0, -2.0], [-1.0, -1.0, -1.0, -1.0]])
    delta = torch.tensor([[0.5, -0.5, 0.1, 0.0], [0.5, -0.5, 0.1, 0.0], [0.0, 0.0, 0.0, 0.0]])
    logp = (old + delta).clone()
    logp[2] = -INF
    logp.requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    adv = torch.tensor([1.0, -1.0, 0.5])
    return logp, old, adv, mask


def test_hand_worked_values_and_metrics():
    logp, old, adv, mask = _hand_batch()
    loss, m = clipped_policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    # row 0, A = +1:
    #   e^0.5 = 1.64872 clipped to 1.28 -> min(1.64872, 1.28) = 1.28 -> loss -1.28   (high clip active)
    #   e^-0.5 = 0.60653, clip 0.8 -> min(0.60653, 0.8) = 0.60653 -> loss -0.60653 (no clip for A > 0)
    #   e^0.1 = 1.10517 inside [0.8, 1.28] -> loss -1.10517
    # row 1, A = -1:
    #   rho A = -1.64872, clip A = -1.28 -> min = -1.64872 -> loss +1.64872     (unbounded for A < 0)
    #   rho A = -0.60653, clip A = -0.8 -> min = -0.8 -> loss +0.8              (low clip active)
    #   loss +1.10517
    # padding and row 2 (fully masked, logp = -inf) -> 0
    exp = torch.tensor([[-1.28, -0.60653, -1.10517, 0.0], [1.64872, 0.8, 1.10517, 0.0], [0.0] * 4])
    torch.testing.assert_close(loss, exp, atol=1e-5, rtol=0)
    # 6 unmasked tokens: one low clip, one high clip
    assert m["clip_frac_low"] == pytest.approx(1 / 6)
    assert m["clip_frac_high"] == pytest.approx(1 / 6)
    assert m["clip_frac"] == pytest.approx(2 / 6)
    # ratio mean = 2 * (1.64872 + 0.60653 + 1.10517) / 6 = 1.12014
    assert m["ratio_mean"] == pytest.approx(1.12014, abs=1e-5)
    assert m["ratio_min"] == pytest.approx(0.60653, abs=1e-5)
    assert m["ratio_max"] == pytest.approx(1.64872, abs=1e-5)


def test_hand_worked_gradient_finite_with_inf_padding():
    logp, old, adv, mask = _hand_batch()
    loss, _ = clipped_policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    loss.sum().backward()
    # d loss / d logp = -A rho where the unclipped branch is taken, 0 where the clip is active
    exp = torch.tensor([[0.0, -0.60653, -1.10517, 0.0], [1.64872, 0.0, 1.10517, 0.0], [0.0] * 4])
    torch.testing.assert_close(logp.grad, exp, atol=1e-5, rtol=0)


def test_all_masked_metrics():
    x = torch.zeros(2, 3)
    loss, m = clipped_policy_loss(x, x, torch.ones(2), torch.zeros(2, 3), eps_low=0.2, eps_high=0.2)
    assert torch.equal(loss, torch.zeros(2, 3))
    assert m == {"clip_frac_low": 0.0, "clip_frac_high": 0.0, "clip_frac": 0.0,
                 "ratio_mean": 1.0, "ratio_min": 1.0, "ratio_max": 1.0}


def _ref(logp, old, adv, mask, lo, hi):
    """Slow per-token loop reference of the loss and the metrics."""
    N, T = logp.shape
    out = torch.zeros(N, T, dtype=torch.float64)
    ratios, n_low, n_high = [], 0, 0
    for i in range(N):
        a = float(adv[i])
        for t in range(T):
            if not mask[i, t]:
                continue
            rho = math.exp(float(logp[i, t]) - float(old[i, t]))
            out[i, t] = -min(rho * a, min(max(rho, 1 - lo), 1 + hi) * a)
            ratios.append(rho)
            n_low += a < 0 and rho < 1 - lo
            n_high += a > 0 and rho > 1 + hi
    n = len(ratios)
    met = {"clip_frac_low": n_low / n, "clip_frac_high": n_high / n, "clip_frac": (n_low + n_high) / n,
           "ratio_mean": sum(ratios) / n, "ratio_min": min(ratios), "ratio_max": max(ratios)}
    return out, met


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    N, T = 6, 9
    old = -torch.rand(N, T, generator=g, dtype=torch.float64) * 3
    logp = old + 0.3 * torch.randn(N, T, generator=g, dtype=torch.float64)
    adv = torch.randn(N, generator=g, dtype=torch.float64)
    adv[0] = 0.0
    mask = torch.rand(N, T, generator=g) < 0.7
    mask[1] = False  # a fully masked row
    lo, hi = [(0.2, 0.2), (0.2, 0.28), (0.1, 0.5), (10.0, 10.0), (0.05, 0.05)][seed]
    loss, met = clipped_policy_loss(logp, old, adv, mask, eps_low=lo, eps_high=hi)
    ref, ref_met = _ref(logp, old, adv, mask, lo, hi)
    torch.testing.assert_close(loss, ref, atol=1e-12, rtol=1e-12)
    assert met == pytest.approx(ref_met, abs=1e-12)


@pytest.mark.parametrize("agg", [seq_mean_token_mean, token_mean])
@pytest.mark.parametrize("seed", range(3))
def test_on_policy_gradient_is_reinforce(agg, seed):
    # mu = 1: old_logp = logp.detach() -> ratio 1, never clipped, grad of -min(...) = -A grad(logp)
    g = torch.Generator().manual_seed(seed)
    N, T, V = 8, 7, 11
    logits = torch.randn(N, T, V, generator=g, requires_grad=True)
    tokens = torch.randint(0, V, (N, T), generator=g)
    mask = torch.rand(N, T, generator=g) < 0.8
    mask[2] = False
    adv = torch.randn(N, generator=g)

    def logp_fn():
        return torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (N, T)

    logp = logp_fn()
    per_tok, met = clipped_policy_loss(logp, logp.detach(), adv, mask, eps_low=0.2, eps_high=0.28)
    torch.testing.assert_close(per_tok, torch.where(mask, -adv[:, None].expand(N, T), 0.0))
    assert met["ratio_min"] == met["ratio_max"] == 1.0 and met["clip_frac"] == 0.0
    (grad_clip,) = torch.autograd.grad(agg(per_tok, mask)[0], logits)
    reinforce = -(adv[:, None] * logp_fn())  # (N, T) REINFORCE with the group-mean baseline in A
    (grad_pg,) = torch.autograd.grad(agg(reinforce, mask)[0], logits)
    torch.testing.assert_close(grad_clip, grad_pg, atol=1e-7, rtol=1e-6)
