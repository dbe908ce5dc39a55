"""Reading a run directory for a report, forgiving what a crash leaves behind.

A run killed mid-write leaves a half-written last line in metrics.jsonl (or a damaged line
anywhere, after a disk error): such a line is skipped with a warning that names the file and the
line number, and the report is drawn from the rest; so is a row whose step is not an integer,
and a value that is not a number is drawn as a gap. A run that never finished has no
summary.json: the report then shows the training curves only. A directory with no complete
metrics line at all has nothing to report: that is a one-line user error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from r1lab.errors import UserError


@dataclass
class RunData:
    path: Path
    name: str  # the label in legends and headings
    metrics: list[dict]  # metrics.jsonl rows, in step order
    summary: dict | None  # summary.json; None for a run that has not finished
    config: dict  # config.yaml (empty if missing)
    samples: dict[str, list[dict]]  # samples.jsonl rows by phase: base, train, final
    aha: list[dict]  # aha.jsonl rows (training aha moments and superficial reflections)
    warnings: list[str] = field(default_factory=list)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric; a missing or None value is NaN (a gap in the line)."""
        xs, ys = [], []
        for row in self.metrics:
            v = row.get(key)
            xs.append(int(row.get("step", len(xs) + 1)))
            ys.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan)
        return xs, ys

    def has(self, key: str) -> bool:
        return any(isinstance(row.get(key), (int, float)) for row in self.metrics)


def read_jsonl(path: Path, warnings: list[str]) -> list[dict]:
    """The rows of a JSONL file; a line that is not a JSON object is skipped with a warning."""
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            warnings.append(f"{path} line {i}: not a complete JSON object (a half-written line?), skipped")
    return rows


def load_run(path: str | Path, name: str | None = None) -> RunData:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    warnings: list[str] = []
    metrics = _steps(read_jsonl(path / "metrics.jsonl", warnings), path / "metrics.jsonl", warnings)
    if not metrics:
        raise UserError(f"{path}: no metrics to report (metrics.jsonl is missing or holds no complete line)")
    metrics.sort(key=lambda r: r["step"])
    samples: dict[str, list[dict]] = {"base": [], "train": [], "final": []}
    for row in read_jsonl(path / "samples.jsonl", warnings):
        samples.setdefault(str(row.get("phase")), []).append(row)
    return RunData(path=path, name=name or path.name, metrics=metrics, summary=_json(path / "summary.json", warnings),
                   config=_yaml(path / "config.yaml", warnings), samples=samples,
                   aha=read_jsonl(path / "aha.jsonl", warnings), warnings=warnings)


def _steps(rows: list[dict], path: Path, warnings: list[str]) -> list[dict]:
    """The metrics rows with an integer step; values that are not numbers, strings or null become
    null (a gap), with one warning per file."""
    kept, odd = [], 0
    for i, row in enumerate(rows, 1):
        step = row.get("step", i)
        if isinstance(step, bool) or not isinstance(step, int):
            warnings.append(f"{path}: a row whose step is {step!r}, not an integer, skipped")
            continue
        clean = {k: v if v is None or isinstance(v, (int, float, str)) else None for k, v in row.items()}
        odd += clean != row
        kept.append(dict(clean, step=step))
    if odd:
        warnings.append(f"{path}: {odd} row(s) with values that are not numbers, drawn as gaps")
    return kept


def load_runs(paths: list[str | Path]) -> list[RunData]:
    """Every run, labelled by its directory name (with its parent's when two names clash)."""
    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    labels = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    return [load_run(p, label) for p, label in zip(paths, labels, strict=True)]


def _json(path: Path, warnings: list[str]) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        warnings.append(f"{path}: not valid JSON ({e.msg}, line {e.lineno}), ignored")
        return None
    except (ValueError, RecursionError):  # not UTF-8, or nested too deeply
        warnings.append(f"{path}: not readable JSON, ignored")
        return None
    return data if isinstance(data, dict) else None


def _yaml(path: Path, warnings: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError, RecursionError):
        warnings.append(f"{path}: not valid YAML, ignored")
        return {}
    return data if isinstance(data, dict) else {}
