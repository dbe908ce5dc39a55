"""--algo presets: documented defaults, explicit fields win, and the trainer uses their functions."""

import pytest
import torch

from r1lab.algos import (
    batch_std_advantages,
    cispo_policy_loss,
    clipped_policy_loss,
    drgrpo_advantages,
    grpo_advantages,
    gspo_policy_loss,
)
from r1lab.config import ConfigError, load
from r1lab.tasks import ProblemStream, get_task
from r1lab.train.config import GRPOConfig
from tests.helpers import tiny_trainer

FAST = {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 40, "threads": 1}


@pytest.mark.parametrize("algo,beta,eps,eps_high,dynamic,overlong,adv,policy_loss", [
    ("grpo", 0.04, 0.2, 0.2, False, 0, grpo_advantages, clipped_policy_loss),
    ("dr_grpo", 0.0, 0.2, 0.2, False, 0, drgrpo_advantages, clipped_policy_loss),
    ("dapo", 0.0, 0.2, 0.28, True, 10, grpo_advantages, clipped_policy_loss),
    ("bnpo", 0.04, 0.2, 0.2, False, 0, batch_std_advantages, clipped_policy_loss),
    ("gspo", 0.0, 3e-4, 4e-4, False, 0, grpo_advantages, gspo_policy_loss),
    ("cispo", 0.0, 1.0, 4.0, False, 0, grpo_advantages, cispo_policy_loss),
])
def test_preset_defaults(algo, beta, eps, eps_high, dynamic, overlong, adv, policy_loss):
    cfg = load(GRPOConfig, None, dict(FAST, algo=algo))
    assert (cfg.beta, cfg.epsilon, cfg.epsilon_high, cfg.dynamic_sampling, cfg.overlong_buffer) == \
        (beta, eps, eps_high, dynamic, overlong)
    trainer = tiny_trainer(**dict(FAST, algo=algo))
    assert trainer.advantages is adv and trainer.policy_loss is policy_loss
    assert (trainer.ref is None) == (beta == 0)
    # the initial policy for kl_init: the reference while it is one, else a frozen copy of its own
    assert trainer.init is not None and (trainer.init is trainer.ref) == (beta > 0)
    assert not any(p.requires_grad for p in trainer.init.parameters())


def test_explicit_fields_win_and_a_symmetric_epsilon_follows_epsilon():
    cfg = load(GRPOConfig, None, {"algo": "dapo", "beta": "0.01", "dynamic_sampling": "false", "overlong_buffer": "0"})
    assert (cfg.beta, cfg.dynamic_sampling, cfg.overlong_buffer, cfg.epsilon_high) == (0.01, False, 0, 0.28)
    assert load(GRPOConfig, None, {"epsilon": "0.3"}).epsilon_high == 0.3


@pytest.mark.parametrize("over,msg", [
    ({"epsilon": "0.3", "epsilon_high": "0.2"}, "epsilon_high (0.2) must be >= epsilon (0.3)"),
    ({"algo": "ppo"}, "unknown algo 'ppo'"),
    ({"algo": "dapo", "epsilon": "0.3"}, "epsilon_high (0.28) must be >= epsilon (0.3)"),
    ({"overlong_buffer": "999"}, "overlong_buffer must be in [0, max_new_tokens]"),
    ({"algo": "gspo", "epsilon": "0.2"}, "epsilon_high (0.0004) must be >= epsilon (0.2)"),
    ({"kl_every": "-1"}, "kl_every must be >= 0"),
])
def test_preset_config_errors(over, msg):
    with pytest.raises(ConfigError) as e:
        load(GRPOConfig, None, over)
    assert msg in str(e.value)


def _aggregate(algo):
    return tiny_trainer(**dict(FAST, algo=algo)).aggregate


def test_each_preset_aggregates_its_own_way():
    loss = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])  # (2, 4)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)  # lengths 3 and 1
    # grpo: (mean(1,2,3) + mean(4)) / 2 = (2 + 4) / 2 = 3
    assert _aggregate("grpo")(loss, mask)[0].item() == pytest.approx(3.0)
    # dapo / bnpo: (1+2+3+4) / 4 tokens = 2.5
    assert _aggregate("dapo")(loss, mask)[0].item() == pytest.approx(2.5)
    assert _aggregate("bnpo")(loss, mask)[0].item() == pytest.approx(2.5)
    # dr_grpo: (6/40 + 4/40) / 2 = 0.125 (constant = max_new_tokens = 40)
    assert _aggregate("dr_grpo")(loss, mask)[0].item() == pytest.approx(0.125)
    # gspo as grpo (per sequence), cispo as dapo (token mean, MiniMax-M1)
    assert _aggregate("gspo")(loss, mask)[0].item() == pytest.approx(3.0)
    assert _aggregate("cispo")(loss, mask)[0].item() == pytest.approx(2.5)


def test_dynamic_sampling_refills_with_informative_groups():
    trainer = tiny_trainer(**dict(FAST, algo="dapo", overlong_buffer="0", max_resample_rounds="4",
                                  prompts_per_step="8", max_new_tokens="64"))
    stream = ProblemStream(get_task("arithmetic"), "train", seed=0)
    metrics, batch = trainer.step(stream.take(8), more=stream.take)
    # the base model solves few problems, so many groups are all-zero and get replaced
    assert metrics["resample_rounds"] >= 1 and stream.position == 8 * (1 + metrics["resample_rounds"])
    assert len(batch.problems) == 8 and batch.rollout.completion_ids.shape[0] == 32
    zero = batch.advantages.view(8, 4).abs().sum(-1) == 0  # (8,) groups without signal
    assert int(zero.sum()) == metrics["groups_short"]
