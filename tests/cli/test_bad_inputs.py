"""Kinds of bad input, each through the real `r1lab` command in a subprocess of its own.

A user error prints exactly one `error:` line naming what is wrong and where, no traceback, exits
with code 2, and leaves every file that existed before byte-identical (the case's own and the
finished run's). Among them, one case of each kind issue 12 names (values out of range, what the
machine cannot honour, YAML keys, a verifier that does not fit, memory, models that cannot be
read, user code, the command line) and its five data-loss cases; the 150-case audit in
tests/cli/test_hostile.py covers each kind more widely. A reward function that raises or returns
NaN is not a user error: it costs the affected samples (counted in metrics as reward_failures), is
logged, and the run completes.

The user-error table runs each case in a process forked from one warmed-up interpreter
(`tests.helpers.ForkedCli`: its own exit code, stdout and stderr, without the ~4 s of imports a
fresh `python -m r1lab.cli` pays); the other tests start fresh `python -m r1lab.cli` processes.
"""

import json
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from r1lab.cli import RESUME_HINT
from r1lab.models.io import BUILTIN_DIR
from tests.helpers import ENV, ForkedCli, assert_unchanged, assert_user_error, file_hashes, r1lab

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


def _reward(tmp, source: str) -> str:
    return f"{_jsonl(tmp, 'r.py', source.encode())}:f"


def _model_with(tmp, edit):
    d = tmp / "model"
    shutil.copytree(BUILTIN_DIR, d)
    edit(d)
    return d


def _truncate_weights(d):
    with open(d / "model.safetensors", "r+b") as f:
        f.truncate(3_000_000)


def _hand_edited(tmp, run):
    dst = tmp / "run"
    shutil.copytree(run, dst)
    cfg = dst / "config.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.0002", "lr: 0.5"))
    return dst


def _thesis(tmp):
    d = tmp / "thesis"
    (d / "data").mkdir(parents=True)
    (d / "chapter1.tex").write_text("\\chapter{Intro}\n")
    (d / "data" / "results.csv").write_text("a,b\n1,2\n")
    return d


def _ablation_holding(tmp, run):
    shutil.copytree(run, tmp / "abl" / "grpo-seed0")
    return tmp / "abl"


ABLATE = ["ablate", "--algos", "grpo", "--seeds", "0", "--prompts-per-step", "2", "--group-size", "4",
          "--eval-problems", "2", "--eval-samples", "1", "--max-new-tokens", "24", "--threads", "1",
          "--num-minibatches", "1"]

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
    # issue 12, one of each kind: values, the machine, YAML, verifier fit, memory
    ("infinite-temperature", lambda t, r: ["train", "--temperature", "inf"], ["temperature must be finite and > 0"]),
    ("cuda-without-cuda", lambda t, r: ["train", *SMALL, "--device", "cuda", "--output-dir", t / "o"],
     ["device cuda: torch sees no CUDA device"]),
    ("yaml-non-string-keys", lambda t, r: ["train", "--config", _jsonl(t, "c.yaml", b"1: 2\n")],
     ["c.yaml: config keys must be strings, got 1"]),
    ("verifier-does-not-fit", lambda t, r: ["train", *SMALL, "--verifier", "countdown", "--output-dir", t / "o"],
     ["verifier 'countdown' does not fit task 'arithmetic'", "countdown reference must look like"]),
    ("out-of-memory", lambda t, r: ["train", *SMALL, "--prompts-per-step", "1024", "--group-size", "65536",
                                    "--output-dir", t / "o"], ["not enough memory", "KV cache", "available"]),
    ("eval-infinite-temperature", lambda t, r: ["eval", "--benchmark", "arithmetic", "--output-dir", t / "e",
                                                "--temperature", "inf"], ["temperature must be finite and >= 0"]),
    ("eval-cuda-without-cuda", lambda t, r: ["eval", "--benchmark", "arithmetic", "--output-dir", t / "e",
                                             "--device", "cuda"], ["device cuda: torch sees no CUDA device"]),
    # models that cannot be read; user code; the command line
    ("truncated-weights", lambda t, r: ["train", *SMALL, "--model", _model_with(t, _truncate_weights), "--output-dir",
                                        t / "o"], ["model.safetensors: not a complete safetensors file"]),
    ("reward-fn-sys-exit", lambda t, r: ["train", *SMALL, "--reward-fn", _reward(t, "import sys; sys.exit(3)"),
                                         "--output-dir", t / "o"], ["r.py called sys.exit(3)"]),
    ("reward-fn-hangs-at-import", lambda t, r: ["train", *SMALL, "--reward-fn", _reward(t, "while True: pass"),
                                                "--reward-timeout", "0.5", "--output-dir", t / "o"],
     ["r.py took longer than reward_timeout (0.5 s)"]),
    ("unknown-subcommand", lambda t, r: ["trian"], ["No such command 'trian'", "(see r1lab --help)"]),
    ("bad-option-type", lambda t, r: ["grade", t / "g.jsonl", "--verifier", "number", "--workers", "many"],
     ["Invalid value for '--workers'", "(see r1lab grade --help)"]),
    ("missing-option", lambda t, r: ["grade", t / "g.jsonl"], ["Missing option '--verifier'", "--help"]),
    # the data-loss cases of issue 12: refused before anything is touched
    ("base-into-a-run", lambda t, r: ["base", "--output-dir", r], ["is not a model directory", "refusing to replace"]),
    ("base-into-a-folder", lambda t, r: ["base", "--output-dir", _thesis(t)], ["thesis is not a model directory"]),
    ("base-extend-vocab-from-nothing", lambda t, r: ["base", "--extend-vocab", "8", "--output-dir", t / "m"],
     ["extend_vocab extends the tokenizer of init_from: set init_from"]),
    ("base-extend-vocab-negative", lambda t, r: ["base", "--init-from", "tiny", "--extend-vocab", "-1",
                                                 "--output-dir", t / "m"], ["extend_vocab must be >= 0"]),
    ("resume-max-steps-below-finished", lambda t, r: ["train", "--resume", r, "--max-steps", "1"],
     ["with max_steps 1: it has trained 2 steps", "max_steps must be >= 2"]),
    ("resume-hand-edited-config", lambda t, r: ["train", "--resume", _hand_edited(t, r)],
     ["config.yaml was changed after the run started: lr is 0.5 there but the run trained with 0.0002"]),
    ("ablate-other-settings", lambda t, r: [*ABLATE, "--max-steps", "3", "--output-dir", _ablation_holding(t, r)],
     ["grpo-seed0 was made with max_steps 2, this ablation asks for 3"]),
]


