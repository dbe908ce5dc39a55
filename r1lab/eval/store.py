"""The eval directory: the interface to other tools, and what makes an eval resumable.

    DIR/config.yaml     the resolved config (written before the first sample)
    DIR/samples.jsonl   one row per (problem id, sample index), appended as samples are graded
    DIR/results.json    the metrics over the problems finished so far, rewritten (atomically) as
                        problems finish and at the end; "complete" says whether all are done

Rows are appended and flushed after each graded reply, so a killed eval loses at most the
replies in flight. Reading the rows back (`load_rows`) drops a torn last line (bytes after the
last newline: a crash during a write) by truncating the file to its last complete line; a
malformed complete line is a `UserError` naming it. A row whose (id, sample) was already read is
ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from r1lab.errors import UserError
from r1lab.files import make_writable_dir, write_atomic

SAMPLES, RESULTS, CONFIG = "samples.jsonl", "results.json", "config.yaml"


class EvalDir:
    def __init__(self, path: str | Path, resume: bool):
        self.path = Path(path)
        holds = (self.path / CONFIG).exists() or (self.path / SAMPLES).exists()
        if holds and not resume:
            raise UserError(f"{self.path} already holds an eval: continue it with --resume, "
                            "or choose another --output-dir")
        if resume and not (self.path / CONFIG).is_file():
            raise UserError(f"{self.path}: nothing to resume (no {CONFIG})")
        make_writable_dir(self.path)

    def saved_config(self) -> dict:
        try:
            data = yaml.safe_load((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            raise UserError(f"{self.path / CONFIG}: unreadable ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise UserError(f"{self.path / CONFIG}: expected a mapping of config keys")
        return data

    def save_config(self, values: dict) -> None:
        write_atomic(self.path / CONFIG, yaml.safe_dump(values, sort_keys=False))

    def load_rows(self) -> dict[tuple[str, int], dict]:
        path = self.path / SAMPLES
        if not path.exists():
            return {}
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1  # bytes after the last newline: a torn write, dropped
        if end != len(data):
            with open(path, "r+b") as f:
                f.truncate(end)
        rows: dict[tuple[str, int], dict] = {}
        for n, raw in enumerate(data[:end].splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UserError(f"{path}:{n}: malformed row (not JSON); fix or delete the line to resume") from None
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("sample"), int):
                raise UserError(f"{path}:{n}: a row without id and sample; fix or delete the line to resume")
            rows.setdefault((str(row["id"]), row["sample"]), row)
        return rows

    def append(self, rows: list[dict]) -> None:
        with open(self.path / SAMPLES, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            f.flush()

    def write_results(self, results: dict) -> None:
        write_atomic(self.path / RESULTS, json.dumps(results, indent=1, ensure_ascii=False) + "\n")


def read_results(path: str | Path) -> dict:
    """DIR/results.json (for `--report-only` and a resumed eval's earlier wall time)."""
    path = Path(path)
    if not (path / RESULTS).is_file():
        raise UserError(f"{path}: no {RESULTS} (not an eval directory, or no problem finished yet)")
    try:
        return json.loads((path / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path / RESULTS}: unreadable ({e})") from None
