"""`r1lab pipeline`: bad recipes fail whole before any compute, and a pipeline killed (SIGKILL) in
a base, an rl, a sample and an sft stage resumes each time and ends as the uninterrupted run ends."""

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from r1lab.errors import UserError
from r1lab.pipeline.recipe import load_recipe
from tests.helpers import ENV, ROOT, assert_user_error, r1lab

SMALL_RL = {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 64, "eval_problems": 2, "eval_samples": 1,
            "save_every": 1, "log_samples_every": 1}
TOY = {
    "model": "tiny", "task": "arithmetic", "seed": 0, "threads": 1, "eval_problems": 4, "eval_samples": 1,
    "eval_max_new_tokens": 64, "reference_stage": "r1-zero",
    "stages": [
        {"name": "bilingual-base", "type": "base", "steps": 4, "stop_at": 0, "batch_size": 2, "seq_len": 64,
         "warmup_steps": 1, "lr": 1e-4, "second_language_fraction": 0.3, "seed": 2},
        {"name": "r1-zero", "type": "rl", "max_steps": 6, **SMALL_RL},
        {"name": "cold-start-data", "type": "sample", "model": "r1-zero", "prompts": 12, "samples_per_prompt": 2,
         "rewrite": "readable", "max_repeat_share": 1.0, "prompts_per_batch": 1},
        {"name": "non-reasoning", "type": "nonreasoning", "rows": 8},
        {"name": "cold-start", "type": "sft", "data": ["cold-start-data", "non-reasoning"], "template": "r1_zero",
         "max_steps": 12, "batch_size": 2, "save_every": 1},
        {"name": "reasoning-rl", "type": "rl", "model": "cold-start", "language_weight": 1.0,
         "format_rule": "readable", "max_steps": 2, **SMALL_RL},
    ]}


