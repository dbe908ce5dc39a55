import pytest
import torch

from r1lab.algos import clipped_policy_loss, grpo_advantages, kl_k3, seq_mean_token_mean, seq_sum_constant, token_mean

LOSS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, float("nan"), float("inf")], [7.0, 7.0, 7.0, 7.0]])
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]])  # row 2 fully masked


def test_hand_worked():
    # row means 10/4 = 2.5, 11/2 = 5.5, empty row 0 -> (2.5 + 5.5 + 0) / 3 seqs = 2.6667
    v, m = seq_mean_token_mean(LOSS, MASK)
    assert v.item() == pytest.approx(8 / 3) and m == {"num_seqs": 3.0, "num_tokens": 6.0}
    # all tokens: (10 + 11) / 6 tokens = 3.5 (nan/inf/7s at masked positions ignored)
    assert token_mean(LOSS, MASK)[0].item() == pytest.approx(3.5)
    # row sums / 4: 2.5, 2.75, 0 -> 5.25 / 3 seqs = 1.75
    assert seq_sum_constant(LOSS, MASK, constant=4)[0].item() == pytest.approx(1.75)
    # explicit global normalisers replace the local counts
    assert seq_mean_token_mean(LOSS, MASK, num_seqs=8)[0].item() == pytest.approx(8 / 8)
    assert token_mean(LOSS, MASK, num_tokens=42)[0].item() == pytest.approx(21 / 42)
    assert seq_sum_constant(LOSS, MASK, 4, num_seqs=2)[0].item() == pytest.approx(5.25 / 2)


@pytest.mark.parametrize("agg", [
    seq_mean_token_mean, token_mean, lambda loss, mask: seq_sum_constant(loss, mask, 4.0)])
def test_fully_masked_no_nan(agg):
    loss = torch.randn(3, 4, requires_grad=True)
    v, _ = agg(loss, torch.zeros(3, 4))
    v.backward()
    assert v.item() == 0.0 and torch.equal(loss.grad, torch.zeros(3, 4))
    v, _ = agg(torch.zeros(0, 4), torch.zeros(0, 4))  # empty batch
    assert v.item() == 0.0


def test_bad_constant():
    with pytest.raises(ValueError):
        seq_sum_constant(LOSS, MASK, 0)


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    N, T = 7, 10
    loss = torch.randn(N, T, generator=g, dtype=torch.float64)
    mask = torch.rand(N, T, generator=g) < 0.5
    mask[seed % N] = False
    seq_means, seq_sums, tok_sum, n_tok = [], [], 0.0, 0
    for i in range(N):
        row = [float(loss[i, t]) for t in range(T) if mask[i, t]]
        seq_means.append(sum(row) / len(row) if row else 0.0)
        seq_sums.append(sum(row) / T)
        tok_sum, n_tok = tok_sum + sum(row), n_tok + len(row)
    assert seq_mean_token_mean(loss, mask)[0].item() == pytest.approx(sum(seq_means) / N, abs=1e-12)
    assert token_mean(loss, mask)[0].item() == pytest.approx(tok_sum / max(n_tok, 1), abs=1e-12)
    assert seq_sum_constant(loss, mask, T)[0].item() == pytest.approx(sum(seq_sums) / N, abs=1e-12)


def _setup(seed, B=16, T=12, V=9, G=4):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g, requires_grad=True)
    tokens = torch.randint(0, V, (B, T), generator=g)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[5] = 0  # a fully masked row
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T) very different token counts per row
    with torch.no_grad():
        logp0 = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)  # (B, T)
    old = logp0 + 0.2 * torch.randn(B, T, generator=g)  # off-policy enough to hit the clip
    ref = logp0 + 0.3 * torch.randn(B, T, generator=g)
    adv, _ = grpo_advantages(torch.randint(0, 2, (B,), generator=g).float(), G)
    return logits, tokens, mask, old, ref, adv


def _per_token(logits, tokens, mask, old, ref, adv, sl):
    logp = torch.log_softmax(logits[sl], -1).gather(-1, tokens[sl][..., None]).squeeze(-1)  # (b, T)
    pg, _ = clipped_policy_loss(logp, old[sl], adv[sl], mask[sl], eps_low=0.2, eps_high=0.28)
    kl, _ = kl_k3(logp, ref[sl], mask[sl])
    return pg + 0.04 * kl  # (b, T)


MODES = {  # name -> (aggregate(loss, mask, global normalisers from the full mask))
    "seq_mean_token_mean": lambda x, m, M: seq_mean_token_mean(x, m, num_seqs=M.shape[0]),
    "token_mean": lambda x, m, M: token_mean(x, m, num_tokens=M.sum()),
    "seq_sum_constant": lambda x, m, M: seq_sum_constant(x, m, M.shape[1], num_seqs=M.shape[0]),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", list(MODES))
def test_grad_accumulation_invariance(mode, seed):
    agg = MODES[mode]
    logits, tokens, mask, old, ref, adv = _setup(seed)
    B = mask.shape[0]
    full = _per_token(logits, tokens, mask, old, ref, adv, slice(None))
    (g_full,) = torch.autograd.grad(agg(full, mask, mask)[0], logits)
    g_acc = torch.zeros_like(logits)
    for k in range(4):  # 4 micro-batches of B / 4, each divided by the *global* normaliser, summed
        sl = slice(k * B // 4, (k + 1) * B // 4)
        micro = _per_token(logits, tokens, mask, old, ref, adv, sl)
        g_acc += torch.autograd.grad(agg(micro, mask[sl], mask)[0], logits)[0]
    assert g_full.abs().max() > 1e-3  # the test is not vacuous
    torch.testing.assert_close(g_acc, g_full, atol=1e-6, rtol=0)


def test_local_token_mean_breaks_accumulation():
    # why the global normaliser exists: averaging per-micro-batch token means is a different loss
    logits, tokens, mask, old, ref, adv = _setup(0)
    full = _per_token(logits, tokens, mask, old, ref, adv, slice(None))
    (g_full,) = torch.autograd.grad(token_mean(full, mask)[0], logits)
    g_acc = torch.zeros_like(logits)
    for k in range(4):
        sl = slice(4 * k, 4 * k + 4)
        micro = _per_token(logits, tokens, mask, old, ref, adv, sl)
        g_acc += torch.autograd.grad(token_mean(micro, mask[sl])[0] / 4, logits)[0]
    assert (g_acc - g_full).abs().max() > 1e-4
