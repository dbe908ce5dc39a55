"""Decoding with our own forward: a static KV cache with row compaction, and one decode step.

Built from the pieces of `r1lab.models.forward` (same numerics as HF; see that module's
header for the choices). `prefill` runs the prompts once; `StaticKVCache(...)` takes their K/V
for the G rows of each prompt (and the fused decode weights); `decode_step` advances every live
row by one token. The rollout engine (`r1lab.rollout.engine`) drives them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from r1lab.models.forward import forward_hidden, layer_linears, lm_logits, rms_norm, rope_cos_sin, spec

SHARED_PREFIX_MIN = 64  # prompt slots from which decode attends to a prompt's K/V once for its G rows


class StaticKVCache:
    """Preallocated decode cache for N rows = P prompts x G samples (row i*G + j: sample j of
    prompt i), built whole from the prompts' prefill K/V, with the `DecodeWeights` its decode
    steps read.

    Two layouts, chosen at construction:

    * shared (G > 1 and a prompt of at least `SHARED_PREFIX_MIN` slots): each prompt's K/V is
      kept ONCE (`pk`/`pv`, (P*Hkv, Lp, D) per layer) and the generated K/V per row (`k`/`v`,
      (L, N, Hkv, M, D)); the G rows of a prompt read its K/V through one GEMM per (prompt,
      KV head) instead of G copies;
    * copied (short prompts, where the extra ops of the shared form cost more than the copies):
      the prompt K/V is copied into each of its G rows, `k`/`v` are (L, N, Hkv, Lp+M, D) and one
      batched GEMM per (row, KV head) covers prompt and generated keys.

    Live rows are compacted in place (`compact`) so the first `rows` rows are the live ones, in
    ascending order of their original index; `prompt_of` / `sample_of` (A,) say which prompt and
    sample each live row is. `length` counts the filled slots (prompt + generated).
    """

    def __init__(self, model: nn.Module, kvs: list[tuple[Tensor, Tensor]], prefix_mask: Tensor, group_size: int,
                 slots: int, fuse_limit: int = 1 << 26) -> None:
        """kvs: each prompt's prefill K/V (P, Hkv, Lp, D) per layer; rows i*G..i*G+G-1 continue prompt i;
        `slots`: prompt + generated positions the cache holds."""
        self.sp = spec(model)
        (p, lp), k0 = prefix_mask.shape, kvs[0][0]
        self.n, self.slots, self.device, self.dtype = p * group_size, slots, k0.device, k0.dtype
        self.p, self.g, self.lp, self.rows = p, group_size, lp, p * group_size
        self.shared = group_size > 1 and lp >= SHARED_PREFIX_MIN
        pad = None if bool(prefix_mask.all()) else ~prefix_mask.to(self.device)  # (P, Lp) True on padding
        if self.shared:
            self._keep_prompts_once(kvs, pad)
        else:
            self._copy_prompts_per_row(kvs, pad)
        rows = torch.arange(self.n, device=self.device)
        self.prompt_of, self.sample_of = rows // group_size, rows % group_size  # (A,) of the live rows
        self.flat = self._flat_rows() if self.shared else None
        self.zero = torch.zeros((1, 1, 1), device=self.device, dtype=self.dtype)  # ignored input of a beta=0 baddbmm
        self.length = lp  # filled slots: prompt + generated
        self.weights = DecodeWeights(model, slots + 1, fuse_limit)

    def _keep_prompts_once(self, kvs: list[tuple[Tensor, Tensor]], pad: Tensor | None) -> None:
        sp, p, g, lp, dev, dt = self.sp, self.p, self.g, self.lp, self.device, self.dtype
        hkv, d, m = sp.n_kv_heads, sp.head_dim, max(self.slots - lp, 1)
        self.pk = [k.reshape(p * hkv, lp, d).contiguous() for k, _ in kvs]  # (P*Hkv, Lp, D)
        self.pk_t = [k.transpose(1, 2) for k in self.pk]  # (P*Hkv, D, Lp)
        self.pv = [v.reshape(p * hkv, lp, d).contiguous() for _, v in kvs]
        self.bias = torch.zeros((p, hkv, 1, lp), dtype=dt, device=dev)  # additive 0 / -inf on padding
        if pad is not None:
            self.bias.masked_fill_(pad[:, None, None, :], float("-inf"))
        self.bias = self.bias.view(p * hkv, 1, lp)
        shape = (sp.n_layers, self.n, hkv, m, d)
        self.k = torch.empty(shape, device=dev, dtype=dt)  # (L, N, Hkv, M, D) generated keys
        self.v = torch.empty(shape, device=dev, dtype=dt)
        # queries / prompt probabilities of all N rows in the per-(prompt, KV head) GEMM layout, once rows
        # are compacted; rows compacted away keep stale (finite) values whose results are never read
        self.q_buf = torch.zeros((p, hkv, g, sp.n_rep, d), device=dev, dtype=dt)
        self.p_buf = torch.zeros((p, hkv, g, sp.n_rep, lp), device=dev, dtype=dt)

    def _copy_prompts_per_row(self, kvs: list[tuple[Tensor, Tensor]], pad: Tensor | None) -> None:
        sp, p, g, lp, dev, dt = self.sp, self.p, self.g, self.lp, self.device, self.dtype
        hkv, d, m = sp.n_kv_heads, sp.head_dim, max(self.slots - lp, 1)
        shape = (sp.n_layers, self.n, hkv, lp + m, d)
        self.k = torch.empty(shape, device=dev, dtype=dt)  # (L, N, Hkv, Lp+M, D)
        self.v = torch.empty(shape, device=dev, dtype=dt)
        for layer, (k, v) in enumerate(kvs):  # (P, Hkv, Lp, D) -> the G rows of each prompt
            self.k[layer, :, :, :lp].view(p, g, hkv, lp, d).copy_(k.unsqueeze(1).expand(-1, g, -1, -1, -1))
            self.v[layer, :, :, :lp].view(p, g, hkv, lp, d).copy_(v.unsqueeze(1).expand(-1, g, -1, -1, -1))
        self.bias = torch.zeros((self.n, hkv, 1, lp + m), dtype=dt, device=dev)  # (N, Hkv, 1, S)
        if pad is not None:
            self.bias[:, :, :, :lp].masked_fill_(pad.repeat_interleave(g, 0)[:, None, None, :], float("-inf"))

    def compact(self, keep: Tensor) -> None:
        """Keep rows `keep` (A',) (ascending indices into the live rows), moved to the front."""
        a, s = keep.numel(), self.length - (self.lp if self.shared else 0)  # filled slots of k/v
        if s > 0:
            self.k[:, :a, :, :s] = self.k[:, keep, :, :s]
            self.v[:, :a, :, :s] = self.v[:, keep, :, :s]
        if not self.shared:
            self.bias[:a] = self.bias[keep]
        self.prompt_of, self.sample_of = self.prompt_of[keep], self.sample_of[keep]
        self.rows = a
        if self.shared:
            self.flat = self._flat_rows()

    def _flat_rows(self) -> Tensor:
        """(A*Hkv,) index of (live row, KV head) in the shared layout's (P, Hkv, G) buffers, flattened."""
        heads = torch.arange(self.sp.n_kv_heads, device=self.device)
        return ((self.prompt_of[:, None] * self.sp.n_kv_heads + heads) * self.g + self.sample_of[:, None]).reshape(-1)


class DecodeWeights:
    """What `decode_step` reads, gathered once per rollout: per layer q/k/v (and gate/up)
    concatenated into one matrix each, so a decode step runs one matmul where HF runs three
    (two); every matrix as its transposed view, so a step calls `mm` / `addmm` directly; RoPE
    cos/sin for every position below `max_positions`.

    Concatenated weights are COPIES taken at construction (the engine builds them per
    `generate` call, when weights cannot change). In fp32 those copies also absorb the RMSNorm
    weight in front of them (q/k/v, gate/up, lm_head: W * w instead of (x * w) W, one op less
    per norm, a change of rounding only). When the layers' weights exceed `fuse_limit` elements
    (large models, where per-op overhead does not matter and copies would cost memory) the
    modules' own weights are used unfused and nothing is folded.
    """

    def __init__(self, model: nn.Module, max_positions: int, fuse_limit: int = 1 << 26) -> None:
        self.sp = spec(model)
        emb = model.model.embed_tokens.weight
        layers = model.model.layers
        fused = sum(lin.weight.numel() for layer in layers for lin in layer_linears(layer)) <= fuse_limit
        fold = fused and emb.dtype == torch.float32
        self.layers = []
        for layer in layers:
            at, mlp = layer.self_attn, layer.mlp
            ln1, ln2 = _Norm(layer.input_layernorm, fold), _Norm(layer.post_attention_layernorm, fold)
            if fused:
                qkv = [_fused((at.q_proj, at.k_proj, at.v_proj), ln1)]
                gu = [_fused((mlp.gate_proj, mlp.up_proj), ln2)]
            else:
                qkv = [(m.weight.t(), m.bias) for m in (at.q_proj, at.k_proj, at.v_proj)]
                gu = [(m.weight.t(), m.bias) for m in (mlp.gate_proj, mlp.up_proj)]
            self.layers.append((ln1, qkv, (at.o_proj.weight.t(), at.o_proj.bias), ln2, gu,
                                (mlp.down_proj.weight.t(), mlp.down_proj.bias)))
        self.embed, self.norm = emb, _Norm(model.model.norm, fold)
        self.head = _fused((model.lm_head,), self.norm) if fold else (model.lm_head.weight.t(), model.lm_head.bias)
        cos, sin = rope_cos_sin(model, torch.arange(max_positions, device=emb.device)[None], emb.dtype)
        self.cos, self.sin = cos[0].transpose(0, 1), sin[0].transpose(0, 1)  # (max_positions, 1, D)


class _Norm:
    """An RMSNorm as decode applies it; `folded`: its weight lives in the next matrix (fp32 only)."""

    def __init__(self, module: nn.Module, folded: bool) -> None:
        self.module, self.folded = module, folded
        self.eps = getattr(module, "variance_epsilon", None) or getattr(module, "eps", 1e-6)

    def __call__(self, x: Tensor) -> Tensor:
        if x.dtype != torch.float32:
            return rms_norm(self.module, x)
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add_(self.eps))  # HF's arithmetic, fewer calls
        return y if self.folded else y.mul_(self.module.weight)


