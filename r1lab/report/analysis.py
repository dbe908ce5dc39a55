"""What the report says in words: the numbers it computes from a run, and the generated summary.

**Length decomposition** (`length_shift`), a shift-share decomposition between the base and the
final evaluation. With s(k) the share of responses in answer style k and L(k) their mean length,
the mean length is L = Σ_k s(k) L(k), and its growth factor splits exactly into two factors:

    L_final / L_base = mix × within
    mix    = Σ_k s_final(k) L_base(k) / Σ_k s_base(k) L_base(k)     the switch of style, at the base's lengths
    within = Σ_k s_final(k) L_final(k) / Σ_k s_final(k) L_base(k)   lengths within each style, at the final mix

A style the base never produced has no base length: its final length stands in for it, so its
whole contribution counts as a switch of style (within-style change 1 for it). The split is the
standard one with the mix effect evaluated first; evaluated in the other order (mix at the final
lengths) the factors differ when styles and lengths both change, which is why the report names
the order it uses.

**Accuracy decomposition**: the strict gain (final - base accuracy by the reward's rule) is the
lenient gain (answers stated right, wherever they stand) plus the change in the gap between
strict and lenient (answers right but not in the reward's format, or right in the format but
stated differently elsewhere).

`findings` turns one run's summary and metrics into sentences; every number in them is a `Num`
that carries the summary.json key it shows (or the name of a derived quantity), so the HTML can
mark it for checking and the markdown prints it plainly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from r1lab.report.load import RunData
from r1lab.verifiers.behaviour import STYLES

STYLE_LABELS = {"answer_only": "answer only", "worked_plain": "worked, no tags", "worked_think": "worked in <think>",
                "other": "other"}
FORMATS = {"pct": "{:.1%}", "x": "{:.2f}×", "tok": "{:.1f}", "int": "{:.0f}", "f2": "{:.2f}", "pts": "{:+.1f}"}


class Num(NamedTuple):
    value: float | None
    fmt: str  # a key of FORMATS
    key: str = ""  # the summary.json key shown, or "" for a derived number
    derived: str = ""  # the derived quantity's name (length_ratio, length_mix, ...), for checking

    def text(self) -> str:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return "n/a"
        return FORMATS[self.fmt].format(self.value * 100 if self.fmt == "pts" else self.value)


Sentence = list  # of str and Num, in reading order


class LengthShift(NamedTuple):
    base: float  # mean length at base, Σ s_base L_base
    final: float
    total: float  # final / base
    mix: float  # the switch of style (see the module header)
    within: float  # lengths within a style
    # style -> (share at base, share at final, length at base, length at final)
    styles: dict[str, tuple[float, float, float | None, float | None]]


def length_shift(shares_base: dict[str, float], lengths_base: dict[str, float | None],
                 shares_final: dict[str, float], lengths_final: dict[str, float | None]) -> LengthShift | None:
    """The shift-share decomposition of the module header; None when a mean length is 0 or unknown."""
    styles = [k for k in dict.fromkeys([*shares_base, *shares_final])
              if shares_base.get(k, 0.0) > 0 or shares_final.get(k, 0.0) > 0]
    sb = {k: shares_base.get(k, 0.0) for k in styles}
    sf = {k: shares_final.get(k, 0.0) for k in styles}
    if any(sb[k] > 0 and lengths_base.get(k) is None or sf[k] > 0 and lengths_final.get(k) is None for k in styles):
        return None
    lf = {k: lengths_final.get(k) or 0.0 for k in styles}
    lb = {k: lengths_base[k] if sb[k] > 0 else lf[k] for k in styles}  # a new style: its own final length
    base = sum(sb[k] * lb[k] for k in styles)
    final = sum(sf[k] * lf[k] for k in styles)
    at_base_lengths = sum(sf[k] * lb[k] for k in styles)
    if base <= 0 or at_base_lengths <= 0:
        return None
    return LengthShift(base, final, final / base, at_base_lengths / base, final / at_base_lengths,
                       {k: (sb[k], sf[k], lengths_base.get(k), lengths_final.get(k)) for k in styles})


def summary_length_shift(summary: dict) -> LengthShift | None:
    """`length_shift` from summary.json's evaluation keys (base_/final_style_share_*, base_/final_length_*)."""
    def get(prefix: str, what: str) -> dict:
        return {k: summary.get(f"{prefix}_{what}_{k}") for k in STYLES if f"{prefix}_{what}_{k}" in summary}
    sb, sf = get("base", "style_share"), get("final", "style_share")
    if not sb or not sf:
        return None
    return length_shift(sb, get("base", "length"), sf, get("final", "length"))


def dominant_style(summary: dict, prefix: str) -> str | None:
    shares = {k: summary.get(f"{prefix}_style_share_{k}") or 0.0 for k in STYLES}
    best = max(shares, key=shares.get)
    return best if shares[best] > 0 else None


def window_mean(run: RunData, key: str, first: bool, n: int = 10) -> float | None:
    """Mean of a metric over the first (or last) n steps that have it."""
    values = [v for v in run.series(key)[1] if not math.isnan(v)]
    values = values[:n] if first else values[-n:]
    return sum(values) / len(values) if values else None


# ----- the generated summary ---------------------------------------------------------------

def findings(run: RunData) -> list[Sentence]:
    out = []
    s = run.summary
    if s is not None:
        out += [x for x in (_accuracy(s), _length(s), _style(s), _reflection(s, run), _looping(s)) if x]
    out.append(_training(run))
    return out


def _n(s: dict, key: str, fmt: str) -> Num:
    return Num(s.get(key), fmt, key)


