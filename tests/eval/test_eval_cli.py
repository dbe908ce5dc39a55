"""`r1lab eval` through the real command in subprocesses, against loopback HTTP servers.

The local backend and the endpoint backend (`r1lab serve` serving the same tiny model) must
agree exactly at temperature 0; bad input is one `error:` line with exit code 2 and leaves what was written on
disk; an interrupted eval resumes without redoing a finished sample.
"""

import json

import pytest

from r1lab.models import io
from r1lab.rollout.scheduler import Scheduler
from r1lab.serve.config import ServeConfig
from r1lab.serve.server import BackgroundServer
from tests.helpers import ReplayServer, assert_user_error
from tests.helpers import r1lab as cli

SAME_FIELDS = ("id", "sample", "prompt", "reasoning", "answer", "extracted", "correct", "tokens", "finish_reason",
               "format")
METRICS = ("n_problems", "samples_per_problem", "pass@1", "pass@1_stderr", "pass@2", "cons@2", "mean_tokens",
           "truncation_rate", "format_rate", "unparseable_rate", "protocol", "verifier", "n_problems_total", "complete")


def r1lab(*args):
    return cli("eval", *args)


def rows(out):
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def results(out):
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_local_and_endpoint_agree_at_temperature_0(tmp_path):
    """The shipped tiny model through the local backend, then through `r1lab serve` (the real app,
    uvicorn on loopback) and the endpoint backend: identical samples and metrics at temperature 0."""
    common = ["--benchmark", "arithmetic", "--limit", "6", "--samples", "2", "--temperature", "0",
              "--max-tokens", "128"]
    local = r1lab("--model", "tiny", *common, "--threads", "1", "--output-dir", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    model, tok = io.load("tiny")
    cfg = ServeConfig(max_rows=16)
    server = BackgroundServer(cfg, Scheduler(model, tok, cfg.max_rows, None), tok)
    try:  # the R1-Zero template is raw text: --api auto takes /completions, stopping at </answer> as in training
        remote = r1lab("--endpoint", server.url, "--model", "tiny", *common, "--output-dir", tmp_path / "remote")
    finally:
        server.close()
    assert remote.returncode == 0, remote.stderr
    # rows arrive in completion order (16 requests in flight); keyed by (id, sample) they are identical
    a, b = (sorted(rows(tmp_path / d), key=lambda r: (r["id"], r["sample"])) for d in ("local", "remote"))
    assert len(a) == 12 and [{k: r[k] for k in SAME_FIELDS} for r in a] == [{k: r[k] for k in SAME_FIELDS} for r in b]
    assert any(r["correct"] for r in a) and any(r["answer"].endswith("</answer>") for r in a)  # stop string put back
    ra, rb = results(tmp_path / "local"), results(tmp_path / "remote")
    assert {k: ra[k] for k in METRICS} == {k: rb[k] for k in METRICS}
    assert ra["backend"] == "local" and rb["backend"] == "endpoint" and rb["n_supported"] is True
    assert rb["api"] == "completions" and ra["protocol"]["prompt"]["style"] == "r1zero"
    assert "pass@1" in local.stdout and "cons@2" in local.stdout and "ETA" in local.stdout


def _bench(tmp_path, content: bytes):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    return p


@pytest.mark.parametrize("case,make_bench,needles", [
    ("unknown-benchmark", lambda t: "math501", ["unknown benchmark 'math501'", "math500"]),
    ("malformed-row", lambda t: _bench(t, b'{"question": "1+1?", "answer": "2"}\n{oops\n'),
     ["bad.jsonl:2: malformed JSON"]),
    ("missing-field", lambda t: _bench(t, b'{"question": "1+1?"}\n'), ["bad.jsonl:1: row has no field 'answer'"]),
])
def test_bad_benchmarks_fail_before_any_compute(tmp_path, case, make_bench, needles):
    out = tmp_path / "out"
    assert_user_error(r1lab("--benchmark", make_bench(tmp_path), "--output-dir", out), *needles)
    assert not (out / "config.yaml").exists() and not (out / "samples.jsonl").exists()  # nothing to resume or lose


QUESTIONS = "".join(json.dumps({"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)}) + "\n"
                    for i in (1, 2, 3))
# each problem: one right answer and one wrong (0); a tie, so cons@2 = 0.5 and pass@1 = 0.5
REPLIES = {f"{i} plus {i}": [("adding", f"\\boxed{{{2 * i}}}"), ("adding", "\\boxed{0}")] for i in (1, 2, 3)}


def _endpoint_eval(tmp_path, url, *extra):
    bench = tmp_path / "q.jsonl"
    bench.write_text(QUESTIONS)
    return r1lab("--endpoint", url, "--model", "m", "--benchmark", bench, "--samples", "2", "--concurrency", "1",
                 "--max-retries", "1", "--retry-backoff", "0", "--output-dir", tmp_path / "out", *extra)


@pytest.mark.parametrize("failure,needle", [
    (404, "answered 404 (not retried): scripted 404"),
    (503, "answered 503 after 1 retries: scripted 503"),
    ("no_choices", "the response for problem q2 has no choices"),
])
def test_endpoint_failures_are_one_line_and_keep_the_finished_problem(tmp_path, failure, needle):
    with ReplayServer(REPLIES, script=[None, failure, failure]) as server:
        assert_user_error(_endpoint_eval(tmp_path, server.url, "--limit", "2"), needle)
    asked = [b.get("n", 1) for b in server.requests]
    # 503: retried once. 404: not retried; the one extra request is the same without n, in case it was
    # n > 1 that the server refused (then it would have answered). No choices: not retried.
    assert asked == {404: [2, 2, 1], 503: [2, 2, 2], "no_choices": [2, 2]}[failure]
    kept = rows(tmp_path / "out")
    assert [(r["id"], r["sample"], r["correct"]) for r in kept] == [("q1", 0, True), ("q1", 1, False)]
    res = results(tmp_path / "out")
    assert res["n_problems"] == 1 and res["complete"] is False and res["pass@1"] == 0.5


def test_unreachable_endpoint_then_resume_redoes_nothing(tmp_path):
    out = tmp_path / "out"
    with ReplayServer(REPLIES) as server:
        first = _endpoint_eval(tmp_path, server.url, "--limit", "1")
        assert first.returncode == 0, first.stderr
    port = server.httpd.server_address[1]
    # the server is gone: the next problem cannot be fetched; the finished one stays
    assert_user_error(_endpoint_eval(tmp_path, server.url, "--limit", "3", "--resume"),
                      f"endpoint {server.url}/chat/completions unreachable after 1 retries", "ConnectError")
    assert len(rows(out)) == 2 and results(out)["n_problems"] == 1
    report = r1lab("--output-dir", out, "--report-only")
    assert report.returncode == 0 and "1/3 × 2 samples" in report.stdout and "PARTIAL" in report.stdout
    with open(out / "samples.jsonl", "a") as f:
        f.write('{"id": "q2", "sample": 0, "prom')  # a write torn by a crash
    with ReplayServer(REPLIES, port=port) as server:  # served again where it was
        resumed = r1lab("--output-dir", out, "--resume")  # every other field from DIR/config.yaml
    assert resumed.returncode == 0, resumed.stderr
    asked = [b["messages"][0]["content"].split("?")[0] for b in server.requests]
    assert asked == ["What is 2 plus 2", "What is 3 plus 3"]  # q1 is not asked again
    assert sorted((r["id"], r["sample"]) for r in rows(out)) == [(f"q{i}", s) for i in (1, 2, 3) for s in (0, 1)]
    res = results(out)
    assert res["complete"] is True and res["n_problems"] == 3 and res["pass@1"] == 0.5 and res["cons@2"] == 0.5
