"""Seeing what RL did: `r1lab report` turns run directories into one self-contained page
(report.html, charts inlined) and a markdown summary (report.md): accuracy strict and lenient,
length overall and by answer style with its decomposition, styles, reflection, aha moments,
reward components, KL and entropy, before/after samples. Several runs are overlaid.

Also here for now: `ablate` compares the --algo presets as a markdown table.
"""

from r1lab.report.build import Report, write_report

__all__ = ["Report", "write_report"]
