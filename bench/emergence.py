"""Measure the emergence issue's "done when" numbers on `r1lab train` run directories.

    python bench/emergence.py RUN_DIR [RUN_DIR ...]              # measure finished runs
    python bench/emergence.py --train [--seed S] [--control] [--recipe FILE] [-- --field value ...]   # train first

Every number comes from the run's own files, through r1lab.verifiers.behaviour (answer style,
strict and lenient grading, reflection markers, aha classification): `metrics.jsonl` and
`samples.jsonl` with its `base` and `final` evaluation rows and the training rows (the recipe
logs every response of every step: `log_samples_every: 1`, `samples_per_log: 0`). Targets:
- lenient held-out accuracy rises by >= 0.3 (strict shown beside it);
- mean length of the last 10 steps >= 1.5x the first 10, and >= 1.3x within the dominant style
  of the last 10 steps (so that a switch of style is not counted as growth);
- after RL, mean length on the hardest fifth of test problems (addition: digits of the longer
  operand; pair search: how many candidate pairs or triples) >= 2x that on the easiest fifth, and above
  the base's ratio;
- share of responses with a reflection >= 3x the base's (final vs base evaluation, and last 10
  vs first 10 training steps); at least half of the reflections after RL productive; >= 20 aha
  moments over the run's training responses; superficial reflections counted;
- language mixing: share of worked responses whose <think> part is not all Latin script (among
  those with a word in it: "<think> 13+11=24. </think>" has none, and is not mixing).
It measures; it is not a test. A control run (`--shuffle-rewards true`) should miss them all.
"""

from __future__ import annotations

import json
import math
import re
import resource
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

from r1lab.verifiers.behaviour import analyse
from r1lab.verifiers.language import cot_consistency

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "emergence.yaml"


def difficulty(question: str, verifier: str = "number") -> tuple[int, str]:
    """Addition: digits of the longer operand; pair search: how many candidate pairs (or triples)
    there are (ties broken by the question text, for a fixed order)."""
    numbers = re.findall(r"\d+", question)
    if verifier == "pairsum":  # candidate pairs or triples: C(numbers listed, 2 or 3)
        return math.comb(len(numbers) - 1, 3 if question.startswith("Which three") else 2), question
    return max((len(n) for n in numbers[:2]), default=0), question


def run_verifier(run: Path) -> str:
    """The verifier the run trained with: its config's, else its task's own."""
    import yaml

    from r1lab.tasks import get_task
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    return cfg.get("verifier") or get_task(cfg["task"]).verifier


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines() if line.strip()]


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
            "neutral": kinds["neutral"], "productive_share": kinds["productive"] / n_refl if n_refl else float("nan"),
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


def train_numbers(run: Path, rows: list[dict], verifier: str) -> dict:
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [m["step"] for m in metrics]
    first, last = set(steps[:10]), set(steps[-10:])
    out = {"length_first10": _mean(m["mean_length"] for m in metrics if m["step"] in first),
           "length_last10": _mean(m["mean_length"] for m in metrics if m["step"] in last)}
    train = _analysed([r for r in rows if r["phase"] == "train"], verifier)
    early = [(r, b) for r, b in train if r["step"] in first]
    late = [(r, b) for r, b in train if r["step"] in last]
    if early and late:
        style = Counter(b.style for _, b in late).most_common(1)[0][0]
        within = lambda pairs: _mean(r["length"] for r, b in pairs if b.style == style)  # noqa: E731
        out.update(dominant_style=style, style_length_first10=within(early), style_length_last10=within(late),
                   first10=reflection_numbers(early), last10=reflection_numbers(late))
    out["aha_moments_in_training"] = sum(b.aha.aha for _, b in train)
    out["training_responses_logged"] = len(train)
    return out


def measure(run: Path) -> dict:
    rows, verifier = _rows(run), run_verifier(run)
    base = eval_numbers(_analysed([r for r in rows if r["phase"] == "base"], verifier), verifier)
    final = eval_numbers(_analysed([r for r in rows if r["phase"] == "final"], verifier), verifier)
    summary = json.loads((run / "summary.json").read_text())
    return {"run": str(run), "base": base, "final": final, "train": train_numbers(run, rows, verifier),
            "wall_seconds": summary.get("wall_seconds")}


