"""The policy's optimizer: AdamW with linear warm-up, gradient clipping, and fp32 master
weights when the model is held in bf16 / fp16. The learning-rate schedule is a function of the
optimizer step: constant after warm-up (`warmup_constant`, GRPO, as the paper) or cosine decay
to a floor after warm-up (`warmup_cosine`, SFT: R1's "cosine decay to one tenth").

Why master weights: an AdamW step moves a weight by about the learning rate, and bf16 keeps 8
significant bits, so a weight of 0.08 only changes in steps of 2^-11 ≈ 5e-4. Updates of 1e-6
(the paper's lr) or 4e-5 (our first warm-up step) round back to the old value and training
silently does nothing. So for a half-precision model the optimizer owns an fp32 copy of every
trainable parameter: gradients are copied up, clipped and applied in fp32, and the model gets
the rounded result. Forward and backward passes stay in the model's dtype. For an fp32 model
the optimizer works on the parameters themselves. The half-precision gradient is dropped as soon
as its fp32 copy exists (one model's worth of memory: 3 GiB at 1.5B parameters).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from r1lab.models.pretrain import adamw_groups


def warmup_constant(warmup_steps: int) -> Callable[[int], float]:
    """lr factor of optimizer step s (0-based): (s + 1) / warmup_steps, then 1."""
    return lambda s: min(1.0, (s + 1) / max(1, warmup_steps))


def warmup_cosine(warmup_steps: int, total_steps: int, floor: float = 0.1) -> Callable[[int], float]:
    """lr factor of optimizer step s (0-based): linear warm-up to 1 over `warmup_steps`, then a
    half cosine from 1 down to `floor`, reached at the last step (s = total_steps - 1)."""
    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        done = min(1.0, (s - warmup_steps + 1) / max(1, total_steps - warmup_steps))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))
    return factor


class PolicyOptimizer:
    def __init__(self, model: nn.Module, lr: float, weight_decay: float, warmup_steps: int,
                 schedule: Callable[[int], float] | None = None) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        half = any(p.dtype != torch.float32 for p in self.params)
        self.master = [p.detach().float().clone() for p in self.params] if half else None
        self.opt = torch.optim.AdamW(adamw_groups(self.params, weight_decay, self.master), lr=lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, schedule or warmup_constant(warmup_steps))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def clip_and_step(self, max_norm: float, loss: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Clip the gradients to `max_norm` and step, unless the loss or the gradient norm is not
        finite (then nothing changes). Returns (gradient norm before clipping, stepped)."""
        train = self.params
        if self.master is not None:
            for m, p in zip(self.master, self.params, strict=True):
                m.grad = None if p.grad is None else p.grad.float()
                p.grad = None
            train = self.master
        gnorm = torch.nn.utils.clip_grad_norm_(train, max_norm)
        finite = bool(torch.isfinite(gnorm) & torch.isfinite(loss))
        if finite:
            self.opt.step()
            if self.master is not None:
                with torch.no_grad():
                    for p, m in zip(self.params, self.master, strict=True):
                        p.copy_(m)
        return gnorm, finite

    def schedule_step(self) -> None:
        self.sched.step()

    def last_lr(self) -> float:
        return self.sched.get_last_lr()[0]

    def state_dict(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "master": self.master}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.master is not None and state.get("master") is not None:  # else: kept as taken from the model
            with torch.no_grad():
                for m, saved in zip(self.master, state["master"], strict=True):
                    m.copy_(saved)
