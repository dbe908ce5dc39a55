"""The emergence targets (r1lab.report.emergence) on a hand-built run whose numbers are worked out
by hand, and their table in `r1lab report`'s page and Markdown."""

import json
import math

from r1lab.report import write_report
from r1lab.report.emergence import checks, difficulty, measure
from r1lab.report.load import load_run

AHA = " <think> 4+7=12, wait, that is wrong. 4+7=11 </think> <answer> 11 </answer>"
SUMS = [(4, 7), (14, 27), (114, 227), (1114, 2227), (11114, 22227)]  # 1 to 5 digits: the easiest to the hardest


def _row(phase, a, b, response, length, step=None):
    row = {"phase": phase, "question": f"What is {a} + {b}?", "reference": str(a + b), "response": response,
           "length": length}
    return row if step is None else dict(row, step=step)


def _worked(a, b):
    return f" <think> {a}+{b}={a + b} </think> <answer> {a + b} </answer>"


def make_run(path, train_rows=True):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("task: arithmetic\n")
    (path / "summary.json").write_text(json.dumps({"wall_seconds": 120.0}))
    # 20 steps: mean length 10 over the first 10, 30 over the last 10 (x3)
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "mean_length": 10 if s <= 10 else 30}) + "\n"
                                                for s in range(1, 21)))
    rows = [_row("base", a, b, " 11" if a == 4 else " 12", 2) for a, b in SUMS]  # one right of five: lenient 0.2
    rows += [_row("final", 4, 7, AHA, 30)]  # a productive reflection: a false sum, "wait", corrected, right
    rows += [_row("final", a, b, _worked(a, b), 30 + 15 * i) for i, (a, b) in enumerate(SUMS[1:], 1)]  # hardest: 90
    if train_rows:
        rows += [_row("train", 4, 7, " 12", 5, step=1), _row("train", 14, 27, _worked(14, 27), 10, step=1),
                 _row("train", 4, 7, AHA, 30, step=20), _row("train", 14, 27, _worked(14, 27), 30, step=20)]
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_difficulty_is_digits_for_sums_and_candidates_for_pairs():
    assert [difficulty(f"What is {a} + {b}?")[0] for a, b in SUMS] == [1, 2, 3, 4, 5]
    assert difficulty("Which two of 7, 3, 12, 4 add up to 16?", "pairsum")[0] == 6


def test_targets_on_a_hand_built_run(tmp_path):
    m = measure(load_run(make_run(tmp_path / "run")))
    assert m["base"]["lenient"] == 0.2 and m["final"]["lenient"] == 1.0
    assert m["base"]["hard_easy_ratio"] == 1.0 and m["final"]["hard_easy_ratio"] == 3.0  # 90 / 30
    assert m["final"]["reflections"] == m["final"]["productive"] == 1 and m["final"]["productive_share"] == 1.0
    t = m["train"]
    assert (t["length_first10"], t["length_last10"]) == (10, 30) and t["dominant_style"] == "worked_think"
    assert (t["style_length_first10"], t["style_length_last10"]) == (10, 30)  # the worked responses only
    assert t["aha_moments_in_training"] == 1 and t["training_responses_logged"] == 4
    got = {c.name.strip(): (round(c.value, 3), c.met) for c in checks(m)}
    assert got["lenient accuracy gain"] == (0.8, True) and got["length last10 / first10"] == (3.0, True)
    assert got["within worked_think"] == (3.0, True) and got["hard/easy length, final"] == (3.0, True)
    assert got["reflection share final/base"][1] and got["reflection share final/base"][0] == math.inf  # 0 -> 0.2
    assert got["productive share, final eval"] == (1.0, True) and got["aha moments in training"] == (1, False)
    assert got["productive share, last10"] == (1.0, True) and got["wall seconds"] == (120.0, True)


def test_report_shows_the_targets_and_says_when_training_was_not_logged(tmp_path):
    run = make_run(tmp_path / "run")
    write_report([run])
    page, md = (run / "report.html").read_text(), (run / "report.md").read_text()
    assert 'data-target="aha moments in training" data-met="false"' in page
    assert 'data-target="hard/easy length, final" data-met="true"' in page
    assert "| lenient accuracy gain | 0.800 | >= 0.30 | yes |" in md
    bare = make_run(tmp_path / "bare", train_rows=False)
    write_report([bare])
    md = (bare / "report.md").read_text()
    assert "logged no training responses" in md and "within worked_think" not in md
    (bare / "summary.json").unlink()  # unfinished: no evaluations to compare, so no targets
    write_report([bare])
    assert "issue 15's targets" not in (bare / "report.md").read_text()
