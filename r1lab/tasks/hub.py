"""Benchmarks from the Hugging Face hub, for online users: `--benchmark ORG/NAME[:CONFIG]`.

With the `datasets` package installed: `datasets.load_dataset(name, config, split=split)`, with
its cache, authentication and file formats. Without it: the dataset viewer's HTTP API
(`datasets-server.huggingface.co/rows`, 100 rows a request, through httpx), which serves every
public dataset the hub has converted. Offline (`HF_HUB_OFFLINE` or `HF_DATASETS_OFFLINE` set) it
fails at once with one line; an unreachable hub also gives one line, after one attempt.

Columns are found by name: the question is the first of `problem`, `question`, `prompt`,
`input`; the answer the first of `answer`, `final_answer`, `solution`, `target` (a worked
solution is reduced to its last `\\boxed{}` by the math verifier); the id the first of `id`,
`unique_id`, `problem_id`, `task_id`, else the row's index.
"""

from __future__ import annotations

import os
import re

from r1lab.errors import UserError
from r1lab.tasks.base import Problem

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(?::[\w.-]+)?")
VIEWER = "https://datasets-server.huggingface.co"
PAGE = 100
QUESTION_FIELDS = ("problem", "question", "prompt", "input")
ANSWER_FIELDS = ("answer", "final_answer", "solution", "target")
ID_FIELDS = ("id", "unique_id", "problem_id", "task_id")


def offline() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_problems(spec: str, split: str, limit: int | None) -> tuple[list[str], list[Problem], str]:
    """(ids, problems, source) of the first `limit` rows of dataset `spec` = ORG/NAME[:CONFIG]."""
    if offline():
        raise UserError(f"benchmark {spec!r} is a Hugging Face dataset id, but HF_HUB_OFFLINE is set: "
                        "use a built-in name or a local FILE.jsonl")
    name, _, config = spec.partition(":")
    rows = hub_rows(name, config or None, split, limit)
    if not rows:
        raise UserError(f"dataset {spec!r} split {split!r} has no rows")
    q, a = _column(spec, rows[0], QUESTION_FIELDS, "question"), _column(spec, rows[0], ANSWER_FIELDS, "answer")
    key = next((f for f in ID_FIELDS if f in rows[0]), None)
    ids = [str(r[key]) if key else str(i) for i, r in enumerate(rows)]
    if len(set(ids)) != len(ids):
        ids = [str(i) for i in range(len(rows))]
    problems = [Problem(str(r[q]), str(r[a]), name.split("/")[-1], {"row": i}) for i, r in enumerate(rows)]
    return ids, problems, f"huggingface.co/datasets/{name} ({split})"


def _column(spec: str, row: dict, names: tuple[str, ...], what: str) -> str:
    for n in names:
        if n in row:
            return n
    raise UserError(f"dataset {spec!r} has no {what} column (looked for {', '.join(names)}; it has {', '.join(row)})")


def hub_rows(name: str, config: str | None, split: str, limit: int | None) -> list[dict]:
    try:
        import datasets
    except ImportError:
        return _viewer_rows(name, config, split, limit)
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001 - any failure to fetch is the user's to fix (name, split, network)
        raise UserError(f"cannot load dataset {name!r} split {split!r}: {_first_line(e)}") from None
    n = len(ds) if limit is None else min(limit, len(ds))
    return [dict(ds[i]) for i in range(n)]


def _viewer_rows(name: str, config: str | None, split: str, limit: int | None) -> list[dict]:
    import httpx
    with httpx.Client(base_url=VIEWER, timeout=httpx.Timeout(60.0, connect=10.0)) as client:
        if config is None:
            splits = _get(client, "/splits", {"dataset": name})["splits"]
            config = next((s["config"] for s in splits if s["split"] == split), None)
            if config is None:
                raise UserError(f"dataset {name!r} has no split {split!r} "
                                f"(it has {', '.join(sorted({s['split'] for s in splits}))})")
        rows: list[dict] = []
        while limit is None or len(rows) < limit:
            page = _get(client, "/rows", {"dataset": name, "config": config, "split": split,
                                          "offset": len(rows), "length": PAGE})
            rows += [r["row"] for r in page["rows"]]
            if not page["rows"] or len(rows) >= page.get("num_rows_total", 0):
                break
    return rows[:limit]


def _get(client, path: str, params: dict) -> dict:
    import httpx
    try:
        r = client.get(path, params=params)
    except httpx.HTTPError as e:
        raise UserError(f"cannot reach the Hugging Face dataset viewer {VIEWER}: {_first_line(e)} "
                        "(offline? use a built-in benchmark or a local FILE.jsonl)") from None
    if r.status_code != 200:
        try:
            message = r.json().get("error", r.text)
        except ValueError:
            message = r.text
        raise UserError(f"dataset viewer {path} for {params.get('dataset')!r} answered {r.status_code}: "
                        f"{str(message)[:200]}")
    try:
        return r.json()
    except ValueError:
        raise UserError(f"dataset viewer {path} answered with something that is not JSON") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
