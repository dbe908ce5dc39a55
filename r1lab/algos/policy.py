"""Clipped surrogate policy loss, per token (PPO / GRPO / DAPO clip-higher).

    per_token = -min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A),   rho = exp(logp - old_logp)

Choices, and where they depart from the papers:
- Per-token ratios, as DeepSeekMath writes GRPO; the R1 papers write a per-sequence ratio.
- Asymmetric clip range (DAPO clip-higher, arXiv 2503.14476): eps_low = eps_high gives the
  symmetric PPO/GRPO clip. R1's first RL stage used eps = 10, i.e. almost no clipping.
- No dual clip: for A < 0 and a large ratio the loss is unbounded, exactly as in the formula.
- Returns the per-token loss (N, T), zero at masked positions; reduce it with ``r1lab.algos.aggregate``.
  The KL penalty is a separate term (``r1lab.algos.kl``), added by the caller with its beta.
- The log-ratio is set to 0 at masked positions *before* the exp, so padding holding -inf or
  garbage log-probs never yields inf/NaN values or gradients.
- On-policy (old_logp = logp.detach()) the ratio is 1 and the gradient is -A * grad(logp), REINFORCE
  with the group-mean baseline.

Metrics (python floats, over unmasked tokens): clip_frac_low (A < 0 and rho < 1 - eps_low: the
lower clip is active, the gradient is cut), clip_frac_high (A > 0 and rho > 1 + eps_high),
clip_frac (their sum), ratio_mean, ratio_min, ratio_max. With no unmasked token the fractions
are 0 and the ratio statistics 1.
"""
from __future__ import annotations

import torch
from torch import Tensor


def clipped_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[Tensor, dict[str, float]]:
    """Per-token clipped surrogate loss.

    Args:
        logp: ``(N, T)`` log-probs of the sampled tokens under the current policy (with grad).
        old_logp: ``(N, T)`` log-probs under the policy that sampled them (no grad).
        advantages: ``(N,)`` one advantage per completion, broadcast over its tokens.
        mask: ``(N, T)`` bool or 0/1, True on completion tokens.
        eps_low, eps_high: clip range ``[1 - eps_low, 1 + eps_high]``.
    Returns:
        per_token ``(N, T)`` loss (0 where masked), metrics.
    """
    m = mask.bool()  # (N, T)
    zeros = torch.zeros_like(logp)  # (N, T)
    log_ratio = torch.where(m, logp - old_logp, zeros)  # (N, T) 0 at padding
    ratio = torch.exp(log_ratio)  # (N, T)
    adv = advantages.detach().to(logp.dtype).unsqueeze(-1)  # (N, 1)
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)  # (N, T)
    surrogate = torch.minimum(ratio * adv, clipped * adv)  # (N, T)
    per_token = torch.where(m, -surrogate, zeros)  # (N, T)

    with torch.no_grad():
        r = ratio[m]  # (n_tok,) ratios of unmasked tokens
        low = (m & (adv < 0) & (ratio < 1.0 - eps_low)).to(ratio.dtype)  # (N, T)
        high = (m & (adv > 0) & (ratio > 1.0 + eps_high)).to(ratio.dtype)  # (N, T)
        metrics = clip_metrics(r, low, high)
    return per_token, metrics


def clip_metrics(ratios: Tensor, low: Tensor, high: Tensor) -> dict[str, float]:
    """What every policy loss reports about its ratios, in one device sync: the share of unmasked
    tokens clipped below, above and in all, and the ratios' mean, min and max (1 when none).

    Args:
        ratios: ``(n_tok,)`` the ratio each unmasked token carries (token or sequence ratio).
        low, high: ``(N, T)`` 0/1 float masks of the tokens clipped at the low and the high end.
    """
    denom = max(ratios.numel(), 1)
    r = ratios if ratios.numel() else low.new_ones(1)  # (n_tok,) or (1,)
    stats = torch.stack([
        low.sum() / denom, high.sum() / denom, (low + high).sum() / denom,
        r.mean(), r.amin(), r.amax(),
    ]).tolist()  # (6,) -> one device sync
    names = ("clip_frac_low", "clip_frac_high", "clip_frac", "ratio_mean", "ratio_min", "ratio_max")
    return dict(zip(names, stats, strict=True))
