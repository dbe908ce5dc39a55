import math

import pytest
import torch

from r1lab.algos import clipped_policy_loss, gspo_policy_loss, seq_mean_token_mean, seq_sum_constant, token_mean

INF = float("inf")
AGGREGATIONS = [seq_mean_token_mean, token_mean, lambda x, m: seq_sum_constant(x, m, constant=7.0)]


def _hand_batch():
    # log-ratios logp - old_logp per row (old_logp = -1 everywhere); pad = -inf log-probs
    #   row 0, A = +1: [0.5, -0.5, 0.3]   mean 0.1
    #   row 1, A = +1: [0.6,  0.3, 0.0]   mean 0.3
    #   row 2, A = -1: [-0.6, -0.3, 0.0]  mean -0.3
    #   row 3, A = -2: [0.1]              length 1
    #   row 4, A = +1: fully masked
    delta = torch.tensor([[0.5, -0.5, 0.3], [0.6, 0.3, 0.0], [-0.6, -0.3, 0.0], [0.1, 0.0, 0.0], [0.0] * 3])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    old = -torch.ones(5, 3)
    logp = torch.where(mask, old + delta, torch.full_like(old, -INF)).requires_grad_(True)
    return logp, old, torch.tensor([1.0, 1.0, -1.0, -2.0, 1.0]), mask


def test_hand_worked_values_and_metrics():
    logp, old, adv, mask = _hand_batch()
    loss, m = gspo_policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    # sequence ratios s = exp(mean log-ratio), the same on every token of the row:
    #   row 0: e^0.1 = 1.105171 inside [0.8, 1.28] -> loss -1.105171 per token. (Per token, GRPO would
    #          clip the first token, e^0.5 = 1.6487 > 1.28; the geometric mean does not.)
    #   row 1: e^0.3 = 1.349859 > 1.28, A > 0 -> min(1.349859, 1.28) = 1.28 -> loss -1.28  (high clip)
    #   row 2: e^-0.3 = 0.740818 < 0.8, A < 0 -> min(-0.740818, -0.8) = -0.8 -> loss +0.8  (low clip)
    #   row 3: one token, s = e^0.1 = 1.105171, A = -2 -> loss +2.210342 (= the per-token loss)
    #   row 4 and the padding -> 0
    exp = torch.tensor([[-1.105171] * 3, [-1.28] * 3, [0.8] * 3, [2.210342, 0.0, 0.0], [0.0] * 3])
    torch.testing.assert_close(loss, exp, atol=1e-5, rtol=0)
    # 10 unmasked tokens; the clipped sequences hold 3 each
    assert m["clip_frac_high"] == pytest.approx(0.3)
    assert m["clip_frac_low"] == pytest.approx(0.3)
    assert m["clip_frac"] == pytest.approx(0.6)
    # token-weighted mean of s: (3 * 1.105171 + 3 * 1.349859 + 3 * 0.740818 + 1.105171) / 10 = 1.069271
    assert m["ratio_mean"] == pytest.approx(1.069271, abs=1e-5)
    assert m["ratio_min"] == pytest.approx(0.740818, abs=1e-5)
    assert m["ratio_max"] == pytest.approx(1.349859, abs=1e-5)


def test_hand_worked_gradient_zero_in_clipped_sequences_and_finite_at_padding():
    logp, old, adv, mask = _hand_batch()
    loss, _ = gspo_policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    # per token: d loss / d logp_t = -A s (the stop-gradient form); 0 on every token of a clipped row
    #   row 0: -1.105171; rows 1 and 2: 0 (the whole sequence is clipped); row 3: -(-2) * 1.105171
    exp = torch.tensor([[-1.105171] * 3, [0.0] * 3, [0.0] * 3, [2.210342, 0.0, 0.0], [0.0] * 3])
    torch.testing.assert_close(grad, exp, atol=1e-5, rtol=0)


def test_length_one_rows_equal_the_token_level_loss():
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(6, 1, generator=g) * 2
    logp = old + 0.5 * torch.randn(6, 1, generator=g)
    adv, mask = torch.randn(6, generator=g), torch.ones(6, 1, dtype=torch.bool)
    ours, m1 = gspo_policy_loss(logp, old, adv, mask, 0.2, 0.28)
    ppo, m2 = clipped_policy_loss(logp, old, adv, mask, 0.2, 0.28)
    torch.testing.assert_close(ours, ppo)
    assert m1 == pytest.approx(m2)


def test_all_masked_metrics():
    x = torch.full((2, 3), -INF, requires_grad=True)
    loss, m = gspo_policy_loss(x, torch.zeros(2, 3), torch.ones(2), torch.zeros(2, 3), 3e-4, 4e-4)
    assert torch.equal(loss, torch.zeros(2, 3))
    assert torch.equal(torch.autograd.grad(loss.sum(), x)[0], torch.zeros(2, 3))
    assert m == {"clip_frac_low": 0.0, "clip_frac_high": 0.0, "clip_frac": 0.0,
                 "ratio_mean": 1.0, "ratio_min": 1.0, "ratio_max": 1.0}


