"""A KV cache of independent rows for continuous batching, and its decode step.

The rollout engine's `StaticKVCache` holds P prompts x G samples that start together; a server's
rows start and end at any step. Here each row is its own sequence: its prompt K/V sits in slots
0..Lp-1 (no left padding, so a token's RoPE position is its slot), its generated K/V follow, and
`lengths[r]` counts its filled slots. The live rows are the first `rows`; finished rows are
removed by moving the last live rows into their places (`reorder` with `fill_order`), and a new
request's rows are appended (`add`) with the K/V of ONE prefill of its prompt copied into each
of its n rows.

Batch invariance (measured on CPU fp32, `tests/rollout/test_slots.py`, on two x86 CPUs, one with
AVX-512): a row's logits must not depend on which other rows share the step, so that a served
reply equals the reply the same request gets alone. Four things in torch's CPU kernels break
that, and the step avoids all four:

* a GEMM's row results depend on the number of rows M when M is not a multiple of 4 (M = 1 is
  a matrix-vector path, M = 2..3 another kernel, and with several threads a trailing block of
  fewer than 4 rows another): the step runs over the live rows padded to a multiple of
  `ROW_QUANTUM` = 4 (padding rows compute on stale, finite cache entries and are never read);
* attention over S key slots takes other kernels for the last S mod 4 keys, and for short S
  (below 16 to 52 keys, depending on head size and queries per KV head): attention spans a
  multiple of `KEY_QUANTUM` = 4 key slots, at least `MIN_KEYS` = 64. Beyond a row's own length
  the keys are masked with -inf; softmax then adds exact zeros and P.V zero terms at the end of
  each sum, so a row's result is bit-identical whatever S the other rows need;
* with one query per KV head (multi-head attention, no GQA) the scores are a matrix-vector
  product whose dot products change with S (seen from S = 80 on the AVX-512 CPU): the step pads
  the queries of each KV head to at least `MIN_QUERIES` = 2;
* P.V over more than about 384 keys splits its sum over the keys in a way that depends on S:
  the step sums P.V over chunks of `KEY_CHUNK` = 256 keys, in order, and the chunks past a row's
  length add exact zeros.

On other hardware (GPU GEMMs choose kernels by shape) this is not guaranteed, and replies may
differ from the single-request reply by float rounding.

The layers are `decode.decode_layers`, as in the engine's `decode_step` (fused q/k/v and gate/up,
folded norms); only where the K/V go and how attention reads them differ.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from r1lab.models.forward import spec
from r1lab.rollout import decode as dec

ROW_QUANTUM = 4  # decode GEMMs run over a multiple of this many rows
KEY_QUANTUM = 4  # attention spans a multiple of this many key slots
MIN_KEYS = 64  # and at least this many
MIN_QUERIES = 2  # queries per KV head the score GEMM sees (MHA pads its one query)
KEY_CHUNK = 256  # P.V sums over at most this many keys per GEMM


def round_up(x: int, q: int) -> int:
    return -(-x // q) * q


class SlotKVCache:
    """`capacity` rows of `slots` positions; the first `rows` rows are live."""

    def __init__(self, model: nn.Module, capacity: int, slots: int) -> None:
        emb = model.model.embed_tokens.weight
        self.sp, self.device, self.dtype = spec(model), emb.device, emb.dtype
        self.capacity, self.slots = capacity, slots
        sp, cap = self.sp, round_up(capacity, ROW_QUANTUM)
        shape = (sp.n_layers, cap, sp.n_kv_heads, max(round_up(slots, KEY_QUANTUM), MIN_KEYS), sp.head_dim)
        self.k = torch.zeros(shape, device=self.device, dtype=self.dtype)  # (L, cap, Hkv, S, D)
        self.v = torch.zeros(shape, device=self.device, dtype=self.dtype)
        self.lengths = torch.zeros(cap, dtype=torch.long, device=self.device)  # (cap,) filled slots per row
        self.rows = 0
        self.weights = dec.DecodeWeights(model, shape[3] + 1)

    @property
    def free(self) -> int:
        return self.capacity - self.rows

    def add(self, kvs: list[tuple[Tensor, Tensor]], n: int) -> None:
        """Append n rows continuing one prompt, from its prefill K/V (1, Hkv, Lp, D) per layer."""
        lp = kvs[0][0].shape[2]
        if n > self.free or lp >= self.slots:
            raise ValueError(f"cannot add {n} rows of a {lp}-token prompt ({self.free} rows free, {self.slots} slots)")
        r = slice(self.rows, self.rows + n)
        for layer, (k, v) in enumerate(kvs):  # (1, Hkv, Lp, D) -> each of the n rows
            self.k[layer, r, :, :lp] = k
            self.v[layer, r, :, :lp] = v
        self.lengths[r] = lp
        self.rows += n

    def reorder(self, order: list[int]) -> None:
        """Live row i becomes old live row order[i] (rows not in `order` are dropped). Only rows
        that change place are copied: with `fill_order`, just the few rows that fill holes."""
        moved = [(i, r) for i, r in enumerate(order) if i != r]
        if moved:
            dst = torch.tensor([i for i, _ in moved], device=self.device)  # (m,)
            src = torch.tensor([r for _, r in moved], device=self.device)  # (m,)
            s = int(self.lengths[src].max())
            self.k[:, dst, :, :s] = self.k[:, src, :, :s]
            self.v[:, dst, :, :s] = self.v[:, src, :, :s]
            self.lengths[dst] = self.lengths[src]
        self.lengths[len(order):] = 0  # freed rows: a padding row writes and reads slot 0 only
        self.rows = len(order)


def fill_order(rows: int, drop: set[int]) -> list[int]:
    """The live rows after dropping `drop` from rows 0..rows-1: the holes below the new count are
    filled with the last kept rows, everything else stays in place."""
    a = rows - len(drop)
    movers = [r for r in range(a, rows) if r not in drop]
    order = list(range(a))
    for hole, r in zip([h for h in sorted(drop) if h < a], movers, strict=True):
        order[hole] = r
    return order


def decode_rows(cache: SlotKVCache, tokens: Tensor) -> Tensor:
    """One token for each live row: tokens (A,) -> logits (A, V); writes each row's next slot."""
    sp, a = cache.sp, cache.rows
    b = round_up(a, ROW_QUANTUM)  # rows the GEMMs see
    nh, nkv, d = sp.n_heads, sp.n_kv_heads, sp.head_dim
    pos = cache.lengths[:b]  # (B,) slot = RoPE position of the new token
    s = max(round_up(int(pos[:a].max()) + 1, KEY_QUANTUM), MIN_KEYS)  # key slots attended
    slot_of = ((torch.arange(b * nkv, device=cache.device) * cache.k.shape[3]).view(b, nkv)
               + pos[:, None]).view(-1)  # (B*Hkv,) flat (row, KV head, slot) index of each new K/V
    bias = torch.zeros((b, 1, s), dtype=cache.dtype, device=cache.device)  # (B, 1, S) 0 / -inf
    bias.masked_fill_(torch.arange(s, device=cache.device) > pos[:, None, None], float("-inf"))
    bias = bias.repeat_interleave(nkv, dim=0)  # (B*Hkv, 1, S)
    q_pad = cache.k.new_zeros(b * nkv, max(MIN_QUERIES - sp.n_rep, 0), d)  # (B*Hkv, Q-rep, D), for every layer

    def attend(i: int, qk: Tensor, v: Tensor) -> Tensor:
        cache.k[i].view(-1, d).index_copy_(0, slot_of, qk[:, nh:].reshape(b * nkv, d))  # each row's own slot
        cache.v[i].view(-1, d).index_copy_(0, slot_of, v.reshape(b * nkv, d))
        keys = cache.k[i, :b, :, :s].reshape(b * nkv, s, d).transpose(1, 2)  # (B*Hkv, D, S)
        vals = cache.v[i, :b, :, :s].reshape(b * nkv, s, d)  # (B*Hkv, S, D)
        q = qk[:, :nh].reshape(b * nkv, sp.n_rep, d)  # (B*Hkv, rep, D)
        if q_pad.shape[1]:
            q = torch.cat((q, q_pad), dim=1)  # (B*Hkv, Q, D)
        probs = torch.softmax(torch.baddbmm(bias, q, keys, alpha=d ** -0.5), dim=-1)  # (B*Hkv, Q, S)
        out = torch.bmm(probs[..., :KEY_CHUNK], vals[:, :KEY_CHUNK])  # (B*Hkv, Q, D)
        for j in range(KEY_CHUNK, s, KEY_CHUNK):
            out += torch.bmm(probs[..., j:j + KEY_CHUNK], vals[:, j:j + KEY_CHUNK])
        return out[:, :sp.n_rep].reshape(b, nh * d)  # (B, H*D)

    toks = tokens if b == a else torch.cat((tokens, tokens.new_zeros(b - a)))  # (B,)
    logits = dec.decode_layers(cache.weights, toks, pos, attend)  # (B, V): every GEMM over all B rows
    cache.lengths[:a] += 1
    return logits[:a]  # (A, V)
