"""The GRPO loop on the real shipped tiny model: run directory contract, and learning."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from r1lab.config import load
from r1lab.models.io import load as load_model
from r1lab.tasks import get_task, take
from r1lab.train.config import GRPOConfig
from r1lab.train.console import Console
from r1lab.train.run import run
from tests.helpers import tiny_trainer

FAST = {"max_steps": 2, "prompts_per_step": 4, "group_size": 4, "eval_problems": 4, "eval_samples": 2,
        "max_new_tokens": 48, "log_samples_every": 1, "save_every": 1, "threads": 1}


def test_run_directory_contract(tmp_path):
    cfg = load(GRPOConfig, None, dict(FAST, output_dir=str(tmp_path / "run")))
    summary = run(cfg, Console(quiet=True))
    out = tmp_path / "run"
    for key in ("base_accuracy", "final_accuracy", "base_mean_length", "final_mean_length",
                "final_format_rate", "wall_seconds"):
        assert key in summary
    assert json.loads((out / "summary.json").read_text()) == summary
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward", "accuracy", "format_rate", "mean_length", "kl", "clip_fraction", "entropy",
                "grad_norm", "tokens_per_second", "seconds"):
        assert all(isinstance(r[key], float) for r in rows), key
    assert (out / "config.yaml").read_text().count("max_steps: 2") == 1
    phases = {json.loads(line)["phase"] for line in (out / "samples.jsonl").read_text().splitlines()}
    assert phases == {"base", "train", "final"}
    ckpt = out / "checkpoints" / "step-000002"
    hf, ours = AutoModelForCausalLM.from_pretrained(ckpt).state_dict(), load_model(str(ckpt))[0].state_dict()
    assert hf.keys() == ours.keys() and all(torch.equal(hf[k], ours[k]) for k in hf)  # plain HF reads it whole
    assert (out / "checkpoints" / "step-000001").is_dir()


def _trainer(**over):
    trainer = tiny_trainer(**dict(FAST, **over))
    return trainer, take(get_task("arithmetic"), "train", trainer.cfg.prompts_per_step, 0)


def test_beta_zero_loads_no_reference():
    trainer, _ = _trainer(beta=0.0)
    assert trainer.ref is None
    trainer, _ = _trainer(beta=0.04)
    assert trainer.ref is not None and not any(p.requires_grad for p in trainer.ref.parameters())


def test_inner_epochs_and_minibatches_change_the_policy_and_clip():
    trainer, probs = _trainer(mu=3, num_minibatches=2, lr=5e-3, beta=0.04, max_new_tokens=128,
                              prompts_per_step=8)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    metrics, batch = trainer.step(probs)
    assert batch.rollout.completion_ids.shape[0] == 32
    assert batch.advantages.abs().sum() > 0  # this seeded rollout has signal
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    # later epochs see a moved policy: ratios leave 1, some clip, and the KL to the reference grows
    assert metrics["clip_fraction"] > 0.0 and metrics["kl"] > 0.0


def test_reference_refresh_copies_the_policy_and_keeps_the_initial_one():
    trainer, probs = _trainer(beta=0.04, ref_refresh_steps=1, lr=5e-3)
    assert trainer.init is trainer.ref  # one frozen copy until the first refresh
    trainer.step(probs)
    for p, r in zip(trainer.model.parameters(), trainer.ref.parameters(), strict=True):
        assert torch.equal(p, r)
    base, _ = load_model("tiny")
    assert trainer.init is not trainer.ref
    assert all(torch.equal(a, b) for a, b in zip(base.parameters(), trainer.init.parameters(), strict=True))


def test_off_policy_run_clips_and_logs_kl_to_the_reference_and_to_the_initial_policy(tmp_path):
    """The ablation's setting (4 minibatches, one epoch) at the default lr: minibatches after the
    first see a moved policy, so token ratios leave 1 and the clip acts. kl_init is measured on
    the steps that are multiples of kl_every and is null (not 0) on the others."""
    cfg = load(GRPOConfig, None, dict(FAST, max_steps=2, prompts_per_step=8, max_new_tokens=128,
                                      num_minibatches=4, warmup_steps=0, kl_every=2, save_every=0,
                                      log_samples_every=0, output_dir=str(tmp_path / "run")))
    run(cfg, Console(quiet=True))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["clip_fraction"] > 0.0  # the first step already has signal on this seed
    assert all(r["kl"] > 0.0 for r in rows)  # beta = 0.04: KL to the reference, in the loss
    assert rows[0]["kl_init"] is None and 0.0 < rows[1]["kl_init"] < 1.0
    for end in ("finished", "truncated"):  # lengths of right and wrong rollouts, split at the cap
        assert all(f"length_correct_{end}" in r and f"length_wrong_{end}" in r for r in rows)


@pytest.mark.slow
def test_short_seeded_run_raises_the_reward(tmp_path):
    """A few dozen GRPO steps from the base model: the reward must rise (seeded, CPU)."""
    cfg = load(GRPOConfig, None, {"max_steps": 30, "prompts_per_step": 8, "group_size": 8,
                                  "threads": 1, "seed": 0, "output_dir": str(tmp_path / "r"),
                                  "eval_problems": 8, "eval_samples": 1, "save_every": 0})
    run(cfg, Console(quiet=True))
    rewards = [json.loads(line)["reward"] for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.3, (first, last)


def test_bfloat16_run_trains_through_fp32_master_weights(tmp_path):
    """The GPU setting (--dtype bfloat16) on CPU: finite metrics, no skipped update, real
    gradients; the checkpoint holds fp32 master weights that moved away from the base, and the
    saved bf16 policy is exactly those weights rounded."""
    cfg = load(GRPOConfig, None, dict(FAST, dtype="bfloat16", max_new_tokens=128, prompts_per_step=8,
                                      output_dir=str(tmp_path / "run")))
    run(cfg, Console(quiet=True))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        assert all(torch.isfinite(torch.tensor(r[k])) for k in ("loss", "grad_norm", "kl")), r
        assert r["skipped_updates"] == 0
    assert max(r["grad_norm"] for r in rows) > 0
    ckpt = tmp_path / "run" / "checkpoints" / "step-000002"
    trained = AutoModelForCausalLM.from_pretrained(ckpt)
    assert trained.dtype == torch.bfloat16
    master = torch.load(ckpt / "trainer.pt", weights_only=True)["master"]
    base, _ = load_model("tiny")
    names = [n for n, p in base.named_parameters()]
    assert len(master) == len(names) and all(m.dtype == torch.float32 for m in master)
    assert any(not torch.equal(m, p) for m, p in zip(master, base.parameters(), strict=True))
    state = trained.state_dict()
    assert all(torch.equal(state[n], m.to(torch.bfloat16)) for n, m in zip(names, master, strict=True))


def test_language_reward_and_readable_format_are_reward_terms():
    from r1lab.verifiers.format import readable_format_reward
    from r1lab.verifiers.language import detect_language, language_reward
    trainer, probs = _trainer(language_weight=0.5, format_rule="readable", max_new_tokens=64)
    batch = trainer.rollout(probs)
    questions = [p.question for p in probs for _ in range(trainer.cfg.group_size)]
    lang = torch.tensor([language_reward(t, detect_language(q)) for t, q in zip(batch.texts, questions, strict=True)])
    fmt = torch.tensor([readable_format_reward(t) for t in batch.texts])
    assert torch.equal(batch.format, fmt) and torch.allclose(batch.reward_parts["language"], 0.5 * lang)
    assert torch.allclose(batch.rewards, batch.accuracy + fmt + 0.5 * lang)
    assert 0 < float(lang.mean()) <= 1  # the base writes English working: the term is not all zero
    metrics, _ = trainer.step(probs)
    assert metrics["reward_language"] is not None and metrics["language_consistency"] is not None


def test_shuffled_rewards_control_permutes_the_step_rewards_before_the_advantages():
    """--shuffle-rewards: same rollouts and logged rewards, but the advantages are those of the
    step's rewards permuted across all its responses (seeded by seed and step)."""
    from r1lab.train.grpo import _shuffled
    rewards = torch.arange(16, dtype=torch.float32)
    once, again = _shuffled(rewards, 0, 1), _shuffled(rewards, 0, 1)
    assert torch.equal(once, again) and not torch.equal(once, rewards)
    assert sorted(once.tolist()) == rewards.tolist() and not torch.equal(_shuffled(rewards, 0, 2), once)
    plain, probs = _trainer(beta=0.0, max_new_tokens=128, prompts_per_step=8)
    control, _ = _trainer(beta=0.0, max_new_tokens=128, prompts_per_step=8, shuffle_rewards=True)
    m1, b1 = plain.step(probs)
    m2, b2 = control.step(probs)
    assert b1.texts == b2.texts and torch.equal(b1.rewards, b2.rewards) and m1["reward"] == m2["reward"]
    expected, _ = control.advantages(_shuffled(b2.rewards, 0, 0), 4)
    assert torch.equal(b2.advantages, expected) and not torch.equal(b1.advantages, b2.advantages)
