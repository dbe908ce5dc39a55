"""Our functional Llama/Qwen2 forward vs the HF forward (fp32, tiny random models)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from r1lab.models import decode as dec
from r1lab.models import forward as fw

PROMPTS = [[3, 4, 5, 6, 7, 8], [9, 10], [11, 12, 13, 14]]
TOL = 1e-5


def hf_logits(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=ids, attention_mask=mask.long(), position_ids=fw.positions_from_mask(mask))
    return out.logits  # (B, T, V)


def test_supports_only_what_we_reproduce(make_tiny):
    build_tiny = make_tiny
    assert fw.supports(build_tiny("qwen2"))
    assert fw.supports(build_tiny("llama"))
    assert fw.supports(build_tiny("llama-bias-mha"))
    assert not fw.supports(build_tiny("qwen2", use_sliding_window=True, sliding_window=4, max_window_layers=0))
    linear = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    assert not fw.supports(build_tiny("llama", rope_parameters=linear))
    assert not fw.supports(build_tiny("llama", hidden_act="gelu"))
    assert not fw.supports(GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=4)))


def test_logits_match_hf_left_padded(tiny_model):
    ids, mask = fw.left_pad(PROMPTS, 0)  # (3, 6)
    with torch.no_grad():
        ours = fw.forward_logits(tiny_model, ids, mask)
        ref = hf_logits(tiny_model, ids, mask)
    assert (ours - ref)[mask].abs().max() < TOL
    assert torch.isfinite(ours).all()


def test_logits_match_hf_unpadded(tiny_model):
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = fw.forward_logits(tiny_model, ids)
        ref = tiny_model(input_ids=ids).logits
    assert (ours - ref).abs().max() < TOL


def test_reads_live_parameters_and_backprops(tiny_model):
    ids, mask = fw.left_pad(PROMPTS, 0)
    w = torch.randn(tiny_model.config.vocab_size, generator=torch.Generator().manual_seed(2))
    (fw.forward_logits(tiny_model, ids, mask)[mask] @ w).sum().backward()
    ours = {n: p.grad.clone() for n, p in tiny_model.named_parameters()}
    tiny_model.zero_grad()
    (hf_logits(tiny_model, ids, mask)[mask] @ w).sum().backward()
    for n, p in tiny_model.named_parameters():
        assert torch.allclose(ours[n], p.grad, atol=TOL, rtol=1e-4), n
    # an in-place update (like an optimizer step) is seen by the next call
    with torch.no_grad():
        before = fw.forward_logits(tiny_model, ids, mask)
        tiny_model.model.layers[0].mlp.down_proj.weight.mul_(2.0)
        after = fw.forward_logits(tiny_model, ids, mask)
        assert (before - after).abs().max() > 1e-3
        assert (after - hf_logits(tiny_model, ids, mask))[mask].abs().max() < TOL


@torch.no_grad()
def test_static_cache_decode_with_compaction_matches_full_forward(tiny_model, decode_layout):
    group, steps = 2, 5
    ids, mask = fw.left_pad(PROMPTS, 0)  # (P, Lp)
    n = len(PROMPTS) * group
    cont = torch.randint(1, 64, (n, steps), generator=torch.Generator().manual_seed(3))  # teacher-forced tokens
    logits0, kvs = dec.prefill(tiny_model, ids, mask)
    cache = dec.StaticKVCache(tiny_model, n, ids.shape[1] + steps, "cpu", torch.float32)
    cache.load_prefix(kvs, mask, group)
    assert cache.shared == (decode_layout == "shared")
    live = torch.arange(n)
    pos = mask.sum(-1).repeat_interleave(group)
    got = {r: [logits0[r // group]] for r in range(n)}
    for t in range(steps):
        if t == 2:  # drop rows 1 and 4 mid-way
            keep = torch.tensor([i for i, r in enumerate(live.tolist()) if r not in (1, 4)])
            live, pos = live[keep], pos[keep]
            cache.compact(keep)
        out = dec.decode_step(tiny_model, cache, cont[live, t], pos)  # (A, V)
        pos = pos + 1
        for i, r in enumerate(live.tolist()):
            got[r].append(out[i])
    for r in range(n):
        seq = torch.tensor(PROMPTS[r // group] + cont[r].tolist())[None]
        ref = tiny_model(input_ids=seq).logits[0, len(PROMPTS[r // group]) - 1:]  # (steps+1, V)
        mine = torch.stack(got[r])
        assert (mine - ref[: len(mine)]).abs().max() < TOL
        assert len(mine) == (3 if r in (1, 4) else steps + 1)


@torch.no_grad()
def test_decode_unfused_weights_and_long_prompts_pick_the_shared_layout(qwen2_model):
    """Above the fusion limit decode_step reads the modules' own weights: same logits; prompts of
    SHARED_PREFIX_MIN slots or more with G > 1 take the shared layout by default."""
    ids, mask = fw.left_pad([[1 + t % 60 for t in range(dec.SHARED_PREFIX_MIN)], [5, 6, 7]], 0)  # (2, 64)
    _, kvs = dec.prefill(qwen2_model, ids, mask)
    toks, pos = torch.tensor([3, 4, 5, 6]), mask.sum(-1).repeat_interleave(2)
    outs = []
    for limit in (1 << 26, 0):
        cache = dec.StaticKVCache(qwen2_model, 4, ids.shape[1] + 2, "cpu", torch.float32)
        cache.load_prefix(kvs, mask, 2)
        assert cache.shared
        cache.weights = dec.DecodeWeights(qwen2_model, cache.slots + 1, fuse_limit=limit)
        assert len(cache.weights.layers[0][1]) == (1 if limit else 3)
        outs.append(dec.decode_step(qwen2_model, cache, toks, pos))
    assert (outs[0] - outs[1]).abs().max() < TOL
    for r in range(4):  # and both equal the plain forward of [prompt ; token]
        prompt = [t for t, m in zip(ids[r // 2].tolist(), mask[r // 2].tolist()) if m]
        ref = qwen2_model(input_ids=torch.tensor([prompt + [int(toks[r])]])).logits[0, -1]
        assert (outs[0][r] - ref).abs().max() < TOL


def test_shared_prefix_forward_matches_per_row_hf(tiny_model):
    group, t = 3, 6
    ids, mask = fw.left_pad(PROMPTS, 0)
    n = len(PROMPTS) * group
    comp = torch.randint(1, 64, (n, t), generator=torch.Generator().manual_seed(4))
    last, hidden = fw.shared_prefix_hidden(tiny_model, ids, mask, comp, group)  # (P, C), (N, T, C)
    with torch.no_grad():
        for r in range(n):
            p = PROMPTS[r // group]
            ref = tiny_model(input_ids=torch.tensor([p + comp[r].tolist()])).logits[0]  # (Lp+T, V)
            assert (fw.lm_logits(tiny_model, last[r // group]) - ref[len(p) - 1]).abs().max() < TOL
            assert (fw.lm_logits(tiny_model, hidden[r]) - ref[len(p):]).abs().max() < TOL
    assert last.requires_grad and hidden.requires_grad


def test_left_pad_and_positions():
    ids, mask = fw.left_pad([[7, 8, 9], [5]], pad_id=0)
    assert ids.tolist() == [[7, 8, 9], [0, 0, 5]]
    assert fw.positions_from_mask(mask).tolist() == [[0, 1, 2], [0, 0, 0]]
    with pytest.raises(ValueError):
        fw.left_pad([[1], []], 0)


def test_packed_shared_prefix_forward_matches_per_row_hf(tiny_model):
    """Ragged rows (lengths 0, 1, ..., T) computed padding-free equal the unpadded HF forward,
    whatever the attention bucketing; gradients equal those of the padded shared-prefix forward."""
    group, t = 3, 7
    ids, mask = fw.left_pad(PROMPTS, 0)
    n = len(PROMPTS) * group
    comp = torch.randint(1, 64, (n, t), generator=torch.Generator().manual_seed(5))
    lengths = torch.tensor([t, 1, 0, 4, t, 2, 0, 6, 3])  # (N,)
    starts = (lengths.cumsum(0) - lengths).tolist()
    outs = {ov: fw.packed_shared_prefix_hidden(tiny_model, ids, mask, comp, lengths, group, bucket_overhead=ov)
            for ov in (0, 10**12)}  # one bucket per distinct length / a single bucket
    last, hidden = outs[0]
    assert last.shape == (len(PROMPTS), 32) and hidden.shape == (int(lengths.sum()), 32)
    assert (outs[0][1] - outs[10**12][1]).abs().max() < TOL
    with torch.no_grad():
        for r in range(n):
            p, m = PROMPTS[r // group], int(lengths[r])
            ref = tiny_model(input_ids=torch.tensor([p + comp[r, :m].tolist()])).logits[0]  # (Lp+m, V)
            assert (fw.lm_logits(tiny_model, last[r // group]) - ref[len(p) - 1]).abs().max() < TOL
            mine = fw.lm_logits(tiny_model, hidden[starts[r]: starts[r] + m])  # (m, V)
            assert mine.shape[0] == m and (m == 0 or (mine - ref[len(p):]).abs().max() < TOL)
    # gradients: same weighted loss through the padded forward
    w = torch.randn(hidden.shape, generator=torch.Generator().manual_seed(6))
    ((hidden * w).sum() + last.pow(2).sum()).backward()
    ours = {k: p.grad for k, p in tiny_model.named_parameters()}  # (lm_head unused: None)
    tiny_model.zero_grad(set_to_none=True)
    last_ref, hidden_ref = fw.shared_prefix_hidden(tiny_model, ids, mask, comp, group)
    valid = torch.arange(t) < lengths[:, None]  # (N, T)
    ((hidden_ref[valid] * w).sum() + last_ref.pow(2).sum()).backward()
    for k, p in tiny_model.named_parameters():
        assert (ours[k] is None) == (p.grad is None), k
        assert ours[k] is None or (ours[k] - p.grad).abs().max() < TOL * max(1.0, p.grad.abs().max()), k


def test_packed_forward_right_padded_prefix_and_empty_completions(tiny_model):
    ids, mask = fw.left_pad(PROMPTS, 0)
    right_ids = torch.stack([torch.roll(r, -int((~m).sum())) for r, m in zip(ids, mask)])  # same prompts, right padded
    right_mask = torch.stack([torch.roll(m, -int((~m).sum())) for m in mask])
    comp = torch.randint(1, 64, (3, 4), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        a_last, a_hidden = fw.packed_shared_prefix_hidden(tiny_model, ids, mask, comp, torch.tensor([4, 2, 3]), 1)
        b_last, b_hidden = fw.packed_shared_prefix_hidden(tiny_model, right_ids, right_mask, comp,
                                                          torch.tensor([4, 2, 3]), 1)
        e_last, e_hidden = fw.packed_shared_prefix_hidden(tiny_model, ids, mask, comp, torch.zeros(3), 1)
    assert (a_last - b_last).abs().max() < TOL and (a_hidden - b_hidden).abs().max() < TOL
    assert (a_last - e_last).abs().max() < TOL and e_hidden.shape == (0, a_hidden.shape[1])


def test_buckets_cover_rows_in_order():
    lengths = [9, 9, 7, 5, 5, 5, 2, 1]
    for overhead in (0, 50, 10**9):
        b = fw._buckets(lengths, 4, overhead)
        assert b[0][0] == 0 and b[-1][1] == len(lengths) and all(x[1] == y[0] for x, y in zip(b, b[1:]))
    assert len(fw._buckets(lengths, 4, 0)) == 5 and fw._buckets(lengths, 4, 10**9) == [(0, 8)]
    assert fw._buckets([], 4, 0) == []
    assert len(fw._buckets(lengths, 4, 0, max_cuts=2)) == 3  # edges thinned for long batches


@torch.no_grad()
def test_bfloat16_stays_within_the_spread_of_hf_own_bf16_paths(tiny_model, decode_layout):
    """In bf16 nothing matches exactly: HF's own sdpa and eager attention already disagree. Our
    forward and our decode (teacher-forced) must be no further from HF's bf16 logits than twice
    that spread (a wrong cast or a bf16-only bug gives errors of the logits' own size)."""
    model = tiny_model.to(torch.bfloat16)
    group, steps = 2, 4
    ids, mask = fw.left_pad(PROMPTS, 0)  # (P, Lp)
    cont = torch.randint(1, 64, (len(PROMPTS) * group, steps), generator=torch.Generator().manual_seed(5))
    logits0, kvs = dec.prefill(model, ids, mask)
    cache = dec.StaticKVCache(model, cont.shape[0], ids.shape[1] + steps, "cpu", torch.bfloat16)
    cache.load_prefix(kvs, mask, group)
    pos, mine = mask.sum(-1).repeat_interleave(group), [logits0.repeat_interleave(group, 0)]
    for t in range(steps - 1):
        mine.append(dec.decode_step(model, cache, cont[:, t], pos))
        pos = pos + 1
    mine = torch.stack(mine, 1).float()  # (N, steps, V)
    spread, err_dec = 0.0, 0.0
    for r in range(cont.shape[0]):
        seq = torch.tensor([PROMPTS[r // group] + cont[r].tolist()])
        model.config._attn_implementation = "eager"
        eager = model(input_ids=seq).logits[0].float()
        model.config._attn_implementation = "sdpa"
        sdpa = model(input_ids=seq).logits[0].float()  # (L, V)
        spread = max(spread, (eager - sdpa).abs().max().item())
        ref = sdpa[len(PROMPTS[r // group]) - 1:-1]  # (steps, V)
        err_dec = max(err_dec, (mine[r] - ref).abs().max().item())
    err_fwd = (fw.forward_logits(model, ids, mask).float() - hf_logits(model, ids, mask).float())[mask].abs().max()
    scale = hf_logits(model, ids, mask).float()[mask].abs().max().item()
    assert 0 < spread < scale / 4
    assert err_dec <= 2 * spread, (err_dec, spread)
    assert float(err_fwd) <= 2 * spread, (float(err_fwd), spread)
