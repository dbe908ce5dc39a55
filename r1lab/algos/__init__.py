"""Pure functions for GRPO and its variants: tensors in, ``(value, metrics)`` out.

Metrics are detached python floats. Pick a variant once, at setup, by choosing a function.

Advantages, rewards ``(N,)`` = P prompts x G samples, NaN = no opinion (``advantages``):
- ``grpo_advantages``       (r - group mean) / (group std + eps)   GRPO, DeepSeekMath arXiv 2402.03300
- ``drgrpo_advantages``     r - group mean                          Dr. GRPO, arXiv 2503.20783
- ``batch_std_advantages``  (r - group mean) / (batch std + eps)    BNPO / REINFORCE++-style
Policy loss, per token ``(N, T)``; one signature (logp, old_logp, advantages, mask, eps_low, eps_high):
- ``clipped_policy_loss``   -min(rho A, clip(rho, 1-eps_low, 1+eps_high) A)   PPO/GRPO; DAPO clip-higher
- ``gspo_policy_loss``      the same with s = exp(mean_t log rho) per sequence  GSPO arXiv 2507.18071
- ``cispo_policy_loss``     -sg[clip(rho, 1-eps_low, 1+eps_high)] A log pi     CISPO (MiniMax-M1) arXiv 2506.13585
KL to the reference policy, per token (``kl``):
- ``kl_k3``                 exp(ref - logp) - (ref - logp) - 1      GRPO (Schulman's k3)
Loss aggregation ``(N, T)`` -> scalar, micro-batch safe via global normalisers (``aggregate``):
- ``seq_mean_token_mean``   per-sequence token mean, mean over sequences   GRPO / DeepSeekMath
- ``token_mean``            sum over tokens / token count                  DAPO arXiv 2503.14476
- ``seq_sum_constant``      per-sequence token sum / constant, mean        Dr. GRPO
Reward shaping (``overlong``):
- ``overlong_penalty``      0, then linear to -1 over the last cache_len tokens   DAPO
Sampler correction (``tis``):
- ``truncated_is_weights``  min(pi_old / pi_sampler, cap) per token     TIS (vLLM rollouts), Yao et al. 2025
Evaluation (``passk``):
- ``pass_at_k_batch``       unbiased 1 - C(n-c,k)/C(n,k) per problem   Codex arXiv 2107.03374; R1 eval
- ``cluster_answers``, ``cons_at_k_batch``   vote over equivalent answers, ties at expected value   R1's cons@64
"""
from r1lab.algos.advantages import batch_std_advantages, drgrpo_advantages, grpo_advantages
from r1lab.algos.aggregate import seq_mean_token_mean, seq_sum_constant, token_mean
from r1lab.algos.cispo import cispo_policy_loss
from r1lab.algos.gspo import gspo_policy_loss
from r1lab.algos.kl import kl_k3
from r1lab.algos.overlong import overlong_penalty
from r1lab.algos.passk import cluster_answers, cons_at_k_batch, pass_at_k_batch
from r1lab.algos.policy import clipped_policy_loss
from r1lab.algos.tis import truncated_is_weights

__all__ = [
    "grpo_advantages",
    "drgrpo_advantages",
    "batch_std_advantages",
    "clipped_policy_loss",
    "gspo_policy_loss",
    "cispo_policy_loss",
    "kl_k3",
    "seq_mean_token_mean",
    "token_mean",
    "seq_sum_constant",
    "overlong_penalty",
    "pass_at_k_batch",
    "truncated_is_weights",
    "cluster_answers",
    "cons_at_k_batch",
]
