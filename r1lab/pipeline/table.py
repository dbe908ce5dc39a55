"""The pipeline's tables, from pipeline.json: every model on the same held-out problems, then the data.

Columns of the first table (the evaluation of r1lab/pipeline/run.py):
* pass@1 strict (the reward's rule: the answer in `<answer>` tags) and lenient (the stated answer
  wherever it stands), over k samples per problem; pass@k;
* mean length in completion tokens;
* format: R1-Zero's strict `<think>…</think> <answer>…</answer>`, and the readable format
  (`<think>…</think>`, then a summary in words; r1lab/verifiers/format.py);
* language mixing: the share of responses whose chain of thought has any word outside the
  question's language (r1lab/verifiers/language.py);
* repetition: the mean share of repeated 4-grams in a response (r1lab/verifiers/behaviour.py);
* wall time of the stage (training, sampling; the evaluation not included; "(resumed)" when the
  stage was finished by a later invocation, whose time alone is counted);
* against the reference stage (R1-Zero): the difference in strict pass@1, in points, and the
  mixing rate as a share of the reference's.
"""

from __future__ import annotations

from r1lab.pipeline.sample import FILTERS


def markdown(state: dict, reference: str = "") -> str:
    rows = [("base", "base model", state.get("base") or {}, None, False)]
    rows += [(s["name"], _what(s), s["eval"], s["wall_seconds"], s["resumed"])
             for s in state["stages"] if s.get("eval")]
    ref = next((r[2] for r in rows if r[0] == reference), None) if reference else None
    head = ["stage", "what", "pass@1 strict", "pass@1 lenient", "pass@k", "mean length", "R1-Zero format",
            "readable format", "language mixing", "repeated 4-grams", "wall s"]
    if ref is not None:
        head += [f"Δ pass@1 vs {reference} (points)", f"mixing ÷ {reference}'s"]
    lines = [_row(head), "|" + "---|" * len(head)]
    for name, what, e, wall, resumed in rows:
        cells = [name, what, _pct(e.get("accuracy")), _pct(e.get("lenient_accuracy")),
                 _pct(e.get("pass_at_k")), _num(e.get("mean_length"), 1), _pct(e.get("format_rate")),
                 _pct(e.get("readable_rate")), _pct(e.get("language_mixing_rate")), _num(e.get("repeat_share"), 3),
                 "—" if wall is None else f"{wall:.0f}" + (" (resumed)" if resumed else "")]
        if ref is not None:
            cells += [_delta(e.get("accuracy"), ref.get("accuracy")),
                      _ratio(e.get("language_mixing_rate"), ref.get("language_mixing_rate"))]
        lines.append(_row(cells))
    base = state.get("base") or {}
    intro = (f"Every model on the same {base.get('problems', '?')} held-out problems, {base.get('k', '?')} samples "
             "each (temperature and top-p of the R1 protocol, R1-Zero template).")
    verdicts = _verdicts(rows, reference, ref) if ref is not None else []
    return "\n".join([intro, "", *lines, "", *verdicts, *_data_table(state)])


def _verdicts(rows: list, reference: str, ref: dict) -> list[str]:
    """DeepSeek-R1's targets for the last model against the reference (R1-Zero), said plainly:
    language mixing at most half of the reference's, pass@1 no more than 5 points lower."""
    names = [r[0] for r in rows]
    later = rows[names.index(reference) + 1:]
    if not later:
        return []
    name, last = later[-1][0], later[-1][2]
    mix, ref_mix = last.get("language_mixing_rate"), ref.get("language_mixing_rate")
    if mix is None or ref_mix is None:
        said = f"language mixing: not measured for {name} or {reference} (no chain of thought with words)"
    elif ref_mix == 0:
        said = (f"language mixing: {reference} shows none ({_pct(ref_mix)}), so no later stage can lower or halve it: "
                f"the mixing target cannot be tested on this run ({name}: {_pct(mix)})")
    else:
        ok = mix <= ref_mix / 2
        said = (f"language mixing: {name} {_pct(mix)} against {reference}'s {_pct(ref_mix)}, "
                f"{'at most' if ok else 'more than'} half: target {'met' if ok else 'NOT met'}")
    acc, ref_acc = last.get("accuracy"), ref.get("accuracy")
    if acc is None or ref_acc is None:
        return [f"Targets: {said}.", ""]
    ok = 100 * (acc - ref_acc) >= -5
    return [f"Targets: {said}; pass@1 strict: {name} {_delta(acc, ref_acc)} points against {reference}, "
            f"{'within' if ok else 'more than'} 5 points: target {'met' if ok else 'NOT met'}.", ""]


def _what(s: dict) -> str:
    if s["type"] == "base":
        return f"pretraining continued from {s['inputs']['model']}"
    return f"{s['type']} from {s['from']}"


def _data_table(state: dict) -> list[str]:
    head = ["stage", "samples or rows", "kept", *[f"removed: {f}" for f in FILTERS], "wall s"]
    lines = ["The data stages: rejection sampling (removed by the first filter a sample fails, in this order) and "
             "non-reasoning rows; SFT and base stages' examples or steps and final loss.", "", _row(head),
             "|" + "---|" * len(head)]
    for s in state["stages"]:
        m = s["summary"]
        if s["type"] == "sample":
            lines.append(_row([s["name"], str(m["samples"]), str(m["kept"]),
                               *[str(m["removed_by"][f]) for f in FILTERS], f"{s['wall_seconds']:.0f}"]))
        elif s["type"] == "nonreasoning":
            lines.append(_row([s["name"], str(m["rows"]), str(m["rows"]), *["—"] * len(FILTERS),
                               f"{s['wall_seconds']:.0f}"]))
        elif s["type"] == "base":
            lines.append(_row([s["name"], f"{m['steps']} pretraining steps", f"final loss {m['final_loss']:.3f}",
                               *["—"] * len(FILTERS), f"{s['wall_seconds']:.0f}"]))
        elif s["type"] == "sft":
            lines.append(_row([s["name"], f"{m['examples']} examples", f"final loss {m['final_loss']:.3f}",
                               *["—"] * len(FILTERS), f"{s['wall_seconds']:.0f}"]))
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x, digits: int) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _delta(x, ref) -> str:
    return "—" if x is None or ref is None else f"{100 * (x - ref):+.1f}"


def _ratio(x, ref) -> str:
    if x is None or ref is None:
        return "—"
    return "—" if ref == 0 else f"{x / ref:.2f}"
