"""The hostile-input audit's 150 cases (issue 12): what a careless or hostile new user types.

Each case is (id, args, expect, code): `args(t, r)` builds the command line, writing whatever files
the case needs into its own empty directory `t`; `r` is a finished tiny training run shared by
every case (the audit checks that no case changes a byte of it). `expect` is a fragment of the
one `error:` line (exit code 2), or of stdout when `code` is 0. The tiny sizes in `S` and `B` keep
a case cheap even where an invalid value would be accepted and start computing.
`tests/cli/test_hostile.py` runs the table; its `__main__` prints the audit's counts for any checkout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, NamedTuple

from r1lab.models.io import BUILTIN_DIR

S = ["--max-steps", "1", "--prompts-per-step", "2", "--group-size", "4", "--eval-problems", "2",
     "--eval-samples", "1", "--max-new-tokens", "24", "--threads", "1"]  # a train run of seconds
B = ["--steps", "2", "--stop-at", "2", "--batch-size", "2", "--seq-len", "16", "--threads", "1",
     "--vocab-size", "300"]  # a base run of seconds
A = ["--algos", "grpo", "--seeds", "0", "--max-steps", "1", "--prompts-per-step", "2", "--group-size", "4",
     "--eval-problems", "2", "--eval-samples", "1", "--max-new-tokens", "24", "--threads", "1",
     "--num-minibatches", "1"]  # an ablation of seconds
GOOD = '{"question": "What is 2 + 3?", "answer": "5"}\n'
ROWS = "".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(40))


class Case(NamedTuple):
    id: str
    args: Callable[[Path, Path], list]
    expect: str
    code: int = 2


def put(t: Path, name: str, data: str | bytes) -> Path:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def model(t: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of the built-in model with `edit` applied to it."""
    d = t / "model"
    shutil.copytree(BUILTIN_DIR, d)
    edit(d)
    return d


def config_edit(**changes) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, **changes}))
    return edit


def truncate(name: str, size: int) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        with open(d / name, "r+b") as f:
            f.truncate(size)
    return edit


def replace(name: str, data: bytes | None) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        (d / name).unlink()
        if data is not None:
            (d / name).write_bytes(data)
    return edit


def reward(t: Path, body: str) -> str:
    return f"{put(t, 'user_reward.py', body)}:reward"


def run_copy(t: Path, r: Path, edit: Callable[[Path], None] = lambda d: None) -> Path:
    d = t / "run"
    shutil.copytree(r, d)
    edit(d)
    return d


