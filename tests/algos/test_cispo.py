import math

import pytest
import torch

from r1lab.algos import cispo_policy_loss, seq_mean_token_mean, seq_sum_constant, token_mean

INF = float("inf")
AGGREGATIONS = [seq_mean_token_mean, token_mean, lambda x, m: seq_sum_constant(x, m, constant=7.0)]


def _hand_batch():
    # (log-ratio, logp) per token; the preset's clip: eps_low 1.0 (no lower bound), eps_high 4.0 (w <= 5)
    #   row 0, A = +1:  (2.0, -1.0), (0.5, -2.0), (-3.0, -0.5)
    #   row 1, A = -1:  (2.0, -1.0), (0.0, -0.25), pad
    #   row 2, A = 0.5: (0.1, -3.0), pad, pad     (length 1)
    #   row 3, A = +1:  fully masked, logp = -inf
    log_ratio = torch.tensor([[2.0, 0.5, -3.0], [2.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0] * 3])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -0.25, -INF], [-3.0, -INF, -INF], [-INF] * 3])
    logp.requires_grad_(True)
    old = torch.where(mask, logp.detach() - log_ratio, torch.zeros(4, 3))
    return logp, old, torch.tensor([1.0, -1.0, 0.5, 1.0]), mask


def test_hand_worked_values_gradient_and_metrics():
    logp, old, adv, mask = _hand_batch()
    loss, m = cispo_policy_loss(logp, old, adv, mask, eps_low=1.0, eps_high=4.0)
    # weights w = clip(e^log_ratio, 0, 5):
    #   row 0: e^2 = 7.389 -> 5 (capped), e^0.5 = 1.648721, e^-3 = 0.049787 (no lower clip)
    #   row 1: 5 (capped), 1;   row 2: e^0.1 = 1.105171
    # loss = -w A logp:
    #   row 0: -5*1*(-1) = 5, -1.648721*(-2) = 3.297443, -0.049787*(-0.5) = 0.024894
    #   row 1: -5*(-1)*(-1) = -5, -1*(-1)*(-0.25) = -0.25;   row 2: -1.105171*0.5*(-3) = 1.657756
    exp = torch.tensor([[5.0, 3.297443, 0.024894], [-5.0, -0.25, 0.0], [1.657756, 0.0, 0.0], [0.0] * 3])
    torch.testing.assert_close(loss, exp, atol=1e-5, rtol=0)
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    # d loss / d logp = -w A: never zeroed, the capped tokens get -5 A instead of PPO's 0 (A > 0) or
    # -7.389 A (A < 0, unbounded)
    exp_grad = torch.tensor([[-5.0, -1.648721, -0.049787], [5.0, 1.0, 0.0], [-0.552585, 0.0, 0.0], [0.0] * 3])
    torch.testing.assert_close(grad, exp_grad, atol=1e-5, rtol=0)
    # 6 unmasked tokens, 2 capped (one per sign of A), none raised
    assert m["clip_frac_high"] == pytest.approx(2 / 6) and m["clip_frac_low"] == 0.0
    assert m["clip_frac"] == pytest.approx(2 / 6)
    # ratio mean = (7.389056 + 1.648721 + 0.049787 + 7.389056 + 1 + 1.105171) / 6 = 3.096965
    assert m["ratio_mean"] == pytest.approx(3.096965, abs=1e-5)
    assert m["ratio_min"] == pytest.approx(0.049787, abs=1e-6)
    assert m["ratio_max"] == pytest.approx(math.exp(2.0), abs=1e-5)


def test_a_lower_clip_raises_small_weights():
    logp, old, adv, mask = _hand_batch()
    _, m = cispo_policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=4.0)
    (grad,) = torch.autograd.grad(cispo_policy_loss(logp, old, adv, mask, 0.2, 4.0)[0].sum(), logp)
    assert grad[0, 2].item() == pytest.approx(-0.8)  # e^-3 raised to 1 - 0.2
    assert m["clip_frac_low"] == pytest.approx(1 / 6)


