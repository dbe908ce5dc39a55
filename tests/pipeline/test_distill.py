"""`r1lab distill`: the trace filter under the R1-Zero format, bad inputs (one line, before any
compute), and end-to-end distillations at toy size: a local teacher with --compare-rl, and a
teacher behind a real HTTP endpoint."""

import json
import re
import shutil
import socket

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from r1lab.errors import UserError
from r1lab.models.io import BUILTIN_DIR, load_tokenizer
from r1lab.pipeline.compute import grpo_step_compute
from r1lab.pipeline.distill import run_distill
from r1lab.pipeline.distill_config import DistillConfig
from r1lab.pipeline.sample import SampleConfig, _first_failure, judge
from r1lab.tasks.chatdata import read_chat
from r1lab.train.console import Console
from r1lab.train.sft_data import encode
from r1lab.verifiers import verify_number
from tests.helpers import ReplayServer, assert_user_error, r1lab

Q = "What is 734 + 778?"
TRACE = "<think> 4+8=12, we have 2, carry 1, and 73+77 left. 3+7+1=11, we have 12, carry 1. 7+7+1=15, we have " \
        "1512. </think> <answer> 1512 </answer>"
TOY = dict(prompts=4, samples_per_prompt=2, epochs=1, batch_size=4, eval_problems=2, eval_samples=2,
           rl_prompts_per_step=2, rl_group_size=2, threads=1)


# ---- the filters, as distillation sets them (R1-Zero format, the verifier agreeing) ----------------

@pytest.mark.parametrize("response,failed", [
    (TRACE, None),
    (TRACE.replace("1512 </answer>", "1513 </answer>"), "correct"),  # the verifier disagrees
    (TRACE.replace("<think> ", "").replace(" </think>", ""), "format"),  # right answer, no think block
    (TRACE.replace("we have 2", "итог 2"), "language"),
    ("<think> " + "we have 2, carry 1. " * 6 + "</think> <answer> 1512 </answer>", "repetition"),
])
def test_each_filter_under_the_r1_zero_format(response, failed):
    cfg = SampleConfig(format="r1_zero", rewrite="none", max_paragraph_words=60)
    text, results = judge(Q, "1512", response, cfg, verify_number)
    assert text == response and _first_failure(results) == failed


def test_the_paragraph_filter_under_the_r1_zero_format():
    one_line = SampleConfig(format="r1_zero", max_paragraph_words=10)
    assert _first_failure(judge(Q, "1512", TRACE, one_line, verify_number)[1]) == "paragraphs"
    off = SampleConfig(format="r1_zero", max_paragraph_words=0)  # 0: no limit
    assert _first_failure(judge(Q, "1512", TRACE, off, verify_number)[1]) is None


# ---- bad input: one line, nothing written, no compute ----------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lossy_student(d):
    """A model directory whose tokenizer maps every unknown word to [UNK]: it cannot hold the traces."""
    shutil.copytree(BUILTIN_DIR, d)
    for f in d.glob("tokenizer*"):
        f.unlink()
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "1": 1, "+": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[UNK]").save_pretrained(d)
    return d


@pytest.mark.parametrize("case,needle", [
    ("missing", "teacher: model"),
    ("unfinished", "has no complete checkpoint"),
    ("endpoint", "cannot be reached"),
    ("lossy", "the student's tokenizer cannot reproduce"),
    ("student", "student: model"),
])
def test_bad_input_is_one_line_before_any_compute(tmp_path, case, needle):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)  # a run that never saved a checkpoint
    fields = {"missing": dict(teacher=str(tmp_path / "nope")), "unfinished": dict(teacher=str(tmp_path / "run")),
              "endpoint": dict(teacher="r1", teacher_endpoint=f"http://127.0.0.1:{_free_port()}/v1"),
              "lossy": dict(teacher="tiny", student=str(_lossy_student(tmp_path / "lossy"))),
              "student": dict(teacher="tiny", student=str(tmp_path / "nope"))}[case]
    out = tmp_path / "out"
    with pytest.raises(UserError, match=re.escape(needle)):
        run_distill(DistillConfig(output_dir=str(out), **fields), Console(quiet=True))
    assert not out.exists()


def test_bad_input_on_the_command_line(tmp_path):
    res = r1lab("distill", "--teacher", tmp_path / "nope", "--output-dir", tmp_path / "out")
    assert_user_error(res, "teacher", "nope")
    assert not (tmp_path / "out").exists()


