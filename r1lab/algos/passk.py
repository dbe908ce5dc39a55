"""Unbiased pass@k from n samples with c correct (Chen et al. 2021, Codex; used by DeepSeek-R1).

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

The product form never builds the huge binomials, so it is stable for n in the thousands.
If n - c < k every k-subset holds a correct sample and pass@k = 1. pass@1 = c / n.

``pass_at_k_batch(n, c, k)``: many problems at once, tensors ``(P,)`` in, ``((P,), metrics)`` out,
metrics {"pass@k": mean over problems}. Computed in float64. The evaluation reports it
(`r1lab.eval.protocol`); the tests check it against exact binomials and a brute force count.
"""
from __future__ import annotations

import torch
from torch import Tensor


def pass_at_k_batch(n: Tensor | int, c: Tensor, k: int) -> tuple[Tensor, dict[str, float]]:
    """Vectorised unbiased pass@k.

    Args: n ``(P,)`` samples per problem (or one int for all), c ``(P,)`` correct counts, k >= 1.
    Returns: pass@k per problem ``(P,)`` float64, metrics {"pass@k": mean, 0 if P == 0}.
    """
    c = torch.as_tensor(c, dtype=torch.int64)  # (P,)
    n = torch.as_tensor(n, dtype=torch.int64).expand_as(c)  # (P,)
    if c.numel() == 0:
        return torch.zeros(0, dtype=torch.float64), {f"pass@{k}": 0.0}
    if bool(((c < 0) | (c > n) | (n < k)).any()) or k < 1:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n; got k={k}")
    i = torch.arange(1, int(n.max()) + 1, dtype=torch.float64)  # (I,)
    in_prod = (i > (n - c).unsqueeze(-1)) & (i <= n.unsqueeze(-1))  # (P, I)
    factor = torch.where(in_prod, 1.0 - k / i, torch.ones_like(i))  # (P, I)
    miss = factor.prod(-1)  # (P,)
    out = torch.where(n - c < k, torch.ones_like(miss), 1.0 - miss)  # (P,)
    return out, {f"pass@{k}": out.mean().item()}
