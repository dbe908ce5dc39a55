"""Differentiable per-token log-probs (and entropy) of sampled completions: the trainer's forward.

`completion_logprobs` scores completion token t of row n (= sample j of prompt
n // G) under the model, with logits divided by `temperature`, exactly as a plain HF
forward over [prompt ; completion] would.

Choices:

* Lean path (`r1lab.models.forward.supports`): `packed_shared_prefix_hidden` runs each
  prompt ONCE (its G completions attend to the shared prompt K/V) and is padding-free:
  the per-token work runs only on the completion positions whose hidden state predicts
  a scored token (row n: positions 0..last_n-1, last_n = its last position with mask
  True; position -1, the last prompt token, predicts token 0). Right padding and the
  last scored token therefore cost nothing. The lm_head is applied later, per chunk.
  Every per-token op (embedding, norms, projections, RoPE, MLP) runs on the packed tokens
  [prompt tokens ; completion tokens]; only attention gathers q/k/v into right-padded rows,
  in buckets of rows of similar length (`_PackedLayout`, `_buckets`). The padded computation
  over all N x T positions it replaced is kept as a test reference (tests/helpers.py).
* Fallback: one HF forward over the left-padded concatenation with an attention mask
  and per-row position ids (first real token at 0); only the last T+1 logits are
  requested when the model accepts `logits_to_keep`.
* Only positions with completion_mask True are scored. They are processed in chunks of
  `chunk_size` positions: lm_head (lean path) + fp32 log-softmax + gather run inside
  an activation checkpoint when grad is on, so neither forward nor backward ever holds
  more than one chunk of (chunk, V) logits beyond what the model itself produced.
* Memory (measured: docs/benchmarks.md, "Where a GPU step's memory goes"): what backward keeps is
  about 100 KiB per token per layer at the 1.5B shape, most of it the SwiGLU MLP's activations.
  `checkpoint_layers` keeps only each layer's input and recomputes the layer in backward.
  On CUDA, attention with a mask and grouped K/V heads would run in SDPA's math kernel (flash takes
  no mask, the memory-efficient kernel no GQA), which keeps every (rows, heads, w, S) attention
  matrix in fp32 for backward: about 40% more at the benchmark's shape. So on CUDA the query heads
  that share a K/V head are folded into the query length, (r, Hkv, n_rep*w, D), with the mask
  repeated to match: q, k and v then have the same head count and the memory-efficient kernel runs.
  On CPU the unfolded call is kept (same numbers as before; `fold_gqa=True` forces the fold, for tests).
* Entropy, when requested, is computed from the same fp32 log-softmax and is returned
  ATTACHED to the graph when grad is enabled (differentiable, usable as a bonus term);
  call `.detach()` if it is only logged. Masked positions are 0 in both outputs.
* Masked-out completion positions must still hold valid token ids (e.g. the pad id):
  right padding is causal-after every real token, so it never changes the result. A
  masked position BEFORE a row's last scored one (a hole) is still run through the model
  as context, exactly as in a plain forward; it is just not scored.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from r1lab.models import forward as fw

FOLD_GQA_ON_CUDA = True  # the default of `fold_gqa` on CUDA (bench/bench_gpu.py turns it off to measure why)

# --------------------------------------------------------------------------- padding-free shared-prefix forward


def _buckets(lengths: list[int], prefix_width: int, overhead: int, max_cuts: int = 64) -> list[tuple[int, int]]:
    """Split rows sorted by descending length into contiguous buckets [a, b) minimising the
    padded attention work sum(rows * width * (prefix_width + width)) + `overhead` per bucket
    (DP over bucket edges where the length changes, thinned to `max_cuts` evenly spread ones)."""
    if not lengths:
        return []
    inner = [i for i in range(1, len(lengths)) if lengths[i] != lengths[i - 1]]
    if len(inner) > max_cuts:
        inner = [inner[(k * len(inner)) // max_cuts] for k in range(max_cuts)]
    cuts = [0] + inner + [len(lengths)]
    best, prev = [0.0] + [float("inf")] * (len(cuts) - 1), [0] * len(cuts)
    for j in range(1, len(cuts)):
        for i in range(j):
            w = lengths[cuts[i]]  # widest row of bucket [cuts[i], cuts[j])
            cost = best[i] + (cuts[j] - cuts[i]) * w * (prefix_width + w) + overhead
            if cost < best[j]:
                best[j], prev[j] = cost, i
    out, j = [], len(cuts) - 1
    while j > 0:
        out.append((cuts[prev[j]], cuts[j]))
        j = prev[j]
    return out[::-1]


@dataclass(frozen=True)
class _PackedLayout:
    """Where the packed tokens go for attention (built once per call, shared by all layers).

    Attention sees segments of right-padded rows: first the P prompts (width Wp, plain causal),
    then buckets of completion rows of similar length (query width w, keys [prompt (Wp) ; own (w)]).
    All segments' queries live in one flat buffer of `sum(q_sizes)` slots and all keys/values in
    another; `q_src`/`kv_src` name the packed token shown in each slot (padding slots show token 0:
    they are masked as keys and their query outputs are never read, so they get exactly zero
    gradient), and `q_slot` the slot of each packed token's query.
    """

    q_src: Tensor  # (Sq,) long
    kv_src: Tensor  # (Skv,) long
    q_slot: Tensor  # (K,) long
    q_sizes: list[int]
    kv_sizes: list[int]
    shapes: list[tuple[int, int, int]]  # per segment: rows, query width, key width
    masks: list[Tensor | None]  # per segment: additive (rows, 1, fold*w, Wp+w) float mask; None = causal
    fold: int = 1  # query heads folded into the query length per K/V head (1: SDPA's enable_gqa instead)


def _packed_layout(
    plen: Tensor, slen: Tensor, prompt_of: Tensor, buckets: list[tuple[int, int]], dtype: torch.dtype, fold: int = 1
) -> _PackedLayout:
    """plen (P,) prompt lengths; slen (N',) completion lengths sorted descending; prompt_of (N',);
    fold > 1: the masks repeated for queries folded `fold` per K/V head (see the module header)."""
    dev = plen.device
    p, wp = plen.shape[0], int(plen.max())
    pstart = plen.cumsum(0) - plen  # (P,) packed index of each prompt's first token
    kp = int(plen.sum())
    cstart = kp + slen.cumsum(0) - slen  # (N',) packed index of each completion row's first token
    u = torch.arange(wp, device=dev)
    prompt_valid = u < plen[:, None]  # (P, Wp)
    prompt_src = torch.where(prompt_valid, pstart[:, None] + u, 0)  # (P, Wp)
    q_src, kv_src, masks = [prompt_src.reshape(-1)], [prompt_src.reshape(-1)], [None]
    real, shapes = [prompt_valid.reshape(-1)], [(p, wp, wp)]  # real: query slot holds a real token
    for a, b in buckets:
        w = int(slen[a])
        t = torch.arange(w, device=dev)
        own_valid = t < slen[a:b, None]  # (R, w)
        own_src = torch.where(own_valid, cstart[a:b, None] + t, 0)  # (R, w)
        q_src.append(own_src.reshape(-1))
        real.append(own_valid.reshape(-1))
        kv_src.append(torch.cat((prompt_src[prompt_of[a:b]], own_src), dim=1).reshape(-1))  # (R*(Wp+w),)
        allowed = torch.cat((prompt_valid[prompt_of[a:b]][:, None, :].expand(b - a, w, wp),
                             torch.ones(w, w, dtype=torch.bool, device=dev).tril().expand(b - a, w, w)), dim=-1)
        if fold > 1:  # (R, w, S) -> (R, fold*w, S): the same mask for each folded query head
            allowed = allowed[:, None].expand(b - a, fold, w, wp + w).reshape(b - a, fold * w, wp + w)
        masks.append(torch.zeros(allowed.shape, dtype=dtype, device=dev).masked_fill(~allowed, float("-inf"))[:, None])
        shapes.append((b - a, w, wp + w))
    q_src_all = torch.cat(q_src)  # (Sq,)
    real_slots = torch.cat(real).nonzero().squeeze(1)  # (K,)
    q_slot = torch.empty_like(real_slots)  # (K,)
    q_slot[q_src_all[real_slots]] = real_slots
    return _PackedLayout(q_src_all, torch.cat(kv_src), q_slot, [r * w for r, w, _ in shapes],
                         [r * s for r, _, s in shapes], shapes, masks, fold)


def _packed_attention(lay: _PackedLayout, sp: fw.Spec, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Packed q (K, H*D) (RoPE applied), k/v (K, Hkv*D) -> attention output (K, H*D)."""
    d = sp.head_dim
    qs = q.index_select(0, lay.q_src).split(lay.q_sizes)  # per segment (rows*w, H*D)
    ks = k.index_select(0, lay.kv_src).split(lay.kv_sizes)  # per segment (rows*s, Hkv*D)
    vs = v.index_select(0, lay.kv_src).split(lay.kv_sizes)
    outs = []
    for (r, w, s), mask, qi, ki, vi in zip(lay.shapes, lay.masks, qs, ks, vs, strict=True):
        qh = qi.view(r, w, sp.n_heads, d).transpose(1, 2)  # (r, H, w, D)
        kh = ki.view(r, s, sp.n_kv_heads, d).transpose(1, 2)  # (r, Hkv, s, D)
        vh = vi.view(r, s, sp.n_kv_heads, d).transpose(1, 2)  # (r, Hkv, s, D)
        if lay.fold > 1 and mask is not None:  # head h = kv * n_rep + j -> query row j * w + t of head kv
            qf = qh.reshape(r, sp.n_kv_heads, lay.fold * w, d)  # (r, Hkv, n_rep*w, D)
            o = F.scaled_dot_product_attention(qf, kh, vh, attn_mask=mask).view(r, sp.n_heads, w, d)
        else:
            o = fw.attend_heads(qh, kh, vh, mask, is_causal=mask is None)
        # o: (r, H, w, D)
        outs.append(o.transpose(1, 2).reshape(r * w, sp.n_heads * d))
    return torch.cat(outs).index_select(0, lay.q_slot)  # (K, H*D)


