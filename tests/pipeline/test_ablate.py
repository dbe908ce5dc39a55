"""`r1lab ablate` end to end at a toy size: one run per (preset, seed), a table, reuse on rerun."""

import pytest

from r1lab.config import ConfigError, load
from r1lab.pipeline.ablate import AblateConfig, ablate, markdown
from r1lab.train.console import Console

TINY = {"max_steps": 2, "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 32, "eval_problems": 4,
        "eval_samples": 2, "threads": 1}

@pytest.mark.slow
def test_ablate_runs_each_preset_and_reuses_finished_runs(tmp_path):
    cfg = load(AblateConfig, None, dict(TINY, algos="grpo,dr_grpo", seeds="0,1", output_dir=str(tmp_path)))
    table = ablate(cfg, Console(quiet=True))
    lines = table.splitlines()
    assert len(lines) == 2 + 4 and lines[2].startswith("| grpo | 0 |") and lines[5].startswith("| dr_grpo | 1 |")
    assert (tmp_path / "ablation.md").read_text().strip() == table
    for run in ("grpo-seed0", "grpo-seed1", "dr_grpo-seed0", "dr_grpo-seed1"):
        saved = (tmp_path / run / "config.yaml").read_text()
        assert "max_steps: 2" in saved and "group_size: 4" in saved
    assert "algo: dr_grpo" in (tmp_path / "dr_grpo-seed1" / "config.yaml").read_text()
    # a second call reuses the summaries instead of training again
    before = (tmp_path / "grpo-seed0" / "summary.json").stat().st_mtime_ns
    assert ablate(cfg, Console(quiet=True)) == table
    assert (tmp_path / "grpo-seed0" / "summary.json").stat().st_mtime_ns == before

def test_table_shows_lengths_of_right_and_wrong_answers():
    row = {"algo": "dapo", "seed": 1, "base_acc": 0.2, "acc": 0.95, "format": 1.0, "length": 80.0,
           "length_right": 81.25, "length_wrong": None, "train_right": 70.0, "train_wrong": 95.5, "kl": 0.0123,
           "resamples": 7, "wall": 301.4}
    assert markdown([row]).splitlines()[2] == \
        "| dapo | 1 | 0.200 → 0.950 | 1.000 | 80.0 | 81.2 / – | 70.0 / 95.5 | 0.0123 | 7 | 301 |"

@pytest.mark.parametrize("over,msg", [({"algos": "grpo,ppo"}, "unknown algo 'ppo'"),
                                      ({"seeds": "0,x"}, "seeds must be comma-separated integers")])
def test_ablate_config_errors(over, msg):
    with pytest.raises(ConfigError, match=msg):
        load(AblateConfig, None, over)
