"""JSONL datasets as training tasks: disjoint hash splits, a finite test split, the stream."""

import json

import pytest

from r1lab.errors import UserError
from r1lab.tasks import ProblemStream, get_task, split_of, take


def _file(tmp_path, n):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                         for i in range(n)) + "\n")  # a trailing blank line is allowed
    return p


def test_jsonl_task_splits_and_streams(tmp_path):
    task = get_task(str(_file(tmp_path, 200)), "number")
    assert task.verifier == "number" and task.size("train") + task.size("test") == 200
    test = take(task, "test", 10_000, seed=0)  # capped at what the file has
    assert len(test) == task.size("test") > 0 and len({p.question for p in test}) == len(test)
    stream = ProblemStream(task, "train", seed=0)
    train = stream.take(300)
    assert stream.position == 300 and all(split_of(p.question) == "train" for p in train)
    assert not {p.question for p in train} & {p.question for p in test}
    assert {p.answer for p in train if p.question == "What is 7 + 7?"} <= {"14"}
    assert get_task(str(_file(tmp_path, 200))).verifier == "math"  # the default for files


def test_a_file_too_small_for_a_test_split_is_refused(tmp_path):
    with pytest.raises(UserError, match="no test problems after the hash split"):
        get_task(str(_file(tmp_path, 3)))
