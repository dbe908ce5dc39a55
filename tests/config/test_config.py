from dataclasses import dataclass
from pathlib import Path

import pytest

from r1lab.config import ConfigError, help_field, load, parse_overrides, save
from r1lab.train.config import GRPOConfig


@dataclass
class Small:
    lr: float = help_field(1e-3, "learning rate")
    steps: int = help_field(10, "steps")
    name: str = help_field("x", "name")
    flag: bool = help_field(False, "flag")
    opt: int | None = help_field(None, "optional")


def test_overrides_and_types(tmp_path):
    cfg = load(Small, None, parse_overrides(["--lr", "0.5", "--steps=3", "--flag", "true", "--opt", "none"]))
    assert (cfg.lr, cfg.steps, cfg.flag, cfg.opt) == (0.5, 3, True, None)
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.1\nsteps: 7\n")
    cfg = load(Small, p, {"steps": "8"})  # the command line wins over the file
    assert (cfg.lr, cfg.steps) == (0.1, 8)
    save(cfg, tmp_path / "out.yaml")
    assert load(Small, tmp_path / "out.yaml") == cfg  # round trip


@pytest.mark.parametrize("args,msg", [
    (["--nope", "1"], "unknown key 'nope'"),
    (["--steps", "1.5"], "steps must be int"),
    (["--flag", "maybe"], "flag must be bool"),
    (["--lr"], "--lr needs a value"),
    (["lr", "3"], "unexpected argument"),
])
def test_bad_overrides(args, msg):
    with pytest.raises(ConfigError, match=msg):
        load(Small, None, parse_overrides(args))


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(Small, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(Small, bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match=f"{typo}: unknown key 'stepz'"):
        load(Small, typo)


@pytest.mark.parametrize("override,msg", [
    ({"group_size": "1"}, "group_size must be >= 2"),
    ({"beta": "-0.1"}, "beta must be >= 0"),
    ({"num_minibatches": "3"}, "must divide prompts_per_step"),
    ({"dtype": "int8"}, "dtype must be"),
])
def test_grpo_config_ranges(override, msg):
    with pytest.raises(ConfigError, match=msg):
        load(GRPOConfig, None, override)


@pytest.mark.parametrize("bad", [{"group_size": 1}, {"algo": "ppo"}, {"epsilon": 0.3, "epsilon_high": 0.2}])
def test_grpo_config_validates_on_construction(bad):
    """Library code and benches construct configs directly: they cannot skip the checks either."""
    with pytest.raises(ConfigError):
        GRPOConfig(**bad)


def test_every_stage_config_validates_on_construction():
    from r1lab.models.base_config import BaseConfig
    from r1lab.pipeline.ablate import AblateConfig
    with pytest.raises(ConfigError, match="hidden_size must divide"):
        BaseConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ConfigError, match="unknown algo"):
        AblateConfig(algos="ppo")


@pytest.mark.parametrize("size,fsdp", [("1.5b", False), ("7b", True)])
def test_gpu_recipes_load_and_split_into_whole_groups_on_8_ranks(size, fsdp):
    """The R1-Zero GPU recipes are valid configs for 8 ranks: every minibatch splits into whole groups."""
    path = Path(__file__).resolve().parents[2] / "recipes" / f"r1-zero-qwen2.5-math-{size}.yaml"
    cfg = load(GRPOConfig, path)
    assert cfg.fsdp is fsdp and cfg.device == "cuda" and cfg.dtype == "bfloat16"
    assert cfg.prompts_per_step % (cfg.num_minibatches * 8) == 0
