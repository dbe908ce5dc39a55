"""Shared fixtures: tiny random-init models built locally (`tests.helpers.build_tiny`: fp32,
seeded), one thread per test. Qwen2 and Llama variants take the lean path of our own forward;
GPT-2 takes the HF fallback."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import VARIANTS, build_tiny


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
    from r1lab.rollout import decode as dec

    monkeypatch.setattr(dec, "SHARED_PREFIX_MIN", 1 if request.param == "shared" else 10**9)
    return request.param
