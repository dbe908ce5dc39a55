"""`r1lab report RUN_DIR [RUN_DIR...] [--output DIR]`: read the runs, draw, write report.html
and report.md (by default into the first run directory)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from r1lab.errors import UserError
from r1lab.report.emergence import measure
from r1lab.report.load import load_runs
from r1lab.report.markdown import render_markdown
from r1lab.report.page import render


class Report(NamedTuple):
    html: Path
    markdown: Path
    warnings: list[str]  # lines of the runs' files that could not be read


def write_report(run_dirs: list[str | Path], output: str | Path | None = None) -> Report:
    if not run_dirs:
        raise UserError("report: name at least one run directory")
    runs = load_runs(run_dirs)  # validates every run before drawing anything
    out = Path(output) if output else runs[0].path
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"report output directory {out} cannot be created: {e.strerror or e}") from None
    from r1lab.report.charts import CHARTS, window  # matplotlib is loaded only when drawing
    w = window(runs)
    charts = [(stem, title, caption, draw(runs, w)) for stem, title, caption, draw in CHARTS]
    html_path, md_path = out / "report.html", out / "report.md"
    targets = [measure(r) for r in runs]  # the emergence targets, None for an unfinished run
    html_path.write_text(render(runs, charts, w, targets), encoding="utf-8")
    md_path.write_text(render_markdown(runs, targets), encoding="utf-8")
    return Report(html_path, md_path, [x for r in runs for x in r.warnings])
