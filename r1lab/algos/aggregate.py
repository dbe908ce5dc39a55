"""Reduce a per-token loss ``(N, T)`` and its mask to the scalar that is back-propagated.

- ``seq_mean_token_mean``: mean over each sequence's tokens, then over sequences. GRPO as written in
  DeepSeekMath (1/G sum_i 1/|o_i| sum_t). Biased towards short correct / long wrong answers (Dr. GRPO).
- ``token_mean``: sum over all tokens / total token count. DAPO's token-level loss (and BNPO).
- ``seq_sum_constant``: each sequence's token sum / a constant (e.g. the max completion length),
  then the mean over sequences. Dr. GRPO (arXiv 2503.20783).

Gradient accumulation. Each mode is a sum of per-token terms over one normaliser, so splitting a
batch into micro-batches gives exactly the full-batch gradient provided every micro-batch divides
by the *global* normaliser (sequences or tokens of the whole batch, summed over data-parallel ranks
too) and the gradients are summed, not averaged. Pass it as ``num_seqs`` / ``num_tokens``; the
default (this call's own count) is only right when the call sees the whole batch. With the default
per-micro-batch ``token_mean``, micro-batches with few tokens would be over-weighted.

Fully masked rows contribute 0 (never NaN; a row's token mean divides by max(len, 1)) but still count
in the default ``num_seqs``. Positions outside the mask are ignored even if they hold inf/NaN.
Metrics (python floats): num_seqs, num_tokens of this call.
"""
from __future__ import annotations

import torch
from torch import Tensor

Normaliser = float | int | Tensor | None


def _masked(loss: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    m = mask.bool()  # (N, T)
    return torch.where(m, loss, torch.zeros_like(loss)), m  # (N, T), (N, T)


def _metrics(m: Tensor) -> dict[str, float]:
    return {"num_seqs": float(m.shape[0]), "num_tokens": float(m.sum().item())}


def seq_mean_token_mean(
    loss: Tensor, mask: Tensor, num_seqs: Normaliser = None
) -> tuple[Tensor, dict[str, float]]:
    """``sum_i (sum_t loss[i, t] / |o_i|) / num_seqs`` (GRPO / DeepSeekMath).

    Args: loss ``(N, T)``, mask ``(N, T)`` bool or 0/1, num_seqs global sequence count (default N).
    Returns: scalar loss ``()``, metrics.
    """
    x, m = _masked(loss, mask)  # (N, T)
    lengths = m.sum(-1).clamp(min=1).to(x.dtype)  # (N,)
    per_seq = x.sum(-1) / lengths  # (N,)
    denom = max(m.shape[0], 1) if num_seqs is None else num_seqs
    return per_seq.sum() / denom, _metrics(m)  # ()


def token_mean(loss: Tensor, mask: Tensor, num_tokens: Normaliser = None) -> tuple[Tensor, dict[str, float]]:
    """``sum_{i,t} loss[i, t] / num_tokens`` (DAPO token-level loss).

    Args: loss ``(N, T)``, mask ``(N, T)`` bool or 0/1, num_tokens global token count
    (default: this mask's count, at least 1). Returns: scalar loss ``()``, metrics.
    """
    x, m = _masked(loss, mask)  # (N, T)
    denom = m.sum().clamp(min=1) if num_tokens is None else num_tokens  # ()
    return x.sum() / denom, _metrics(m)  # ()


def seq_sum_constant(
    loss: Tensor, mask: Tensor, constant: float, num_seqs: Normaliser = None
) -> tuple[Tensor, dict[str, float]]:
    """``sum_i (sum_t loss[i, t] / constant) / num_seqs`` (Dr. GRPO).

    Args: loss ``(N, T)``, mask ``(N, T)`` bool or 0/1, constant > 0 (e.g. max completion length),
    num_seqs global sequence count (default N). Returns: scalar loss ``()``, metrics.
    """
    if constant <= 0:
        raise ValueError(f"constant must be > 0, got {constant}")
    x, m = _masked(loss, mask)  # (N, T)
    per_seq = x.sum(-1) / constant  # (N,)
    denom = max(m.shape[0], 1) if num_seqs is None else num_seqs
    return per_seq.sum() / denom, _metrics(m)  # ()
