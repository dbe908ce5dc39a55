"""`r1lab sample`: each filter on hand-written responses, the readable rewrite, and a run on the
shipped model whose output is chat data with provenance that `r1lab sft` reads."""

import json

import pytest

from r1lab.pipeline.readable import readable
from r1lab.pipeline.sample import FILTERS, SampleConfig, _deduplicate, _first_failure, judge, run_sample
from r1lab.tasks.chatdata import read_chat
from r1lab.train.console import Console
from r1lab.verifiers import verify_number

Q = "What is 734 + 778?"
GOOD = "<think>\n4+8=12, so far 2, carry 1.\n3+7+1=11, so far 12, carry 1.\n7+7+1=15, so far 1512.\n</think>\n" \
       "The answer is 1512. <answer> 1512 </answer>"


@pytest.mark.parametrize("response,failed", [
    (GOOD, None),
    (GOOD.replace("1512", "1513"), "correct"),
    ("<think> 4+8=12, so far 1512. </think> <answer> 1512 </answer>", "format"),  # R1-Zero's: no summary
    (GOOD.replace("so far 2", "итог 2"), "language"),
    ("<think>\n" + "so far 2, carry 1. " * 6 + "\n</think>\nThe answer is 1512. <answer> 1512 </answer>", "repetition"),
    (GOOD.replace("\n3+7+1", " 3+7+1").replace("\n7+7+1", " 7+7+1"), "paragraphs"),  # one 17-word line
])
def test_each_filter(response, failed):
    cfg = SampleConfig(max_paragraph_words=12)
    text, results = judge(Q, "1512", response, cfg, verify_number)
    assert text == response and _first_failure(results) == failed
    assert set(results["passed"]) == set(FILTERS) - {"duplicate"}
    if failed == "language":
        assert results["language_consistency"] == pytest.approx(6 / 7)  # итог, carry, so, far, carry, so, far


def test_the_readable_rewrite():
    r1_zero = " <think> 4+8=12, so far 2, carry 1. 3+7+1=11, so far 12, carry 1. 7+7+1=15, so far 1512. </think> " \
              "<answer> 1512 </answer>"
    assert readable(r1_zero, Q) == GOOD
    assert readable(r1_zero, "Сколько будет 734 + 778?").endswith("Ответ: 1512. <answer> 1512 </answer>")
    assert readable("<think> x </think> The answer is 3.", Q) is None  # no answer tag: nothing to rewrite
    cfg = SampleConfig(rewrite="readable")
    assert judge(Q, "1512", r1_zero, cfg, verify_number)[0] == GOOD
    text, results = judge(Q, "1512", "<think> 4+8=12 </think> 1512 <answer> 1512 </answer>", cfg, verify_number)
    assert text is not None and _first_failure(results) is None
    text, results = judge(Q, "1512", "So it is <answer> 1512 </answer>", cfg, verify_number)  # right, no think block
    assert text is None and _first_failure(results) == "format"


def test_duplicates_are_removed_after_the_other_filters():
    rows = [{"question": Q, "response": r, "removed_by": by, "filters": {"passed": {}}}
            for r, by in [(GOOD, None), (GOOD.replace("\n", " \n"), None), (GOOD, "correct"), (GOOD, None)]]
    kept = _deduplicate(rows)
    assert kept == [rows[0]] and [r["removed_by"] for r in rows] == [None, "duplicate", "correct", "duplicate"]


def test_a_run_on_the_shipped_model_writes_chat_data_with_provenance(tmp_path):
    cfg = SampleConfig(prompts=6, samples_per_prompt=4, rewrite="readable", max_repeat_share=1.0, prompts_per_batch=4,
                       threads=1, output_dir=str(tmp_path / "s"))
    summary = run_sample(cfg, Console(quiet=True))
    assert summary["samples"] == 24 and summary["kept"] + sum(summary["removed_by"].values()) == 24
    assert 0 < summary["kept"] < 24  # the base is right in some samples, not all
    chunks = sorted((tmp_path / "s" / "chunks").iterdir())
    assert [c.name for c in chunks] == ["chunk-000000.jsonl", "chunk-000001.jsonl"]
    rows = [json.loads(line) for line in (tmp_path / "s" / "data.jsonl").read_text().splitlines()]
    assert len(read_chat(tmp_path / "s" / "data.jsonl")) == summary["kept"] == len(rows)
    for r in rows:
        prov = r["provenance"]
        assert {"model", "step", "seed", "verifier", "filters", "chunk", "sample"} <= set(prov)
        assert prov["verifier"] == "number" and all(prov["filters"]["passed"].values())
        assert r["messages"][1]["content"].startswith("<think>\n")
    before = (tmp_path / "s" / "data.jsonl").read_text()
    chunks[1].unlink()  # as if killed before the last chunk: the resumed run redraws it alike
    assert run_sample(cfg, Console(quiet=True), resume=True) == dict(summary, wall_seconds=pytest.approx(0, abs=1e9))
    assert (tmp_path / "s" / "data.jsonl").read_text() == before


def test_bad_settings_are_one_line_before_any_compute(tmp_path):
    from r1lab.errors import UserError
    with pytest.raises(UserError, match="model 'nope' not found"):
        run_sample(SampleConfig(model="nope", output_dir=str(tmp_path / "s")), Console(quiet=True))
    assert not (tmp_path / "s").exists()
    for field, value, needle in [("rewrite", "pretty", "rewrite must be none | readable"),
                                 ("format", "json", "format must be r1_zero | readable"),
                                 ("min_language_consistency", 1.5, "min_language_consistency must be in")]:
        with pytest.raises(UserError, match=needle):
            SampleConfig(**{field: value})


def test_bad_input_through_the_command_is_one_line_and_touches_nothing(tmp_path):
    """`r1lab sample` as a user runs it: each bad input is exit 2 and one `error:` line, and a folder
    that already holds files keeps them byte for byte."""
    from tests.helpers import assert_unchanged, assert_user_error, file_hashes, r1lab
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    before = file_hashes(tmp_path)
    for args, needle in [(["--model", "nope"], "model 'nope' not found"),
                         (["--rewrite", "pretty"], "rewrite must be none | readable"),
                         (["--prompts", "many"], "prompts"),
                         (["--temperatur", "0.6"], "temperatur")]:
        assert_user_error(r1lab("sample", *args, "--output-dir", keep / "out"), needle)
    assert not (keep / "out").exists()
    assert_unchanged(before, tmp_path)