def _ref(logp, old, adv, mask, lo, hi):
    """Slow loop reference: GSPO's sequence-level objective -min(s A, clip(s) A), s = exp(mean log-ratio)
    with the gradient through every token (no stop-gradient), written to each token of the row."""
    N, T = logp.shape
    rows, tok_ratios, n_low, n_high = [], [], 0, 0
    for i in range(N):
        idx = [t for t in range(T) if mask[i, t]]
        zero = logp.new_zeros(())
        if not idx:
            rows.append(torch.stack([zero] * T))
            continue
        s = torch.exp(sum(logp[i, t] - old[i, t] for t in idx) / len(idx))  # () with grad
        a, s_val = float(adv[i]), float(s.detach())
        term = -torch.minimum(s * a, torch.clamp(s, 1 - lo, 1 + hi) * a)  # ()
        rows.append(torch.stack([term if mask[i, t] else zero for t in range(T)]))
        tok_ratios += [s_val] * len(idx)
        n_low += len(idx) * (a < 0 and s_val < 1 - lo)
        n_high += len(idx) * (a > 0 and s_val > 1 + hi)
    n = len(tok_ratios)
    met = {"clip_frac_low": n_low / n, "clip_frac_high": n_high / n, "clip_frac": (n_low + n_high) / n,
           "ratio_mean": sum(tok_ratios) / n, "ratio_min": min(tok_ratios), "ratio_max": max(tok_ratios)}
    return torch.stack(rows), met


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference_and_its_autograd_gradient(seed):
    g = torch.Generator().manual_seed(seed)
    N, T = 7, 9
    old = -torch.rand(N, T, generator=g) * 3
    logp = old + 0.3 * torch.randn(N, T, generator=g)
    adv = torch.randn(N, generator=g)
    adv[0] = 0.0
    mask = torch.rand(N, T, generator=g) < 0.7
    mask[1] = False  # a fully masked row
    mask[2] = False
    mask[2, 0] = True  # a length-1 row
    logp = torch.where(mask, logp, torch.full_like(logp, -INF)).requires_grad_(True)
    lo, hi = [(0.2, 0.2), (0.2, 0.28), (3e-4, 4e-4), (0.05, 0.05), (0.01, 0.02)][seed]
    loss, met = gspo_policy_loss(logp, old, adv, mask, lo, hi)
    ref, ref_met = _ref(logp, old, adv, mask, lo, hi)
    torch.testing.assert_close(loss, ref, atol=1e-6, rtol=0)
    assert met == pytest.approx(ref_met, abs=1e-6)
    for agg in AGGREGATIONS:
        (ours,) = torch.autograd.grad(agg(loss, mask)[0], logp, retain_graph=True)
        (theirs,) = torch.autograd.grad(agg(ref, mask)[0], logp, retain_graph=True)
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
        assert torch.isfinite(ours).all() and not ours[~mask].any()


@pytest.mark.parametrize("seed", range(2))
def test_on_policy_ratio_is_exactly_one_and_the_gradient_is_reinforce(seed):
    g = torch.Generator().manual_seed(seed)
    N, T, V = 8, 7, 11
    logits = torch.randn(N, T, V, generator=g, requires_grad=True)
    tokens = torch.randint(0, V, (N, T), generator=g)
    mask = torch.rand(N, T, generator=g) < 0.8
    adv = torch.randn(N, generator=g)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (N, T)
    per_tok, met = gspo_policy_loss(logp, logp.detach(), adv, mask, 3e-4, 4e-4)
    assert met["ratio_min"] == met["ratio_max"] == 1.0 and met["clip_frac"] == 0.0
    (grad,) = torch.autograd.grad(seq_mean_token_mean(per_tok, mask)[0], logits, retain_graph=True)
    (reinforce,) = torch.autograd.grad(seq_mean_token_mean(-adv[:, None] * logp, mask)[0], logits)
    torch.testing.assert_close(grad, reinforce, atol=1e-7, rtol=1e-6)


def test_ratio_above_the_clip_range_zeroes_the_gradient_off_policy():
    # one sequence, A > 0, that the policy already made likelier than when it was sampled:
    # s = exp(mean(0.002, 0.0)) = 1.0010005 > 1 + 4e-4, so the sequence is clipped and gets no gradient
    old = torch.tensor([[-1.0, -2.0]])
    logp = (old + torch.tensor([[0.002, 0.0]])).requires_grad_(True)
    loss, m = gspo_policy_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 2), 3e-4, 4e-4)
    assert m["clip_frac_high"] == 1.0 and m["ratio_max"] == pytest.approx(math.exp(0.001), abs=1e-6)
    assert torch.equal(torch.autograd.grad(loss.sum(), logp)[0], torch.zeros(1, 2))
