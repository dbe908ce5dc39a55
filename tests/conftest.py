"""Shared fixtures: tiny random-init models built locally (fp32, seeded), one thread per test.

Qwen2 and Llama variants take the lean path of our own forward; GPT-2 takes the HF fallback.
"""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

VOCAB = 64
COMMON = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=64, initializer_range=0.2, pad_token_id=0, max_position_embeddings=256,
)
VARIANTS = {
    "qwen2": (Qwen2ForCausalLM, Qwen2Config, dict(tie_word_embeddings=True)),
    "llama": (LlamaForCausalLM, LlamaConfig, dict(tie_word_embeddings=False)),
    # biases everywhere, head_dim != hidden / heads, no GQA
    "llama-bias-mha": (
        LlamaForCausalLM, LlamaConfig,
        dict(attention_bias=True, mlp_bias=True, head_dim=16, num_key_value_heads=4,
             rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
    ),
}


def build_tiny(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    if name == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                                           initializer_range=0.2, pad_token_id=0, bos_token_id=1,
                                           eos_token_id=2, **overrides))
    else:
        cls, cfg_cls, extra = VARIANTS[name]
        model = cls(cfg_cls(**{**COMMON, **extra, **overrides}))
    model = model.float().eval()
    with torch.no_grad():  # HF zero-inits biases and ones-inits norms: randomise so they are exercised
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.normal_(0.0, 0.2)
            elif "norm" in pname:
                p.uniform_(0.5, 1.5)
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and spinning OpenMP workers on a
    busy 2-core box can make each op ~100x slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=list(VARIANTS))
def tiny_model(request) -> torch.nn.Module:
    return build_tiny(request.param)


@pytest.fixture
def make_tiny():
    """The builder itself, for tests that need specific config overrides."""
    return build_tiny


@pytest.fixture(params=["qwen2", "llama"])
def lean_model(request) -> torch.nn.Module:
    return build_tiny(request.param)


@pytest.fixture
def qwen2_model() -> torch.nn.Module:
    return build_tiny("qwen2")


@pytest.fixture
def gpt2_model() -> torch.nn.Module:
    return build_tiny("gpt2")


@pytest.fixture(params=["copied", "shared"])
def decode_layout(request, monkeypatch) -> str:
    """Run a decode test with the prompt K/V copied per row and with it shared per prompt (see
    `StaticKVCache`)."""
    from r1lab.models import decode as dec

    monkeypatch.setattr(dec, "SHARED_PREFIX_MIN", 1 if request.param == "shared" else 10**9)
    return request.param
