"""completion_logprobs vs a plain per-row HF forward (values, entropy, gradients, fallback)."""

from __future__ import annotations

import torch

from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.logprobs import completion_logprobs

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]  # ragged on purpose
GROUP = 3
TOL = 1e-5


def ragged_completions(seed: int = 0, t: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = len(PROMPTS) * GROUP
    ids = torch.randint(1, 64, (n, t), generator=g)  # (N, T)
    lengths = torch.randint(1, t + 1, (n,), generator=g)
    lengths[0] = t
    mask = torch.arange(t) < lengths[:, None]  # (N, T)
    return ids.masked_fill(~mask, 0), mask


def reference(model, ids: torch.Tensor, mask: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row on its own, unpadded, through the HF forward."""
    logp = torch.zeros(ids.shape)
    ent = torch.zeros(ids.shape)
    for r in range(ids.shape[0]):
        p, n = PROMPTS[r // GROUP], int(mask[r].sum())
        c = ids[r, :n]
        logits = model(input_ids=torch.tensor([p + c.tolist()])).logits[0, len(p) - 1: len(p) - 1 + n]  # (n, V)
        lsm = torch.log_softmax(logits / temperature, dim=-1)
        logp[r, :n] = lsm.gather(-1, c[:, None])[:, 0]
        ent[r, :n] = -(lsm.exp() * lsm).sum(-1)
    return logp, ent


def test_matches_plain_hf_forward(lean_model):
    ids, mask = ragged_completions()
    with torch.no_grad():
        logp, ent = completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP, temperature=0.7, with_entropy=True)
        ref_logp, ref_ent = reference(lean_model, ids, mask, 0.7)
    assert logp.shape == ids.shape and logp.dtype == torch.float32
    assert (logp - ref_logp).abs().max() < TOL
    assert (ent - ref_ent).abs().max() < TOL
    assert (logp[~mask] == 0).all() and (ent[~mask] == 0).all()
    no_ent = completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP, temperature=0.7)
    assert no_ent[1] is None and (no_ent[0] - logp).abs().max() < TOL


def test_gradients_match_plain_hf_forward(lean_model):
    ids, mask = ragged_completions(seed=1)
    w = torch.randn(ids.shape, generator=torch.Generator().manual_seed(2))
    logp, ent = completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP, with_entropy=True, chunk_size=5)
    ((logp * w).sum() + 0.1 * ent.sum()).backward()
    ours = {n: p.grad.clone() for n, p in lean_model.named_parameters()}
    lean_model.zero_grad()
    ref_logp, ref_ent = reference(lean_model, ids, mask, 1.0)
    ((ref_logp * w).sum() + 0.1 * ref_ent.sum()).backward()
    for n, p in lean_model.named_parameters():
        assert torch.allclose(ours[n], p.grad, atol=TOL, rtol=1e-4), n


def test_chunk_size_does_not_change_values(qwen2_model):
    ids, mask = ragged_completions(seed=3)
    with torch.no_grad():
        a, _ = completion_logprobs(qwen2_model, PROMPTS, ids, mask, GROUP, chunk_size=1)
        b, _ = completion_logprobs(qwen2_model, PROMPTS, ids, mask, GROUP, chunk_size=4096)
    assert (a - b).abs().max() < 1e-6


def test_fallback_matches_per_row_forward(gpt2_model):
    ids, mask = ragged_completions(seed=4)
    logp, ent = completion_logprobs(gpt2_model, PROMPTS, ids, mask, GROUP, temperature=1.3, with_entropy=True)
    assert logp.requires_grad
    with torch.no_grad():
        ref_logp, ref_ent = reference(gpt2_model, ids, mask, 1.3)
    assert (logp - ref_logp).abs().max() < TOL
    assert (ent - ref_ent).abs().max() < TOL
    assert (logp[~mask] == 0).all()


def test_scores_generated_rollouts_under_autograd(qwen2_model):
    r = generate(qwen2_model, PROMPTS, GROUP, SamplingParams(temperature=1.0, max_new_tokens=8),
                 eos_token_id=3, pad_token_id=0, generator=torch.Generator().manual_seed(0))
    logp, _ = completion_logprobs(qwen2_model, r.prompt_ids, r.completion_ids, r.completion_mask, r.group_size)
    logp.sum().backward()
    assert qwen2_model.lm_head.weight.grad is not None
    assert torch.isfinite(logp).all() and (logp[r.completion_mask] < 0).all()


def reference_any_mask(model, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Like `reference`, for any mask (holes too): row r runs up to its last scored token."""
    logp, ent = torch.zeros(ids.shape), torch.zeros(ids.shape)
    for r in range(ids.shape[0]):
        scored = mask[r].nonzero().squeeze(1)
        if scored.numel() == 0:
            continue
        p, end = PROMPTS[r // GROUP], int(scored[-1]) + 1
        c = ids[r, :end]
        logits = model(input_ids=torch.tensor([p + c.tolist()])).logits[0, len(p) - 1: len(p) - 1 + end]  # (end, V)
        lsm = torch.log_softmax(logits, dim=-1)
        logp[r, :end] = torch.where(mask[r, :end], lsm.gather(-1, c[:, None])[:, 0], 0.0)
        ent[r, :end] = torch.where(mask[r, :end], -(lsm.exp() * lsm).sum(-1), 0.0)
    return logp, ent


def test_strongly_ragged_rows_values_and_gradients(lean_model):
    """Lengths 1 and T, a fully masked row and a row with a hole, padded with token 0:
    log-probs, entropy and gradients equal a plain per-row HF forward; padding scores 0."""
    t = 9
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(1, 64, (len(PROMPTS) * GROUP, t), generator=g)  # (N, T)
    lengths = torch.tensor([t, 1, 0, 1, t, 5, 2, t, 1])
    mask = torch.arange(t) < lengths[:, None]  # (N, T)
    mask[5, 2] = False  # a hole: scored 0, 1, 3, 4
    ids = ids.masked_fill(torch.arange(t) >= lengths[:, None], 0)
    w = torch.randn(ids.shape, generator=torch.Generator().manual_seed(12))
    logp, ent = completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP, with_entropy=True, chunk_size=7)
    assert (logp[~mask] == 0).all() and (ent[~mask] == 0).all()
    ((logp * w).sum() + 0.1 * ent.sum()).backward()
    ours = {n: p.grad.clone() for n, p in lean_model.named_parameters()}
    lean_model.zero_grad()
    ref_logp, ref_ent = reference_any_mask(lean_model, ids, mask)
    assert (logp - ref_logp).abs().max() < TOL
    assert (ent - ref_ent).abs().max() < TOL
    ((ref_logp * w).sum() + 0.1 * ref_ent.sum()).backward()
    for n, p in lean_model.named_parameters():
        assert torch.allclose(ours[n], p.grad, atol=TOL, rtol=1e-4), n
    with torch.no_grad():  # the previous padded computation agrees
        padded, _ = completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP, _padded=True)
    assert (padded - logp.detach()).abs().max() < TOL


def test_fully_masked_batch_scores_zero(qwen2_model):
    ids = torch.randint(1, 64, (len(PROMPTS) * GROUP, 4), generator=torch.Generator().manual_seed(13))
    logp, ent = completion_logprobs(qwen2_model, PROMPTS, ids, torch.zeros(ids.shape, dtype=torch.bool), GROUP,
                                    with_entropy=True)
    assert logp.shape == ids.shape and (logp == 0).all() and (ent == 0).all()
