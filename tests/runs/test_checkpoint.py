"""Checkpoints: atomic, pruned, verified against their manifest; RNG states and log trimming."""

import json
import random

import numpy as np
import pytest
import torch

from r1lab.errors import UserError
from r1lab.runs import Checkpoints, check_resume_config, rng_state, set_rng_state, truncate_jsonl


def _writer(payload: bytes):
    def write(d):
        (d / "weights.bin").write_bytes(payload)
        (d / "sub").mkdir()
        (d / "sub" / "state.json").write_text(json.dumps({"n": len(payload)}))
    return write


def test_save_is_complete_and_keeps_the_newest(tmp_path):
    ck = Checkpoints(tmp_path / "ck", keep=2)
    for step in (1, 2, 3):
        ck.save(step, _writer(bytes([step]) * 100))
    assert [s for s, _ in ck.complete()] == [2, 3]
    latest = ck.latest()
    assert latest.name == "step-000003" and (latest / "weights.bin").read_bytes() == b"\x03" * 100
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["step"] == 3 and set(manifest["files"]) == {"weights.bin", "sub/state.json"}
    assert not list((tmp_path / "ck").glob(".*"))  # no temporary directory left behind


def test_a_crash_while_writing_leaves_the_previous_checkpoints(tmp_path):
    ck = Checkpoints(tmp_path / "ck", keep=2)
    ck.save(1, _writer(b"one"))

    def dies(d):
        (d / "weights.bin").write_bytes(b"half")
        raise KeyboardInterrupt  # the process is stopped mid-write
    with pytest.raises(KeyboardInterrupt):
        ck.save(2, dies)
    assert [s for s, _ in ck.complete()] == [1] and ck.latest().name == "step-000001"


def test_half_written_directories_are_ignored_and_cleaned(tmp_path):
    ck = Checkpoints(tmp_path / "ck")
    ck.save(4, _writer(b"four"))
    partial = tmp_path / "ck" / ".step-000005.partial-abc"  # what SIGKILL mid-save leaves
    partial.mkdir()
    (partial / "weights.bin").write_bytes(b"fi")
    no_manifest = tmp_path / "ck" / "step-000006"  # copied by hand, never completed
    no_manifest.mkdir()
    assert ck.latest().name == "step-000004"
    ck.clean()
    assert not partial.exists()


def test_truncated_or_altered_files_are_named(tmp_path):
    ck = Checkpoints(tmp_path / "ck")
    path = ck.save(1, _writer(b"x" * 1000))
    with open(path / "weights.bin", "r+b") as f:
        f.truncate(400)
    with pytest.raises(UserError, match=r"weights.bin has 400 bytes, the manifest says 1000"):
        ck.latest()
    (path / "weights.bin").write_bytes(b"y" * 1000)  # same size, other bytes
    with pytest.raises(UserError, match="weights.bin does not match its sha256"):
        ck.latest()
    (path / "weights.bin").unlink()
    with pytest.raises(UserError, match="weights.bin is missing"):
        ck.latest()


def test_rng_states_round_trip_through_a_weights_only_load(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    torch.save({"rng": rng_state()}, tmp_path / "s.pt")
    want = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == want


def test_truncate_jsonl_drops_later_rows_and_a_torn_line(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, 6)) + '{"step": 6, "rew')
    assert truncate_jsonl(p, lambda r: r["step"] <= 3) == 3
    assert [json.loads(line)["step"] for line in p.read_text().splitlines()] == [1, 2, 3]


def test_resume_config_allows_only_safe_changes():
    saved = {"max_steps": 10, "lr": 1e-3, "threads": 1, "seed": 0}
    check_resume_config(saved, dict(saved, max_steps=20, threads=2))
    with pytest.raises(UserError, match=r"lr 0.001 -> 0.002, seed 0 -> 1"):
        check_resume_config(saved, dict(saved, lr=2e-3, seed=1))
