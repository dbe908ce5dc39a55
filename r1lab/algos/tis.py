"""Truncated importance sampling (TIS): correct for a sampler that is not quite the trained policy.

A fast inference engine (vLLM) samples the rollout with its own kernels, so the probability it
gave a token, π_sampler, differs slightly from what the trainer's forward computes for the same
weights, π_old (the policy before this step's update). The policy gradient assumes the tokens
came from π_old; reweighting each token by π_old / π_sampler makes the estimate unbiased again,
and capping the weight at `cap` keeps a rare large ratio from dominating the step:

    w_t = min(π_old(o_t) / π_sampler(o_t), cap)       (no gradient flows through w)

The per-token policy loss is multiplied by w (the KL term is not: it is not an expectation over
the sampler). This is the correction of "Your efficient RL framework secretly brings you
off-policy RL training" (Yao et al., 2025), as TRL (`vllm_importance_sampling_cap`) and verl use it.

Metrics (python floats, over unmasked tokens): mismatch_mean / mismatch_max, the mean and the
largest |log π_old - log π_sampler|; tis_weight_mean; tis_capped_frac, the share of tokens whose
weight hit the cap. With no unmasked token the means are 0 and the weight 1.
"""

from __future__ import annotations

import torch
from torch import Tensor


def truncated_is_weights(old_logp: Tensor, sampler_logp: Tensor, mask: Tensor, cap: float) -> tuple[Tensor, dict]:
    """old_logp, sampler_logp (N, T) per-token log-probs; mask (N, T) bool -> weights (N, T), 1 where
    masked, detached; metrics. `cap` > 0 is the largest weight."""
    if cap <= 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    m = mask.bool()  # (N, T)
    diff = torch.where(m, old_logp.detach() - sampler_logp.detach(), torch.zeros_like(old_logp))  # (N, T)
    w = torch.exp(diff).clamp(max=cap)  # (N, T)
    w = torch.where(m, w, torch.ones_like(w))  # (N, T)
    n = int(m.sum())
    if n == 0:
        return w, {"mismatch_mean": 0.0, "mismatch_max": 0.0, "tis_weight_mean": 1.0, "tis_capped_frac": 0.0}
    gap = diff.abs()[m]  # (K,)
    return w, {"mismatch_mean": gap.mean().item(), "mismatch_max": gap.max().item(),
               "tis_weight_mean": w[m].mean().item(), "tis_capped_frac": (w[m] >= cap).float().mean().item()}
