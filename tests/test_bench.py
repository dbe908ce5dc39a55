"""The GPU benchmark is only run where a GPU is lent; a tiny CPU run keeps it from rotting."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))  # the scripts import this checkout's r1lab, not an installed one


def test_bench_gpu_smoke_run_on_cpu(tmp_path):
    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--device", "cpu", "--shapes", "tiny",
           "--peak-size", "256", "--prompt-len", "16", "--new-tokens", "8", "--prompts", "2", "--group", "4",
           "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["what"] for r in rows] == ["decode (lean)", "decode (hf-generate)", "decode speed-up lean / generate",
                                         "train (ref fwd + policy fwd/bwd + AdamW)"]
    assert rows[0]["tokens"] == rows[1]["tokens"] == 2 * 4 * 8  # eos never sampled: every token generated
    assert rows[3]["tokens"] == 2 * 16 + 2 * 4 * 8  # each prompt once, plus the completions
    assert all(r["tok_s"] > 0 and r["mfu"] > 0 for r in rows if "tok_s" in r)
    assert "| tiny | decode (lean) |" in proc.stdout


def test_bench_eval_smoke_run():
    cmd = [sys.executable, str(ROOT / "bench" / "bench_eval.py"), "--threads", "1", "--problems", "2", "--samples", "2",
           "--endpoint-problems", "2", "--delay", "0.01", "--repeats", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| r1lab eval, local, tiny model, arithmetic, 1 threads, run 1 | 4 |" in proc.stdout
    assert "concurrency 16, one request per sample | 4 |" in proc.stdout and "concurrency 16 / 1:" in proc.stdout


def test_language_split_counts_mixed_and_single_language_responses_per_block_of_steps(tmp_path):
    rows = [{"phase": "base", "step": 0, "question": "What is 1 + 2?", "response": "3"}]
    en, ru = "<think> 1+2=3, so far 3 </think>", "<think> 1+2=3, итог 3 </think>"
    for step, response, acc in [(1, ru, 0.0), (1, en, 1.0), (2, en, 1.0), (3, ru, 1.0)]:
        rows.append({"phase": "train", "step": step, "question": "What is 1 + 2?", "response": response,
                     "accuracy": acc, "format": 0.0, "length": 10})
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "language_split.py"), str(path), "--every", "2"],
                          capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[2] == "| 1-2 | 33% | 0.00, 0.00, 10 (n 1) | 1.00, 0.00, 10 (n 2) |"
    assert lines[3] == "| 3-4 | 100% | 1.00, 0.00, 10 (n 1) | 0.00, 0.00, 0 (n 0) |"


def test_checks_probe_smoke_run_and_its_column_reader():
    """bench/checks_probe.py (issue 15) on the shipped tiny base at a tiny size, and its reading of
    columns on the design-D corpus's own text: a caught slip, an unchecked slip, a passing check."""
    sys.path.insert(0, str(ROOT / "bench"))
    from checks_probe import columns

    text = "7+2=8, 2+7=9, 7+2=8? wait, 7+2=9, so far 9, left 6+5. 6+5=10, so far 09. 3+4+1=8, 1+4+3=8, so far"
    assert [(c["slip"], c["checked"], c["check_agrees"], c["redone"]) for c in columns(text)] == [
        (True, True, False, True), (True, False, False, False), (False, True, True, False)]
    cmd = [sys.executable, str(ROOT / "bench" / "checks_probe.py"), "tiny", "--probes", "2", "--problems", "2",
           "--samples", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = json.loads(proc.stdout.splitlines()[0])["copy_probe"]
    assert sum(probe["plain"]["slip"].values()) == 2
    assert any(json.loads(line).get("digits") for line in proc.stdout.splitlines()[1:3])


def test_search_probe_reads_tries_and_runs_on_the_shipped_base():
    """bench/search_probe.py (issue 15, design F): each try's sum and verdict, and a tiny run."""
    sys.path.insert(0, str(ROOT / "bench"))
    from search_probe import table, tries

    assert [t["sum_right"] for t in tries("1+5+3=16? 1+5+3=9, off by 7, not 16, wait. 9+4+3=16? 9+4+3=16, off by 0, "
                                          "yes.")] == [True, True]
    text = "7+3=16? 7+3=10, not 16, try again. 9+4=16? 9+4=16, yes. 12+4=16? 12+4=15, yes."
    assert [(t["sum_right"], t["yes"], t["verdict_follows_sum"], t["verdict_true"]) for t in tries(text)] == [
        (True, False, True, True), (False, True, True, False), (False, True, False, True)]
    assert [t["sum_hits"] for t in tries(text)] == [False, True, False]
    nums = [7, 3, 9, 4, 12]
    numbers = table([(3, text, 1.0, nums), (3, "12+4", 0.0, nums), (3, "5+11", 1.0, nums)])[3]
    assert numbers["search_share"] == 0.333 and numbers["lenient_search"] == [1, 1.0]
    assert numbers["tries_per_search"] == 3 and numbers["search_ends_yes"] == 1.0
    assert numbers["yes_when_sum_hits"] == [1, 1.0] and numbers["yes_when_sum_misses"] == [2, 0.5]
    assert numbers["repeated_tries"] == 0.0 and numbers["next_in_order"] == 1.0  # 7+3, 9+4, 12+4: list order
    again = table([(6, "3+7=16? 3+7=10, not 16, wait. 12+4=16? 12+4=16, yes. 7+3=16? 7+3=10, not 16.", 0.0, nums)])
    assert again[6]["repeated_tries"] == 0.333 and again[6]["next_in_order"] == 0.5  # 7+3 comes back, out of order
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "search_probe.py"), "tiny", "--problems", "2",
                           "--samples", "2", "--max-new", "16"], capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("strict: ") and '"responses": 4' in proc.stdout


def test_emergence_orders_pair_problems_by_how_many_candidates_they_have():
    sys.path.insert(0, str(ROOT / "bench"))
    from r1lab.report.emergence import difficulty

    assert difficulty("Which two of 7, 3, 12 add up to 10?", "pairsum")[0] == 3
    assert difficulty("Which two of 7, 3, 12, 4, 5, 6 add up to 10?", "pairsum")[0] == 15  # candidate pairs
    assert difficulty("Which three of 7, 3, 2, 4, 5 add up to 10?", "pairsum")[0] == 10  # candidate triples
    assert difficulty("What is 12345 + 67?")[0] == 5
