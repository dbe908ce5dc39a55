"""The per-token KL(pi_theta || pi_ref) estimator from sampled tokens (Schulman, "Approximating KL").

With d = ref_logp - logp at a token sampled from pi_theta:
- ``kl_k3``: exp(d) - d - 1 >= 0, unbiased, low variance; the estimator GRPO uses (DeepSeekMath,
  DeepSeek-R1), added to the loss with coefficient beta rather than folded into the reward.

Choices: no clamping of d (some implementations clamp k3 to [-10, 10]); d is set to 0 at masked
positions before the exp, so padding with -inf log-probs yields neither inf/NaN values nor
gradients. It returns the per-token value ``(N, T)``, zero where masked, for
``r1lab.algos.aggregate``. Metrics: kl_mean, the token mean over unmasked tokens (0 if none).
"""
from __future__ import annotations

import torch
from torch import Tensor


def _masked_diff(a: Tensor, b: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    m = mask.bool()  # (N, T)
    return torch.where(m, a - b, torch.zeros_like(a)), m  # (N, T), (N, T)


def _kl_mean(per_token: Tensor, m: Tensor) -> dict[str, float]:
    n_tok = m.sum().clamp(min=1)  # ()
    return {"kl_mean": (per_token.detach().sum() / n_tok).item()}


def kl_k3(logp: Tensor, ref_logp: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
    """k3 estimator ``exp(ref - logp) - (ref - logp) - 1`` per token.

    Args: logp ``(N, T)`` current policy (with grad), ref_logp ``(N, T)`` reference policy,
    mask ``(N, T)`` bool or 0/1. Returns: per_token ``(N, T)`` (>= 0, 0 where masked), metrics.
    """
    d, m = _masked_diff(ref_logp, logp, mask)  # (N, T) 0 at padding
    per_token = torch.exp(d) - d - 1.0  # (N, T) exactly 0 where d == 0
    return per_token, _kl_mean(per_token, m)