def _write(tmp_path, recipe: dict, name: str = "toy.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _with_stage(i: int, **change) -> dict:
    recipe = json.loads(json.dumps(TOY))
    recipe["stages"][i].update(change)
    return recipe


@pytest.mark.parametrize("recipe,needle", [
    (_with_stage(3, type="distill"), "stage 4 (non-reasoning): unknown stage type 'distill'"),
    (_with_stage(2, model="cold-start"), "stage 'cold-start-data': model 'cold-start' is not 'base', an earlier"),
    (_with_stage(4, data=["cold-start-data", "no.jsonl"]), "stage 'cold-start': data file no.jsonl not found"),
    (_with_stage(5, model="non-reasoning"), "model 'non-reasoning' is a nonreasoning stage, which makes data"),
    (_with_stage(1, max_stepz=3), "stage 'r1-zero' (rl): unknown key 'max_stepz'"),
    (_with_stage(4, batch_size=0), "stage 'cold-start' (sft)"),
    (_with_stage(3, name="r1-zero"), "two stages are named 'r1-zero'"),
    (_with_stage(1, type="base"), "stage 'r1-zero': a base stage must be the first stage"),
    (_with_stage(0, second_language_fraction=2), "stage 'bilingual-base' (base): second_language_fraction must be"),
    (dict(TOY, reference_stage="cold-start-data"), "reference_stage 'cold-start-data' is not a base, rl or sft stage"),
])
def test_a_bad_recipe_is_refused_whole(tmp_path, recipe, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_recipe(_write(tmp_path, recipe))


def test_a_malformed_chat_file_is_named_before_any_compute(tmp_path):
    bad = tmp_path / "extra.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p"\n')
    path = _write(tmp_path, _with_stage(4, data=["cold-start-data", str(bad)]))
    res = r1lab("pipeline", path, "--output-dir", tmp_path / "out")
    assert_user_error(res, f"{bad}:2: malformed JSON")
    assert not (tmp_path / "out").exists()


def test_the_shipped_recipes_are_valid(tmp_path, monkeypatch):
    """The tiny recipe as shipped; the GPU ones beside stand-ins for the data files they ask the user for."""
    tiny = load_recipe(ROOT / "recipes" / "r1-tiny.yaml")
    assert [s.name for s in tiny.stages if s.type == "rl"] == ["r1-zero", "reasoning-rl", "final-rl"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "math-train.jsonl").write_text(
        "".join(json.dumps({"question": f"What is {k} + 1?", "answer": str(k + 1)}) + "\n" for k in range(50)))
    (tmp_path / "data" / "non-reasoning.jsonl").write_text(json.dumps({"prompt": "Hi", "completion": "Hello"}) + "\n")
    gpu = load_recipe(ROOT / "recipes" / "r1-qwen2.5-math-1.5b.yaml")
    assert gpu.config.device == "cuda" and len(gpu.stages) == 7
    from r1lab.config import load
    from r1lab.train.config import GRPOConfig
    assert load(GRPOConfig, ROOT / "recipes" / "r1-zero-qwen2.5-math-1.5b-1gpu.yaml").lr == 3e-6


# ---- SIGKILL in each stage type ---------------------------------------------------------------------

def _cmd(recipe, out):
    return [sys.executable, "-m", "r1lab.cli", "pipeline", str(recipe), "--output-dir", str(out)]


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_when(cmd, ready):
    """Start the pipeline, SIGKILL it as soon as `ready()`; it must still have been running."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and not ready():
        time.sleep(0.01)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert alive, err.decode()[-2000:]


def _stages(out) -> dict:
    return {s["name"]: s for s in json.loads((out / "pipeline.json").read_text())["stages"]}


@pytest.mark.slow
def test_sigkill_in_each_stage_type_then_the_same_command_finishes(tmp_path):
    recipe = _write(tmp_path, TOY)
    ref, out = tmp_path / "ref", tmp_path / "out"
    done = subprocess.run(_cmd(recipe, ref), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    _kill_when(_cmd(recipe, out), lambda: (out / "bilingual-base" / "config.yaml").is_file())  # base, as it starts
    _kill_when(_cmd(recipe, out), lambda: _lines(out / "r1-zero" / "metrics.jsonl") >= 2)  # rl, mid-run
    _kill_when(_cmd(recipe, out), lambda: len(list((out / "cold-start-data" / "chunks").glob("*.jsonl"))) >= 2
               if (out / "cold-start-data" / "chunks").is_dir() else False)  # sample, between chunks
    _kill_when(_cmd(recipe, out), lambda: _lines(out / "cold-start" / "metrics.jsonl") >= 3)  # sft, mid-run
    final = subprocess.run(_cmd(recipe, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    got, want = _stages(out), _stages(ref)
    assert list(got) == [s["name"] for s in TOY["stages"]]
    assert [got[n]["resumed"] for n in got] == [True, True, True, False, True, False]
    base = got["bilingual-base"]["model"]  # "base" in the later stages means the base stage's model
    assert base == str(out / "bilingual-base" / "model")
    assert got["r1-zero"]["inputs"]["model"] == got["cold-start"]["inputs"]["model"] == base
    steps = lambda d: [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert steps(out / "r1-zero") == list(range(1, 7)) and steps(out / "cold-start") == list(range(1, 13))
    for name in ("bilingual-base", "r1-zero", "cold-start", "reasoning-rl"):  # every model evaluates alike
        assert {k: v for k, v in got[name]["eval"].items() if k not in ("model", "eval_seconds")} == \
               {k: v for k, v in want[name]["eval"].items() if k not in ("model", "eval_seconds")}, name
    data = lambda d: (d / "cold-start-data" / "data.jsonl").read_text().replace(str(d), "DIR")  # noqa: E731
    assert data(out) == data(ref)  # the same samples, kept by the same filters (provenance names the stage's model)
    table = (out / "pipeline.md").read_text()
    assert "| reasoning-rl | rl from cold-start |" in table and "(resumed)" in table
    again = subprocess.run(_cmd(recipe, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("finished, skipped") == 6


def test_a_finished_stage_from_another_recipe_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "pipeline.json").write_text(json.dumps({"recipe": "x", "settings": {k: v for k, v in TOY.items()
                                                                                if k != "stages"},
                                                   "stages": [{"name": "r1-zero", "spec": {"name": "r1-zero"}}]}))
    res = r1lab("pipeline", _write(tmp_path, TOY), "--output-dir", out)
    assert_user_error(res, "stage 'r1-zero' was run from another recipe")


def test_the_table_says_plainly_whether_the_targets_hold():
    from r1lab.pipeline.table import markdown

    def state(ref_mix, last_mix, last_acc):
        row = lambda name, mix, acc: {"name": name, "type": "rl", "from": "base", "wall_seconds": 1.0,  # noqa: E731
                                      "resumed": False, "summary": {},
                                      "eval": {"accuracy": acc, "language_mixing_rate": mix}}
        return {"base": {"problems": 4, "k": 1}, "stages": [row("r1-zero", ref_mix, 0.5), row("final-rl", last_mix,
                                                                                               last_acc)]}
    assert "final-rl 10.0% against r1-zero's 40.0%, at most half: target met" in markdown(state(0.4, 0.1, 0.5),
                                                                                           "r1-zero")
    said = markdown(state(0.4, 0.3, 0.4), "r1-zero")
    assert "more than half: target NOT met" in said and "-10.0 points against r1-zero, more than 5 points" in said
    assert "the mixing target cannot be tested on this run" in markdown(state(0.0, 0.0, 0.5), "r1-zero")
