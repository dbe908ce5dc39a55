"""Property-based fuzzing of `r1lab grade`'s reader: any file gives graded rows or a `UserError`
naming the file, never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.errors import UserError
from r1lab.eval.grade import grade_file

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3)), max_leaves=8)
RESPONSE = st.one_of(st.text(max_size=40), st.integers().map(lambda n: f"<answer>{n}</answer>"), JSON)
ROW = st.one_of(JSON, st.fixed_dictionaries({"response": RESPONSE, "answer": st.one_of(st.text(max_size=8), JSON)}))
LINE = st.one_of(ROW.map(lambda r: json.dumps(r).encode()), st.binary(max_size=40),
                 st.sampled_from([b"", b'{"response": "\\udfff", "answer": "1"}', b"{" * 3000]))


@FUZZ
@given(verifier=st.sampled_from(["number", "countdown", "gsm8k"]), lines=st.lists(LINE, max_size=20))
def test_any_file_grades_or_names_the_problem(tmp_path, verifier, lines):
    p = tmp_path / "g.jsonl"
    p.write_bytes(b"\n".join(lines))
    out = tmp_path / "g.graded.jsonl"
    out.unlink(missing_ok=True)
    try:
        summary, written = grade_file(p, verifier, workers=1)
    except UserError as e:
        assert str(p) in str(e)
        return
    graded = [json.loads(line) for line in written.read_text(encoding="utf-8").splitlines()]
    assert len(graded) == summary.total and all("correct" in g for g in graded)
