"""report.md: the report's words and key numbers for a terminal or a pull request (no pictures;
report.html has them)."""

from __future__ import annotations

from r1lab.report.analysis import STYLE_LABELS, Num, Sentence, findings, summary_length_shift
from r1lab.report.emergence import EMERGENCE_NOTE, EMERGENCE_TITLE, emergence_lines
from r1lab.report.load import RunData
from r1lab.report.page import KEY_ROWS


def render_markdown(runs: list[RunData], targets: list[dict | None] | None = None) -> str:
    lines = ["# What RL did", "", "Runs: " + ", ".join(f"`{r.path}`" for r in runs), ""]
    warnings = [w for r in runs for w in r.warnings]
    if warnings:
        lines += ["**Warnings**", "", *[f"- {w}" for w in warnings], ""]
    for i, run in enumerate(runs):
        lines += [f"## {run.name}", "", *[f"- {sentence_text(s)}" for s in findings(run)], ""]
        if run.summary is None:
            continue
        lines += ["| | base | after RL |", "|---|---|---|"]
        for label, suffix, fmt in KEY_ROWS:
            if f"final_{suffix}" in run.summary:
                lines.append(f"| {label} | {Num(run.summary.get(f'base_{suffix}'), fmt).text()} | "
                             f"{Num(run.summary.get(f'final_{suffix}'), fmt).text()} |")
        shift = summary_length_shift(run.summary)
        if shift is not None:
            lines += ["", "| answer style | share, base | share, after RL | length, base | length, after RL |",
                      "|---|---|---|---|---|"]
            for k, (sb, sf, lb, lf) in shift.styles.items():
                lines.append(f"| {STYLE_LABELS.get(k, k)} | {Num(sb, 'pct').text()} | {Num(sf, 'pct').text()} | "
                             f"{Num(lb, 'tok').text()} | {Num(lf, 'tok').text()} |")
            lines += ["", f"Length {Num(shift.total, 'x').text()} = {Num(shift.mix, 'x').text()} (switch of style, "
                      f"at the base's lengths per style) × {Num(shift.within, 'x').text()} (within a style, at the "
                      "final mix)."]
        if targets and targets[i] is not None:
            lines += ["", f"### {EMERGENCE_TITLE}", "", EMERGENCE_NOTE, "", *emergence_lines(targets[i])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def sentence_text(sentence: Sentence) -> str:
    return "".join(p.text() if isinstance(p, Num) else p for p in sentence)
