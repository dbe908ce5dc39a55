"""Mixture-of-Experts bookkeeping: how evenly the router spreads tokens, and how much of the model
a token uses.

`RouterStats(model)` hooks every top-k router of a DeepSeek-V3-style model (transformers'
`DeepseekV3TopkRouter`: its forward returns (logits, weights, indices), indices (tokens, k)) and,
while `tracking(valid)` is on, counts the tokens each routed expert receives, per MoE layer.
`valid` (tokens,) bool names the positions that hold real tokens (padding is routed too, and
would otherwise be counted). `take()` returns the counts (layers, experts) and resets them.

`active_param_share(model)`: the share of parameters a token passes through: everything except
the routed experts, plus k of each layer's E routed experts (shared experts always run). For
DeepSeek-V3 itself, 37B of 671B.

Load balance in DeepSeek-V3 is kept without an auxiliary loss, by a per-expert bias on the
routing scores (`e_score_correction_bias`) nudged after each step; transformers keeps the bias but
not the update rule, and r1lab does not implement it: the counts here show what the router does
without it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn


def routers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if type(m).__name__.endswith("TopkRouter")]


def is_moe(model: nn.Module) -> bool:
    return bool(routers(model))


class RouterStats:
    def __init__(self, model: nn.Module):
        self.routers = routers(model)
        n_experts = self.routers[0].weight.shape[0] if self.routers else 0
        self.counts = torch.zeros(len(self.routers), n_experts, dtype=torch.long)  # (L, E)
        self.valid: Tensor | None = None
        self.active = False
        for i, r in enumerate(self.routers):
            r.register_forward_hook(self._hook(i))

    def _hook(self, layer: int):
        def hook(module, args, out):
            if not self.active:
                return
            idx = out[-1].detach()  # (tokens, k)
            if self.valid is not None and self.valid.numel() == idx.shape[0]:
                idx = idx[self.valid.to(idx.device)]  # (real tokens, k)
            self.counts[layer] += torch.bincount(idx.flatten(), minlength=self.counts.shape[1]).cpu()
        return hook

    @contextmanager
    def tracking(self, valid: Tensor | None = None):
        self.active, self.valid = True, valid
        try:
            yield
        finally:
            self.active, self.valid = False, None

    def take(self) -> Tensor:
        out, self.counts = self.counts, torch.zeros_like(self.counts)
        return out  # (L, E)


def balance_metrics(counts: Tensor) -> dict:
    """counts (L, E) tokens per routed expert per MoE layer -> tokens per expert (summed over layers),
    and max/mean per layer (1 = perfectly even), the worst layer's and the mean over layers."""
    per_layer = counts.double()  # (L, E)
    mean = per_layer.mean(-1).clamp(min=1e-9)  # (L,)
    ratio = per_layer.max(-1).values / mean  # (L,)
    return {"moe_tokens_per_expert": counts.sum(0).tolist(), "moe_load_max_mean": ratio.max().item(),
            "moe_load_max_mean_avg": ratio.mean().item()}


def active_param_share(model: nn.Module) -> float:
    total = sum(p.numel() for p in model.parameters())
    routed = inactive = 0
    for m in model.modules():
        if type(m).__name__.endswith("Experts") and hasattr(m, "num_experts"):
            n = sum(p.numel() for p in m.parameters(recurse=False))
            routed += n
            inactive += n * (1 - model.config.num_experts_per_tok / m.num_experts)
    return (total - inactive) / total if routed else 1.0
