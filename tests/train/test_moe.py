"""A Mixture-of-Experts policy end to end on CPU: `r1lab base --arch deepseek_v3` builds a tiny
DeepSeek-V3 (routed + shared experts, multi-head latent attention), `r1lab train` trains it
through the HF forward, and each step logs the routers' load balance."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import LENGTH_REWARD, r1lab


@pytest.mark.slow
def test_tiny_moe_base_trains_its_routed_experts_and_logs_load_balance(tmp_path):
    base, run, reward = tmp_path / "moe", tmp_path / "run", tmp_path / "reward.py"
    built = r1lab("base", "--arch", "deepseek_v3", "--stop-at", "2", "--batch-size", "2", "--seq-len", "64",
                  "--threads", "1", "--output-dir", base)
    assert built.returncode == 0, built.stderr
    config = json.loads((base / "config.json").read_text())
    assert config["model_type"] == "deepseek_v3" and config["n_routed_experts"] == 8 and config["kv_lora_rank"]
    reward.write_text(LENGTH_REWARD)  # varied rewards: non-zero advantages, so the policy really moves
    res = r1lab("train", "--model", base, "--reward-fn", f"{reward}:reward", "--max-steps", "2",
                "--prompts-per-step", "2", "--group-size", "4", "--max-new-tokens", "24", "--eval-problems", "1",
                "--eval-samples", "1", "--threads", "1", "--lr", "1e-3", "--output-dir", run)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        assert math.isfinite(r["loss"]) and r["grad_norm"] > 0
        assert len(r["moe_tokens_per_expert"]) == 8 and sum(r["moe_tokens_per_expert"]) > 0
        assert r["moe_load_max_mean"] >= 1.0 and 0.0 < r["moe_active_param_share"] < 1.0
    before, after = load_file(str(base / "model.safetensors")), load_file(
        str(run / "checkpoints" / "step-000002" / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    routed = [k for k in before if ".mlp.experts." in k]
    assert routed and all(k in changed for k in routed if "gate_proj" in k), sorted(set(routed) - changed)
    assert any(".mlp.gate.weight" in k for k in changed) and any("kv_a_proj" in k for k in changed)