def _fused(mods, norm: _Norm) -> tuple[Tensor, Tensor | None]:
    """One (in, out) matrix for the linears `mods` reading the same input, with the norm's weight folded in."""
    w = torch.cat([m.weight for m in mods])  # (out, in), a copy
    if norm.folded:
        w = w * norm.module.weight
    if all(m.bias is None for m in mods):
        return w.t(), None
    return w.t(), torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.weight.shape[0]) for m in mods])


def _mm(x: Tensor, lin: tuple[Tensor, Tensor | None]) -> Tensor:
    wt, b = lin  # (in, out) view, (out,)
    return torch.mm(x, wt) if b is None else torch.addmm(b, x, wt)


def prefill(model: nn.Module, ids: Tensor, mask: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """Prompt pass. ids/mask (P, Lp) -> last-position logits (P, V) and per-layer K/V (P, Hkv, Lp, D)."""
    hidden, kvs = forward_hidden(model, ids, mask, return_kv=True)  # (P, Lp, C)
    return lm_logits(model, hidden[:, -1]), kvs  # (P, V)


def _attend_shared(cache: StaticKVCache, i: int, q: Tensor, keys: Tensor, vals: Tensor) -> Tensor:
    """Shared layout. q (A, Hkv, rep, D) with RoPE, keys (A*Hkv, D, t) / vals (A*Hkv, t, D): the
    rows' generated K/V incl. the new token. Returns (A, H*D).

    Against the prompt: one GEMM per (prompt, KV head), M = G*rep query rows; against the row's
    own generated keys: one per (row, KV head); one softmax over [prompt ; generated] (HF's
    arithmetic up to the order of the two partial sums of the output)."""
    a, hkv, rep, d = q.shape
    p, g, lp, t = cache.p, cache.g, cache.lp, vals.shape[1]
    scale = d ** -0.5
    rows = cache.flat  # (A*Hkv,) slot of each (live row, KV head) in the all-rows (P*Hkv*G) layout
    cache.q_buf.view(p * hkv * g, rep, d).index_copy_(0, rows, q.reshape(a * hkv, rep, d))
    s_pre = torch.baddbmm(cache.bias, cache.q_buf.view(p * hkv, g * rep, d), cache.pk_t[i], alpha=scale)
    s_pre = s_pre.view(p * hkv * g, rep, lp).index_select(0, rows).view(a, hkv, rep, lp)  # (A, Hkv, rep, Lp)
    s_own = torch.baddbmm(cache.zero, q.view(a * hkv, rep, d), keys, beta=0.0, alpha=scale)  # (A*Hkv, rep, t)
    probs = torch.softmax(torch.cat((s_pre, s_own.view(a, hkv, rep, t)), dim=-1), dim=-1)  # (A, Hkv, rep, Lp+t)
    cache.p_buf.view(p * hkv * g, rep, lp).index_copy_(0, rows, probs[..., :lp].reshape(a * hkv, rep, lp))
    o_pre = torch.bmm(cache.p_buf.view(p * hkv, g * rep, lp), cache.pv[i])  # (P*Hkv, G*rep, D)
    o_pre = o_pre.view(p * hkv * g, rep, d).index_select(0, rows).view(a, hkv, rep, d)
    o_own = torch.bmm(probs[..., lp:].reshape(a * hkv, rep, t), vals)  # (A*Hkv, rep, D)
    return o_own.view(a, hkv, rep, d).add_(o_pre).view(a, hkv * rep * d)


def decode_step(model: nn.Module, cache: StaticKVCache, tokens: Tensor, positions: Tensor) -> Tensor:
    """One token for each live row. tokens/positions (A,) -> logits (A, V); writes the next slot.

    Reads `cache.weights` (the `DecodeWeights` the cache was built with). Written for few ops per
    step: at small sizes a step is bound by per-op overhead, not arithmetic."""
    sp = cache.sp
    a, slot = tokens.shape[0], cache.length - (cache.lp if cache.shared else 0)  # k/v slot of the new token
    nh, nkv, d, layers = sp.n_heads, sp.n_kv_heads, sp.head_dim, sp.n_layers
    scale = d ** -0.5
    # this step's views of the cache, for all layers at once
    k_new, v_new = cache.k[:, :a, :, slot], cache.v[:, :a, :, slot]  # (L, A, Hkv, D)
    keys = cache.k[:, :a, :, : slot + 1].reshape(layers, a * nkv, slot + 1, d).transpose(2, 3)  # (L, A*Hkv, D, S)
    vals = cache.v[:, :a, :, : slot + 1].reshape(layers, a * nkv, slot + 1, d)  # (L, A*Hkv, S, D)
    bias = None if cache.shared else cache.bias[:a, :, :, : slot + 1].reshape(a * nkv, 1, slot + 1)

    def attend(i: int, qk: Tensor, v: Tensor) -> Tensor:
        k_new[i].copy_(qk[:, nh:])
        v_new[i].copy_(v.view(a, nkv, d))
        q = qk[:, :nh].contiguous().view(a, nkv, sp.n_rep, d)  # (A, Hkv, rep, D)
        if cache.shared:
            return _attend_shared(cache, i, q, keys[i], vals[i])
        probs = torch.softmax(torch.baddbmm(bias, q.view(a * nkv, sp.n_rep, d), keys[i], alpha=scale), dim=-1)
        return torch.bmm(probs, vals[i]).view(a, nh * d)  # (A, H*D)

    logits = decode_layers(cache.weights, tokens, positions, attend)  # (A, V)
    cache.length += 1
    return logits


def decode_layers(w: DecodeWeights, tokens: Tensor, positions: Tensor,
                  attend: Callable[[int, Tensor, Tensor], Tensor]) -> Tensor:
    """The layers of one decode step, whatever cache holds the K/V: tokens/positions (B,) -> logits (B, V).

    `attend(i, qk, v)` gets layer i's queries and new keys with RoPE, qk (B, H+Hkv, D), and new
    values v (B, Hkv*D); it stores the new K/V in its cache and returns the attention output
    (B, H*D). Used by `decode_step` (the engine's `StaticKVCache`) and by
    `r1lab.rollout.slots.decode_rows` (the server's cache of independent rows)."""
    sp = w.sp
    b, nh, nkv, d = tokens.shape[0], sp.n_heads, sp.n_kv_heads, sp.head_dim
    nq = (nh + nkv) * d
    x = F.embedding(tokens, w.embed)  # (B, C)
    cos, sin = w.cos.index_select(0, positions), w.sin.index_select(0, positions)  # (B, 1, D)
    for i, (ln1, qkv, o, ln2, gu, down) in enumerate(w.layers):
        h = ln1(x)  # (B, C)
        if len(qkv) == 1:
            y = _mm(h, qkv[0])  # (B, (H+2Hkv)*D)
            qk, v = y[:, :nq].view(b, nh + nkv, d), y[:, nq:]
        else:
            qk = torch.cat([_mm(h, qkv[0]), _mm(h, qkv[1])], dim=-1).view(b, nh + nkv, d)
            v = _mm(h, qkv[2])
        rot = qk.roll(d // 2, dims=-1).mul_(sin)  # RoPE on q and k at once, HF's arithmetic
        qk = (qk * cos).add_(rot)  # (B, H+Hkv, D)
        x = x + _mm(attend(i, qk, v), o)  # (B, C)
        h = ln2(x)
        if len(gu) == 1:
            y = _mm(h, gu[0])  # (B, 2I)
            inter = y.shape[-1] // 2
            act = F.silu(y[:, :inter]).mul_(y[:, inter:])
        else:
            act = F.silu(_mm(h, gu[0])).mul_(_mm(h, gu[1]))
        x = x + _mm(act, down)  # (B, C)
    return _mm(w.norm(x), w.head)  # (B, V)
