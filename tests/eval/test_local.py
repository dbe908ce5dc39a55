"""The local backend on the shipped tiny model, in process: prompts, resume, refusals."""

import json

import pytest

from r1lab.errors import UserError
from r1lab.eval.config import EvalConfig
from r1lab.eval.run import eval_config, run_eval

SMALL = {"benchmark": "arithmetic", "samples": "2", "max_tokens": "32", "threads": "1", "temperature": "1.0"}


def rows(out):
    return (out / "samples.jsonl").read_text().splitlines()


def test_resume_keeps_finished_samples_and_adds_the_missing(tmp_path):
    out = str(tmp_path / "ev")
    first = run_eval(eval_config(None, {**SMALL, "limit": "2", "output_dir": out}, resume=False))
    before = rows(tmp_path / "ev")
    assert len(before) == 4 and first["complete"] and first["n_problems"] == 2
    with pytest.raises(UserError, match="already holds an eval: continue it with --resume"):
        run_eval(eval_config(None, {**SMALL, "limit": "2", "output_dir": out}, resume=False))
    with pytest.raises(UserError, match="was evaluated with --temperature 1.0; a resumed eval must keep it"):
        run_eval(eval_config(None, {"output_dir": out, "temperature": "0.6"}, resume=True), resume=True)
    again = run_eval(eval_config(None, {"output_dir": out, "limit": "3", "samples": "3"}, resume=True), resume=True)
    after = rows(tmp_path / "ev")
    assert after[:4] == before  # appended to, never rewritten
    keys = [(json.loads(r)["id"], json.loads(r)["sample"]) for r in after]
    assert sorted(keys) == [(f"arithmetic-{i}", s) for i in range(3) for s in range(3)] and len(keys) == 9
    assert again["n_problems"] == 3 and again["samples_per_problem"] == 3 and "pass@3" in again and "cons@3" in again
    assert again["wall_seconds"] > first["wall_seconds"]  # summed over the two sessions


def test_chat_prompt_on_the_tiny_model_forces_think(tmp_path):
    bench = tmp_path / "m.jsonl"
    bench.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "5"}) + "\n")
    cfg = EvalConfig(benchmark=str(bench), prompt="chat", samples=1, max_tokens=8, threads=1,
                     output_dir=str(tmp_path / "chat"))
    res = run_eval(cfg)
    row = json.loads(rows(tmp_path / "chat")[0])
    assert row["prompt"].startswith("User: What is 2 + 3?\n\nPlease reason step by step")
    assert row["prompt"].endswith("Assistant:<think>\n")  # the tiny chat template, then the forced prefix
    assert row["reasoning"] is not None and row["tokens"] <= 8
    p = res["protocol"]["prompt"]
    assert p["style"] == "chat" and p["think_prefix"] == "<think>\n" and p["example"] == row["prompt"]