def packed_shared_prefix_hidden(
    model: nn.Module, prefix_ids: Tensor, prefix_mask: Tensor, completion_ids: Tensor, lengths: Tensor,
    group_size: int, bucket_overhead: int = 32768, checkpoint_layers: bool = False, fold_gqa: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """Padding-free shared-prefix forward: only the first `lengths[n]` completion tokens of row n are
    computed; they attend to their prompt and to themselves exactly as in the padded forward (kept
    as the tests' reference: tests/helpers.py `shared_prefix_hidden`).

    prefix_ids/prefix_mask (P, Lp), padded on either side (no holes); completion_ids (N, T), N = P*G,
    row i*G+j continuing prompt i; lengths (N,) in [0, T]. Returns the final-normed hidden of the
    last prompt token (P, C) and of the computed completion tokens (K, C), K = lengths.sum(), row
    after row (row n's tokens 0..lengths[n]-1 consecutive).

    Every per-token op (embedding, norms, projections, RoPE, MLP) runs on the packed tokens
    [prompt tokens ; completion tokens] (each prompt once); only attention gathers q/k/v into
    right-padded rows (`_PackedLayout`). Completion rows are sorted by length and grouped into
    buckets (`_buckets`; `bucket_overhead` is the per-bucket cost in query x key units) so attention
    padding stays small too. In the last layer o_proj/MLP run only where an output is returned.
    `checkpoint_layers`: recompute each layer in backward; `fold_gqa`: fold grouped query heads for
    the masked attention (default: on CUDA; see the module header).
    """
    sp = fw.spec(model)
    p = prefix_mask.shape[0]
    n, t = completion_ids.shape
    if n != p * group_size:
        raise ValueError(f"completion rows {n} != prompts {p} x group_size {group_size}")
    dev = completion_ids.device
    lengths = lengths.to(dev, torch.long).clamp(0, t)  # (N,)
    plen = prefix_mask.long().sum(-1)  # (P,)
    if bool((plen == 0).any()):
        raise ValueError("every prompt needs at least one token")

    order = torch.sort(lengths, descending=True, stable=True).indices  # (N,) rows by descending length
    order = order[lengths[order] > 0]  # (N',)
    slen = lengths[order]  # (N',)
    kp, kc = int(plen.sum()), int(slen.sum())
    steps = torch.arange(t, device=dev)
    sel = steps < slen[:, None]  # (N', T)
    ids = torch.cat((prefix_ids[prefix_mask], completion_ids[order][sel]))  # (K,) packed tokens
    cpos = plen.repeat_interleave(group_size)[order][:, None] + steps  # (N', T)
    pos = torch.cat((fw.positions_from_mask(prefix_mask)[prefix_mask], cpos[sel]))  # (K,)

    x = fw.embed(model, ids)  # (K, C)
    fold = sp.n_rep if (dev.type == "cuda" and FOLD_GQA_ON_CUDA if fold_gqa is None else fold_gqa) else 1
    lay = _packed_layout(plen, slen, order // group_size, _buckets(slen.tolist(), int(plen.max()), bucket_overhead),
                         x.dtype, fold)
    cos, sin = fw.rope_cos_sin(model, pos[None], x.dtype)  # (1, 1, K, D)
    cos, sin = cos[0, 0, :, None], sin[0, 0, :, None]  # (K, 1, D)
    keep = torch.cat((plen.cumsum(0) - 1, torch.arange(kp, kp + kc, device=dev)))  # (P+Kc,) returned rows
    layers = model.model.layers
    recompute = checkpoint_layers and torch.is_grad_enabled()
    for li, layer in enumerate(layers):
        last = keep if li == len(layers) - 1 else None
        if recompute:
            x = checkpoint(_packed_layer, layer, lay, sp, x, cos, sin, last, use_reentrant=False)
        else:
            x = _packed_layer(layer, lay, sp, x, cos, sin, last)
    hidden = fw.final_norm(model, x)  # (P+Kc, C)
    # completion rows back to their original order
    start = torch.zeros(n, dtype=torch.long, device=dev)
    start[order] = slen.cumsum(0) - slen  # (N,)
    rows = torch.arange(n, device=dev)[:, None].expand(n, t)[steps < lengths[:, None]]  # (Kc,) row-major
    tpos = steps.expand(n, t)[steps < lengths[:, None]]  # (Kc,)
    return hidden[:p], hidden[p:].index_select(0, start[rows] + tpos)


def _packed_layer(layer: nn.Module, lay: _PackedLayout, sp: fw.Spec, x: Tensor, cos: Tensor, sin: Tensor,
                  keep: Tensor | None) -> Tensor:
    """One decoder layer on the packed tokens x (K, C); `keep` (the last layer): the rows to return."""
    at = layer.self_attn
    h = fw.rms_norm(layer.input_layernorm, x)  # (K, C)
    q = fw.linear(at.q_proj, h).view(-1, sp.n_heads, sp.head_dim)  # (K, H, D)
    k = fw.linear(at.k_proj, h).view(-1, sp.n_kv_heads, sp.head_dim)  # (K, Hkv, D)
    q, k = fw.apply_rope(q, cos, sin).flatten(1), fw.apply_rope(k, cos, sin).flatten(1)  # (K, H*D), (K, Hkv*D)
    attn_out = _packed_attention(lay, sp, q, k, fw.linear(at.v_proj, h))  # (K, H*D)
    if keep is not None:
        x, attn_out = x.index_select(0, keep), attn_out.index_select(0, keep)  # (P+Kc, ...)
    return fw.block_out(layer, x, attn_out)


# --------------------------------------------------------------------------- scoring


def _chunk_stats(
    source: Tensor, idx: Tensor, targets: Tensor, head: nn.Module | None, temperature: float, with_entropy: bool
) -> tuple[Tensor, Tensor]:
    """source (M, C or V) rows `idx` (K,) -> log p(targets) (K,), entropy (K,) (empty if not wanted)."""
    rows = source.index_select(0, idx)  # (K, C) hidden or (K, V) logits
    logits = rows if head is None else F.linear(rows, head.weight, head.bias)  # (K, V)
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)  # (K, V)
    tok = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (K,)
    if not with_entropy:
        return tok, tok.new_zeros(0)
    return tok, -(logp.exp() * logp).sum(-1)  # (K,)


