"""PolicyOptimizer: AdamW + warm-up + clipping, with fp32 master weights for half-precision models."""

import pytest
import torch
from torch import nn

from r1lab.train.optim import PolicyOptimizer


def _linear(dtype: torch.dtype) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(8, 4).to(dtype)


def _train(model: nn.Linear, steps: int, lr: float = 1e-4) -> PolicyOptimizer:
    opt = PolicyOptimizer(model, lr=lr, weight_decay=0.01, warmup_steps=1)
    c = torch.linspace(-1.0, 1.0, 32).view(4, 8)  # the gradient of (w * c).sum() is c, exact in bf16
    for _ in range(steps):
        opt.zero_grad()
        loss = (model.weight * c.to(model.weight.dtype)).sum() + model.bias.sum()
        loss.backward()
        opt.clip_and_step(max_norm=100.0, loss=loss.detach())
        opt.schedule_step()
    return opt


def test_bf16_model_follows_the_fp32_run_rounded():
    """Steps of 1e-4 are below half a bf16 ulp of these weights: without master weights the bf16
    model would never move. With them it equals the fp32 run's weights rounded to bf16."""
    half = _linear(torch.bfloat16)
    ref = _linear(torch.float32)
    with torch.no_grad():  # the same start: the bf16 values
        for r, h in zip(ref.parameters(), half.parameters(), strict=True):
            r.copy_(h.float())
    start = half.weight.detach().clone()
    _train(ref, 10)
    opt = _train(half, 10)
    assert opt.master is not None
    assert not torch.equal(half.weight, start)
    assert torch.equal(half.weight, ref.weight.detach().to(torch.bfloat16))
    assert torch.equal(opt.master[0], ref.weight.detach())


def test_fp32_model_is_trained_in_place_without_copies():
    model = _linear(torch.float32)
    opt = _train(model, 2)
    assert opt.master is None
    assert opt.opt.param_groups[0]["params"][0] is model.weight


def test_nonfinite_loss_changes_nothing_and_state_round_trips():
    model = _linear(torch.bfloat16)
    opt = _train(model, 3)
    before = [p.detach().clone() for p in model.parameters()]
    model.weight.sum().backward()
    gnorm, stepped = opt.clip_and_step(1.0, torch.tensor(float("nan")))
    assert not stepped and all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    saved = opt.state_dict()
    fresh_model = _linear(torch.bfloat16)
    fresh = PolicyOptimizer(fresh_model, lr=1e-4, weight_decay=0.01, warmup_steps=1)
    fresh.load_state_dict(saved)
    assert all(torch.equal(a, b) for a, b in zip(fresh.master, opt.master, strict=True))
    assert fresh.last_lr() == opt.last_lr()


@pytest.mark.filterwarnings("ignore:Detected call of")  # the schedule alone, no optimizer step
def test_cosine_schedule_warms_up_then_decays_to_one_tenth():
    from r1lab.train.optim import warmup_cosine
    f = warmup_cosine(warmup_steps=2, total_steps=10, floor=0.1)
    # warm-up: (s+1)/2; then 0.1 + 0.9 * (1 + cos(pi * (s-1)/8)) / 2, so s=5 is half way: 0.1 + 0.45
    assert [f(0), f(1), f(5), f(9)] == [0.5, 1.0, pytest.approx(0.55), pytest.approx(0.1)]
    assert all(f(s) > f(s + 1) for s in range(1, 9))
    opt = PolicyOptimizer(_linear(torch.float32), lr=1e-3, weight_decay=0.0, warmup_steps=2, schedule=f)
    lrs = []
    for _ in range(10):
        lrs.append(opt.last_lr())
        opt.schedule_step()
    assert lrs[0] == pytest.approx(5e-4) and lrs[-1] == pytest.approx(1e-4)