def test_all_masked_metrics():
    x = torch.full((2, 3), -INF, requires_grad=True)
    loss, m = cispo_policy_loss(x, torch.zeros(2, 3), torch.ones(2), torch.zeros(2, 3), 1.0, 4.0)
    assert torch.equal(loss, torch.zeros(2, 3))
    assert torch.equal(torch.autograd.grad(loss.sum(), x)[0], torch.zeros(2, 3))
    assert m == {"clip_frac_low": 0.0, "clip_frac_high": 0.0, "clip_frac": 0.0,
                 "ratio_mean": 1.0, "ratio_min": 1.0, "ratio_max": 1.0}


def _ref(logp, old, adv, mask, lo, hi):
    """Slow per-token loop reference: -sg[clip(rho)] A logp, the weight a python float (no grad)."""
    N, T = logp.shape
    rows, ratios, n_low, n_high = [], [], 0, 0
    for i in range(N):
        a, row = float(adv[i]), []
        for t in range(T):
            if not mask[i, t]:
                row.append(logp.new_zeros(()))
                continue
            rho = math.exp(float(logp[i, t].detach()) - float(old[i, t]))
            w = min(max(rho, 1 - lo), 1 + hi)
            row.append(-w * a * logp[i, t])
            ratios.append(rho)
            n_low += a != 0 and rho < 1 - lo
            n_high += a != 0 and rho > 1 + hi
        rows.append(torch.stack(row))
    n = len(ratios)
    met = {"clip_frac_low": n_low / n, "clip_frac_high": n_high / n, "clip_frac": (n_low + n_high) / n,
           "ratio_mean": sum(ratios) / n, "ratio_min": min(ratios), "ratio_max": max(ratios)}
    return torch.stack(rows), met


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference_and_its_autograd_gradient(seed):
    g = torch.Generator().manual_seed(seed)
    N, T = 7, 9
    old = -torch.rand(N, T, generator=g) * 3
    logp = old + 1.0 * torch.randn(N, T, generator=g)  # wide ratios: some beyond 1 + eps_high
    adv = torch.randn(N, generator=g)
    adv[0] = 0.0
    mask = torch.rand(N, T, generator=g) < 0.7
    mask[1] = False  # a fully masked row
    mask[2] = False
    mask[2, 0] = True  # a length-1 row
    logp = torch.where(mask, logp, torch.full_like(logp, -INF)).requires_grad_(True)
    lo, hi = [(1.0, 4.0), (0.2, 0.28), (1.0, 1.0), (0.5, 0.5), (0.2, 4.0)][seed]
    loss, met = cispo_policy_loss(logp, old, adv, mask, lo, hi)
    ref, ref_met = _ref(logp, old, adv, mask, lo, hi)
    torch.testing.assert_close(loss, ref, atol=1e-6, rtol=1e-6)
    assert met == pytest.approx(ref_met, abs=1e-6, rel=1e-6)
    for agg in AGGREGATIONS:
        (ours,) = torch.autograd.grad(agg(loss, mask)[0], logp, retain_graph=True)
        (theirs,) = torch.autograd.grad(agg(ref, mask)[0], logp, retain_graph=True)
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)
        assert torch.isfinite(ours).all() and not ours[~mask].any()


def test_on_policy_ratio_is_exactly_one_and_the_gradient_is_reinforce():
    g = torch.Generator().manual_seed(0)
    N, T, V = 8, 7, 11
    logits = torch.randn(N, T, V, generator=g, requires_grad=True)
    tokens = torch.randint(0, V, (N, T), generator=g)
    mask = torch.rand(N, T, generator=g) < 0.8
    adv = torch.randn(N, generator=g)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (N, T)
    per_tok, met = cispo_policy_loss(logp, logp.detach(), adv, mask, 1.0, 4.0)
    assert met["ratio_min"] == met["ratio_max"] == 1.0 and met["clip_frac"] == 0.0
    torch.testing.assert_close(per_tok, torch.where(mask, -adv[:, None] * logp, 0.0))
    for agg in AGGREGATIONS:
        (grad,) = torch.autograd.grad(agg(per_tok, mask)[0], logits, retain_graph=True)
        (reinforce,) = torch.autograd.grad(agg(-adv[:, None] * logp, mask)[0], logits, retain_graph=True)
        torch.testing.assert_close(grad, reinforce, atol=1e-7, rtol=1e-6)
