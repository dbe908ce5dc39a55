"""Our own functional forward pass for the HF Llama / Qwen2 decoder family.

Why: HF's generic forward carries a lot of per-call machinery (cache objects, mask
builders, output dataclasses) that dominates the cost of tiny models on CPU and makes
the two RL-specific shapes awkward:

* decoding with a preallocated static KV cache whose rows can be compacted as
  sequences finish (`r1lab.models.decode`, built from the pieces here);
* training with a shared prefix: each prompt is run ONCE and its per-layer K/V are
  expanded to the G completions of that prompt, which attend to
  [prefix K/V ; their own causal K/V] (`shared_prefix_hidden`, over all N x T padded
  positions), and its padding-free form `packed_shared_prefix_hidden`: the per-token
  work (embedding, norms, projections, MLP) runs on the packed real tokens only and
  just attention sees right-padded rows, in buckets of rows of similar length.

Choices:

* The HF module's OWN parameters are read at call time (`F.linear(x, lin.weight,
  lin.bias)`), never copied, so optimizer steps are seen immediately and autograd
  flows into the HF parameters. The one exception is decoding (no autograd): a
  `DecodeWeights` taken once per rollout concatenates q/k/v and gate/up weights so a
  decode step, bound by per-op overhead at small sizes, runs fewer matmuls.
* Every numerical step mirrors HF (fp32 RMSNorm, fp32 RoPE angles cast to the model
  dtype, SDPA with the 1/sqrt(head_dim) scale) so logits agree to float rounding.
* Prompts are left-padded; padding is masked in attention and RoPE positions are
  counted per row from the first real token (position 0), like HF `generate`.
* A padded query (which nobody reads) may always attend to itself, so no softmax
  row is empty (no NaNs, also in backward).
* GQA: a single decode query is folded into (B, Hkv, n_rep, D) so the cache is never
  repeated (with a shared prompt, the G samples' queries too: (P, Hkv, G*n_rep, D));
  multi-token attention expands K/V to all heads (as HF's SDPA path does).
* Biases are taken from the modules when present (Qwen2 q/k/v bias, Llama
  `attention_bias` / `mlp_bias`); a tied lm_head is simply the same Parameter.

`supports(model)` is False for anything this file does not reproduce exactly (other
architectures, non-default RoPE, sliding window, attention dropout, non-SiLU MLPs,
wrapped/quantised Linear layers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SUPPORTED_CLASSES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
SUPPORTED_MODEL_TYPES = ("llama", "qwen2")


# --------------------------------------------------------------------------- support


def _rope_type(config) -> str:
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and params:
        return str(params.get("rope_type", params.get("type", "default")))
    scaling = getattr(config, "rope_scaling", None)
    if isinstance(scaling, dict) and scaling:
        return str(scaling.get("rope_type", scaling.get("type", "default")))
    return "default"


def _linears(layer: nn.Module) -> list[nn.Module]:
    attn, mlp = layer.self_attn, layer.mlp
    return [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]


def supports(model: nn.Module) -> bool:
    """True when our forward reproduces `model`'s HF forward exactly."""
    config = getattr(model, "config", None)
    if config is None or type(model).__name__ not in SUPPORTED_CLASSES:
        return False
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    if getattr(config, "hidden_act", "silu") not in ("silu", "swish"):
        return False
    if _rope_type(config) != "default" or float(getattr(config, "attention_dropout", 0.0) or 0.0) != 0.0:
        return False
    if getattr(config, "use_sliding_window", False):
        return False
    if any(t != "full_attention" for t in (getattr(config, "layer_types", None) or [])):
        return False
    try:
        base = model.model
        rotary = base.rotary_emb
        linears = [m for layer in base.layers for m in _linears(layer)] + [model.lm_head]
    except AttributeError:
        return False
    if float(getattr(rotary, "attention_scaling", 1.0)) != 1.0 or not hasattr(rotary, "inv_freq"):
        return False
    if type(base.embed_tokens) is not nn.Embedding:
        return False
    return all(type(m) is nn.Linear for m in linears)


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class Spec:
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @property
    def n_rep(self) -> int:
        return self.n_heads // self.n_kv_heads