def _accuracy(s: dict) -> Sentence:
    sent = ["Held-out accuracy went from ", _n(s, "base_accuracy", "pct"), " to ", _n(s, "final_accuracy", "pct"),
            " by the reward's strict rule"]
    if "base_lenient_accuracy" not in s:
        return sent + ["."]
    sent += [", and from ", _n(s, "base_lenient_accuracy", "pct"), " to ", _n(s, "final_lenient_accuracy", "pct"),
             " by the answer each response states wherever it stands (lenient)."]
    strict_gain = s["final_accuracy"] - s["base_accuracy"]
    lenient_gain = s["final_lenient_accuracy"] - s["base_lenient_accuracy"]
    return sent + [" Of the strict gain of ", Num(strict_gain, "pts", derived="strict_gain"), " points, ",
                   Num(lenient_gain, "pts", derived="lenient_gain"), " are answers that became right and ",
                   Num(strict_gain - lenient_gain, "pts", derived="format_gain"),
                   " the gap between the two rules closing (answers already right but outside the reward's format)."]


def _length(s: dict) -> Sentence:
    base, final = s.get("base_mean_length"), s.get("final_mean_length")
    if not base or final is None:
        return []
    verb = "grew" if final >= base else "shrank"
    sent = [f"Mean response length {verb} ", Num(final / base, "x", derived="length_ratio"), " (",
            _n(s, "base_mean_length", "tok"), " → ", _n(s, "final_mean_length", "tok"), " tokens)"]
    shift = summary_length_shift(s)
    if shift is None:
        return sent + ["."]
    sent += [": ", Num(shift.mix, "x", derived="length_mix"), " from the switch of answer style (the final mix of "
             "styles at the base's lengths per style) and ", Num(shift.within, "x", derived="length_within"),
             " from lengths within a style (at the final mix)."]
    moved = [k for k, (sb, sf, lb, lf) in shift.styles.items() if sb > 0 and sf > 0 and lb and lf]
    for k in sorted(moved, key=lambda k: -shift.styles[k][1])[:2]:
        sent += [f" Within {STYLE_LABELS[k]}: ", _n(s, f"base_length_{k}", "tok"), " → ",
                 _n(s, f"final_length_{k}", "tok"), " tokens."]
    return sent


def _style(s: dict) -> Sentence:
    b, f = dominant_style(s, "base"), dominant_style(s, "final")
    if b is None or f is None:
        return []
    sent = ["Dominant answer style: ", STYLE_LABELS[b], " (", _n(s, f"base_style_share_{b}", "pct"), ") at base, ",
            STYLE_LABELS[f], " (", _n(s, f"final_style_share_{f}", "pct"), ") after RL."]
    if f != b and (s.get(f"base_style_share_{f}") or 0) > 0:
        sent += [" The base already answered in that style in ", _n(s, f"base_style_share_{f}", "pct"),
                 " of its samples, with strict accuracy ", _n(s, f"base_style_accuracy_{f}", "pct"),
                 ": RL selected a behaviour the base had."]
    elif f != b:
        sent += [" The base never answered in that style: RL found it."]
    return sent


def _reflection(s: dict, run: RunData) -> Sentence:
    if "base_reflection_rate" not in s:
        return []
    train = {k: sum(v for v in run.series(k)[1] if not math.isnan(v))
             for k in ("aha_moments", "reflections_superficial")}
    logged = sum(r.get("kind") == "aha" for r in run.aha)
    return ["Responses with a reflective marker: ", _n(s, "base_reflection_rate", "pct"), " → ",
            _n(s, "final_reflection_rate", "pct"), " (markers per 1k tokens ", _n(s, "base_markers_per_1k", "f2"),
            " → ", _n(s, "final_markers_per_1k", "f2"), "). Aha moments (a false claim corrected after a marker, "
            "final answer right): ", _n(s, "base_aha_moments", "int"), " in the base evaluation, ",
            _n(s, "final_aha_moments", "int"), " in the final one, ",
            Num(train["aha_moments"], "int", derived="train_aha"),
            f" during training ({logged} logged). Superficial reflections (confirming a false claim, or \"correcting\" "
            "a true one): ", _n(s, "base_reflections_superficial", "int"), " → ",
            _n(s, "final_reflections_superficial", "int"), ", and ",
            Num(train["reflections_superficial"], "int", derived="train_superficial"), " during training."]


def _looping(s: dict) -> Sentence:
    if not (s.get("base_looping_rate") or s.get("final_looping_rate")):
        return []
    return ["Responses truncated while looping: ", _n(s, "base_looping_rate", "pct"), " → ",
            _n(s, "final_looping_rate", "pct"), "."]


def _training(run: RunData) -> Sentence:
    n = min(10, max(1, len(run.metrics) // 2))
    sent = [f"During training (first {n} steps → last {n}): strict accuracy ",
            Num(window_mean(run, "accuracy", True, n), "pct"), " → ",
            Num(window_mean(run, "accuracy", False, n), "pct")]
    if run.has("lenient_accuracy"):
        sent += [", lenient ", Num(window_mean(run, "lenient_accuracy", True, n), "pct"), " → ",
                 Num(window_mean(run, "lenient_accuracy", False, n), "pct")]
    sent += [", mean length ", Num(window_mean(run, "mean_length", True, n), "tok"), " → ",
             Num(window_mean(run, "mean_length", False, n), "tok"), " tokens"]
    if run.has("entropy"):
        sent += [", entropy ", Num(window_mean(run, "entropy", True, n), "f2"), " → ",
                 Num(window_mean(run, "entropy", False, n), "f2")]
    if run.summary is None:
        sent += ["; the run has no summary.json yet (unfinished), so there are no evaluations to compare"]
    return sent + ["."]