def checks(m: dict) -> list[tuple[str, float, str, bool]]:
    b, f, t = m["base"], m["final"], m["train"]
    ratio = lambda a, c: a / c if c else float("inf")  # noqa: E731
    out = [("lenient accuracy gain", f["lenient"] - b["lenient"], ">= 0.30", f["lenient"] - b["lenient"] >= 0.3),
           ("length last10 / first10", ratio(t["length_last10"], t["length_first10"]), ">= 1.50",
            t["length_last10"] >= 1.5 * t["length_first10"])]
    if "dominant_style" in t:
        g = ratio(t["style_length_last10"], t["style_length_first10"])
        out.append((f"  within {t['dominant_style']}", g, ">= 1.30", g >= 1.3))
    out += [("hard/easy length, final", f["hard_easy_ratio"], f">= 2, > {b['hard_easy_ratio']:.2f}",
             f["hard_easy_ratio"] >= 2 and f["hard_easy_ratio"] > b["hard_easy_ratio"]),
            ("reflection share final/base", ratio(f["reflection_share"], b["reflection_share"]), ">= 3.00",
             f["reflection_share"] > 0 and f["reflection_share"] >= 3 * b["reflection_share"])]
    if "last10" in t:
        r = ratio(t["last10"]["reflection_share"], t["first10"]["reflection_share"])
        out.append(("  training last10/first10", r, ">= 3.00", t["last10"]["reflection_share"] > 0 and r >= 3))
        out.append(("productive share, last10", t["last10"]["productive_share"], ">= 0.50",
                    t["last10"]["productive_share"] >= 0.5))
    out += [("productive share, final eval", f["productive_share"], ">= 0.50", f["productive_share"] >= 0.5),
            ("aha moments in training", t["aha_moments_in_training"], ">= 20", t["aha_moments_in_training"] >= 20)]
    if m["wall_seconds"] is not None:
        out.append(("wall seconds", m["wall_seconds"], "<= 600", m["wall_seconds"] <= 600))
    return out


def report(m: dict) -> bool:
    b, f = m["base"], m["final"]
    print(f"\n{m['run']}")
    for name, x in (("base", b), ("final", f)):
        print(f"  {name:5s} strict {x['strict']:.3f} lenient {x['lenient']:.3f} length {x['length']:.1f} "
              f"hard/easy {x['hard_easy_ratio']:.2f} reflections {x['reflection_share']:.3f} "
              f"(productive {x['productive']}, superficial {x['superficial']}, neutral {x['neutral']}) "
              f"mixing {x['mixing']:.3f} styles {x['styles']}")
    ok = True
    for name, value, target, passed in checks(m):
        ok &= passed
        print(f"  {name:32s} {value:9.3f}  target {target:14s} {'ok' if passed else 'MISSED'}")
    return ok


def main(argv: list[str]) -> int:
    if "--train" in argv:
        seed = argv[argv.index("--seed") + 1] if "--seed" in argv else "0"
        control = "--control" in argv
        recipe = argv[argv.index("--recipe") + 1] if "--recipe" in argv else str(RECIPE)
        out = Path(f"runs/{Path(recipe).stem}-seed{seed}{'-control' if control else ''}")
        cmd = [sys.executable, "-m", "r1lab.cli", "train", "--config", recipe, "--seed", seed,
               "--output-dir", str(out)] + (["--shuffle-rewards", "true"] if control else [])
        subprocess.run(cmd + argv[argv.index("--") + 1:] if "--" in argv else cmd, check=True)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"CPU seconds of the training process: {used.ru_utime + used.ru_stime:.0f} "
              "(about its wall time on an idle machine with --threads 1)")
        runs = [out]
    else:
        runs = [Path(a) for a in argv if not a.startswith("--")]
        if not runs:
            print(__doc__)
            return 2
    for r in runs:
        if not (r / "summary.json").is_file():
            print(f"error: {r} has no summary.json: not a finished r1lab train run", file=sys.stderr)
            return 2
    results = [measure(r) for r in runs]
    for r in runs:
        (r / "emergence.json").write_text(json.dumps(results[runs.index(r)], indent=1))
    return 0 if all([report(m) for m in results]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