def spec(model: nn.Module) -> Spec:
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    return Spec(len(model.model.layers), cfg.num_attention_heads, n_kv, head_dim)


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Left-pad token lists -> ids (P, L) long, mask (P, L) bool."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("need at least one prompt and every prompt must be non-empty")
    length = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)  # (P, L)
    mask = torch.zeros((len(prompts), length), dtype=torch.bool)  # (P, L)
    for i, p in enumerate(prompts):
        ids[i, length - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, length - len(p):] = True
    return ids.to(device), mask.to(device)


def positions_from_mask(mask: Tensor) -> Tensor:
    """Left-padded mask (B, T) -> RoPE positions (B, T), first real token at 0."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, T)


def rms_norm(norm: nn.Module, x: Tensor) -> Tensor:
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6)
    h = x.float()  # (..., C)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)  # (..., C)
    return norm.weight * h.to(x.dtype)


def rope_cos_sin(model: nn.Module, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """positions (B, T) -> cos, signed sin (B, 1, T, D), angles in fp32 like HF.

    The sin is returned with its first half negated so that RoPE is
    `x * cos + roll(x, D/2) * sin_signed`, bit-identical to HF's
    `x * cos + rotate_half(x) * sin` with fewer ops.
    """
    inv_freq = model.model.rotary_emb.inv_freq.float()  # (D/2,)
    freqs = positions.unsqueeze(-1).float() * inv_freq  # (B, T, D/2)
    sin = freqs.sin()  # (B, T, D/2)
    cos = torch.cat((freqs, freqs), dim=-1).cos()  # (B, T, D)
    sin_signed = torch.cat((-sin, sin), dim=-1)  # (B, T, D)
    return cos.to(dtype).unsqueeze(1), sin_signed.to(dtype).unsqueeze(1)


def apply_rope(x: Tensor, cos: Tensor, sin_signed: Tensor) -> Tensor:
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed  # (B, H, T, D)


def _lin(module: nn.Module, x: Tensor) -> Tensor:
    return F.linear(x, module.weight, module.bias)


def qkv(layer: nn.Module, sp: Spec, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pre-norm + q/k/v projections + RoPE. x (B, T, C) -> q (B, H, T, D), k/v (B, Hkv, T, D)."""
    attn = layer.self_attn
    h = rms_norm(layer.input_layernorm, x)  # (B, T, C)
    b, t, _ = h.shape
    q = _lin(attn.q_proj, h).view(b, t, sp.n_heads, sp.head_dim).transpose(1, 2)  # (B, H, T, D)
    k = _lin(attn.k_proj, h).view(b, t, sp.n_kv_heads, sp.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
    v = _lin(attn.v_proj, h).view(b, t, sp.n_kv_heads, sp.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool = False) -> Tensor:
    """SDPA with GQA. q (B, H, T, D), k/v (B, Hkv, S, D), mask (B, 1, T, S) bool -> (B, T, H*D)."""
    b, h, t, d = q.shape
    rep = h // k.shape[1]
    if rep > 1:
        s = k.shape[2]
        k = k[:, :, None].expand(b, k.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
        v = v[:, :, None].expand(b, v.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)  # (B, H, T, D)
    return out.transpose(1, 2).reshape(b, t, h * d)


def block_out(layer: nn.Module, x: Tensor, attn_out: Tensor) -> Tensor:
    """o_proj + residual + post-norm SwiGLU MLP + residual. x (..., C), attn_out (..., H*D) -> (..., C)."""
    x = x + _lin(layer.self_attn.o_proj, attn_out)  # (..., C)
    mlp = layer.mlp
    hn = rms_norm(layer.post_attention_layernorm, x)  # (..., C)
    return x + _lin(mlp.down_proj, F.silu(_lin(mlp.gate_proj, hn)) * _lin(mlp.up_proj, hn))  # (..., C)


def embed(model: nn.Module, ids: Tensor) -> Tensor:
    emb = model.model.embed_tokens
    return F.embedding(ids, emb.weight, emb.padding_idx)  # (B, T, C)


def final_norm(model: nn.Module, x: Tensor) -> Tensor:
    return rms_norm(model.model.norm, x)


def lm_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """Final-normed hidden (..., C) -> logits (..., V) with the model's (maybe tied) lm_head."""
    return _lin(model.lm_head, hidden)


def padded_causal_mask(mask: Tensor) -> Tensor:
    """Left-pad mask (B, T) -> (B, 1, T, T) bool: causal, pads hidden, diagonal always on."""
    t = mask.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=mask.device).tril()  # (T, T)
    eye = torch.eye(t, dtype=torch.bool, device=mask.device)  # (T, T)
    return (causal & mask[:, None, :] | eye).unsqueeze(1)  # (B, 1, T, T)


# --------------------------------------------------------------------------- full forward


def forward_hidden(
    model: nn.Module, ids: Tensor, mask: Tensor | None = None, return_kv: bool = False
) -> tuple[Tensor, list[tuple[Tensor, Tensor]] | None]:
    """Plain causal forward over left-padded ids (B, T) -> final-normed hidden (B, T, C) [, per-layer K/V]."""
    sp = spec(model)
    padded = mask is not None and not bool(mask.all())
    if mask is None:
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)  # (B, T)
    else:
        pos = positions_from_mask(mask)  # (B, T)
    x = embed(model, ids)  # (B, T, C)
    cos, sin = rope_cos_sin(model, pos, x.dtype)  # (B, 1, T, D)
    attn_mask = padded_causal_mask(mask) if padded else None  # (B, 1, T, T)
    kvs: list[tuple[Tensor, Tensor]] = []
    for layer in model.model.layers:
        q, k, v = qkv(layer, sp, x, cos, sin)  # (B, H|Hkv, T, D)
        if return_kv:
            kvs.append((k, v))
        x = block_out(layer, x, attend(q, k, v, attn_mask, is_causal=not padded))  # (B, T, C)
    return final_norm(model, x), (kvs if return_kv else None)


