"""What `r1lab eval` shows: a progress bar over samples with an ETA, then the results table."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


@contextmanager
def progress(console: Console, total: int, completed: int):
    cols = [TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*cols, console=console, transient=False) as prog:
        task = prog.add_task("eval", total=total, completed=completed)
        yield lambda n: prog.update(task, advance=n)


def results_table(r: dict) -> Table:
    k = r.get("samples_per_problem")
    t = Table(title="r1lab eval" + ("" if r.get("complete") else " (PARTIAL: problems still missing)"))
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("benchmark", str(r.get("benchmark")))
    t.add_row("model", f"{r.get('model')} ({r.get('endpoint') or 'local'})")
    t.add_row("problems", f"{r.get('n_problems', 0)}/{r.get('n_problems_total', '?')} × {k} samples")
    if "pass@1" not in r:
        return t
    t.add_row("pass@1", f"{r['pass@1']:.1%} ± {r['pass@1_stderr']:.1%}")
    for key in sorted((x for x in r if x.startswith("pass@") and x[5:].isdigit() and x != "pass@1"),
                      key=lambda x: int(x[5:])):
        t.add_row(key, f"{r[key]:.1%}")
    t.add_row(f"cons@{k}", f"{r[f'cons@{k}']:.1%}")
    t.add_row("mean length (tokens)", "n/a" if r.get("mean_tokens") is None else f"{r['mean_tokens']:.1f}")
    for key, label in (("truncation_rate", "truncated"), ("format_rate", "format"),
                       ("unparseable_rate", "unparseable")):
        t.add_row(label, f"{r[key]:.1%}")
    t.add_row("wall time", f"{r.get('wall_seconds', 0):.1f}s")
    return t
