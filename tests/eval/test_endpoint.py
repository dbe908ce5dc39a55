"""The endpoint backend against loopback servers: reasoning in its three forms, `n` supported,
ignored or rejected, retries, and what is graded."""

import json

import pytest

from r1lab.errors import UserError
from r1lab.eval.config import EvalConfig
from r1lab.eval.endpoint import _split_tokens
from r1lab.eval.run import run_eval
from tests.helpers import ReplayServer

# Each reasoning holds a boxed answer that would grade differently: only the answer part counts.
REPLIES = {
    "half of one": [("Maybe \\boxed{7}? No.", "So the answer is \\boxed{\\frac{1}{2}}."),  # correct
                    ("It is 0.5.", "\\boxed{0.5}"),  # correct, same cluster
                    ("\\boxed{1/2} is tempting", "\\boxed{3}"),  # wrong although the reasoning is right
                    ("I ran out of", None)],  # truncated: no answer, unparseable
    "six times seven": [(None, "\\boxed{42}"),  # no reasoning at all
                        ("hmm", "\\boxed{41}"), ("hmm \\boxed{42}", "\\boxed{41}"), ("ok", "\\boxed{42}")],
}
EXPECTED = {  # (id, sample) -> (extracted, correct)
    ("half", 0): ("\\frac{1}{2}", True), ("half", 1): ("0.5", True), ("half", 2): ("3", False),
    ("half", 3): (None, None),
    ("six", 0): ("42", True), ("six", 1): ("41", False), ("six", 2): ("41", False), ("six", 3): ("42", True),
}


def bench_file(tmp_path):
    p = tmp_path / "two.jsonl"
    p.write_text(json.dumps({"id": "half", "question": "What is half of one?", "answer": "0.5"}) + "\n"
                 + json.dumps({"id": "six", "question": "What is six times seven?", "answer": "42"}) + "\n")
    return p


def config(tmp_path, server, name, **kw):
    kw = {"samples": 4, "concurrency": 1, "retry_backoff": 0.0, **kw}
    return EvalConfig(endpoint=server.url, model="replayed", benchmark=str(bench_file(tmp_path)),
                      output_dir=str(tmp_path / name), **kw)


def rows(path):
    return [json.loads(line) for line in (path / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("n_mode", ["supported", "ignored", "rejected"])
def test_three_reasoning_forms_grade_the_same(tmp_path, n_mode):
    results = []
    for form in ("reasoning_content", "reasoning", "inline"):
        with ReplayServer(REPLIES, reasoning_as=form, n_mode=n_mode) as server:
            res = run_eval(config(tmp_path, server, f"{form}-{n_mode}"))
        got = rows(tmp_path / f"{form}-{n_mode}")
        assert {(r["id"], r["sample"]): (r["extracted"], r["correct"]) for r in got} == EXPECTED, form
        by_key = {(r["id"], r["sample"]): r for r in got}
        assert by_key[("half", 0)]["reasoning"].strip() == "Maybe \\boxed{7}? No."
        assert by_key[("six", 0)]["reasoning"] is None and by_key[("half", 3)]["finish_reason"] == "length"
        assert res["n_supported"] is (n_mode == "supported")
        # one request per problem when n works; once the first answer shows it does not (one choice,
        # or a 400 that the same request without n does not get), one request per sample
        asked = [b.get("n", 1) for b in server.requests]
        assert asked == {"supported": [4, 4], "ignored": [4] + [1] * 7, "rejected": [4] + [1] * 8}[n_mode]
        assert all(b["temperature"] == 0.6 and b["top_p"] == 0.95 and b["max_tokens"] == 32768 for b in server.requests)
        msg = server.requests[0]["messages"]
        assert len(msg) == 1 and msg[0]["role"] == "user" and msg[0]["content"].endswith(
            "Please reason step by step, and put your final answer within \\boxed{}.")
        results.append({k: v for k, v in res.items() if k not in ("wall_seconds", "endpoint")})
    assert results[0] == results[1] == results[2]
    r = results[0]
    # pass@1 = mean(2/4, 2/4); cons@4: half -> {1/2: 2 votes, right}, six -> tie 42 (right) / 41 (wrong): 0.5
    assert r["pass@1"] == 0.5 and r["cons@4"] == 0.75 and r["unparseable_rate"] == 1 / 8
    assert r["truncation_rate"] == 1 / 8 and r["mean_tokens"] == 5 and r["n_problems"] == 2
    assert r["format_rate"] == 6 / 8  # closed reasoning and an answer: not the truncated one nor the bare answer


def test_retries_on_429_and_5xx_then_succeed(tmp_path):
    with ReplayServer(REPLIES, script=[429, 503, 502]) as server:
        res = run_eval(config(tmp_path, server, "retry", max_retries=3, system_prompt="Be brief."))
    assert len(server.requests) == 5 and res["n_problems"] == 2 and res["pass@1"] == 0.5
    assert server.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert res["protocol"]["prompt"]["system_prompt"] == "Be brief."


@pytest.mark.parametrize("script,retries,needle,requests", [
    ([404], 3, "answered 404 (not retried): scripted 404", 1),
    ([503] * 9, 2, "answered 503 after 2 retries: scripted 503", 3),
    (["no_choices"], 0, "the response for problem half has no choices", 1),
])
def test_failures_are_user_errors(tmp_path, script, retries, needle, requests):
    with ReplayServer(REPLIES, script=script) as server:
        with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            run_eval(config(tmp_path, server, "fail", max_retries=retries, samples=1, limit=1))
    assert len(server.requests) == requests


def test_token_split_sums_to_the_total():
    assert _split_tokens(10, [4]) == [10]
    assert _split_tokens(None, [1, 2]) == [None, None]
    out = _split_tokens(100, [9, 19, 69])  # weights 10, 20, 70
    assert out == [10, 20, 70]
    out = _split_tokens(10, [0, 0, 0])
    assert sum(out) == 10 and max(out) - min(out) == 1


def test_humaneval_is_graded_in_the_sandbox(tmp_path):
    from r1lab.tasks.humaneval import load_humaneval
    p = load_humaneval()[0]
    right = f"```python\n{p.prompt}{p.canonical_solution}```"
    wrong = f"```python\ndef {p.entry_point}(numbers, threshold):\n    return False\n```"
    with ReplayServer({p.entry_point: [("plan", right), ("plan", wrong)]}) as server:
        res = run_eval(EvalConfig(endpoint=server.url, model="m", benchmark="humaneval", limit=1, samples=2,
                                  output_dir=str(tmp_path / "he")))
    assert [(r["id"], r["correct"]) for r in rows(tmp_path / "he")] == [("HumanEval/0", True), ("HumanEval/0", False)]
    assert res["pass@1"] == 0.5 and res["verifier"] == "code"
    assert "Complete the Python function above" in server.requests[0]["messages"][0]["content"]


def test_prompt_and_api_must_fit_before_any_request(tmp_path):
    with ReplayServer(REPLIES) as server:
        with pytest.raises(UserError, match="raw text, which needs --api completions"):
            run_eval(config(tmp_path, server, "a", prompt="r1zero", api="chat"))
        with pytest.raises(UserError, match="--api completions sends raw text"):
            run_eval(config(tmp_path, server, "b", prompt="chat", api="completions"))
    assert server.requests == []
