"""completion_logprobs vs a plain per-row HF forward (values, entropy, gradients, fallback), and
its padding-free shared-prefix forward vs the padded reference (tests/helpers.py) and HF."""

from __future__ import annotations

import torch

from r1lab.models import forward as fw
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.train.logprobs import _buckets, completion_logprobs, packed_shared_prefix_hidden
from tests.helpers import padded_completion_logprobs, shared_prefix_hidden

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]  # ragged on purpose
GROUP = 3
FW_PROMPTS = [[3, 4, 5, 6, 7, 8], [9, 10], [11, 12, 13, 14]]  # for the forward alone
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
        padded, _ = padded_completion_logprobs(lean_model, PROMPTS, ids, mask, GROUP)
    assert (padded - logp.detach()).abs().max() < TOL


def test_fully_masked_batch_scores_zero(qwen2_model):
    ids = torch.randint(1, 64, (len(PROMPTS) * GROUP, 4), generator=torch.Generator().manual_seed(13))
    logp, ent = completion_logprobs(qwen2_model, PROMPTS, ids, torch.zeros(ids.shape, dtype=torch.bool), GROUP,
                                    with_entropy=True)
    assert logp.shape == ids.shape and (logp == 0).all() and (ent == 0).all()


def test_shared_prefix_forward_matches_per_row_hf(tiny_model):
    group, t = 3, 6
    ids, mask = fw.left_pad(FW_PROMPTS, 0)
    n = len(FW_PROMPTS) * group
    comp = torch.randint(1, 64, (n, t), generator=torch.Generator().manual_seed(4))
    last, hidden = shared_prefix_hidden(tiny_model, ids, mask, comp, group)  # (P, C), (N, T, C)
    with torch.no_grad():
        for r in range(n):
            p = FW_PROMPTS[r // group]
            ref = tiny_model(input_ids=torch.tensor([p + comp[r].tolist()])).logits[0]  # (Lp+T, V)
            assert (fw.lm_logits(tiny_model, last[r // group]) - ref[len(p) - 1]).abs().max() < TOL
            assert (fw.lm_logits(tiny_model, hidden[r]) - ref[len(p):]).abs().max() < TOL
    assert last.requires_grad and hidden.requires_grad


def test_packed_shared_prefix_forward_matches_per_row_hf(tiny_model):
    """Ragged rows (lengths 0, 1, ..., T) computed padding-free equal the unpadded HF forward,
    whatever the attention bucketing; gradients equal those of the padded shared-prefix forward."""
    group, t = 3, 7
    ids, mask = fw.left_pad(FW_PROMPTS, 0)
    n = len(FW_PROMPTS) * group
    comp = torch.randint(1, 64, (n, t), generator=torch.Generator().manual_seed(5))
    lengths = torch.tensor([t, 1, 0, 4, t, 2, 0, 6, 3])  # (N,)
    starts = (lengths.cumsum(0) - lengths).tolist()
    outs = {ov: packed_shared_prefix_hidden(tiny_model, ids, mask, comp, lengths, group, bucket_overhead=ov)
            for ov in (0, 10**12)}  # one bucket per distinct length / a single bucket
    last, hidden = outs[0]
    assert last.shape == (len(FW_PROMPTS), 32) and hidden.shape == (int(lengths.sum()), 32)
    assert (outs[0][1] - outs[10**12][1]).abs().max() < TOL
    with torch.no_grad():
        for r in range(n):
            p, m = FW_PROMPTS[r // group], int(lengths[r])
            ref = tiny_model(input_ids=torch.tensor([p + comp[r, :m].tolist()])).logits[0]  # (Lp+m, V)
            assert (fw.lm_logits(tiny_model, last[r // group]) - ref[len(p) - 1]).abs().max() < TOL
            mine = fw.lm_logits(tiny_model, hidden[starts[r]: starts[r] + m])  # (m, V)
            assert mine.shape[0] == m and (m == 0 or (mine - ref[len(p):]).abs().max() < TOL)
    # gradients: same weighted loss through the padded forward
    w = torch.randn(hidden.shape, generator=torch.Generator().manual_seed(6))
    ((hidden * w).sum() + last.pow(2).sum()).backward()
    ours = {k: p.grad for k, p in tiny_model.named_parameters()}  # (lm_head unused: None)
    tiny_model.zero_grad(set_to_none=True)
    last_ref, hidden_ref = shared_prefix_hidden(tiny_model, ids, mask, comp, group)
    valid = torch.arange(t) < lengths[:, None]  # (N, T)
    ((hidden_ref[valid] * w).sum() + last_ref.pow(2).sum()).backward()
    for k, p in tiny_model.named_parameters():
        assert (ours[k] is None) == (p.grad is None), k
        assert ours[k] is None or (ours[k] - p.grad).abs().max() < TOL * max(1.0, p.grad.abs().max()), k


def test_packed_forward_right_padded_prefix_and_empty_completions(tiny_model):
    ids, mask = fw.left_pad(FW_PROMPTS, 0)
    # the same prompts, right padded
    right_ids = torch.stack([torch.roll(r, -int((~m).sum())) for r, m in zip(ids, mask, strict=True)])
    right_mask = torch.stack([torch.roll(m, -int((~m).sum())) for m in mask])
    comp = torch.randint(1, 64, (3, 4), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        a_last, a_hidden = packed_shared_prefix_hidden(tiny_model, ids, mask, comp, torch.tensor([4, 2, 3]), 1)
        b_last, b_hidden = packed_shared_prefix_hidden(tiny_model, right_ids, right_mask, comp,
                                                          torch.tensor([4, 2, 3]), 1)
        e_last, e_hidden = packed_shared_prefix_hidden(tiny_model, ids, mask, comp, torch.zeros(3), 1)
    assert (a_last - b_last).abs().max() < TOL and (a_hidden - b_hidden).abs().max() < TOL
    assert (a_last - e_last).abs().max() < TOL and e_hidden.shape == (0, a_hidden.shape[1])


def test_buckets_cover_rows_in_order():
    lengths = [9, 9, 7, 5, 5, 5, 2, 1]
    for overhead in (0, 50, 10**9):
        b = _buckets(lengths, 4, overhead)
        assert b[0][0] == 0 and b[-1][1] == len(lengths)
        assert all(x[1] == y[0] for x, y in zip(b[:-1], b[1:], strict=True))
    assert len(_buckets(lengths, 4, 0)) == 5 and _buckets(lengths, 4, 10**9) == [(0, 8)]
    assert _buckets([], 4, 0) == []
    assert len(_buckets(lengths, 4, 0, max_cuts=2)) == 3  # edges thinned for long batches


def test_folded_gqa_and_layer_checkpointing_give_the_same_values_and_gradients(qwen2_model):
    """The CUDA attention layout (query heads folded per K/V head, mask repeated) and per-layer
    recomputation, forced on CPU, match the default forward in values and gradients."""
    ids, mask = ragged_completions(seed=3)
    results = []
    for fold, ckpt in ((False, False), (True, False), (True, True)):
        qwen2_model.zero_grad()
        ids_p, pmask = fw.left_pad(PROMPTS, 0)
        lengths = mask.long().sum(-1)
        last, hidden = packed_shared_prefix_hidden(qwen2_model, ids_p, pmask, ids, lengths, GROUP,
                                                   checkpoint_layers=ckpt, fold_gqa=fold)
        (hidden.sum() + last.sum()).backward()
        results.append((hidden.detach(), {n: p.grad.clone() for n, p in qwen2_model.named_parameters()}))
    assert fw.spec(qwen2_model).n_rep > 1  # grouped K/V heads: the fold really folds
    base_h, base_g = results[0]
    for h, g in results[1:]:
        assert (h - base_h).abs().max() < TOL
        for n in base_g:
            assert torch.allclose(g[n], base_g[n], atol=TOL, rtol=1e-4), n
