"""GSPO: a sequence-level importance ratio, clipped per sequence (Zheng et al. 2025, arXiv 2507.18071).

    s_i      = (π_θ(o_i) / π_old(o_i)) ^ (1/|o_i|) = exp( mean_t (logp_it - old_logp_it) )
    per_token = -min( s_it A_i, clip(s_it, 1 - eps_low, 1 + eps_high) A_i ),
    s_it     = sg[s_i] · π_θ(o_it) / sg[π_θ(o_it)]                        ("GSPO-token", the paper's eq. 13)

s_i is the geometric mean of the token ratios: unlike the product π_θ(o_i)/π_old(o_i) it does not
compound over the length, and it stays much closer to 1 than single token ratios do.
The per-token form has the value s_i on every token of o_i (so the clip acts on the whole sequence
at once) and the gradient s_i · A_i · grad log π_θ(o_it) on each token (stop-gradient trick). With
one advantage per sequence, as here, its gradient equals the sequence-level GSPO objective's
``-min(s_i A_i, clip(s_i) A_i)`` under any aggregation that weights a sequence's tokens equally
(all three in ``r1lab.algos.aggregate``); tests/algos/test_gspo.py checks that against autograd.

Choices, and where they depart from the paper:
- Returns the per-token loss ``(N, T)`` like ``clipped_policy_loss``, so the same aggregations
  apply. The paper's objective is 1/G Σ_i (per-sequence); ``seq_mean_token_mean`` reproduces it.
- The clip range is the caller's. The paper used ε_low 3e-4 / ε_high 4e-4 (two orders of magnitude
  below GRPO's 0.2, because a mean of log-ratios is much smaller than one token's); the `gspo`
  preset (r1lab/train/presets.py) states what we use and why.
- The log-ratio is set to 0 at masked positions before anything else, so padding holding -inf or
  garbage never yields inf/NaN values or gradients. A fully masked row has s = 1 and loss 0.
- No dual clip; the KL penalty is a separate term (``r1lab.algos.kl``), as for GRPO.

Metrics (python floats), weighted by tokens as the paper's clip-fraction plot and TRL count them:
clip_frac_low (share of unmasked tokens in sequences with A < 0 and s < 1 - eps_low), clip_frac_high
(A > 0 and s > 1 + eps_high), clip_frac (their sum); ratio_mean, ratio_min, ratio_max of s over
unmasked tokens. With no unmasked token the fractions are 0 and the ratio statistics 1.
"""
from __future__ import annotations

import torch
from torch import Tensor

from r1lab.algos.policy import clip_metrics


def gspo_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    eps_low: float,
    eps_high: float,
) -> tuple[Tensor, dict[str, float]]:
    """Per-token GSPO loss with a sequence-level ratio, clipped per sequence.

    Args:
        logp: ``(N, T)`` log-probs of the sampled tokens under the current policy (with grad).
        old_logp: ``(N, T)`` log-probs under the policy that sampled them (no grad).
        advantages: ``(N,)`` one advantage per completion.
        mask: ``(N, T)`` bool or 0/1, True on completion tokens.
        eps_low, eps_high: clip range ``[1 - eps_low, 1 + eps_high]`` for the sequence ratio.
    Returns:
        per_token ``(N, T)`` loss (0 where masked), metrics.
    """
    m = mask.bool()  # (N, T)
    zeros = torch.zeros_like(logp)  # (N, T)
    log_ratio = torch.where(m, logp - old_logp, zeros)  # (N, T) 0 at padding
    lengths = m.sum(-1).clamp(min=1).to(logp.dtype)  # (N,)
    seq_log_ratio = log_ratio.sum(-1) / lengths  # (N,) log of the geometric mean of token ratios
    safe_logp = torch.where(m, logp, zeros)  # (N, T) finite everywhere
    tok_log_ratio = seq_log_ratio.detach().unsqueeze(-1) + (safe_logp - safe_logp.detach())  # (N, T) value: log s_i
    ratio = torch.exp(tok_log_ratio)  # (N, T) s_i on every token, gradient s_i * grad(logp_t)
    adv = advantages.detach().to(logp.dtype).unsqueeze(-1)  # (N, 1)
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)  # (N, T)
    surrogate = torch.minimum(ratio * adv, clipped * adv)  # (N, T)
    per_token = torch.where(m, -surrogate, zeros)  # (N, T)

    with torch.no_grad():
        s = ratio.expand_as(m)[m]  # (n_tok,) each token carries its sequence's ratio
        low = (m & (adv < 0) & (ratio < 1.0 - eps_low)).to(ratio.dtype)  # (N, T)
        high = (m & (adv > 0) & (ratio > 1.0 + eps_high)).to(ratio.dtype)  # (N, T)
        metrics = clip_metrics(s, low, high)
    return per_token, metrics
