"""Group-relative advantages (no critic) for GRPO and its variants.

Layout: ``rewards`` is ``(N,)`` with ``N = P * G``; row ``i * G + j`` is sample ``j`` of prompt ``i``.
Every sample of a completion gets one scalar advantage; the policy loss broadcasts it over tokens.

Choices, and where they depart from the papers:
- std is the *unbiased* sample std (Bessel, divide by n - 1), as ``torch.std`` in the open GRPO
  implementations. The papers write ``std(r_1..r_G)`` without saying which; for G = 16 the two
  differ by a factor sqrt(16/15) ~ 1.03.
- ``eps`` is added to the std (``/ (std + eps)``), not inside a square root.
- NaN reward = "no opinion" (a reward function returned None): the sample is left out of its
  group's mean and std and gets advantage 0, so it adds no gradient.
- A group with fewer than 2 valid samples, or whose valid rewards are all equal (max == min,
  tested exactly, not ``std < tol``), carries no signal: all its advantages are exactly 0. Without
  this, float rounding in the mean (e.g. three rewards of 0.1) would leave ~1e-9 / eps noise.
- ``batch_std_advantages`` divides by the std of the *rewards* over the whole batch (all valid
  samples, unbiased); REINFORCE++-baseline instead divides by the batch std of the group-centred
  rewards. Dr. GRPO (arXiv 2503.20783) drops the division altogether.

Metrics (python floats): reward_mean, reward_std (over valid rewards), frac_reward_nan,
frac_zero_std_groups (groups with no signal, as defined above).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class _Groups(NamedTuple):
    valid: Tensor  # (P, G) bool, False where the reward is NaN
    count: Tensor  # (P, 1) number of valid samples per group
    centered: Tensor  # (P, G) r - group mean; exactly 0 if invalid or the group has no signal
    informative: Tensor  # (P, 1) bool, >= 2 valid samples that are not all equal
    metrics: dict[str, float]


def _informative(r: Tensor, valid: Tensor) -> Tensor:
    """r (P, G) float, valid (P, G) -> (P,) bool: at least 2 valid rewards, not all equal (max > min)."""
    hi = torch.where(valid, r, torch.full_like(r, -torch.inf)).amax(-1)  # (P,)
    lo = torch.where(valid, r, torch.full_like(r, torch.inf)).amin(-1)  # (P,)
    return (valid.sum(-1) >= 2) & (hi > lo)  # (P,)


def informative_groups(rewards: Tensor, group_size: int) -> Tensor:
    """rewards (N,) = P groups of G (NaN = no opinion) -> (P,) bool: the groups that carry signal, the
    same test the advantages apply (DAPO's dynamic sampling keeps only these)."""
    r = rewards.detach().view(-1, group_size).float()  # (P, G)
    return _informative(r, ~torch.isnan(r))  # (P,)


def _group(rewards: Tensor, group_size: int) -> _Groups:
    if rewards.dim() != 1 or group_size < 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"rewards must be (P*G,) with G={group_size}; got {tuple(rewards.shape)}")
    r = rewards.detach().view(-1, group_size)  # (P, G)
    if not r.is_floating_point():
        r = r.float()  # (P, G)
    valid = ~torch.isnan(r)  # (P, G)
    r0 = torch.where(valid, r, torch.zeros_like(r))  # (P, G) NaN -> 0 for the sums
    count = valid.sum(-1, keepdim=True)  # (P, 1)
    mean = r0.sum(-1, keepdim=True) / count.clamp(min=1)  # (P, 1)
    informative = _informative(r, valid).unsqueeze(-1)  # (P, 1)
    keep = valid & informative  # (P, G)
    centered = torch.where(keep, r0 - mean, torch.zeros_like(r0))  # (P, G)

    n_valid = valid.sum()  # ()
    flat_mean = r0.sum() / n_valid.clamp(min=1)  # ()
    flat_dev = torch.where(valid, r0 - flat_mean, torch.zeros_like(r0))  # (P, G)
    flat_std = (flat_dev.square().sum() / (n_valid - 1).clamp(min=1)).sqrt()  # ()
    stats = torch.stack([
        flat_mean, flat_std, 1.0 - valid.float().mean(), 1.0 - informative.float().mean(),
    ]).tolist()  # (4,) -> one device sync
    metrics = dict(zip(("reward_mean", "reward_std", "frac_reward_nan", "frac_zero_std_groups"), stats, strict=True))
    return _Groups(valid, count, centered, informative, metrics)


def grpo_advantages(rewards: Tensor, group_size: int, eps: float = 1e-4) -> tuple[Tensor, dict[str, float]]:
    """GRPO (DeepSeekMath, arXiv 2402.03300): ``(r - group mean) / (group std + eps)``.

    Args: rewards ``(N,)`` (NaN = no opinion), group_size G dividing N, eps added to the std.
    Returns: advantages ``(N,)`` (0 for NaN rewards and signal-free groups), metrics.
    """
    g = _group(rewards, group_size)
    var = g.centered.square().sum(-1, keepdim=True) / (g.count - 1).clamp(min=1)  # (P, 1) unbiased
    adv = g.centered / (var.sqrt() + eps)  # (P, G)
    return adv.reshape(-1), g.metrics  # (N,)


def drgrpo_advantages(rewards: Tensor, group_size: int) -> tuple[Tensor, dict[str, float]]:
    """Dr. GRPO (arXiv 2503.20783): ``r - group mean``, no division by the std.

    Args: rewards ``(N,)`` (NaN = no opinion), group_size G dividing N.
    Returns: advantages ``(N,)`` (0 for NaN rewards and signal-free groups), metrics.
    """
    g = _group(rewards, group_size)
    return g.centered.reshape(-1), g.metrics  # (N,)


def batch_std_advantages(
    rewards: Tensor, group_size: int, eps: float = 1e-4
) -> tuple[Tensor, dict[str, float]]:
    """Group mean, batch std (BNPO / REINFORCE++-style): ``(r - group mean) / (batch std + eps)``.

    The std is the unbiased std of all valid rewards in the batch (not per group), so
    nearly-all-right or nearly-all-wrong groups are not up-weighted.
    Args: rewards ``(N,)`` (NaN = no opinion), group_size G dividing N, eps added to the std.
    Returns: advantages ``(N,)`` (0 for NaN rewards and signal-free groups), metrics.
    """
    g = _group(rewards, group_size)
    adv = g.centered / (g.metrics["reward_std"] + eps)  # (P, G)
    return adv.reshape(-1), g.metrics  # (N,)
