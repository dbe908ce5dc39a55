"""Every shipped recipe loads into its command's config: a typo or a renamed field fails here, not
after a 28-minute build or halfway through a pipeline."""

from pathlib import Path

import pytest

from r1lab.config import load
from r1lab.models.base_config import BaseConfig
from r1lab.pipeline.distill_config import DistillConfig
from r1lab.train.config import GRPOConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
COMMAND = {  # recipe -> the config its command (README) loads it into
    "distill-qwen2.5-1.5b.yaml": DistillConfig,
    "emergence-base.yaml": BaseConfig, "emergence-search-base.yaml": BaseConfig, "tiny-base-anneal.yaml": BaseConfig,
    "tiny-search.yaml": BaseConfig, "tiny-small.yaml": BaseConfig,
    "emergence.yaml": GRPOConfig, "emergence-d2.yaml": GRPOConfig, "emergence-search.yaml": GRPOConfig,
    "r1-zero-qwen2.5-math-1.5b.yaml": GRPOConfig, "r1-zero-qwen2.5-math-1.5b-1gpu.yaml": GRPOConfig,
    "r1-zero-qwen2.5-math-7b.yaml": GRPOConfig,
    "r1-tiny.yaml": "pipeline", "r1-qwen2.5-math-1.5b.yaml": "pipeline",  # tests/pipeline: with its data files
}


def test_every_recipe_has_a_command():
    assert sorted(p.name for p in RECIPES.glob("*.yaml")) == sorted(COMMAND)


@pytest.mark.parametrize("name", sorted(n for n, cls in COMMAND.items() if cls != "pipeline"))
def test_recipe_loads_into_its_config(name):
    assert isinstance(load(COMMAND[name], RECIPES / name), COMMAND[name])


def test_the_emergence_recipe_trains_tiny_search_on_pair_search_within_its_budget():
    cfg = load(GRPOConfig, RECIPES / "emergence.yaml")
    assert (cfg.model, cfg.task, cfg.max_steps, cfg.threads) == ("tiny-search", "pairsum", 200, 1)
    assert cfg.log_samples_every == 1 and cfg.samples_per_log == 0  # every response kept, to recount growth