def forward_logits(model: nn.Module, ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """Logits (B, T, V) for left-padded ids (B, T); equals HF with position_ids from the mask."""
    return lm_logits(model, forward_hidden(model, ids, mask)[0])


# --------------------------------------------------------------------------- shared-prefix training forward


def shared_prefix_hidden(
    model: nn.Module, prefix_ids: Tensor, prefix_mask: Tensor, completion_ids: Tensor, group_size: int
) -> tuple[Tensor, Tensor]:
    """Differentiable forward of G completions per prompt sharing one prompt pass.

    prefix_ids/prefix_mask (P, Lp) left-padded; completion_ids (N, T) with N = P*G, row
    i*G+j continuing prompt i (right padding is harmless: it is causal-after every real
    token). Returns final-normed hidden of the last prompt position (P, C) and of every
    completion position (N, T, C).
    """
    sp = spec(model)
    p, lp = prefix_mask.shape
    n, t = completion_ids.shape
    if n != p * group_size:
        raise ValueError(f"completion rows {n} != prompts {p} x group_size {group_size}")
    dev = completion_ids.device
    plen = prefix_mask.long().sum(-1).repeat_interleave(group_size)  # (N,)
    cpos = plen[:, None] + torch.arange(t, device=dev)  # (N, T)
    padded = not bool(prefix_mask.all())
    pmask = padded_causal_mask(prefix_mask) if padded else None  # (P, 1, Lp, Lp)
    own = torch.ones(t, t, dtype=torch.bool, device=dev).tril().expand(n, 1, t, t)  # (N, 1, T, T)
    pref = prefix_mask.repeat_interleave(group_size, dim=0)[:, None, None, :].expand(n, 1, t, lp)  # (N, 1, T, Lp)
    cmask = torch.cat((pref, own), dim=-1)  # (N, 1, T, Lp+T)

    xp = embed(model, prefix_ids)  # (P, Lp, C)
    xc = embed(model, completion_ids)  # (N, T, C)
    cos_p, sin_p = rope_cos_sin(model, positions_from_mask(prefix_mask), xp.dtype)  # (P, 1, Lp, D)
    cos_c, sin_c = rope_cos_sin(model, cpos, xc.dtype)  # (N, 1, T, D)
    for layer in model.model.layers:
        qp, kp, vp = qkv(layer, sp, xp, cos_p, sin_p)  # (P, H|Hkv, Lp, D)
        qc, kc, vc = qkv(layer, sp, xc, cos_c, sin_c)  # (N, H|Hkv, T, D)
        keys = torch.cat((kp.repeat_interleave(group_size, dim=0), kc), dim=2)  # (N, Hkv, Lp+T, D)
        vals = torch.cat((vp.repeat_interleave(group_size, dim=0), vc), dim=2)  # (N, Hkv, Lp+T, D)
        xc = block_out(layer, xc, attend(qc, keys, vals, cmask))  # (N, T, C)
        xp = block_out(layer, xp, attend(qp, kp, vp, pmask, is_causal=not padded))  # (P, Lp, C)
    return final_norm(model, xp[:, -1]), final_norm(model, xc)


# --------------------------------------------------------------------------- padding-free training forward

_SDPA_GQA = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 5)


