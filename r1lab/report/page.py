"""report.html: one self-contained page (PNG charts inlined as base64, no external resource, no
network), readable offline and attachable to an issue.

Every number the page takes from summary.json is marked `<span data-run=I data-key=KEY
data-value=RAW>SHOWN</span>`, and every derived one `data-derived=NAME`, so a test (or a reader's
script) can check the page against the run's files. One short script runs at load: it writes
whether each image decoded (`data-decoded`) and a count on `<body data-images-decoded="ok/all">`.
"""

from __future__ import annotations

import base64
import html
import math
import time

from r1lab.report.analysis import STYLE_LABELS, Num, Sentence, findings, summary_length_shift
from r1lab.report.emergence import EMERGENCE_NOTE, EMERGENCE_TITLE, checks, reflection_kinds
from r1lab.report.load import RunData
from r1lab.verifiers.behaviour import STYLES

KEY_ROWS = [  # (label, summary suffix after base_/final_, format)
    ("strict accuracy (pass@1, the reward's rule)", "accuracy", "pct"),
    ("lenient accuracy (the stated answer)", "lenient_accuracy", "pct"),
    ("pass@k (any of the k samples right, strict)", "pass_at_k", "pct"),
    ("format rate", "format_rate", "pct"),
    ("unparseable (strict)", "unparseable_rate", "pct"),
    ("mean length (tokens)", "mean_length", "tok"),
    *[(f"share: {STYLE_LABELS[k]}", f"style_share_{k}", "pct") for k in STYLES],
    ("reflection rate", "reflection_rate", "pct"),
    ("reflective markers per 1k tokens", "markers_per_1k", "f2"),
    ("aha moments", "aha_moments", "int"),
    ("superficial reflections", "reflections_superficial", "int"),
    ("repeated 4-gram share", "repeat_share", "pct"),
    ("truncated while looping", "looping_rate", "pct"),
    ("chain of thought in the question's language", "language_consistency", "pct"),
]
SHOWN_CHARS = 1500  # of a response in the tables

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1120px;margin:24px auto;
padding:0 16px;color:#222}
h1{font-size:1.6em;margin-bottom:0}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{margin-bottom:.3em}
.sub{color:#666;margin-top:4px}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}th{background:#f6f6f6}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1.2em 0}figure img{max-width:100%}
figcaption{color:#555;font-size:.9em}.warn{background:#fff4e5;border:1px solid #f0b35a;padding:6px 12px}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace}
mark.marker{background:#ffe066}span.claim{text-decoration:underline wavy #d62728;background:#fde0e0}
span.fix{background:#d9f2d9;text-decoration:underline #2ca02c}.ok{color:#1b7e1b}.bad{color:#c0392b}
.example{border:1px solid #ddd;border-radius:4px;padding:8px 12px;margin:.7em 0}.why{color:#555;font-size:.88em}
"""
SCRIPT = """window.addEventListener("load",function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++){var g=im[i].complete&&im[i].naturalWidth>0;
im[i].setAttribute("data-decoded",g?"yes":"no");ok+=g?1:0;}
document.body.setAttribute("data-images-decoded",ok+"/"+im.length);});"""


def render(runs: list[RunData], charts: list[tuple[str, str, str, bytes]], window: int,
           targets: list[dict | None] | None = None) -> str:
    """The whole page. `charts`: (stem, title, caption, PNG bytes)."""
    title = "r1lab report: " + ", ".join(r.name for r in runs)
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>",
             "<link rel=\"icon\" href=\"data:,\">", f"<style>{CSS}</style></head><body>",
             "<h1>What RL did</h1>",
             f"<p class=\"sub\">{_e(', '.join(str(r.path) for r in runs))} · written {time.strftime('%Y-%m-%d %H:%M')}"
             " by <code>r1lab report</code></p>"]
    warnings = [w for r in runs for w in r.warnings]
    if warnings:
        parts.append(f"<div class=\"warn\" data-warnings=\"{len(warnings)}\"><b>Warnings</b><ul>"
                     + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul></div>")
    parts.append("<h2>What changed</h2>")
    for i, run in enumerate(runs):
        if len(runs) > 1:
            parts.append(f"<h3>{_e(run.name)}</h3>")
        parts.append("<ul>" + "".join(f"<li>{sentence_html(s, i)}</li>" for s in findings(run)) + "</ul>")
    parts += [key_table(runs), length_tables(runs), target_tables(runs, targets or []), "<h2>Over training</h2>",
              f"<p class=\"sub\">Lines are a rolling mean over {window} step{'s' if window > 1 else ''}."
              + (" Line style tells the runs apart." if len(runs) > 1 else "") + "</p>"]
    for stem, chart_title, caption, png in charts:
        parts.append(f"<figure><h3>{_e(chart_title)}</h3><img id=\"chart-{stem}\" alt=\"{_e(chart_title)}\" "
                     f"src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">"
                     f"<figcaption>{_e(caption)}</figcaption></figure>")
    parts += [before_after(runs), aha_section(runs), f"<script>{SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def sentence_html(sentence: Sentence, run: int) -> str:
    return "".join(num_html(p, run) if isinstance(p, Num) else _e(p) for p in sentence)


def num_html(n: Num, run: int) -> str:
    raw = "" if n.value is None else repr(float(n.value))
    attr = f"data-key=\"{n.key}\"" if n.key else f"data-derived=\"{n.derived}\"" if n.derived else ""
    return f"<span data-run=\"{run}\" {attr} data-value=\"{raw}\">{_e(n.text())}</span>" if attr else _e(n.text())


# ----- tables ------------------------------------------------------------------------------

def key_table(runs: list[RunData]) -> str:
    done = [(i, r) for i, r in enumerate(runs) if r.summary is not None]
    if not done:
        return "<h2>Key numbers</h2><p>No run has finished (no summary.json): training curves only.</p>"
    head = "".join(f"<th>{_e(r.name) + ': ' if len(runs) > 1 else ''}base</th><th>after RL</th>" for _, r in done)
    rows = []
    for label, suffix, fmt in KEY_ROWS:
        if not any(f"final_{suffix}" in r.summary for _, r in done):
            continue
        cells = "".join(f"<td class=\"n\">{num_html(Num(r.summary.get(f'{p}_{suffix}'), fmt, f'{p}_{suffix}'), i)}</td>"
                        for i, r in done for p in ("base", "final"))
        rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    s = done[0][1].summary
    note = (f"Held-out evaluation: {s.get('eval_problems')} problems × {s.get('eval_samples_per_problem')} samples "
            f"at temperature {s.get('eval_temperature')}, top-p {s.get('eval_top_p')}, the same problems before and "
            "after.")
    return f"<h2>Key numbers</h2><p class=\"sub\">{_e(note)}</p><table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def length_tables(runs: list[RunData]) -> str:
    out = []
    for i, run in enumerate(runs):
        shift = summary_length_shift(run.summary) if run.summary else None
        if shift is None:
            continue
        rows = "".join(
            f"<tr><td>{_e(STYLE_LABELS.get(k, k))}</td>"
            + "".join(f"<td class=\"n\">{num_html(Num(v, fmt, key), i)}</td>" for v, fmt, key in (
                (sb, "pct", f"base_style_share_{k}"), (sf, "pct", f"final_style_share_{k}"),
                (lb, "tok", f"base_length_{k}"), (lf, "tok", f"final_length_{k}"))) + "</tr>"
            for k, (sb, sf, lb, lf) in shift.styles.items())
        total = (f"<p>Length {num_html(Num(shift.total, 'x', derived='length_ratio'), i)} = "
                 f"{num_html(Num(shift.mix, 'x', derived='length_mix'), i)} (switch of style: the final mix at the "
                 f"base's lengths per style) × {num_html(Num(shift.within, 'x', derived='length_within'), i)} "
                 "(within a style, at the final mix).</p>")
        out.append(f"<h3>{_e(run.name)}</h3>" if len(runs) > 1 else "")
        out.append("<table><tr><th>answer style</th><th>share, base</th><th>share, after RL</th><th>length, base</th>"
                   f"<th>length, after RL</th></tr>{rows}</table>{total}")
    return "<h2>Length by answer style</h2>" + "".join(out) if out else ""


def target_tables(runs: list[RunData], targets: list[dict | None]) -> str:
    out = []
    for run, m in zip(runs, targets, strict=False):
        if m is None:
            continue
        rows = "".join(f"<tr data-target=\"{_e(c.name.strip())}\" data-met=\"{str(c.met).lower()}\">"
                       f"<td>{_e(c.name.strip())}</td><td class=\"n\">{c.value:.3f}</td><td>{_e(c.target)}</td>"
                       f"<td>{'yes' if c.met else '<b>no</b>'}</td></tr>" for c in checks(m))
        kinds = " ".join(reflection_kinds(m, name) for name in ("base", "final"))
        out.append((f"<h3>{_e(run.name)}</h3>" if len(runs) > 1 else "")
                   + f"<table><tr><th>target</th><th>value</th><th>wanted</th><th>met</th></tr>{rows}</table>"
                   + f"<p class=\"sub\">{_e(kinds)}</p>")
    return (f"<h2>{_e(EMERGENCE_TITLE)}</h2><p class=\"sub\">{_e(EMERGENCE_NOTE)}</p>" + "".join(out)) if out else ""


# ----- samples -----------------------------------------------------------------------------

def before_after(runs: list[RunData], n: int = 5) -> str:
    out = []
    for run in runs:
        final = {}
        for s in run.samples.get("final", []):
            final.setdefault(s.get("question"), s)
        pairs, seen = [], set()
        for s in run.samples.get("base", []):
            q = s.get("question")
            if q in final and q not in seen:
                seen.add(q)
                pairs.append((s, final[q]))
        if not pairs:
            continue
        rows = "".join(f"<tr><td>{_e(b.get('question', ''))}<br><span class=\"why\">reference: "
                       f"{_e(str(b.get('reference', '')))}</span></td><td>{sample_html(b)}</td>"
                       f"<td>{sample_html(f)}</td></tr>" for b, f in pairs[:n])
        out.append((f"<h3>{_e(run.name)}</h3>" if len(runs) > 1 else "")
                   + f"<table><tr><th>problem</th><th>base</th><th>after RL</th></tr>{rows}</table>")
    if not out:
        return ""
    return ("<h2>Before and after: the same problems</h2><p class=\"sub\">The first evaluation sample of each of the "
            "first problems, before and after RL.</p>" + "".join(out))


def sample_html(s: dict) -> str:
    verdict = {True: "<span class=\"ok\">right</span>", False: "<span class=\"bad\">wrong</span>"}
    tags = [f"strict: {verdict.get(s.get('correct'), 'no answer')}"]
    if "lenient_correct" in s:
        tags.append(f"lenient: {verdict.get(s.get('lenient_correct'), 'no answer')}")
    if "style" in s:
        tags.append(_e(STYLE_LABELS.get(s["style"], s["style"])))
    if "length" in s:
        tags.append(f"{s['length']} tokens")
    return (f"<pre>{highlight(str(s.get('response', '')), s.get('reflections') or [])}</pre>"
            f"<div class=\"why\">{' · '.join(tags)}</div>")


def highlight(text: str, reflections: list[dict]) -> str:
    """The text, escaped, with each reflection's markers, the claim before it (red when false)
    and its correction (green) marked; spans past SHOWN_CHARS are cut with the text."""
    spans = []
    for r in reflections:
        spans += [(s, e, "<mark class=\"marker\">", "</mark>") for s, e in r.get("markers", [])]
        claim, fix = r.get("claim"), r.get("correction")
        if claim and claim.get("stated") != claim.get("true"):
            opening = f"<span class=\"claim\" title=\"true value {_e(claim['true'])}\">"
            spans.append((*claim["span"], opening, "</span>"))
        if fix:
            spans.append((*fix["span"], "<span class=\"fix\">", "</span>"))
    cut = text[:SHOWN_CHARS]
    out, pos = [], 0
    for start, end, open_tag, close_tag in sorted(spans):
        if start < pos or end > len(cut) or start >= end:
            continue  # overlapping or cut off
        out += [_e(cut[pos:start]), open_tag, _e(cut[start:end]), close_tag]
        pos = end
    out.append(_e(cut[pos:]) + ("…" if len(text) > SHOWN_CHARS else ""))
    return "".join(out)


def aha_section(runs: list[RunData], n_aha: int = 6, n_superficial: int = 3) -> str:
    out = ["<h2>Aha moments and superficial reflections</h2><p class=\"sub\">An aha moment: a reflective marker "
           "(<mark class=\"marker\">wait</mark>, check, verify, …) after a checkable claim that is false "
           "(<span class=\"claim\">4+7=12</span>), which a later claim corrects (<span class=\"fix\">4+7=11</span>), "
           "with the final answer right. Superficial: a reflection that confirms a false claim or \"corrects\" a "
           "true one. Counting rules: <code>r1lab/verifiers/aha.py</code>.</p>"]
    for i, run in enumerate(runs):
        examples = _examples(run)
        counts = {k: sum(v for v in run.series(m)[1] if not math.isnan(v))
                  for k, m in (("aha", "aha_moments"), ("superficial", "reflections_superficial"))}
        out.append((f"<h3>{_e(run.name)}</h3>" if len(runs) > 1 else "")
                   + f"<p>In training: {num_html(Num(counts['aha'], 'int', derived='train_aha'), i)} aha moments and "
                   f"{num_html(Num(counts['superficial'], 'int', derived='train_superficial'), i)} superficial "
                   f"reflections counted; {len(run.aha)} responses logged in aha.jsonl.</p>")
        for kind, limit in (("aha", n_aha), ("superficial", n_superficial)):
            chosen = [e for e in examples if e[1] == kind][:limit]
            if not chosen:
                out.append(f"<p>No {'aha moment' if kind == 'aha' else 'superficial reflection'} found.</p>")
            out += [_example_html(where, row) for where, _, row in chosen]
    return "".join(out)


def _examples(run: RunData) -> list[tuple[str, str, dict]]:
    """(where, kind, row): final evaluation first, then training (latest first), then base."""
    found = []
    for phase, label in (("final", "final evaluation"), ("base", "base evaluation")):
        for s in run.samples.get(phase, []):
            kinds = {r.get("kind") for r in s.get("reflections") or []}
            kind = "aha" if "productive" in kinds else "superficial" if "superficial" in kinds else None
            if kind:
                found.append((label, kind, s))
    train = [(f"training step {r.get('step')}", r.get("kind"), r) for r in reversed(run.aha)]
    order = {"final evaluation": 0, "base evaluation": 2}
    return sorted(found + train, key=lambda e: order.get(e[0], 1))


def _example_html(where: str, row: dict) -> str:
    why = "; ".join(f"{r.get('kind')}: {r.get('reason')}" for r in row.get("reflections") or [])
    text = highlight(str(row.get("response", "")), row.get("reflections") or [])
    return (f"<div class=\"example\"><div class=\"why\">{_e(where)} · {_e(str(row.get('question', '')))} · reference "
            f"{_e(str(row.get('reference', '')))}</div><pre>{text}</pre><div class=\"why\">{_e(why)}</div></div>")


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
