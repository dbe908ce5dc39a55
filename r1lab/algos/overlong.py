"""DAPO overlong reward shaping ("soft overlong punishment", arXiv 2503.14476).

    penalty(L) = 0                                   if L <= max_len - cache_len
               = ((max_len - cache_len) - L) / cache_len   if max_len - cache_len < L <= max_len
               = -1                                  if L > max_len

It is added to the task reward by the caller. With cache_len = 0 it is a hard step: 0 up to
max_len, -1 beyond. DAPO used max_len 20,480 with cache_len 4,096. Lengths count completion tokens.
Metrics (python floats): overlong_penalty_mean, frac_penalized (penalty < 0), frac_over_max (L > max_len).
"""
from __future__ import annotations

import torch
from torch import Tensor


def overlong_penalty(lengths: Tensor, max_len: int, cache_len: int) -> tuple[Tensor, dict[str, float]]:
    """Length penalty in [-1, 0] per completion.

    Args: lengths ``(N,)`` completion lengths in tokens, max_len > 0, 0 <= cache_len <= max_len.
    Returns: penalty ``(N,)`` float32 (float64 if lengths are float64), metrics.
    """
    if max_len <= 0 or not 0 <= cache_len <= max_len:
        raise ValueError(f"need max_len > 0 and 0 <= cache_len <= max_len; got {max_len}, {cache_len}")
    dtype = lengths.dtype if lengths.is_floating_point() else torch.float32
    L = lengths.detach().to(dtype)  # (N,)
    over = L > max_len  # (N,)
    ramp = ((max_len - cache_len) - L) / max(cache_len, 1)  # (N,) <= 0 once past the safe zone
    penalty = torch.where(over, -torch.ones_like(L), ramp.clamp(-1.0, 0.0))  # (N,)
    if L.numel() == 0:
        return penalty, {"overlong_penalty_mean": 0.0, "frac_penalized": 0.0, "frac_over_max": 0.0}
    stats = torch.stack([penalty.mean(), (penalty < 0).to(dtype).mean(), over.to(dtype).mean()])  # (3,)
    stats = stats.tolist()
    return penalty, dict(zip(("overlong_penalty_mean", "frac_penalized", "frac_over_max"), stats, strict=True))
