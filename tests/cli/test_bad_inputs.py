"""Fifteen-plus kinds of bad input, each through the real `r1lab` command in a subprocess.

A user error prints exactly one `error:` line naming what is wrong and where, no traceback, and
exits with code 2. A reward function that raises or returns NaN is not a user error: it costs the
affected samples (counted in metrics as reward_failures), is logged, and the run completes.
"""

import json
import shutil

import pytest

from r1lab.models.io import BUILTIN_DIR
from tests.helpers import assert_user_error, r1lab

SMALL = ["--max-steps", "1", "--prompts-per-step", "2", "--group-size", "4", "--eval-problems", "2",
         "--eval-samples", "1", "--max-new-tokens", "24", "--threads", "1"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "done"
    res = r1lab("train", *SMALL, "--max-steps", "2", "--save-every", "1", "--output-dir", run)
    assert res.returncode == 0, res.stderr
    return run


def _jsonl(tmp, name, text: bytes):
    p = tmp / name
    p.write_bytes(text)
    return p


GOOD = b'{"question": "What is 2 + 3?", "answer": "5"}\n'


def _copy_model_without_tokenizer(tmp):
    d = tmp / "model"
    shutil.copytree(BUILTIN_DIR, d)
    for f in d.glob("tokenizer*"):
        f.unlink()
    return d


def _truncated_checkpoint(tmp, run):
    dst = tmp / "run"
    shutil.copytree(run, dst)
    weights = dst / "checkpoints" / "step-000002" / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(1000)
    return dst


# (case id, build args from (tmp, finished run), needles in the error line)
USER_ERRORS = [
    ("unknown-config-key", lambda t, r: ["train", "--no-such-field", "3"], ["unknown key 'no_such_field'"]),
    ("wrong-type", lambda t, r: ["train", "--max-steps", "ten"], ["max_steps must be int", "ten"]),
    ("out-of-range", lambda t, r: ["train", "--beta", "-0.1"], ["beta must be >= 0"]),
    ("epsilon-high-below-epsilon", lambda t, r: ["train", "--epsilon", "0.3", "--epsilon-high", "0.2"],
     ["epsilon_high (0.2) must be >= epsilon (0.3)"]),
    ("unknown-algo", lambda t, r: ["train", "--algo", "ppo"], ["unknown algo 'ppo'", "dr_grpo"]),
    ("float16", lambda t, r: ["train", "--dtype", "float16"], ["dtype must be float32 | bfloat16", "loss scaling"]),
    ("group-of-one", lambda t, r: ["train", "--group-size", "1"], ["group_size must be >= 2"]),
    ("minibatches-do-not-divide", lambda t, r: ["train", "--num-minibatches", "3"],
     ["num_minibatches (3) must divide prompts_per_step (8)"]),
    ("missing-config-file", lambda t, r: ["train", "--config", t / "nope.yaml"],
     ["config file not found", "nope.yaml"]),
    ("non-utf8-config-file", lambda t, r: ["train", "--config", _jsonl(t, "c.yaml", b"lr: \xff\xfe\n")],
     ["c.yaml", "not valid YAML"]),
    ("config-not-a-mapping", lambda t, r: ["train", "--config", _jsonl(t, "c.yaml", b"- 1\n- 2\n")],
     ["expected a mapping"]),
    ("missing-model", lambda t, r: ["train", "--model", t / "no-model", "--output-dir", t / "o"],
     ["no-model", "not found"]),
    ("missing-tokenizer", lambda t, r: ["train", "--model", _copy_model_without_tokenizer(t), "--output-dir", t / "o"],
     ["cannot load tokenizer", "model"]),
    ("unwritable-output", lambda t, r: ["train", "--output-dir", _jsonl(t, "file", b"x") / "run"], ["not writable"]),
    ("output-holds-a-run", lambda t, r: ["train", *SMALL, "--output-dir", r], ["already holds a run", "--resume"]),
    ("jsonl-bad-row", lambda t, r: ["train", "--task", _jsonl(t, "d.jsonl", GOOD + b'{"question": "x", \n')],
     ["d.jsonl:2: malformed JSON"]),
    ("jsonl-not-utf8", lambda t, r: ["train", "--task", _jsonl(t, "d.jsonl", GOOD + b'{"question": "\xe9"}\n')],
     ["d.jsonl:2: not valid UTF-8"]),
    ("jsonl-missing-field", lambda t, r: ["train", "--task", _jsonl(t, "d.jsonl", GOOD + b'{"question": "1+1?"}\n')],
     ["d.jsonl:2: row has no field 'answer'"]),
    ("jsonl-empty-question",
     lambda t, r: ["train", "--task", _jsonl(t, "d.jsonl", GOOD * 3 + b'{"question": " ", "answer": "1"}\n')],
     ["d.jsonl:4: field 'question' is empty"]),
    ("jsonl-missing-file", lambda t, r: ["train", "--task", t / "absent.jsonl"], ["absent.jsonl: file not found"]),
    ("unknown-verifier", lambda t, r: ["train", "--verifier", "chess", "--output-dir", t / "o"],
     ["unknown verifier 'chess'"]),
    ("reward-fn-missing-file", lambda t, r: ["train", "--reward-fn", f"{t}/r.py:f", "--output-dir", t / "o"],
     ["reward_fn", "not found"]),
    ("reward-fn-missing-function", lambda t, r: ["train", "--reward-fn", f"{_jsonl(t, 'r.py', b'x = 1')}:f",
                                                 "--output-dir", t / "o"], ["has no function 'f'"]),
    ("truncated-checkpoint", lambda t, r: ["train", "--resume", _truncated_checkpoint(t, r)],
     ["step-000002 is damaged", "model.safetensors has 1000 bytes"]),
    ("resume-changed-config", lambda t, r: ["train", "--resume", r, "--lr", "0.5"],
     ["cannot resume with a changed config", "lr 0.0002 -> 0.5"]),
    ("resume-not-a-run", lambda t, r: ["train", "--resume", t], ["no config.yaml"]),
    ("resume-missing-dir", lambda t, r: ["train", "--resume", t / "gone"], ["no such run directory"]),
    ("grade-bad-row", lambda t, r: ["grade", _jsonl(t, "g.jsonl", b'{"response": "1", "answer": "1"}\n[1]\n'),
                                    "--verifier", "number"], ["g.jsonl:2: expected a JSON object"]),
]


@pytest.mark.parametrize("case,args,needles", USER_ERRORS, ids=[c[0] for c in USER_ERRORS])
def test_bad_input_is_one_line_and_exit_2(tmp_path, finished_run, case, args, needles):
    assert_user_error(r1lab(*args(tmp_path, finished_run)), *[str(n) for n in needles])


@pytest.mark.parametrize("body,logged", [
    ("return 1 / 0", "reward function failed: ZeroDivisionError"),
    ("return float('nan')", "reward function returned nan"),
])
def test_broken_reward_costs_samples_not_the_run(tmp_path, body, logged):
    (tmp_path / "r.py").write_text(f"def reward(completion, answer):\n    {body}\n")
    run = tmp_path / "run"
    res = r1lab("train", *SMALL, "--reward-fn", f"{tmp_path}/r.py:reward", "--output-dir", run)
    assert res.returncode == 0, res.stderr
    assert logged in res.stderr and "Traceback" not in res.stderr
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["reward_failures"] == 8  # every sample of 2 questions x G=4
    assert json.loads((run / "summary.json").read_text())["steps"] == 1


def test_a_diverged_policy_stops_with_one_line(tmp_path):
    (tmp_path / "r.py").write_text("def reward(completion, answer):\n    return float(len(completion) % 3)\n")
    run = tmp_path / "run"
    res = r1lab("train", *SMALL, "--max-steps", "10", "--max-new-tokens", "32", "--lr", "1e30",
                "--warmup-steps", "1", "--reward-fn", f"{tmp_path}/r.py:reward", "--output-dir", run)
    assert_user_error(res, "stopped at step ")
    step = int(res.stderr.split("stopped at step ")[1].split(":")[0])
    rows = len((run / "metrics.jsonl").read_text().splitlines())  # finished steps are kept
    # either guard may fire first: non-finite logits while sampling (the step is not finished), or
    # max_skipped_in_a_row (default 5) non-finite updates (the step's row is written first)
    if "logits are not finite" in res.stderr:
        assert 2 <= step <= 10 and rows == step - 1
    else:
        assert "5 updates in a row had a non-finite loss or gradient" in res.stderr
        assert 6 <= step <= 10 and rows == step
