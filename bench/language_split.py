"""Split a model's evaluation samples by language: are mixed chains of thought worse?

    python bench/language_split.py runs/r1-tiny/bilingual-base/pipeline_eval_samples.jsonl

Reads the samples `r1lab pipeline` writes for every model (or any JSONL of question / response /
correct / lenient_correct / truncated / length rows) and prints, for responses whose chain of
thought mixes scripts (`cot_consistency` < 1), stays in the question's script, or has no word,
the count, strict and lenient pass@1, the R1-Zero format rate, the truncated share and the mean
length. docs/pipeline.md uses it to say why R1-Zero drops the miniature's second language.
"""

from __future__ import annotations

import json
import sys

from r1lab.verifiers.format import format_reward
from r1lab.verifiers.language import cot_consistency, detect_language


def split(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {"mixed": [], "single-language": [], "no words": []}
    for r in rows:
        c = cot_consistency(r["response"], detect_language(r["question"]))
        groups["no words" if c is None else "mixed" if c < 1 else "single-language"].append(r)
    return groups


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    print("| responses | n | pass@1 strict | lenient | R1-Zero format | truncated | mean length |")
    print("|---|---|---|---|---|---|---|")
    for name, g in split(rows).items():
        n = max(1, len(g))
        strict, lenient, truncated = (sum(bool(r[k]) for r in g) / n
                                      for k in ("correct", "lenient_correct", "truncated"))
        print(f"| {name} | {len(g)} | {strict:.1%} | {lenient:.1%} | "
              f"{sum(format_reward(r['response']) for r in g) / n:.1%} | {truncated:.1%} | "
              f"{sum(r['length'] for r in g) / n:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