def _score(
    source: Tensor, rows: Tensor | None, completion_ids: Tensor, completion_mask: Tensor, head: nn.Module | None,
    temperature: float, with_entropy: bool, chunk_size: int,
) -> tuple[Tensor, Tensor | None]:
    """source (M, C|V); rows (N*T,) long: the source row predicting each completion position
    (None: source is aligned with the N*T positions) -> (N, T) log-probs [, entropy]."""
    n, t = completion_ids.shape
    flat = completion_mask.reshape(-1).nonzero().squeeze(1)  # (K,)
    targets = completion_ids.reshape(-1).index_select(0, flat)  # (K,)
    src = flat if rows is None else rows.index_select(0, flat)  # (K,)
    use_ckpt = torch.is_grad_enabled() and (source.requires_grad or head is not None)
    logps, ents = [], []
    for s in range(0, flat.numel(), chunk_size):
        args = (source, src[s: s + chunk_size], targets[s: s + chunk_size], head, temperature, with_entropy)
        lp, en = checkpoint(_chunk_stats, *args, use_reentrant=False) if use_ckpt else _chunk_stats(*args)
        logps.append(lp)
        ents.append(en)
    zeros = torch.zeros(n * t, dtype=torch.float32, device=completion_ids.device)  # (N*T,)
    if not logps:
        return zeros.view(n, t), (zeros.view(n, t).clone() if with_entropy else None)
    logp = zeros.index_put((flat,), torch.cat(logps)).view(n, t)  # (N, T)
    ent = zeros.index_put((flat,), torch.cat(ents)).view(n, t) if with_entropy else None  # (N, T)
    return logp, ent


