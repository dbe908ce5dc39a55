"""Differentiable per-token log-probs (and entropy) of sampled completions.

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
  `_padded=True` keeps the previous computation over all N x T positions
  (`shared_prefix_hidden`) for benchmarks and tests.
* Fallback: one HF forward over the left-padded concatenation with an attention mask
  and per-row position ids (first real token at 0); only the last T+1 logits are
  requested when the model accepts `logits_to_keep`.
* Only positions with completion_mask True are scored. They are processed in chunks of
  `chunk_size` positions: lm_head (lean path) + fp32 log-softmax + gather run inside
  an activation checkpoint when grad is on, so neither forward nor backward ever holds
  more than one chunk of (chunk, V) logits beyond what the model itself produced.
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

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from r1lab.models import forward as fw


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
    model: nn.Module, prompt_ids: list[list[int]], completion_ids: Tensor, completion_mask: Tensor, group_size: int
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
    last, hidden = fw.packed_shared_prefix_hidden(model, ids, pmask, completion_ids, lengths, group_size)
    offset = p + lengths.cumsum(0) - lengths  # (N,) row of (n, 0) in [last ; hidden]
    rows = torch.where(steps == 0, torch.arange(n, device=dev)[:, None] // group_size,
                       offset[:, None] + steps - 1)  # (N, T); only read where the mask is True
    return torch.cat((last, hidden)), rows.reshape(-1)


def _padded_lean_source(
    model: nn.Module, prompt_ids: list[list[int]], completion_ids: Tensor, group_size: int
) -> Tensor:
    """The previous, padded computation (all N*T completion positions): hidden (N*T, C)."""
    ids, pmask = fw.left_pad(prompt_ids, 0, completion_ids.device)  # (P, Lp)
    last, hidden = fw.shared_prefix_hidden(model, ids, pmask, completion_ids, group_size)  # (P, C), (N, T, C)
    first = last.repeat_interleave(group_size, dim=0).unsqueeze(1)  # (N, 1, C)
    pred = torch.cat((first, hidden[:, :-1]), dim=1)  # (N, T, C)
    return pred.reshape(-1, pred.shape[-1])


def _accepts(model: nn.Module, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


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
    _padded: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Per-token log p(completion token | prompt, earlier tokens) (N, T) fp32 [, entropy (N, T)].

    completion_ids (N, T) long and completion_mask (N, T) bool, N = len(prompt_ids) * group_size,
    row i*G + j continues prompt i. Differentiable w.r.t. the model's parameters when grad is on.
    `_padded=True` (benchmarks/tests only) runs the lean path's previous padded computation.
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
    elif _padded:
        source = _padded_lean_source(model, prompt_ids, completion_ids, group_size)  # (N*T, C)
    else:
        source, rows = _lean_source(model, prompt_ids, completion_ids, completion_mask, group_size)  # (P+K, C)
    return _score(source, rows, completion_ids, completion_mask, head, temperature, with_entropy, chunk_size)
