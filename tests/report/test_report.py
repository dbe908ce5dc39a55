"""`r1lab report` on hand-written run directories: the page, its marked numbers, several runs,
damaged files and missing metrics. (A real run rendered in a browser: test_browser.py.)"""

import base64
import io
import json
import re

import pytest
from PIL import Image

from r1lab.errors import UserError
from r1lab.eval.behaviour import reflection_spans
from r1lab.report import write_report
from r1lab.report.charts import rolling
from r1lab.report.page import highlight
from r1lab.verifiers.behaviour import analyse
from tests.helpers import assert_user_error, r1lab

AHA = " <think> 4+7=12, wait, that is wrong. 4+7=11 </think> <answer> 11 </answer>"
AHA_SPANS = reflection_spans(analyse(AHA, "11", "number"))
SUMMARY = {"base_accuracy": 0.25, "final_accuracy": 0.75, "base_lenient_accuracy": 0.5, "final_lenient_accuracy": 0.75,
           "base_mean_length": 20.0, "final_mean_length": 40.0, "base_format_rate": 0.0, "final_format_rate": 1.0,
           "base_unparseable_rate": 0.5, "final_unparseable_rate": 0.0, "eval_problems": 2,
           "eval_samples_per_problem": 2, "eval_temperature": 0.6, "eval_top_p": 0.95,
           "base_style_share_answer_only": 0.5, "base_style_share_worked_think": 0.5, "base_style_share_other": 0.0,
           "final_style_share_answer_only": 0.0, "final_style_share_worked_think": 1.0, "final_style_share_other": 0.0,
           "base_length_answer_only": 5.0, "base_length_worked_think": 35.0, "base_length_other": None,
           "final_length_answer_only": None, "final_length_worked_think": 40.0, "final_length_other": None,
           "base_style_accuracy_worked_think": 0.5, "base_reflection_rate": 0.0, "final_reflection_rate": 0.25,
           "base_markers_per_1k": 0.0, "final_markers_per_1k": 6.25, "base_aha_moments": 0, "final_aha_moments": 1,
           "base_reflections_superficial": 0, "final_reflections_superficial": 0}


def make_run(path, steps=12, summary=SUMMARY):
    path.mkdir(parents=True)
    rows = [{"step": i, "reward": i / steps, "accuracy": i / steps, "lenient_accuracy": min(1, 0.2 + i / steps),
             "format_rate": 1.0, "mean_length": 20 + i, "length_answer_only": 5.0 if i < 6 else None,
             "length_worked_think": 30.0 + i, "style_share_answer_only": max(0, 1 - i / 6),
             "style_share_worked_think": min(1, i / 6), "reflection_rate": 0.1, "markers_per_1k": 2.0,
             "aha_moments": float(i % 4 == 0), "reflections_superficial": 0.0, "reward_accuracy": i / steps,
             "reward_format": 1.0, "kl": 0.01 * i, "entropy": 1.0 - i / 100} for i in range(1, steps + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    samples = [{"phase": "base", "question": "What is 4 + 7?", "reference": "11", "response": " 12", "correct": False,
                "length": 2, "style": "answer_only", "lenient_correct": False, "reflections": []},
               {"phase": "final", "question": "What is 4 + 7?", "reference": "11", "response": AHA, "correct": True,
                "length": 30, "style": "worked_think", "lenient_correct": True, "reflections": AHA_SPANS}]
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (path / "aha.jsonl").write_text(json.dumps({"step": 4, "phase": "train", "kind": "aha", "question": "q",
                                                "reference": "11", "response": AHA, "reflections": AHA_SPANS}) + "\n")
    return path


def marked_numbers(page: str) -> list[tuple[str, str, str, str]]:
    """(run, key, raw value, shown text) of every number marked with a summary.json key."""
    return re.findall(r'<span data-run="(\d+)" data-key="([^"]+)" data-value="([^"]*)">([^<]*)</span>', page)


def test_page_numbers_images_and_markdown(tmp_path):
    run = make_run(tmp_path / "run")
    written = write_report([run])
    assert written.html == run / "report.html" and written.warnings == []
    page = written.html.read_text()
    marked = marked_numbers(page)
    assert {"final_accuracy", "base_lenient_accuracy", "final_style_share_worked_think", "final_aha_moments"} <= \
        {k for _, k, _, _ in marked}
    for _, key, raw, _ in marked:
        assert (SUMMARY[key] is None and raw == "") or float(raw) == SUMMARY[key], key
    imgs = re.findall(r'<img id="chart-(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
    assert [stem for stem, _ in imgs] == ["accuracy", "length", "styles", "reflection", "reward"]
    for _, data in imgs:
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] > 300
    assert "http://" not in page and "https://" not in page  # self-contained
    assert '<span class="claim" title="true value 11">4+7=12</span>' in page  # the aha moment, highlighted
    md = written.markdown.read_text()
    assert "| lenient accuracy (the stated answer) | 50.0% | 75.0% |" in md
    assert "Length 2.00× = " in md


def test_several_runs_are_overlaid_and_labelled(tmp_path):
    a, b = make_run(tmp_path / "a" / "run"), make_run(tmp_path / "b" / "run", steps=30)
    written = write_report([a, b], tmp_path / "out")
    page = written.html.read_text()
    assert written.html.parent == tmp_path / "out" and "<h3>a/run</h3>" in page and "<h3>b/run</h3>" in page
    assert {r for r, _, _, _ in marked_numbers(page)} == {"0", "1"}
    assert "Line style tells the runs apart." in page


def test_a_half_written_line_is_skipped_with_a_warning(tmp_path):
    run = make_run(tmp_path / "run", summary=None)  # an unfinished run, killed mid-write
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 13, "reward": 0.')
    res = r1lab("report", run)
    assert res.returncode == 0, res.stderr
    assert re.search(r"warning: .*metrics.jsonl line 13: not a complete JSON object", res.stderr)
    page = (run / "report.html").read_text()
    assert 'data-warnings="1"' in page and "line 13" in page and "no summary.json yet" in page


def test_no_metrics_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_user_error(r1lab("report", tmp_path / "empty"), f"{tmp_path / 'empty'}: no metrics to report")
    (tmp_path / "empty" / "metrics.jsonl").write_text("{broken\n")
    with pytest.raises(UserError, match="no metrics"):
        write_report([tmp_path / "empty"])
    with pytest.raises(UserError, match="no such run directory"):
        write_report([tmp_path / "missing"])


def test_highlight_escapes_and_marks_spans():
    got = highlight(AHA, AHA_SPANS)
    assert got.startswith(" &lt;think&gt; <span class=\"claim\"")
    assert '<mark class="marker">wait, that is wrong</mark>. <span class="fix">4+7=11</span>' in got
    assert highlight("x" * 2000, []).endswith("x…")


def test_rolling_mean_skips_gaps():
    nan = float("nan")
    assert rolling([1.0, 2.0, 3.0], 1) == [1.0, 2.0, 3.0]
    got = rolling([1.0, nan, 3.0, 5.0], 2)  # window i-1..i
    assert got[0] == 1.0 and got[1] == 1.0 and got[2] == 3.0 and got[3] == 4.0