def _lean_source(
    model: nn.Module, prompt_ids: list[list[int]], completion_ids: Tensor, completion_mask: Tensor, group_size: int,
    checkpoint_layers: bool = False,
) -> tuple[Tensor, Tensor]:
    """Padding-free: final-normed hidden (P + K, C) [prompt last tokens ; computed completion
    tokens] and, per completion position (N*T,), the row of it that predicts that token.

    Row n needs completion positions 0..last-1 (last = its last scored position): their hidden
    states predict tokens 1..last, and causality makes everything after them irrelevant.
    """
    n, t = completion_ids.shape
    dev = completion_ids.device
    ids, pmask = fw.left_pad(prompt_ids, 0, dev)  # (P, Lp)
    p = ids.shape[0]
    steps = torch.arange(t, device=dev)
    lengths = torch.where(completion_mask, steps, -1).amax(-1).clamp_min(0)  # (N,) last scored position
    last, hidden = packed_shared_prefix_hidden(model, ids, pmask, completion_ids, lengths, group_size,
                                               checkpoint_layers=checkpoint_layers)
    offset = p + lengths.cumsum(0) - lengths  # (N,) row of (n, 0) in [last ; hidden]
    rows = torch.where(steps == 0, torch.arange(n, device=dev)[:, None] // group_size,
                       offset[:, None] + steps - 1)  # (N, T); only read where the mask is True
    return torch.cat((last, hidden)), rows.reshape(-1)