@pytest.fixture(scope="module")
def cli():
    forked = ForkedCli()
    yield forked
    forked.close()


@pytest.mark.parametrize("case,args,needles", USER_ERRORS, ids=[c[0] for c in USER_ERRORS])
def test_bad_input_is_one_line_and_exit_2(tmp_path, finished_run, cli, case, args, needles):
    argv = args(tmp_path, finished_run)
    before = file_hashes(tmp_path, finished_run)
    assert_user_error(cli(*argv, cwd=tmp_path, timeout=120), *[str(n) for n in needles])
    assert_unchanged(before, tmp_path, finished_run)


def test_resuming_a_finished_run_changes_nothing(finished_run):
    before = file_hashes(finished_run)
    res = r1lab("train", "--resume", finished_run)
    said = " ".join(res.stdout.split())  # the console wraps long lines
    assert res.returncode == 0 and "is finished (step 2 of 2); nothing to do" in said, res.stderr
    assert_unchanged(before, finished_run)


def test_a_failed_start_is_restarted_in_place(tmp_path, finished_run, cli):
    """A directory left by a start that never completed a step (here: its config.yaml, with another
    lr, and a log with no row) is not "a run": the same command again starts in place, and the
    user's own files there are kept."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((finished_run / "config.yaml").read_text().replace("lr: 0.0002", "lr: 0.5"))
    (run / "metrics.jsonl").write_text("")
    (run / "notes.txt").write_text("mine\n")
    res = cli("train", *SMALL, "--output-dir", run, cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "lr: 0.0002" in (run / "config.yaml").read_text() and (run / "summary.json").is_file()
    assert (run / "notes.txt").read_text() == "mine\n"


def _fsize_limit(nbytes):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


WALL_CLOCK = {"tokens_per_second", "rollout_seconds", "seconds"}


def _metrics(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows]


def test_disk_full_mid_checkpoint_stops_with_one_line_and_resumes_exactly(tmp_path, finished_run, cli):
    """A file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, as a full disk fails them with
    ENOSPC) below a checkpoint's size: the run stops with one line, the earlier checkpoint is intact,
    and once the limit is gone the resume ends exactly as the uninterrupted run `finished_run`."""
    run = tmp_path / "run"
    assert cli("train", *SMALL, "--save-every", "1", "--output-dir", run, cwd=tmp_path, timeout=300).returncode == 0
    kept = file_hashes(run / "checkpoints")
    full = subprocess.run([sys.executable, "-m", "r1lab.cli", "train", "--resume", str(run), "--max-steps", "2"],
                          capture_output=True, text=True, env=ENV, timeout=300, preexec_fn=_fsize_limit(2**20))
    assert_user_error(full, "cannot write checkpoint", "step-000002", "the file size limit is reached",
                      "the earlier checkpoints are intact")
    assert_unchanged(kept, run / "checkpoints")
    assert not (run / "checkpoints" / "step-000002").exists()
    res = cli("train", "--resume", run, "--max-steps", "2", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _metrics(run) == _metrics(finished_run)
    weights = "checkpoints/step-000002/model.safetensors"
    assert (run / weights).read_bytes() == (finished_run / weights).read_bytes()


def test_ctrl_c_prints_the_resume_hint(tmp_path):
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "r1lab.cli", "train", *SMALL, "--max-steps", "200",
                          "--output-dir", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=ENV)
    try:
        while not (run / "config.yaml").exists() and p.poll() is None:
            time.sleep(0.1)  # waits for the run to start; nothing is timed
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == RESUME_HINT


@pytest.mark.parametrize("body,logged", [
    ("return 1 / 0", "reward function failed: ZeroDivisionError"),
    ("return float('nan')", "reward function returned nan"),
    ("while True: pass", "took longer than reward_timeout (0.1 s)"),  # a hang costs its sample, not the run
])
def test_broken_reward_costs_samples_not_the_run(tmp_path, body, logged):
    (tmp_path / "r.py").write_text(f"def reward(completion, answer):\n    {body}\n")
    run = tmp_path / "run"
    res = r1lab("train", *SMALL, "--reward-fn", f"{tmp_path}/r.py:reward", "--reward-timeout", "0.1",
                "--output-dir", run)
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
