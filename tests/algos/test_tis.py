"""Truncated importance sampling weights against hand-worked numbers."""

import math

import pytest
import torch

from r1lab.algos import truncated_is_weights


def test_weights_are_capped_ratios_and_one_where_masked():
    old = torch.tensor([[math.log(0.5), math.log(0.2), math.log(0.9)]])  # the trainer's pi_old
    sampler = torch.tensor([[math.log(0.25), math.log(0.4), math.log(0.3)]])  # vLLM's
    mask = torch.tensor([[True, True, False]])
    w, m = truncated_is_weights(old, sampler, mask, cap=1.5)
    # 0.5/0.25 = 2 -> capped at 1.5; 0.2/0.4 = 0.5; masked -> 1
    assert torch.allclose(w, torch.tensor([[1.5, 0.5, 1.0]]))
    assert m["tis_capped_frac"] == 0.5 and m["tis_weight_mean"] == pytest.approx(1.0)
    assert m["mismatch_mean"] == pytest.approx(math.log(2)) and m["mismatch_max"] == pytest.approx(math.log(2))
    assert not w.requires_grad


def test_no_gradient_through_the_weights_and_empty_mask():
    old = torch.zeros(2, 2, requires_grad=True)
    w, m = truncated_is_weights(old, torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool), cap=2.0)
    assert (w == 1).all() and not w.requires_grad and m["tis_weight_mean"] == 1.0
    with pytest.raises(ValueError):
        truncated_is_weights(old, old, torch.ones(2, 2, dtype=torch.bool), cap=0.0)