def test_an_empty_trace_set_names_the_filter(tmp_path):
    cfg = DistillConfig(teacher="tiny", student="tiny-small", output_dir=str(tmp_path / "out"), max_new_tokens=1,
                        **TOY)  # one token: no answer anywhere
    with pytest.raises(UserError, match="the correct filter removed all 8 samples"):
        run_distill(cfg, Console(quiet=True))
    assert not (tmp_path / "out" / "sft").exists()


# ---- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_distillation_and_rl_at_matched_compute(tmp_path):
    out = tmp_path / "d"
    args = ["distill", "--teacher", "tiny", "--student", "tiny-small", "--compare-rl", "--output-dir", out]
    toy = [a for k, v in dict(TOY, prompts=16).items() for a in (f"--{k}", v)]  # the base teacher is right ~1 in 5
    res = r1lab(*args, *toy)
    assert res.returncode == 0, res.stderr
    result = json.loads((out / "distill.json").read_text())
    table = (out / "distill.md").read_text()
    assert table in res.stdout.replace("\r", "") or "student, R1-Zero RL from base" in res.stdout
    for row in ("| teacher |", "| student, before |", "| student, distilled", "| student, R1-Zero RL from base |"):
        assert row in table
    # every model on the same held-out problems
    prompts = {name: sorted({json.loads(line)["prompt"] for line in (out / "eval" / name / "samples.jsonl").open()})
               for name in ("teacher", "student_before", "student_distilled", "student_rl")}
    assert len({tuple(p) for p in prompts.values()}) == 1 and len(prompts["teacher"]) == 2
    # the SFT passes: each kept trace's tokens, once per epoch, forward and backward
    tok = load_tokenizer("tiny-small")
    rows = read_chat(out / "traces" / "data.jsonl")
    assert len(rows) == result["traces"]["kept"] > 0
    trained = sum(len(encode(r, tok, "r1_zero", 1024).ids) for r in rows)
    assert result["distill_compute"]["trained_token_passes"] == trained
    # the RL arm: within half a step of the distillation arm's compute (or one step, if a step is more than that)
    rl, budget = result["rl"], result["distill_compute"]["total"]
    per_step = rl["compute"]["total"] / rl["steps"]
    assert abs(rl["compute"]["total"] - budget) <= per_step / 2 or (rl["steps"] == 1 and budget < 1.5 * per_step)
    assert per_step > grpo_step_compute([1] * 2, [1] * 4).total  # real prompts and completions were counted
    # a re-run skips every finished part and writes the same table
    stamp = (out / "eval" / "student_rl" / "results.json").stat().st_mtime_ns
    again = r1lab(*args, *toy)
    assert again.returncode == 0, again.stderr
    assert (out / "eval" / "student_rl" / "results.json").stat().st_mtime_ns == stamp
    assert (out / "distill.md").read_text() == table
    assert_user_error(r1lab(*args, *toy, "--lr", "0.5"), "was made with other settings", "lr")


class SumServer(ReplayServer):
    """A teacher that is always right: it answers "What is A + B?" with a short R1-Zero trace."""

    def __init__(self):
        super().__init__({})

    def respond(self, path, body):
        self.requests.append(body)
        a, b = map(int, re.findall(r"What is (\d+) \+ (\d+)\?", body["prompt"])[0])
        text = f" <think> {a} + {b} = {a + b} </think> <answer> {a + b} </answer>"
        choices = [{"index": i, "text": text, "finish_reason": "stop"} for i in range(body.get("n", 1))]
        return 200, {"choices": choices, "usage": {"completion_tokens": 9 * len(choices)}}, {}


def test_distillation_from_an_endpoint(tmp_path):
    with SumServer() as server:
        cfg = DistillConfig(teacher="r1", teacher_endpoint=server.url, student="tiny-small",
                            output_dir=str(tmp_path / "d"), task="arithmetic", **TOY)
        result = run_distill(cfg, Console(quiet=True))
    assert all(r["prompt"].endswith("Assistant:") for r in server.requests)  # the R1-Zero template, raw text
    t = result["traces"]  # 4 distinct sums, both traces right, the second a duplicate of the first
    assert (t["questions"], t["kept"], t["removed_by"]["duplicate"]) == (4, 4, 4)
    assert result["evals"]["teacher"]["pass@1"] == 1.0 and result["evals"]["teacher"]["endpoint"] == server.url
    assert result["distill_compute"]["forward_token_passes"] > 8 * 9  # prompts + the reported completion tokens