def _attend_heads(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool = False) -> Tensor:
    """SDPA with GQA, head-major output. q (B, H, T, D), k/v (B, Hkv, S, D) -> (B, H, T, D)."""
    if _SDPA_GQA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                              enable_gqa=k.shape[1] != q.shape[1])
    b, h, t, d = q.shape
    rep, s = h // k.shape[1], k.shape[2]
    if rep > 1:
        k = k[:, :, None].expand(b, k.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
        v = v[:, :, None].expand(b, v.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)


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
    masks: list[Tensor | None]  # per segment: additive (rows, 1, w, Wp+w) float mask; None = causal


def _packed_layout(
    plen: Tensor, slen: Tensor, prompt_of: Tensor, buckets: list[tuple[int, int]], dtype: torch.dtype
) -> _PackedLayout:
    """plen (P,) prompt lengths; slen (N',) completion lengths sorted descending; prompt_of (N',)."""
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
        masks.append(torch.zeros(allowed.shape, dtype=dtype, device=dev).masked_fill(~allowed, float("-inf"))[:, None])
        shapes.append((b - a, w, wp + w))
    q_src_all = torch.cat(q_src)  # (Sq,)
    real_slots = torch.cat(real).nonzero().squeeze(1)  # (K,)
    q_slot = torch.empty_like(real_slots)  # (K,)
    q_slot[q_src_all[real_slots]] = real_slots
    return _PackedLayout(q_src_all, torch.cat(kv_src), q_slot, [r * w for r, w, _ in shapes],
                         [r * s for r, _, s in shapes], shapes, masks)


def _packed_attention(lay: _PackedLayout, sp: Spec, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Packed q (K, H*D) (RoPE applied), k/v (K, Hkv*D) -> attention output (K, H*D)."""
    d = sp.head_dim
    qs = q.index_select(0, lay.q_src).split(lay.q_sizes)  # per segment (rows*w, H*D)
    ks = k.index_select(0, lay.kv_src).split(lay.kv_sizes)  # per segment (rows*s, Hkv*D)
    vs = v.index_select(0, lay.kv_src).split(lay.kv_sizes)
    outs = []
    for (r, w, s), mask, qi, ki, vi in zip(lay.shapes, lay.masks, qs, ks, vs):
        o = _attend_heads(qi.view(r, w, sp.n_heads, d).transpose(1, 2), ki.view(r, s, sp.n_kv_heads, d).transpose(1, 2),
                          vi.view(r, s, sp.n_kv_heads, d).transpose(1, 2), mask, is_causal=mask is None)  # (r, H, w, D)
        outs.append(o.transpose(1, 2).reshape(r * w, sp.n_heads * d))
    return torch.cat(outs).index_select(0, lay.q_slot)  # (K, H*D)


def packed_shared_prefix_hidden(
    model: nn.Module, prefix_ids: Tensor, prefix_mask: Tensor, completion_ids: Tensor, lengths: Tensor,
    group_size: int, bucket_overhead: int = 32768,
) -> tuple[Tensor, Tensor]:
    """Padding-free `shared_prefix_hidden`: only the first `lengths[n]` completion tokens of row n
    are computed; they attend to their prompt and to themselves exactly as in the padded forward.

    prefix_ids/prefix_mask (P, Lp), padded on either side (no holes); completion_ids (N, T), N = P*G,
    row i*G+j continuing prompt i; lengths (N,) in [0, T]. Returns the final-normed hidden of the
    last prompt token (P, C) and of the computed completion tokens (K, C), K = lengths.sum(), row
    after row (row n's tokens 0..lengths[n]-1 consecutive).

    Every per-token op (embedding, norms, projections, RoPE, MLP) runs on the packed tokens
    [prompt tokens ; completion tokens] (each prompt once); only attention gathers q/k/v into
    right-padded rows (`_PackedLayout`). Completion rows are sorted by length and grouped into
    buckets (`_buckets`; `bucket_overhead` is the per-bucket cost in query x key units) so attention
    padding stays small too. In the last layer o_proj/MLP run only where an output is returned.
    """
    sp = spec(model)
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
    pos = torch.cat((positions_from_mask(prefix_mask)[prefix_mask], cpos[sel]))  # (K,)

    x = embed(model, ids)  # (K, C)
    lay = _packed_layout(plen, slen, order // group_size, _buckets(slen.tolist(), int(plen.max()), bucket_overhead),
                         x.dtype)
    cos, sin = rope_cos_sin(model, pos[None], x.dtype)  # (1, 1, K, D)
    cos, sin = cos[0, 0, :, None], sin[0, 0, :, None]  # (K, 1, D)
    keep = torch.cat((plen.cumsum(0) - 1, torch.arange(kp, kp + kc, device=dev)))  # (P+Kc,) returned rows
    layers = model.model.layers
    for li, layer in enumerate(layers):
        at = layer.self_attn
        h = rms_norm(layer.input_layernorm, x)  # (K, C)
        q = apply_rope(_lin(at.q_proj, h).view(-1, sp.n_heads, sp.head_dim), cos, sin).flatten(1)  # (K, H*D)
        k = apply_rope(_lin(at.k_proj, h).view(-1, sp.n_kv_heads, sp.head_dim), cos, sin).flatten(1)  # (K, Hkv*D)
        attn_out = _packed_attention(lay, sp, q, k, _lin(at.v_proj, h))  # (K, H*D)
        if li == len(layers) - 1:
            x, attn_out = x.index_select(0, keep), attn_out.index_select(0, keep)  # (P+Kc, ...)
        x = block_out(layer, x, attn_out)
    hidden = final_norm(model, x)  # (P+Kc, C)
    # completion rows back to their original order
    start = torch.zeros(n, dtype=torch.long, device=dev)
    start[order] = slen.cumsum(0) - slen  # (N,)
    rows = torch.arange(n, device=dev)[:, None].expand(n, t)[steps < lengths[:, None]]  # (Kc,) row-major
    tpos = steps.expand(n, t)[steps < lengths[:, None]]  # (Kc,)
    return hidden[:p], hidden[p:].index_select(0, start[rows] + tpos)
