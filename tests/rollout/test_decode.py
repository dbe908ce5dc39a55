"""Our static-KV-cache decode (both cache layouts, compaction, fused and unfused weights, bf16)
against the HF forward on tiny random models, teacher-forced."""

from __future__ import annotations

import torch

from r1lab.models import forward as fw
from r1lab.rollout import decode as dec
from tests.helpers import hf_logits

PROMPTS = [[3, 4, 5, 6, 7, 8], [9, 10], [11, 12, 13, 14]]
TOL = 1e-5


@torch.no_grad()
def test_static_cache_decode_with_compaction_matches_full_forward(tiny_model, decode_layout):
    group, steps = 2, 5
    ids, mask = fw.left_pad(PROMPTS, 0)  # (P, Lp)
    n = len(PROMPTS) * group
    cont = torch.randint(1, 64, (n, steps), generator=torch.Generator().manual_seed(3))  # teacher-forced tokens
    logits0, kvs = dec.prefill(tiny_model, ids, mask)
    cache = dec.StaticKVCache(tiny_model, kvs, mask, group, ids.shape[1] + steps)
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
        cache = dec.StaticKVCache(qwen2_model, kvs, mask, 2, ids.shape[1] + 2, fuse_limit=limit)
        assert cache.shared
        assert len(cache.weights.layers[0][1]) == (1 if limit else 3)
        outs.append(dec.decode_step(qwen2_model, cache, toks, pos))
    assert (outs[0] - outs[1]).abs().max() < TOL
    for r in range(4):  # and both equal the plain forward of [prompt ; token]
        prompt = [t for t, m in zip(ids[r // 2].tolist(), mask[r // 2].tolist(), strict=True) if m]
        ref = qwen2_model(input_ids=torch.tensor([prompt + [int(toks[r])]])).logits[0, -1]
        assert (outs[0][r] - ref).abs().max() < TOL


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
    cache = dec.StaticKVCache(model, kvs, mask, group, ids.shape[1] + steps)
    assert cache.dtype == torch.bfloat16
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

