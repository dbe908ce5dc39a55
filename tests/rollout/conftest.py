"""Tiny random-init models for the rollout tests: Qwen2 / Llama (lean path) and GPT-2 (fallback)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

VOCAB = 64
COMMON = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=64, initializer_range=0.2, pad_token_id=0, max_position_embeddings=256,
)


def build_tiny(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    if name == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**COMMON, tie_word_embeddings=True))
    elif name == "llama":
        model = LlamaForCausalLM(LlamaConfig(**COMMON, tie_word_embeddings=False))
    elif name == "gpt2":
        cfg = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256, initializer_range=0.2,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
        model = GPT2LMHeadModel(cfg)
    else:
        raise ValueError(name)
    model = model.float().eval()
    with torch.no_grad():  # exercise the (zero-initialised) biases too
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.normal_(0.0, 0.2)
    return model



@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and spinning OpenMP workers on a
    busy 2-core box can make each op ~100x slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

@pytest.fixture(params=["qwen2", "llama"])
def lean_model(request) -> torch.nn.Module:
    return build_tiny(request.param)


@pytest.fixture
def qwen2_model() -> torch.nn.Module:
    return build_tiny("qwen2")


@pytest.fixture
def gpt2_model() -> torch.nn.Module:
    return build_tiny("gpt2")
