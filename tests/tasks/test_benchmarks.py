"""Benchmarks for `r1lab eval`: the shipped files, the loaders, their ids, defaults and errors."""

import json
import sys

import pytest

from r1lab.errors import UserError
from r1lab.eval.run import check_references
from r1lab.tasks import get_task, hub, take
from r1lab.tasks.benchmarks import DATA, SHIPPED, load_benchmark
from tests.helpers import ROOT, bench_file


def test_shipped_files_are_byte_identical_to_the_shared_data():
    for file, *_ in SHIPPED.values():
        assert (DATA / file).read_bytes() == bench_file(file).read_bytes(), file  # bench_file fails if missing
    assert "MIT" in (DATA / "PROVENANCE.md").read_text()
    # shipped in the wheel, not only in a checkout
    assert '"r1lab.tasks" = ["data/*"]' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("name,count,verifier,samples,first_id", [
    ("math500", 500, "math", 4, "test/precalculus/807.json"),
    ("aime24", 30, "math", 64, "60"),
    ("amc23", 40, "math", 16, "0"),
    ("gsm8k", 1319, "gsm8k", 4, "line1"),
])
def test_shipped_benchmarks(name, count, verifier, samples, first_id):
    b = load_benchmark(name)
    assert (len(b.problems), b.verifier, b.samples, b.kind, b.ids[0]) == (count, verifier, samples, "math", first_id)
    assert len(set(b.ids)) == count and all(p.question and p.answer for p in b.problems)
    assert len(load_benchmark(name, limit=3).problems) == 3


def test_humaneval_and_builtin_tasks():
    h = load_benchmark("humaneval", limit=2)
    assert h.ids == ["HumanEval/0", "HumanEval/1"] and h.verifier == "code" and h.samples == 16 and h.kind == "code"
    assert h.problems[0].question.startswith("```python\nfrom typing import List")
    a = load_benchmark("arithmetic")
    assert len(a.ids) == 64 and a.ids[0] == "arithmetic-0" and a.verifier == "number" and a.kind == "task"
    assert a.problems == take(get_task("arithmetic"), "test", 64, seed=0)  # what r1lab train evaluates on
    c = load_benchmark("countdown", limit=5, seed=3)
    assert len(c.problems) == 5 and c.verifier == "countdown"


def test_jsonl_file_ids_verifier_and_errors(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text(json.dumps({"id": 7, "question": "q1", "answer": "1"}) + "\n\n"
                 + json.dumps({"question": "q2", "answer": "#### 2"}) + "\n")
    b = load_benchmark(str(p), verifier="gsm8k")
    assert b.ids == ["7", "line3"] and b.verifier == "gsm8k" and b.samples == 4
    assert load_benchmark(str(p)).verifier == "math"
    p.write_text(json.dumps({"id": 1, "question": "q", "answer": "1"}) + "\n"
                 + json.dumps({"id": 1, "question": "r", "answer": "2"}) + "\n")
    with pytest.raises(UserError, match="mine.jsonl:2: duplicate id '1'"):
        load_benchmark(str(p))
    p.write_text(json.dumps({"question": "q", "answer": "no number here"}) + "\n")
    bad = load_benchmark(str(p), verifier="gsm8k")
    with pytest.raises(UserError, match="mine.jsonl:1: bad reference for the gsm8k verifier"):
        check_references(bad)  # r1lab eval runs it before any compute
    with pytest.raises(UserError, match="unknown verifier 'chess'"):
        check_references(load_benchmark(str(p), verifier="chess"))
    with pytest.raises(UserError, match="file not found"):
        load_benchmark(str(tmp_path / "none.jsonl"))


def test_hub_ids_fail_at_once_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="Hugging Face dataset id, but HF_HUB_OFFLINE is set"):
        load_benchmark("HuggingFaceH4/MATH-500")


def test_hub_rows_through_the_dataset_viewer_api(monkeypatch):
    import http.server
    import threading
    from urllib.parse import parse_qs, urlparse

    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            asked.append((url.path, q))
            if url.path == "/splits":
                body = {"splits": [{"dataset": q["dataset"], "config": "default", "split": "test"}]}
            else:
                lo, hi = int(q["offset"]), min(250, int(q["offset"]) + int(q["length"]))
                body = {"rows": [{"row_idx": i, "row": {"unique_id": f"u{i}", "problem": f"p{i}", "answer": i}}
                                 for i in range(lo, hi)], "num_rows_total": 250}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
        monkeypatch.setitem(sys.modules, "datasets", None)  # the path without the datasets package
        monkeypatch.setattr(hub, "VIEWER", f"http://127.0.0.1:{server.server_address[1]}")
        b = load_benchmark("org/set", limit=120)
        assert b.ids[:2] == ["u0", "u1"] and len(b.ids) == 120 and b.problems[5].answer == "5"
        assert [a[0] for a in asked] == ["/splits", "/rows", "/rows"] and asked[2][1]["offset"] == "100"
        with pytest.raises(UserError, match="has no split 'train'"):
            load_benchmark("org/set", split="train")
    finally:
        server.shutdown()
        server.server_close()
