"""Our functional Llama/Qwen2 forward vs the HF forward (fp32, tiny random models)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from r1lab.models import forward as fw
from tests.helpers import hf_logits

PROMPTS = [[3, 4, 5, 6, 7, 8], [9, 10], [11, 12, 13, 14]]
TOL = 1e-5


def test_supports_only_what_we_reproduce(make_tiny):
    build_tiny = make_tiny
    assert fw.supports(build_tiny("qwen2"))
    assert fw.supports(build_tiny("llama"))
    assert fw.supports(build_tiny("llama-bias-mha"))
    assert not fw.supports(build_tiny("qwen2", use_sliding_window=True, sliding_window=4, max_window_layers=0))
    linear = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    assert not fw.supports(build_tiny("llama", rope_parameters=linear))
    assert not fw.supports(build_tiny("llama", hidden_act="gelu"))
    assert not fw.supports(GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=4)))


def test_logits_match_hf_left_padded(tiny_model):
    ids, mask = fw.left_pad(PROMPTS, 0)  # (3, 6)
    with torch.no_grad():
        ours = fw.forward_logits(tiny_model, ids, mask)
        ref = hf_logits(tiny_model, ids, mask)
    assert (ours - ref)[mask].abs().max() < TOL
    assert torch.isfinite(ours).all()


def test_logits_match_hf_unpadded(tiny_model):
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = fw.forward_logits(tiny_model, ids)
        ref = tiny_model(input_ids=ids).logits
    assert (ours - ref).abs().max() < TOL


def test_reads_live_parameters_and_backprops(tiny_model):
    ids, mask = fw.left_pad(PROMPTS, 0)
    w = torch.randn(tiny_model.config.vocab_size, generator=torch.Generator().manual_seed(2))
    (fw.forward_logits(tiny_model, ids, mask)[mask] @ w).sum().backward()
    ours = {n: p.grad.clone() for n, p in tiny_model.named_parameters()}
    tiny_model.zero_grad()
    (hf_logits(tiny_model, ids, mask)[mask] @ w).sum().backward()
    for n, p in tiny_model.named_parameters():
        assert torch.allclose(ours[n], p.grad, atol=TOL, rtol=1e-4), n
    # an in-place update (like an optimizer step) is seen by the next call
    with torch.no_grad():
        before = fw.forward_logits(tiny_model, ids, mask)
        tiny_model.model.layers[0].mlp.down_proj.weight.mul_(2.0)
        after = fw.forward_logits(tiny_model, ids, mask)
        assert (before - after).abs().max() > 1e-3
        assert (after - hf_logits(tiny_model, ids, mask))[mask].abs().max() < TOL


def test_left_pad_and_positions():
    ids, mask = fw.left_pad([[7, 8, 9], [5]], pad_id=0)
    assert ids.tolist() == [[7, 8, 9], [0, 0, 5]]
    assert fw.positions_from_mask(mask).tolist() == [[0, 1, 2], [0, 0, 0]]
    with pytest.raises(ValueError):
        fw.left_pad([[1], []], 0)
