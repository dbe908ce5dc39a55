"""Does a base search, and does its search pay? Pair search, design F of issue 15 (docs/emergence.md).

    python bench/search_probe.py MODEL_DIR [--problems 128] [--samples 8] [--seed 1]
    python bench/search_probe.py RUN_DIR --run [--every 10]     # the same numbers over an `r1lab train` run

A try, in the corpus's form, is "7+3=16? 7+3=10, not 16, try again." or "12+4=16? 12+4=16, yes.": a
pair guessed as the answer, its sum, and a verdict. For a base, `problems` held-out `pairsum`
problems are sampled `samples` times at T=1.0 under the R1-Zero template (as `r1lab train` does at
step 0, through `r1lab.eval.protocol.evaluate`); for a run, its logged training responses are read
in blocks of `every` steps. Per difficulty (candidate pairs or triples), or per block:
- lenient accuracy of responses that search (at least one try) against those that do not;
- the share that search, tries per searching response, and the share of searches that end on a
  "yes" (the rest give up, or run out of tokens);
- how often a try's sum is right, and how often its verdict agrees with its own sum against the
  target: P(yes) when the sum written hits the target against P(yes) when it misses (a verdict the
  model does not compute sits at one base rate for both).
- how often a try repeats a pair (or triple) already tried in the same response, and how often a
  try's pair comes later in the list's order than the try before it (1.0 for a search in the list's
  order, design H3; about 0.5 for a random order).

It measures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TRY = re.compile(r"(\d+(?:\+\d+)+)=(\d+)\?\s*(\d+(?:\+\d+)+)=(\d+),\s*(?:off by (\d+),\s*)?(yes|not\s+(\d+))")


def tries(text: str) -> list[dict]:
    """Every try in `text` (a pair or a triple): its sum written, whether the verdict is "yes", and
    whether that verdict is the right one for the sum written (and for the true sum)."""
    out, seen = [], set()
    for m in TRY.finditer(text):
        true, target, shown = sum(int(t) for t in m[3].split("+")), int(m[2]), int(m[4])
        yes, terms = m[6] == "yes", tuple(sorted(int(t) for t in m[1].split("+")))
        out.append({"sum_right": shown == true, "yes": yes, "sum_hits": shown == target,
                    "verdict_follows_sum": yes == (shown == target), "verdict_true": yes == (true == target),
                    "repeat": terms in seen, "terms": [int(t) for t in m[1].split("+")]})
        seen.add(terms)
    return out


def in_order(ts: list[dict], numbers: list[int]) -> list[bool]:
    """For each try after the first: does its pair come later in the list's order than the one before?"""
    pos = {n: i for i, n in enumerate(numbers)}
    keys = [tuple(sorted(pos.get(t, -1) for t in x["terms"])) for x in ts]
    return [b > a for a, b in zip(keys, keys[1:], strict=False)]


def _mean(xs) -> float:
    xs = list(xs)
    return round(statistics.fmean(xs), 3) if xs else float("nan")


def table(rows: list[tuple[object, str, float, list[int]]]) -> dict:
    """rows: (group, own-part text, lenient score, the listed numbers) -> the numbers per group."""
    by, order = defaultdict(list), defaultdict(list)
    for group, text, score, numbers in rows:
        by[group].append((tries(text), score))
        order[group] += in_order(by[group][-1][0], numbers)
    out = {}
    for group, items in sorted(by.items()):
        search = [(t, s) for t, s in items if t]
        flat = [x for t, _ in search for x in t]
        out[group] = {"responses": len(items), "lenient": _mean(s for _, s in items),
                      "search_share": _mean(bool(t) for t, _ in items),
                      "lenient_search": [len(search), _mean(s for _, s in search)],
                      "lenient_no_search": [len(items) - len(search), _mean(s for t, s in items if not t)],
                      "tries_per_search": _mean(len(t) for t, _ in search),
                      "search_ends_yes": _mean(t[-1]["yes"] for t, _ in search),
                      "sum_right": _mean(x["sum_right"] for x in flat),
                      "repeated_tries": _mean(x["repeat"] for x in flat), "next_in_order": _mean(order[group]),
                      "verdict_follows_sum": _mean(x["verdict_follows_sum"] for x in flat),
                      "yes_when_sum_hits": [sum(x["sum_hits"] for x in flat),
                                            _mean(x["yes"] for x in flat if x["sum_hits"])],
                      "yes_when_sum_misses": [sum(not x["sum_hits"] for x in flat),
                                              _mean(x["yes"] for x in flat if not x["sum_hits"])]}
    return out


def probe_model(path: str, n: int, k: int, seed: int, max_new: int, task: str = "pairsum") -> dict:
    from r1lab.eval.protocol import evaluate
    from r1lab.models.io import load
    from r1lab.tasks import get_task, take
    from r1lab.verifiers.behaviour import analyse, own_part
    from r1lab.verifiers.pairsum import parse_reference
    model, tok = load(path)
    probs = take(get_task(task), "test", n, seed=seed)
    res = evaluate(model, tok, probs, "pairsum", k=k, temperature=1.0, top_p=1.0, max_new_tokens=max_new,
                   seed=seed)
    level = {p.question: p.meta["difficulty"] for p in probs}
    rows = [(level[s["question"]], own_part(s["response"]),
             analyse(s["response"], s["reference"], "pairsum").lenient.score, parse_reference(s["reference"])[0])
            for s in res.samples]
    return {"strict": round(res.accuracy, 3), "lenient": round(res.lenient_accuracy, 3),
            "length": round(res.mean_length, 1), "by_difficulty": table(rows),
            "all": table([(0, t, s, n) for _, t, s, n in rows])}


def probe_run(run: Path, every: int) -> dict:
    from r1lab.verifiers.behaviour import analyse, own_part
    from r1lab.verifiers.pairsum import parse_reference
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines() if x.strip()]
    train = [(((r["step"] - 1) // every) * every + 1, own_part(r["response"]),
              analyse(r["response"], r["reference"], "pairsum").lenient.score, parse_reference(r["reference"])[0])
             for r in rows if r["phase"] == "train"]
    return {"by_steps": table(train)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--problems", type=int, default=128)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-new", type=int, default=320)
    ap.add_argument("--task", default="pairsum", help="pairsum | sumsearch (pairs and triples)")
    a = ap.parse_args()
    from r1lab.errors import UserError
    if a.run and not (Path(a.path) / "samples.jsonl").is_file():
        sys.exit(f"error: {a.path} has no samples.jsonl: not an r1lab train run")
    try:
        out = probe_run(Path(a.path), a.every) if a.run else probe_model(a.path, a.problems, a.samples, a.seed,
                                                                         a.max_new, a.task)
    except UserError as e:
        sys.exit(f"error: {e}")
    for key, value in out.items():
        if isinstance(value, dict):
            print(key)
            for group, numbers in value.items():
                print(f"  {group}: {json.dumps(numbers)}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
