"""CISPO: clip the importance-sampling weight, not the update (MiniMax-M1, arXiv 2506.13585).

    per_token = -sg[ clip(ρ_it, 1 - eps_low, 1 + eps_high) ] · A_i · log π_θ(o_it),
    ρ_it = exp(logp_it - old_logp_it)

PPO/GRPO's min(ρA, clip(ρ)A) zeroes the gradient of a token once its ratio leaves the clip range
(for A > 0 above 1 + ε_high, for A < 0 below 1 - ε_low), which drops exactly the rare tokens whose
probability moved most. CISPO keeps every token's gradient, -w·A·grad log π, and only caps the
stop-gradient weight w. On-policy (ρ = 1) it is REINFORCE with the group baseline, like the others.

Choices, and where they depart from the paper and TRL:
- The clip range is ``[1 - eps_low, 1 + eps_high]`` as in the paper's r̂ = clip(ρ, 1 - ε_low^IS,
  1 + ε_high^IS). MiniMax-M1 sets no lower bound ("ε_low^IS large") and tunes only ε_high^IS; TRL's
  ``loss_type="cispo"`` clamps ρ at ``epsilon_high`` itself (an absolute cap, recommended 5.0, no
  lower clip). The `cispo` preset's eps_low 1.0 / eps_high 4.0 is that same rule: 0 <= w <= 5.
- The value is ``-w A logp``, not a surrogate of the objective: it is not comparable with the other
  losses' values (only its gradient is meaningful), and it is what metrics.jsonl's "loss" shows.
- Returns the per-token loss ``(N, T)`` like ``clipped_policy_loss``; MiniMax-M1 normalises by the
  batch's token count (``token_mean`` in ``r1lab.algos.aggregate``). The KL term is separate.
- Masked positions: log-ratio and log-prob are set to 0 before use, so -inf padding never yields
  inf/NaN values or gradients.

Metrics (python floats, over unmasked tokens): clip_frac_low (A != 0 and ρ < 1 - eps_low: the weight
is raised), clip_frac_high (A != 0 and ρ > 1 + eps_high: the weight is capped), clip_frac (their sum);
ratio_mean, ratio_min, ratio_max of ρ. TRL counts only A > 0 above the cap; here a capped weight
counts for either sign, since it changes the gradient either way. With no unmasked token the
fractions are 0 and the ratio statistics 1.
"""
from __future__ import annotations

import torch
from torch import Tensor

from r1lab.algos.policy import clip_metrics


def cispo_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[Tensor, dict[str, float]]:
    """Per-token CISPO loss: clipped stop-gradient IS weight times advantage times log-prob.

    Args:
        logp: ``(N, T)`` log-probs of the sampled tokens under the current policy (with grad).
        old_logp: ``(N, T)`` log-probs under the policy that sampled them (no grad).
        advantages: ``(N,)`` one advantage per completion, broadcast over its tokens.
        mask: ``(N, T)`` bool or 0/1, True on completion tokens.
        eps_low, eps_high: the weight is clipped to ``[1 - eps_low, 1 + eps_high]``.
    Returns:
        per_token ``(N, T)`` loss (0 where masked), metrics.
    """
    m = mask.bool()  # (N, T)
    zeros = torch.zeros_like(logp)  # (N, T)
    ratio = torch.exp(torch.where(m, logp - old_logp, zeros)).detach()  # (N, T) 1 at padding, no grad
    weight = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)  # (N, T) sg[clip(rho)]
    adv = advantages.detach().to(logp.dtype).unsqueeze(-1)  # (N, 1)
    safe_logp = torch.where(m, logp, zeros)  # (N, T) finite everywhere
    per_token = torch.where(m, -(weight * adv) * safe_logp, zeros)  # (N, T)

    with torch.no_grad():
        r = ratio[m]  # (n_tok,) ratios of unmasked tokens
        acts = m & (adv != 0)  # (N, T) tokens whose gradient the weight scales
        low = (acts & (ratio < 1.0 - eps_low)).to(ratio.dtype)  # (N, T)
        high = (acts & (ratio > 1.0 + eps_high)).to(ratio.dtype)  # (N, T)
        metrics = clip_metrics(r, low, high)
    return per_token, metrics
