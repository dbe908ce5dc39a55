"""What `r1lab train` shows: a live progress bar, then a before/after table and two samples."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console as RichConsole
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class Console:
    def __init__(self, quiet: bool = False):
        self.rich = RichConsole(stderr=False, quiet=quiet)

    def start(self, cfg, path, n_params: int, threads: int) -> None:
        self.rich.print(f"[bold]r1lab train[/] · model {cfg.model} ({n_params / 1e6:.2f}M params) · "
                        f"task {cfg.task} · {cfg.max_steps} steps × {cfg.prompts_per_step} questions "
                        f"× G={cfg.group_size} · {threads} threads · run dir {path}")

    def phase(self, text: str, fn):
        with self.rich.status(text):
            return fn()

    @contextmanager
    def progress(self, total: int, completed: int = 0, label: str = "GRPO", info=None):
        """A progress bar; `info(metrics row) -> str` is shown beside it (default: GRPO's numbers)."""
        cols = [TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*cols, console=self.rich, transient=False) as prog:
            task = prog.add_task(label.lower(), total=total, completed=completed, info="")
            yield _Bar(prog, task, info or _grpo_info)

    def finish(self, summary: dict, base, final, path, report=None) -> None:
        t = Table(title="R1-Zero: before and after RL (held-out test problems, "
                        f"pass@1 over {summary['eval_samples_per_problem']} samples, T={summary['eval_temperature']})")
        t.add_column("")
        t.add_column("base", justify="right")
        t.add_column("after RL", justify="right")
        for key, label, fmt in [("accuracy", "accuracy (pass@1)", "{:.1%}"),
                                ("lenient_accuracy", "lenient accuracy (stated answer)", "{:.1%}"),
                                ("format_rate", "format rate", "{:.1%}"),
                                ("mean_length", "mean length (tokens)", "{:.1f}"),
                                ("unparseable_rate", "unparseable", "{:.1%}")]:
            t.add_row(label, fmt.format(summary[f"base_{key}"]), fmt.format(summary[f"final_{key}"]))
        self.rich.print(t)
        for name, res in (("before", base), ("after", final)):
            s = res.samples[0] if res.samples else None
            if s:
                self.rich.print(f"[bold]{name}[/] · {s['question']} → [italic]{s['response'].strip()[:300]!r}[/] "
                                f"({'correct' if s['correct'] else 'wrong'})", highlight=False)
        self.rich.print(f"wall time {summary['wall_seconds']:.0f}s · summary: {path}/summary.json")
        if report is not None:
            self.rich.print(f"report: {report}", highlight=False, soft_wrap=True)


def _grpo_info(m: dict) -> str:
    return (f"reward {m['reward']:.2f} · acc {m['accuracy']:.2f} · fmt {m['format_rate']:.2f} · "
            f"len {m['mean_length']:.0f} · {m['seconds']:.1f}s/step")


class _Bar:
    def __init__(self, prog: Progress, task, info):
        self.prog, self.task, self.info = prog, task, info

    def update(self, m: dict) -> None:
        self.prog.update(self.task, advance=1, info=self.info(m))
