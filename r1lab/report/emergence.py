"""The emergence targets (issue 15, docs/emergence.md) of one `r1lab train` run, from its own files.

Every number comes from the run's `metrics.jsonl` and `samples.jsonl` (its `base` and `final`
evaluation rows, and the training rows when the run logged them: `log_samples_every: 1`,
`samples_per_log: 0`), through r1lab.verifiers.behaviour (answer style, strict and lenient grading,
reflection markers, aha classification). The targets:
- lenient held-out accuracy rises by >= 0.3 (strict shown beside it);
- mean length of the last 10 steps >= 1.5x the first 10, and >= 1.3x within the dominant style
  of the last 10 steps (so that a switch of style is not counted as growth);
- after RL, mean length on the hardest fifth of test problems (addition: digits of the longer
  operand; pair search: how many candidate pairs or triples) >= 2x that on the easiest fifth, and
  above the base's ratio;
- share of responses with a reflection >= 3x the base's (final vs base evaluation, and last 10
  vs first 10 training steps); at least half of the reflections after RL productive; >= 20 aha
  moments over the run's training responses; superficial reflections counted;
- language mixing: share of worked responses whose <think> part is not all Latin script (among
  those with a word in it: "<think> 13+11=24. </think>" has none, and is not mixing).
A shuffled-reward control (`--shuffle-rewards true`) should miss them; read every target beside it.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from typing import NamedTuple

from r1lab.report.load import RunData
from r1lab.verifiers.behaviour import analyse
from r1lab.verifiers.language import cot_consistency

EMERGENCE_TITLE = "The R1-Zero dynamics against issue 15's targets"
EMERGENCE_NOTE = ("Read beside a shuffled-reward control (--shuffle-rewards true): some targets (aha moments, "
                  "hard/easy length) can pass by chance. Definitions: docs/emergence.md.")


class Check(NamedTuple):
    name: str
    value: float
    target: str
    met: bool


def difficulty(question: str, verifier: str = "number") -> tuple[int, str]:
    """Addition: digits of the longer operand; pair search: how many candidate pairs (or triples)
    there are (ties broken by the question text, for a fixed order). Read from the question, since
    samples.jsonl keeps no task meta."""
    numbers = re.findall(r"\d+", question)
    if verifier == "pairsum":  # candidate pairs or triples: C(numbers listed, 2 or 3)
        return math.comb(len(numbers) - 1, 3 if question.startswith("Which three") else 2), question
    return max((len(n) for n in numbers[:2]), default=0), question


def run_verifier(run: RunData) -> str:
    """The verifier the run trained with: its config's, else its task's own."""
    from r1lab.tasks import get_task
    return run.config.get("verifier") or get_task(run.config.get("task", "arithmetic")).verifier


def _mean(xs) -> float:
    xs = list(xs)
    return statistics.fmean(xs) if xs else float("nan")


def _analysed(rows: list[dict], verifier: str) -> list[tuple[dict, object]]:
    return [(r, analyse(r["response"], r["reference"], verifier)) for r in rows]


def reflection_numbers(pairs) -> dict:
    kinds = Counter(x.kind for _, b in pairs for x in b.aha.reflections)
    n_refl = sum(kinds.values())
    return {"reflection_share": _mean(b.has_reflection for _, b in pairs),
            "reflections": n_refl, "productive": kinds["productive"], "superficial": kinds["superficial"],
            "neutral": kinds["neutral"], "productive_share": kinds["productive"] / n_refl if n_refl else math.nan,
            "aha_responses": sum(b.aha.aha for _, b in pairs)}


def eval_numbers(pairs, verifier: str) -> dict:
    questions = sorted({r["question"] for r, _ in pairs}, key=lambda q: difficulty(q, verifier))
    fifth = max(1, len(questions) // 5)
    easy, hard = set(questions[:fifth]), set(questions[-fifth:])
    length = lambda keep: _mean(r["length"] for r, _ in pairs if r["question"] in keep)  # noqa: E731
    worked = [(r, b) for r, b in pairs if b.style in ("worked_think", "worked_plain")]
    styles = Counter(b.style for _, b in pairs)
    return {"strict": _mean(b.strict.score for _, b in pairs), "lenient": _mean(b.lenient.score for _, b in pairs),
            "length": _mean(r["length"] for r, _ in pairs), "hard_easy_ratio": length(hard) / length(easy),
            "styles": {k: round(v / len(pairs), 3) for k, v in styles.most_common()},
            "mixing": _mean(c < 1 for c in (cot_consistency(r["response"], "Latin") for r, _ in worked)
                            if c is not None),
            **reflection_numbers(pairs)}


def train_numbers(run: RunData, verifier: str) -> dict:
    steps = [m["step"] for m in run.metrics]
    first, last = set(steps[:10]), set(steps[-10:])
    lengths = {m["step"]: m.get("mean_length") for m in run.metrics}
    out = {"length_first10": _mean(lengths[s] for s in first if lengths[s] is not None),
           "length_last10": _mean(lengths[s] for s in last if lengths[s] is not None)}
    train = _analysed(run.samples.get("train", []), verifier)
    early = [(r, b) for r, b in train if r.get("step") in first]
    late = [(r, b) for r, b in train if r.get("step") in last]
    if early and late:
        style = Counter(b.style for _, b in late).most_common(1)[0][0]
        within = lambda pairs: _mean(r["length"] for r, b in pairs if b.style == style)  # noqa: E731
        out.update(dominant_style=style, style_length_first10=within(early), style_length_last10=within(late),
                   first10=reflection_numbers(early), last10=reflection_numbers(late))
    out["aha_moments_in_training"] = sum(b.aha.aha for _, b in train)
    out["training_responses_logged"] = len(train)
    return out


def measure(run: RunData) -> dict | None:
    """The numbers behind the targets; None for a run without both evaluations (unfinished)."""
    if run.summary is None or not run.samples.get("base") or not run.samples.get("final"):
        return None
    verifier = run_verifier(run)
    return {"run": str(run.path),
            "base": eval_numbers(_analysed(run.samples["base"], verifier), verifier),
            "final": eval_numbers(_analysed(run.samples["final"], verifier), verifier),
            "train": train_numbers(run, verifier), "wall_seconds": run.summary.get("wall_seconds")}


def checks(m: dict) -> list[Check]:
    b, f, t = m["base"], m["final"], m["train"]
    ratio = lambda a, c: a / c if c else math.inf  # noqa: E731
    out = [Check("lenient accuracy gain", f["lenient"] - b["lenient"], ">= 0.30", f["lenient"] - b["lenient"] >= 0.3),
           Check("length last10 / first10", ratio(t["length_last10"], t["length_first10"]), ">= 1.50",
                 t["length_last10"] >= 1.5 * t["length_first10"])]
    if "dominant_style" in t:
        g = ratio(t["style_length_last10"], t["style_length_first10"])
        out.append(Check(f"  within {t['dominant_style']}", g, ">= 1.30", g >= 1.3))
    out += [Check("hard/easy length, final", f["hard_easy_ratio"], f">= 2, > {b['hard_easy_ratio']:.2f}",
                  f["hard_easy_ratio"] >= 2 and f["hard_easy_ratio"] > b["hard_easy_ratio"]),
            Check("reflection share final/base", ratio(f["reflection_share"], b["reflection_share"]), ">= 3.00",
                  f["reflection_share"] > 0 and f["reflection_share"] >= 3 * b["reflection_share"])]
    if "last10" in t:
        r = ratio(t["last10"]["reflection_share"], t["first10"]["reflection_share"])
        out.append(Check("  training last10/first10", r, ">= 3.00", t["last10"]["reflection_share"] > 0 and r >= 3))
        out.append(Check("productive share, last10", t["last10"]["productive_share"], ">= 0.50",
                         t["last10"]["productive_share"] >= 0.5))
    out += [Check("productive share, final eval", f["productive_share"], ">= 0.50", f["productive_share"] >= 0.5),
            Check("aha moments in training", t["aha_moments_in_training"], ">= 20", t["aha_moments_in_training"] >= 20)]
    if m["wall_seconds"] is not None:
        out.append(Check("wall seconds", m["wall_seconds"], "<= 600", m["wall_seconds"] <= 600))
    return out


def reflection_kinds(m: dict, phase: str) -> str:
    """"final: 12 reflections (productive 5, superficial 1, neutral 6)." for phase base or final."""
    x = m[phase]
    return (f"{phase}: {x['reflections']} reflections (productive {x['productive']}, superficial "
            f"{x['superficial']}, neutral {x['neutral']}).")


def emergence_lines(m: dict) -> list[str]:
    """The targets as a Markdown table, with the reflections' kinds under it."""
    lines = ["| target | value | wanted | met |", "|---|---|---|---|"]
    lines += [f"| {c.name.strip()} | {c.value:.3f} | {c.target} | {'yes' if c.met else 'no'} |" for c in checks(m)]
    lines += [f"\n{reflection_kinds(m, name)[:-1]}, hard/easy length {m[name]['hard_easy_ratio']:.2f}."
              for name in ("base", "final")]
    if m["train"].get("training_responses_logged", 0) == 0:
        lines.append("\nThe run logged no training responses (log_samples_every), so the targets within a style "
                     "and over training are not measured.")
    return lines
