"""Property-based fuzzing of the JSONL task loader: any bytes, any rows, give a task or a `UserError`
naming the file, never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.errors import UserError
from r1lab.tasks import JsonlTask

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3)), max_leaves=8)
ROW = st.one_of(JSON, st.fixed_dictionaries({"question": st.one_of(st.text(max_size=30), JSON),
                                             "answer": st.one_of(st.text(max_size=8), JSON)}))
LINE = st.one_of(ROW.map(lambda r: json.dumps(r).encode()), st.binary(max_size=40),
                 st.sampled_from([b"", b"\xef\xbb\xbf{}", b'{"question": "\\ud800", "answer": "1"}', b"[" * 5000,
                                  b'{"question": "x", "answer": NaN}']))


def _task_or_user_error(path, verifier="math") -> None:
    try:
        task = JsonlTask(path, verifier)
    except UserError as e:
        assert str(path) in str(e)
        return
    assert task.size("train") >= 1 and task.size("test") >= 1


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes(tmp_path, data):
    p = tmp_path / "d.jsonl"
    p.write_bytes(data)
    _task_or_user_error(p)


@FUZZ
@given(lines=st.lists(LINE, max_size=30))
def test_any_rows(tmp_path, lines):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\n".join(lines))
    _task_or_user_error(p)


def test_enough_good_rows_make_a_task(tmp_path):
    """The property above is not vacuous: plain rows do load."""
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(60)))
    task = JsonlTask(p, "number")
    assert task.size("train") + task.size("test") == 60