def _accepts(model: nn.Module, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def hf_token_mask(prompt_ids: list[list[int]], completion_mask: Tensor, group_size: int) -> Tensor:
    """(N * (Lp + T),) bool: which positions of `_hf_source`'s forward hold real tokens (its rows are
    [left-padded prompt ; completion], flattened row-major), for statistics over that forward."""
    _, pmask = fw.left_pad(prompt_ids, 0, completion_mask.device)  # (P, Lp)
    return torch.cat((pmask.repeat_interleave(group_size, dim=0), completion_mask.bool()), dim=1).reshape(-1)


def _hf_source(model: nn.Module, prompt_ids: list[list[int]], completion_ids: Tensor, group_size: int) -> Tensor:
    """Plain HF forward over the left-padded [prompt ; completion] -> predicting logits (N*T, V)."""
    n, t = completion_ids.shape
    ids, pmask = fw.left_pad(prompt_ids, 0, completion_ids.device)  # (P, Lp)
    full = torch.cat((ids.repeat_interleave(group_size, dim=0), completion_ids), dim=1)  # (N, Lp+T)
    cmask = torch.ones_like(completion_ids, dtype=torch.bool)  # (N, T)
    attn = torch.cat((pmask.repeat_interleave(group_size, dim=0), cmask), dim=1)  # (N, Lp+T)
    kwargs = {"input_ids": full, "attention_mask": attn.long()}
    if _accepts(model, "position_ids"):
        kwargs["position_ids"] = fw.positions_from_mask(attn)  # (N, Lp+T)
    if _accepts(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = t + 1
    logits = model(**kwargs).logits  # (N, <=Lp+T, V)
    pred = logits[:, -(t + 1):-1]  # (N, T, V)
    return pred.reshape(-1, pred.shape[-1])


def completion_logprobs(
    model: nn.Module,
    prompt_ids: list[list[int]],
    completion_ids: Tensor,
    completion_mask: Tensor,
    group_size: int,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    chunk_size: int = 1024,
    checkpoint_layers: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Per-token log p(completion token | prompt, earlier tokens) (N, T) fp32 [, entropy (N, T)].

    completion_ids (N, T) long and completion_mask (N, T) bool, N = len(prompt_ids) * group_size,
    row i*G + j continues prompt i. Differentiable w.r.t. the model's parameters when grad is on.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 for log-probs")
    n, t = completion_ids.shape
    if n != len(prompt_ids) * group_size:
        raise ValueError(f"{n} completion rows != {len(prompt_ids)} prompts x group_size {group_size}")
    if completion_ids.is_inference():  # made under inference_mode: autograd cannot save it
        completion_ids = completion_ids.clone()
    completion_mask = completion_mask.bool()
    if t == 0:
        z = torch.zeros(n, 0, device=completion_ids.device)
        return z, (z.clone() if with_entropy else None)
    if not bool(completion_mask.any()):
        z = torch.zeros(n, t, device=completion_ids.device)
        return z, (z.clone() if with_entropy else None)
    rows: Tensor | None = None  # lean path: which source row predicts each completion position
    head: nn.Module | None = model.lm_head if fw.supports(model) else None
    if head is None:
        source = _hf_source(model, prompt_ids, completion_ids, group_size)  # (N*T, V)
    else:
        source, rows = _lean_source(model, prompt_ids, completion_ids, completion_mask, group_size,
                                    checkpoint_layers)  # (P+K, C)
    return _score(source, rows, completion_ids, completion_mask, head, temperature, with_entropy, chunk_size)
