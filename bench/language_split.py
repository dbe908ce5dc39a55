"""Split a model's responses by language: are mixed chains of thought worse?

    python bench/language_split.py runs/r1-tiny/bilingual-base/pipeline_eval_samples.jsonl
    python bench/language_split.py runs/r1-tiny/r1-zero/samples.jsonl --every 10

The first form reads the samples `r1lab pipeline` writes for every model's evaluation (question /
response / correct / lenient_correct / truncated / length rows) and prints, for responses whose
chain of thought mixes scripts (`cot_consistency` < 1), stays in the question's script, or has no
word, the count, strict and lenient pass@1, the R1-Zero format rate, the truncated share and the
mean length. The second reads a training run's logged rollouts (`phase: train` rows; log them all
with `log_samples_every 1`, `samples_per_log 0`) and prints the same split for every block of
`--every` steps: whether RL's reward favours the mixed or the single-language responses, and so
whether it keeps or removes the mixing. docs/pipeline.md uses both.
"""

from __future__ import annotations

import argparse
import json

from r1lab.verifiers.format import format_reward
from r1lab.verifiers.language import cot_consistency, detect_language

GROUPS = ("mixed", "single-language", "no words")


def split(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {g: [] for g in GROUPS}
    for r in rows:
        c = cot_consistency(r["response"], detect_language(r["question"]))
        groups["no words" if c is None else "mixed" if c < 1 else "single-language"].append(r)
    return groups


def _evaluation(rows: list[dict]) -> None:
    print("| responses | n | pass@1 strict | lenient | R1-Zero format | truncated | mean length |")
    print("|---|---|---|---|---|---|---|")
    for name, g in split(rows).items():
        n = max(1, len(g))
        strict, lenient, truncated = (sum(bool(r[k]) for r in g) / n
                                      for k in ("correct", "lenient_correct", "truncated"))
        print(f"| {name} | {len(g)} | {strict:.1%} | {lenient:.1%} | "
              f"{sum(format_reward(r['response']) for r in g) / n:.1%} | {truncated:.1%} | "
              f"{sum(r['length'] for r in g) / n:.1f} |")


def _training(rows: list[dict], every: int) -> None:
    blocks: dict[int, list[dict]] = {}
    for r in rows:
        blocks.setdefault((r["step"] - 1) // every, []).append(r)
    print("| steps | mixed share | " + " | ".join(f"{g}: accuracy, format, length" for g in GROUPS[:2]) + " |")
    print("|---|---|---|---|")
    for b in sorted(blocks):
        groups = split(blocks[b])
        worded = len(groups["mixed"]) + len(groups["single-language"])
        cells = []
        for g in GROUPS[:2]:
            xs, n = groups[g], max(1, len(groups[g]))
            cells.append(f"{sum(x['accuracy'] for x in xs) / n:.2f}, {sum(x['format'] for x in xs) / n:.2f}, "
                         f"{sum(x['length'] for x in xs) / n:.0f} (n {len(xs)})")
        print(f"| {b * every + 1}-{b * every + every} | {len(groups['mixed']) / max(1, worded):.0%} | "
              + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", help="pipeline_eval_samples.jsonl, or a run's samples.jsonl with --every")
    ap.add_argument("--every", type=int, default=0, help="training rollouts in blocks of this many steps")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in open(args.samples, encoding="utf-8") if line.strip()]
    if args.every:
        _training([r for r in rows if r.get("phase") == "train"], args.every)
    else:
        _evaluation(rows)


if __name__ == "__main__":
    main()
