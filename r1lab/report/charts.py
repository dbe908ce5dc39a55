"""The report's pictures: matplotlib (Agg backend, no display needed) to PNG bytes.

Every chart overlays all runs: a series keeps its colour across runs (strict accuracy, a style,
a reward component) and each run has its own line style, named in the legend. Per-step values
are noisy (one step is a few dozen responses), so lines are a centred rolling mean over `window`
steps (about a thirtieth of the run; the caption says how many) and the training accuracy also
shows its raw values, faintly. Evaluations are drawn as points at step 0 (base) and at the last
step (final), as in the R1 paper's Figure 2.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402 - after choosing the backend
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from r1lab.report.analysis import STYLE_LABELS  # noqa: E402
from r1lab.report.load import RunData  # noqa: E402
from r1lab.verifiers.behaviour import STYLES  # noqa: E402

RUN_STYLES = ["-", "--", ":", "-."]
STYLE_COLORS = {"answer_only": "#d95f02", "worked_plain": "#1f78b4", "worked_think": "#1b9e77", "other": "#999999"}
COLORS = {"accuracy": "#1f78b4", "lenient_accuracy": "#e7298a", "mean_length": "#222222", "reward": "#222222",
          "reward_accuracy": "#1f78b4", "reward_format": "#1b9e77", "reward_extra": "#7570b3",
          "reward_overlong": "#d95f02", "reward_language": "#e6ab02", "reflection_rate": "#7570b3",
          "markers_per_1k": "#e6ab02",
          "aha_moments": "#1b9e77", "reflections_superficial": "#d95f02", "kl": "#666666", "entropy": "#a6761d",
          "clip_fraction": "#e7298a"}
DPI = 90


def window(runs: list[RunData]) -> int:
    return max(1, round(max(len(r.metrics) for r in runs) / 30))


def rolling(ys: list[float], w: int) -> list[float]:
    """Centred rolling mean over w values, ignoring NaN (NaN where the window holds none)."""
    if w <= 1:
        return ys
    half, sums, counts = w // 2, [0.0], [0]
    for y in ys:
        ok = not math.isnan(y)
        sums.append(sums[-1] + (y if ok else 0.0))
        counts.append(counts[-1] + ok)
    out = []
    for i in range(len(ys)):
        lo, hi = max(0, i - half), min(len(ys), i - half + w)
        c = counts[hi] - counts[lo]
        out.append((sums[hi] - sums[lo]) / c if c else math.nan)
    return out


def weighted_rolling(ys: list[float], weights: list[float], w: int, min_weight: float = 0.02) -> list[float]:
    """Rolling mean of ys weighted by `weights` (a style's length by that style's share, so a step
    with one response of the style counts for little); NaN where the window's mean weight is
    below `min_weight` (a style too rare there to have a length worth drawing)."""
    pairs = [(0.0, 0.0) if math.isnan(y) or math.isnan(v) else (y * v, v) for y, v in zip(ys, weights, strict=True)]
    num, den = rolling([p[0] for p in pairs], w), rolling([p[1] for p in pairs], w)
    return [a / b if b > 0 and b >= min_weight else math.nan for a, b in zip(num, den, strict=True)]


def cumulative(ys: list[float]) -> list[float]:
    total, out = 0.0, []
    for y in ys:
        total += 0.0 if math.isnan(y) else y
        out.append(total)
    return out


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _axes(n: int, height: float = 3.0):
    """A row of n axes with fixed margins (a layout engine would draw every figure twice)."""
    fig = Figure(figsize=(4.4 * n if n > 1 else 8.0, height))
    fig.subplots_adjust(left=0.09 if n == 1 else 0.055, right=0.985, bottom=0.16, top=0.96, wspace=0.3)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, axes


def _legend(ax, runs: list[RunData], series: list[tuple[str, str]], points: tuple[tuple[str, str], ...] = ()) -> None:
    """One entry per series (colour), per kind of point (marker) and, with several runs, per run
    (line style)."""
    handles = [Line2D([], [], color=c, label=label) for label, c in series]
    handles += [Line2D([], [], color="black", marker=m, ls="none", label=label) for label, m in points]
    if len(runs) > 1:
        handles += [Line2D([], [], color="black", ls=RUN_STYLES[i % 4], label=r.name) for i, r in enumerate(runs)]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="best")


def _lines(ax, runs: list[RunData], keys: list[str], w: int, colors: dict[str, str], transform=None) -> list[str]:
    """Draw each key for each run; returns the keys that had data."""
    drawn = []
    for i, run in enumerate(runs):
        for key in keys:
            if not run.has(key):
                continue
            xs, ys = run.series(key)
            ys = transform(ys) if transform else rolling(ys, w)
            ax.plot(xs, ys, color=colors[key], ls=RUN_STYLES[i % 4], lw=1.4)
            drawn.append(key)
    return list(dict.fromkeys(drawn))


def _eval_points(ax, runs: list[RunData], pairs: list[tuple[str, str, str]]) -> None:
    """Base evaluation at step 0, final at the last step: (summary suffix, colour, marker)."""
    for run in runs:
        if run.summary is None:
            continue
        last = int(run.metrics[-1].get("step", len(run.metrics)))
        for suffix, color, marker in pairs:
            for x, prefix in ((0, "base"), (last, "final")):
                v = run.summary.get(f"{prefix}_{suffix}")
                if isinstance(v, (int, float)):
                    ax.plot([x], [v], marker=marker, color=color, ms=7, mec="black", mew=0.6, ls="none")


def accuracy_chart(runs: list[RunData], w: int) -> bytes:
    fig, (ax,) = _axes(1)
    for i, run in enumerate(runs):
        for key in ("accuracy", "lenient_accuracy"):
            if run.has(key):
                xs, ys = run.series(key)
                ax.plot(xs, ys, color=COLORS[key], lw=0.6, alpha=0.25, ls=RUN_STYLES[i % 4])
    drawn = _lines(ax, runs, ["accuracy", "lenient_accuracy"], w, COLORS)
    _eval_points(ax, runs, [("accuracy", COLORS["accuracy"], "o"),
                            ("lenient_accuracy", COLORS["lenient_accuracy"], "^")])
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("accuracy")
    names = {"accuracy": "training accuracy (strict)", "lenient_accuracy": "training accuracy (lenient)"}
    _legend(ax, runs, [(names[k], COLORS[k]) for k in drawn],
            (("evaluation, strict", "o"), ("evaluation, lenient", "^")))
    return _png(fig)


def length_chart(runs: list[RunData], w: int) -> bytes:
    fig, (ax,) = _axes(1)
    colors = {"mean_length": COLORS["mean_length"], **{f"length_{k}": STYLE_COLORS[k] for k in STYLES}}
    drawn = _lines(ax, runs, ["mean_length"], w, colors)
    for i, run in enumerate(runs):
        for k in STYLES:
            if run.has(f"length_{k}"):
                xs, ys = run.series(f"length_{k}")
                ax.plot(xs, weighted_rolling(ys, run.series(f"style_share_{k}")[1], w), color=STYLE_COLORS[k],
                        ls=RUN_STYLES[i % 4], lw=1.1)
                drawn.append(f"length_{k}")
    _eval_points(ax, runs, [("mean_length", COLORS["mean_length"], "o"),
                            *[(f"length_{k}", STYLE_COLORS[k], "s") for k in STYLES]])
    ax.set_ylabel("mean response length (tokens)")
    labels = {"mean_length": "all responses", **{f"length_{k}": STYLE_LABELS[k] for k in STYLES}}
    _legend(ax, runs, [(labels[k], colors[k]) for k in dict.fromkeys(drawn)])
    return _png(fig)


def style_chart(runs: list[RunData], w: int) -> bytes:
    fig, (ax,) = _axes(1)
    colors = {f"style_share_{k}": STYLE_COLORS[k] for k in STYLES}
    drawn = _lines(ax, runs, list(colors), w, colors)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of responses")
    _legend(ax, runs, [(STYLE_LABELS[k.removeprefix("style_share_")], colors[k]) for k in drawn])
    return _png(fig)


def reflection_chart(runs: list[RunData], w: int) -> bytes:
    fig, axes = _axes(3)
    panels = [(["reflection_rate"], "share with a reflective marker", None),
              (["markers_per_1k"], "markers per 1k tokens", None),
              (["aha_moments", "reflections_superficial"], "cumulative count", cumulative)]
    names = {"reflection_rate": "reflection rate", "markers_per_1k": "markers / 1k tokens",
             "aha_moments": "aha moments", "reflections_superficial": "superficial reflections"}
    for ax, (keys, ylabel, transform) in zip(axes, panels, strict=True):
        drawn = _lines(ax, runs, keys, w, COLORS, transform)
        ax.set_ylabel(ylabel)
        _legend(ax, runs, [(names[k], COLORS[k]) for k in drawn])
    return _png(fig)


def reward_chart(runs: list[RunData], w: int) -> bytes:
    fig, axes = _axes(3)
    keys = ["reward", "reward_accuracy", "reward_format", "reward_language", "reward_extra", "reward_overlong"]
    names = {"reward": "total reward", "reward_accuracy": "accuracy term", "reward_format": "format term",
             "reward_language": "language term", "reward_extra": "extra (--reward-fn)",
             "reward_overlong": "overlong penalty",
             "kl": "KL to the reference", "entropy": "entropy (nats/token)"}
    for ax, panel, ylabel in zip(axes, (keys, ["kl"], ["entropy"]), ("mean reward", "KL", "entropy"), strict=True):
        drawn = _lines(ax, runs, panel, w, COLORS)
        ax.set_ylabel(ylabel)
        _legend(ax, runs, [(names[k], COLORS[k]) for k in drawn])
    return _png(fig)


CHARTS = [  # (file stem, title, caption, function)
    ("accuracy", "Accuracy against step",
     "Training accuracy by the reward's strict rule and by the stated answer (lenient), with the held-out "
     "evaluations at step 0 (base) and at the last step (final), as in the R1 paper's Figure 2.", accuracy_chart),
    ("length", "Response length against step",
     "Mean completion tokens over all of each step's responses (black) and within each answer style (the R1 "
     "paper's Figure 3, split by style; weighted by the style's share, and left out where the style is under 2% "
     "of responses), with the evaluations' mean lengths as points (squares: per style).", length_chart),
    ("styles", "Answer styles", "Share of each step's responses in each answer style.", style_chart),
    ("reflection", "Reflection",
     "Share of responses with a reflective marker, markers per 1,000 tokens, and the running count of aha "
     "moments and superficial reflections in the training rollouts.", reflection_chart),
    ("reward", "Reward, KL and entropy",
     "Mean reward and its components (they sum to the total), the KL estimate to the reference model and the "
     "policy's entropy.", reward_chart),
]
