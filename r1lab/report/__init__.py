"""Reports from run directories (read-only: it renders what runs wrote and never trains).

`r1lab report` turns run directories into one self-contained page (report.html, charts inlined)
and a markdown summary (report.md): accuracy strict and lenient, length overall and by answer
style with its decomposition, styles, reflection, aha moments, reward components, KL and
entropy, before/after samples. Several runs are overlaid.
"""

from r1lab.report.build import Report, write_report

__all__ = ["Report", "write_report"]
