"""`r1lab ablate` end to end at a toy size: one run per (preset, seed), the tables, reuse on rerun."""

import pytest

from r1lab.config import ConfigError, load
from r1lab.pipeline.ablate import SPLITS, AblateConfig, ablate, markdown
from r1lab.train.console import Console

TINY = {"max_steps": 2, "prompts_per_step": 2, "group_size": 4, "max_new_tokens": 32, "eval_problems": 4,
        "eval_samples": 2, "threads": 1, "num_minibatches": 2, "kl_every": 1}


def _lines(table, start):
    return [line for line in table.splitlines() if line.startswith(start)]


@pytest.mark.slow
def test_ablate_runs_each_preset_and_reuses_finished_runs(tmp_path):
    cfg = load(AblateConfig, None, dict(TINY, algos="grpo,cispo", seeds="0,1", output_dir=str(tmp_path)))
    table = ablate(cfg, Console(quiet=True))
    assert (tmp_path / "ablation.md").read_text().strip() == table
    summary, lengths, grpo0, _ = _lines(table, "| grpo |")
    # at a 32-token limit the base model's wrong answers are mostly cut off (unparsed ones count as wrong)
    assert [c.strip() for c in lengths.split("|")[1:-1]][4] == "32.0 ± 0.0"
    cells = [c.strip() for c in summary.split("|")[1:-1]]
    assert cells[1] == "2" and cells[3] == "baseline"
    assert " ± " in cells[2] and " ± " in cells[6]  # pass@1 and kl_init: two seeds give an interval
    cispo = [c.strip() for c in _lines(table, "| cispo |")[0].split("|")[1:-1]]
    assert "(p " in cispo[3] and "(p " in cispo[5]  # paired t-test against grpo on pass@1 and format
    assert grpo0.startswith("| grpo | 0 |") and _lines(table, "| cispo | 1 |")
    for run in ("grpo-seed0", "grpo-seed1", "cispo-seed0", "cispo-seed1"):
        saved = (tmp_path / run / "config.yaml").read_text()
        assert "max_steps: 2" in saved and "num_minibatches: 2" in saved
    assert "algo: cispo" in (tmp_path / "cispo-seed1" / "config.yaml").read_text()
    # a second call reuses the summaries instead of training again
    before = (tmp_path / "grpo-seed0" / "summary.json").stat().st_mtime_ns
    assert ablate(cfg, Console(quiet=True)) == table
    assert (tmp_path / "grpo-seed0" / "summary.json").stat().st_mtime_ns == before


def _run(algo, seed, acc, fmt, **over):
    row = {"algo": algo, "seed": seed, "base_acc": 0.2, "acc": acc, "format": fmt, "length": 80.0,
           "kl_init": 0.01, "clip": 0.002, "trunc_train": 0.3, "trunc_eval": 0.25, "reflection": 0.0,
           "style": "worked_think", "style_length": 81.0, "resamples": 0, "wall": 300.0}
    row.update({f"{where}_{key}": 90.0 for where in ("eval", "train") for key, _ in SPLITS})
    return dict(row, **over)


def test_tables_show_intervals_paired_tests_and_unmeasured_values():
    rows = [_run("grpo", 0, 0.9, 1.0), _run("grpo", 1, 0.8, 1.0), _run("grpo", 2, 1.0, 1.0),
            _run("cispo", 0, 1.0, 0.0, kl_init=None, eval_wrong_truncated=None),
            _run("cispo", 1, 1.0, 0.0, eval_wrong_truncated=None, style="worked_plain"),
            _run("cispo", 2, 1.0, 0.0, kl_init=None, trunc_eval=None, eval_wrong_truncated=None)]
    table = markdown(rows)
    grpo = [c.strip() for c in _lines(table, "| grpo |")[0].split("|")[1:-1]]
    # pass@1 0.9, 0.8, 1.0: mean 0.9, s = 0.1, half-width t_{0.975,2} * 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248
    assert grpo[:4] == ["grpo", "3", "0.900 ± 0.248", "baseline"]
    cispo = [c.strip() for c in _lines(table, "| cispo |")[0].split("|")[1:-1]]
    # differences 0.1, 0.2, 0.0: mean 0.1, t = 0.1 / (0.1 / sqrt 3) = 1.732, 2 df: p = 1 - 1.732/sqrt(5) = 0.225
    assert cispo[3] == "+0.100 (p 0.225)"
    # format 0 against 1 on every seed: the differences have no spread, the t-test is undefined
    assert cispo[5] == "-1.000 (same on every seed)"
    assert cispo[6] == "0.0100 (n=1)"  # kl_init measured on one run of three: a mean, no interval
    assert cispo[8] == "0.300 ± 0.000 / 0.250 ± 0.000 (n=2)"
    assert cispo[10] == "worked_think 2, worked_plain 1"
    lengths = [c.strip() for c in _lines(table, "| cispo |")[1].split("|")[1:-1]]
    assert lengths[4] == "—"  # no wrong truncated answer in any final evaluation: not measured
    assert lengths[1] == "90.0 ± 0.0"
    per_run = _lines(table, "| cispo | 0 |")[0]
    assert "| 0.300 / 0.250 | — | 0.0020 |" in per_run


@pytest.mark.parametrize("over,msg", [
    ({"algos": "grpo,ppo"}, "unknown algo 'ppo'"),
    ({"seeds": "0,x"}, "seeds must be comma-separated integers"),
    ({"num_minibatches": "3"}, "num_minibatches (3) must divide prompts_per_step (8)"),
])
def test_ablate_config_errors(over, msg):
    with pytest.raises(ConfigError) as e:
        load(AblateConfig, None, over)
    assert msg in str(e.value)


def test_defaults_are_the_off_policy_round_two_setting():
    cfg = load(AblateConfig, None, {})
    assert cfg.algo_list() == ["grpo", "dr_grpo", "dapo", "bnpo", "gspo", "cispo"]
    assert cfg.seed_list() == [0, 1, 2, 3, 4] and (cfg.num_minibatches, cfg.mu) == (4, 1)