def yaml_edit(old: str, new: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        text = (d / "config.yaml").read_text()
        assert old in text, old
        (d / "config.yaml").write_text(text.replace(old, new))
    return edit


def ablation_of(t: Path, r: Path) -> Path:
    """An ablation directory whose grpo-seed0 run is the finished run `r` (max_steps 2)."""
    shutil.copytree(r, t / "a" / "grpo-seed0")
    return t / "a"


def on_model(edit: Callable[[Path], None]) -> Callable[[Path, Path], list]:
    return lambda t, r: train("--model", model(t, edit))(t, r)


def resume_edited(edit: Callable[[Path], None]) -> Callable[[Path, Path], list]:
    return lambda t, r: ["train", "--resume", run_copy(t, r, edit)]


def odd_metrics(d: Path) -> None:
    """metrics.jsonl with a row whose step is a word and a row with a list for a number."""
    rows = (d / "metrics.jsonl").read_text().splitlines()
    bad = [json.dumps({"step": "one", "reward": 1.0}), json.dumps({**json.loads(rows[0]), "reward": [1, 2]})]
    (d / "metrics.jsonl").write_text("\n".join(bad + rows[1:]) + "\n")


def unrelated(t: Path) -> Path:
    d = t / "thesis"
    put(d, "chapter1.tex", "\\chapter{Intro}\n")
    put(d, "data/results.csv", "a,b\n1,2\n")
    return d


def train(*bad: str) -> Callable[[Path, Path], list]:
    return lambda t, r: ["train", *S, "--output-dir", t / "o", *bad]


def base(*bad: str) -> Callable[[Path, Path], list]:
    return lambda t, r: ["base", *B, "--output-dir", t / "m", *bad]


def ablate(*bad: str) -> Callable[[Path, Path], list]:
    return lambda t, r: ["ablate", *A, "--output-dir", t / "a", *bad]


def grade(data: str | bytes, *opts: str) -> Callable[[Path, Path], list]:
    return lambda t, r: ["grade", put(t, "g.jsonl", data), *opts]


def task(data: str | bytes, *opts: str) -> Callable[[Path, Path], list]:
    return lambda t, r: ["train", *S, "--output-dir", t / "o", "--task", put(t, "d.jsonl", data), *opts]


def config_file(text: str | bytes) -> Callable[[Path, Path], list]:
    return lambda t, r: ["train", "--config", put(t, "c.yaml", text), "--output-dir", t / "o"]


G1 = '{"response": "<answer>5</answer>", "answer": "5"}\n'

CASES = [
    # ---- train: numbers out of range or not finite (every field named, with its range)
    Case("train-lr-inf", train("--lr", "inf"), "lr must be"),
    Case("train-lr-nan", train("--lr", "nan"), "lr must be"),
    Case("train-lr-negative", train("--lr", "-1"), "lr must be"),
    Case("train-temperature-inf", train("--temperature", "inf"), "temperature must be"),
    Case("train-eval-temperature-negative", train("--eval-temperature", "-0.5"), "eval_temperature must be"),
    Case("train-eval-top-p-zero", train("--eval-top-p", "0"), "eval_top_p must be"),
    Case("train-top-p-nan", train("--top-p", "nan"), "top_p must be"),
    Case("train-warmup-negative", train("--warmup-steps", "-1"), "warmup_steps must be"),
    Case("train-grad-norm-negative", train("--max-grad-norm", "-1"), "max_grad_norm must be"),
    Case("train-grad-norm-zero", train("--max-grad-norm", "0"), "max_grad_norm must be"),
    Case("train-ref-refresh-zero", train("--ref-refresh-steps", "0"), "ref_refresh_steps must be"),
    Case("train-weight-decay-negative", train("--weight-decay", "-0.1"), "weight_decay must be"),
    Case("train-beta-inf", train("--beta", "inf"), "beta must be"),
    Case("train-epsilon-high-nan", train("--epsilon-high", "nan"), "epsilon_high"),
    Case("train-seed-negative", train("--seed", "-1"), "seed must be"),
    Case("train-seed-65-bits", train("--seed", str(2**64)), "seed must be"),
    Case("train-seed-float", train("--seed", "1e30"), "seed must be int"),
    Case("train-group-zero", train("--group-size", "0"), "group_size must be"),
    Case("train-format-weight-nan", train("--format-weight", "nan"), "format_weight must be"),
    Case("train-reward-timeout-negative", train("--reward-timeout", "-1"), "reward_timeout must be"),
    # ---- train: types and names
    Case("train-max-steps-float", train("--max-steps", "1.5"), "max_steps must be int"),
    Case("train-dynamic-sampling-maybe", train("--dynamic-sampling", "maybe"), "dynamic_sampling must be bool"),
    Case("train-dtype-int8", train("--dtype", "int8"), "dtype must be"),
    Case("train-value-missing", train("--lr"), "--lr needs a value"),
    Case("train-stray-positional", train("oops"), "unexpected argument 'oops'"),
    # ---- train: what the machine cannot honour
    Case("train-threads-negative", train("--threads", "-1"), "threads must be"),
    Case("train-threads-too-many", train("--threads", "256"), "threads"),
    Case("train-device-cuda-absent", train("--device", "cuda"), "cuda"),
    Case("train-device-cuda-7", train("--device", "cuda:7"), "cuda"),
    Case("train-device-tpu", train("--device", "tpu"), "device must be"),
    Case("train-memory-rows", train("--prompts-per-step", "1024", "--group-size", "65536"), "memory"),
    Case("train-context-too-long", train("--max-new-tokens", "100000"), "max_new_tokens"),
    # ---- train: tasks, verifiers, reward functions
    Case("train-task-unknown", train("--task", "chess"), "unknown task 'chess'"),
    Case("train-verifier-countdown-on-arithmetic", train("--verifier", "countdown"), "verifier 'countdown'"),
    Case("train-verifier-code-on-arithmetic", train("--verifier", "code"), "verifier 'code'"),
    Case("train-verifier-number-on-countdown", train("--task", "countdown", "--verifier", "number"),
         "verifier 'number'"),
    Case("train-reward-fn-no-colon", train("--reward-fn", "reward.py"), "expected FILE.py:FUNCTION"),
    Case("train-reward-fn-raises", lambda t, r: train("--reward-fn", reward(t, "raise RuntimeError('boom')\n"))(t, r),
         "user_reward.py"),
    Case("train-reward-fn-sys-exit", lambda t, r: train("--reward-fn", reward(t, "import sys\nsys.exit(3)\n"))(t, r),
         "user_reward.py"),
    Case("train-reward-fn-hangs", lambda t, r: train("--reward-fn", reward(t, "while True:\n    pass\n"),
                                                     "--reward-timeout", "1")(t, r), "user_reward.py"),
    Case("train-reward-fn-syntax", lambda t, r: train("--reward-fn", reward(t, "def reward(:\n"))(t, r),
         "user_reward.py"),
    Case("train-reward-fn-missing-import",
         lambda t, r: train("--reward-fn", reward(t, "import no_such_package_xyz\n"))(t, r), "no_such_package_xyz"),
    # ---- train: JSONL tasks
    Case("task-empty-file", task(""), "no rows"),
    Case("task-answer-number", task(GOOD + '{"question": "1+1?", "answer": 2}\n'), "d.jsonl:2"),
    Case("task-row-array", task(GOOD + "[1, 2]\n"), "d.jsonl:2: expected a JSON object"),
    Case("task-one-row", task(GOOD), "no test problems"),
    Case("task-deep-nesting", task("[" * 100000 + "]" * 100000 + "\n"), "d.jsonl:1"),
    Case("task-lone-surrogate", task(ROWS + '{"question": "x \\ud800", "answer": "1"}\n'), "d.jsonl:41"),
    Case("task-latin1", task(GOOD.encode() + b'{"question": "caf\xe9", "answer": "1"}\n'), "d.jsonl:2"),
    Case("task-huge-question", task(ROWS + json.dumps({"question": "7 + 1 " * 20000, "answer": "8"}) + "\n"),
         "tokens"),
    # ---- train: config files
    Case("config-non-string-keys", config_file("1: 2\nlr: 0.1\n"), "keys must be strings"),
    Case("config-null-key", config_file("~: 1\n"), "keys must be strings"),
    Case("config-list-key", config_file("? [a, b]\n: 1\n"), "not valid YAML"),
    Case("config-lr-inf", config_file("lr: .inf\n"), "lr must be"),
    Case("config-nested-value", config_file("lr: {a: 1}\n"), "lr must be float"),
    Case("config-binary", config_file(b"\x89PNG\r\n\x1a\n\x00\x00"), "c.yaml"),
    Case("config-huge-seed", config_file(f"seed: {2**80}\n"), "seed must be"),
    Case("config-anchor-bomb", config_file("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                                           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"), "unknown key 'a'"),
    # ---- train: models that cannot be read
    Case("model-a-file", lambda t, r: train("--model", put(t, "w.bin", "x"))(t, r), "is a file"),
    Case("model-truncated-weights", on_model(truncate("model.safetensors", 1000)),
         "model.safetensors"),
    Case("model-truncated-tail", on_model(truncate("model.safetensors", 3_000_000)),
         "model.safetensors"),
    Case("model-garbage-weights",
         on_model(replace("model.safetensors", b"\xff" * 4096)),
         "model.safetensors"),
    Case("model-no-weights", on_model(replace("model.safetensors", None)),
         "model.safetensors"),
    Case("model-shapes-do-not-match", on_model(config_edit(hidden_size=256)),
         "config.json"),
    Case("model-more-layers", on_model(config_edit(num_hidden_layers=6)),
         "config.json"),
    Case("model-fewer-layers", on_model(config_edit(num_hidden_layers=2,
                                                                                 layer_types=["full_attention"] * 2)),
         "config.json"),
    Case("model-unknown-type", on_model(config_edit(model_type="nonsense")),
         "config.json"),
    Case("model-config-not-json", on_model(replace("config.json", b"{not json")),
         "config.json"),
    Case("model-no-tokenizer", on_model(replace("tokenizer.json", None)),
         "tokenizer"),
    Case("model-hub-id-offline", train("--model", "no-such-org/no-such-model"), "offline"),
    # ---- train: run directories and resuming (r: a finished 2-step run)
    Case("output-holds-a-run", lambda t, r: ["train", *S, "--output-dir", r], "already holds a run"),
    Case("resume-finished-run", lambda t, r: ["train", "--resume", r], "finished", 0),
    Case("resume-max-steps-below", lambda t, r: ["train", "--resume", r, "--max-steps", "1"], "max_steps"),
    Case("resume-changed-lr", lambda t, r: ["train", "--resume", r, "--lr", "0.5"], "lr 0.0002 -> 0.5"),
    Case("resume-with-config", lambda t, r: ["train", "--resume", r, "--config", put(t, "c.yaml", "lr: 1\n")],
         "--resume takes the run's own config.yaml"),
    Case("resume-hand-edited-lr", resume_edited(yaml_edit("lr: 0.0002", "lr: 0.5")),
         "lr"),
    Case("resume-config-not-yaml", resume_edited(replace("config.yaml", b"a: [\n")),
         "config.yaml"),
    Case("resume-config-deleted", resume_edited(replace("config.yaml", None)),
         "no config.yaml"),
    Case("resume-manifest-garbage",
         resume_edited(replace("checkpoints/step-000002/manifest.json", b"{")),
         "manifest.json"),
    Case("resume-threads-too-many", lambda t, r: ["train", "--resume", r, "--threads", "256", "--max-steps", "3"],
         "threads"),
    Case("resume-device-cuda", lambda t, r: ["train", "--resume", r, "--device", "cuda"], "device"),
    # ---- grade
    Case("grade-no-verifier", lambda t, r: ["grade", put(t, "g.jsonl", G1)], "--verifier"),
    Case("grade-unknown-verifier", grade(G1, "--verifier", "chess"), "unknown verifier 'chess'"),
    Case("grade-not-utf8", grade(b'{"response": "\xff", "answer": "1"}\n', "--verifier", "number"), "not valid UTF-8"),
    Case("grade-malformed", grade(G1 + "{oops\n", "--verifier", "number"), "g.jsonl:2: malformed JSON"),
    Case("grade-deep-nesting", grade("[" * 100000 + "]" * 100000 + "\n", "--verifier", "number"), "g.jsonl:1"),
    Case("grade-no-response-field", grade('{"answer": "1"}\n', "--verifier", "number"), "no field 'response'"),
    Case("grade-output-is-input", lambda t, r: ["grade", put(t, "g.jsonl", G1), "--verifier", "number", "--output",
                                                t / "g.jsonl"], "overwrite the input"),
    Case("grade-output-unrelated-file", lambda t, r: ["grade", put(t, "g.jsonl", G1), "--verifier", "number",
                                                      "--output", put(t, "notes.txt", "my notes\n")], "notes.txt"),
    Case("grade-output-missing-dir", lambda t, r: ["grade", put(t, "g.jsonl", G1), "--verifier", "number",
                                                   "--output", t / "no" / "out.jsonl"], "cannot write"),
    Case("grade-workers-negative", grade(G1, "--verifier", "number", "--workers", "-1"), "workers"),
    Case("grade-workers-not-int", grade(G1, "--verifier", "number", "--workers", "many"), "--workers"),
    Case("grade-workers-huge", grade(G1, "--verifier", "code", "--workers", "100000"), "workers"),
    Case("grade-bad-code-reference", grade('{"response": "x", "answer": "def (:"}\n', "--verifier", "code"),
         "bad reference"),
    Case("grade-lone-surrogate", grade('{"response": "\\ud800", "answer": "1"}\n', "--verifier", "number"),
         "g.jsonl:1"),
    # ---- ablate
    Case("ablate-unknown-algo", ablate("--algos", "ppo"), "unknown algo 'ppo'"),
    Case("ablate-empty-algos", ablate("--algos", ""), "must not be empty"),
    Case("ablate-seeds-words", ablate("--seeds", "a,b"), "seeds"),
    Case("ablate-seed-65-bits", ablate("--seeds", str(2**64)), "seed"),
    Case("ablate-duplicate-seeds", ablate("--seeds", "0,0"), "seeds"),
    Case("ablate-group-one", ablate("--group-size", "1"), "group_size must be"),
    Case("ablate-threads-too-many", ablate("--threads", "256"), "threads"),
    Case("ablate-task-unknown", ablate("--task", "chess"), "unknown task 'chess'"),
    Case("ablate-minibatches", ablate("--num-minibatches", "3"), "num_minibatches"),
    Case("ablate-output-a-file", lambda t, r: ["ablate", *A, "--output-dir", put(t, "f", "x")], "not writable"),
    Case("ablate-memory", ablate("--prompts-per-step", "1024", "--group-size", "65536"), "memory"),
    Case("ablate-rerun-other-settings",
         lambda t, r: ["ablate", *A, "--output-dir", ablation_of(t, r), "--max-steps", "3"], "max_steps"),
    # ---- base
    Case("base-into-finished-run", lambda t, r: ["base", *B, "--output-dir", r], "not a model directory"),
    Case("base-into-unrelated-folder", lambda t, r: ["base", *B, "--output-dir", unrelated(t)],
         "not a model directory"),
    Case("base-into-a-file", lambda t, r: ["base", *B, "--output-dir", put(t, "f", "x")], "f"),
    Case("base-lr-inf", base("--lr", "inf"), "lr must be"),
    Case("base-steps-zero", base("--steps", "0"), "steps must be"),
    Case("base-batch-zero", base("--batch-size", "0"), "batch_size must be"),
    Case("base-seq-len-zero", base("--seq-len", "0"), "seq_len must be"),
    Case("base-seq-len-beyond-context", base("--seq-len", "5000"), "seq_len must be"),
    Case("base-heads-zero", base("--num-heads", "0"), "num_heads must be"),
    Case("base-layers-zero", base("--num-layers", "0"), "num_layers must be"),
    Case("base-vocab-tiny", base("--vocab-size", "10"), "vocab_size must be"),
    Case("base-countdown-fraction-nan", base("--countdown-fraction", "nan"), "countdown_fraction must be"),
    Case("base-pair-fraction-above-one", base("--pair-fraction", "2"), "pair_fraction must be"),
    Case("base-search-give-up-negative", base("--search-give-up", "-0.5"), "search_give_up must be"),
    Case("base-pair-guess-above-one", base("--pair-guess", "1.5"), "pair_guess must be"),
    Case("base-search-slip-negative", base("--search-slip", "-0.1"), "search_slip must be"),
    Case("base-search-wrong-verdict-nan", base("--search-wrong-verdict", "nan"), "search_wrong_verdict must be"),
    Case("base-search-order-unknown", base("--search-order", "sorted"),
         "search_order must be random | listed | anchored"),
    Case("base-search-task-unknown", base("--search-task", "triples"), "search_task must be pairsum | sumsearch"),
    Case("base-weight-decay-inf", base("--weight-decay", "inf"), "weight_decay must be"),
    Case("base-seed-65-bits", base("--seed", str(2**64)), "seed must be"),
    Case("base-threads-too-many", base("--threads", "256"), "threads"),
    Case("base-init-from-missing", base("--init-from", "/nonexistent/model"), "not found"),
    Case("base-init-from-truncated",
         lambda t, r: base("--init-from", model(t, truncate("model.safetensors", 1000)))(t, r), "model.safetensors"),
    Case("base-memory", base("--batch-size", "20000", "--seq-len", "1024"), "memory"),
    # ---- report
    Case("report-no-run", lambda t, r: ["report"], "RUN_DIR"),
    Case("report-missing-dir", lambda t, r: ["report", t / "nope"], "nope"),
    Case("report-a-file", lambda t, r: ["report", put(t, "f", "x")], "f"),
    Case("report-no-metrics", lambda t, r: ["report", t], "metrics"),
    Case("report-metrics-not-utf8", lambda t, r: ["report", run_copy(t, r, replace("metrics.jsonl", b"\xff\xfe\n"))],
         "metrics.jsonl"),
    Case("report-metrics-odd-values", lambda t, r: ["report", run_copy(t, r, odd_metrics), "--output", t / "out"],
         "report written", 0),
    Case("report-summary-garbage",
         lambda t, r: ["report", run_copy(t, r, replace("summary.json", b"{oops")), "--output", t / "out"],
         "report written", 0),
    Case("report-output-a-file", lambda t, r: ["report", r, "--output", put(t, "f", "x")], "f"),
    # ---- serve and chat: command-line inputs (HTTP bodies: tests/serve/test_hostile.py)
    Case("serve-port-too-big", lambda t, r: ["serve", "--port", "70000"], "port must be"),
    Case("serve-body-timeout-nan", lambda t, r: ["serve", "--body-timeout", "nan"], "body_timeout must be"),
    Case("serve-threads-too-many", lambda t, r: ["serve", "--port", "0", "--threads", "256"], "threads"),
    Case("serve-device-cuda", lambda t, r: ["serve", "--port", "0", "--device", "cuda"], "cuda"),
    Case("serve-model-missing", lambda t, r: ["serve", "--port", "0", "--model", "/nonexistent/m"], "not found"),
    Case("serve-model-truncated",
         lambda t, r: ["serve", "--port", "0", "--model", model(t, truncate("model.safetensors", 1000))],
         "model.safetensors"),
    Case("serve-memory", lambda t, r: ["serve", "--port", "0", "--max-rows", "100000000"], "memory"),
    Case("serve-host-nonsense", lambda t, r: ["serve", "--port", "0", "--host", "no such host"], "no such host"),
    Case("chat-temperature-high", lambda t, r: ["chat", "--temperature", "5"], "temperature must be"),
    Case("chat-seed-negative", lambda t, r: ["chat", "--seed", "-1"], "seed must be"),
    Case("chat-device-cuda", lambda t, r: ["chat", "--device", "cuda"], "cuda"),
    Case("chat-model-missing", lambda t, r: ["chat", "--model", "/nonexistent/m"], "not found"),
    # ---- the command line itself
    Case("cli-unknown-command", lambda t, r: ["trian"], "No such command 'trian'"),
    Case("cli-unknown-global-option", lambda t, r: ["--verbose", "train"], "--verbose"),
    Case("cli-option-missing-value", lambda t, r: ["train", "--config"], "--config"),
    Case("cli-resume-missing-value", lambda t, r: ["train", "--resume"], "--resume"),
    Case("cli-report-output-missing-value", lambda t, r: ["report", r, "--output"], "--output"),
]
