"""Pair search (task `pairsum`): which two of the listed numbers add up to the target?

"Which two of 7, 3, 12, 4 add up to 16?" Exactly one pair of the listed (distinct) numbers has
the target as its sum, so the answer "12+4" is unique. Checking a candidate pair is one addition
and a comparison; finding the pair in one step means weighing every pair at once. So a small
model that tries a pair, checks it and tries again when it misses can do better than one that
guesses, and more numbers (more pairs) need more tries: the issue-15 setting where thinking can
grow and go where it is needed (docs/emergence.md, design F). `meta["difficulty"]` is how many
candidate pairs there are (3 numbers: 3 pairs; 6 numbers: 15 pairs).

Task `sumsearch` (design G) mixes in triples: "Which three of 6, 2, 9, 4, 7 add up to 19?", with
the reference "[6, 2, 9, 4, 7] -> 19 (3)"; difficulty is then the number of candidate triples.

The reference is written as Countdown's, "[7, 3, 12, 4] -> 16"; the `pairsum` verifier grades both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations
from math import comb

from r1lab.tasks.base import Problem


@dataclass(frozen=True)
class PairSum:
    min_numbers: int = 3
    max_numbers: int = 6
    max_number: int = 15
    max_size: int = 2  # numbers in the answer: 2, or drawn from 2..max_size (task sumsearch: pairs and triples)
    name: str = "pairsum"
    verifier: str = "pairsum"

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        k = rng.randint(2, self.max_size) if self.max_size > 2 else 2  # no draw for pairsum: its stream is F's
        n = rng.randint(max(self.min_numbers, k + 1), self.max_numbers)
        while True:
            nums = rng.sample(range(1, self.max_number + 1), n)
            picked = sorted(rng.sample(range(n), k))
            target = sum(nums[i] for i in picked)
            if sum(sum(c) == target for c in combinations(nums, k)) == 1:
                break
        shown = ", ".join(map(str, nums))
        count = {2: "two", 3: "three"}.get(k, str(k))
        reference = f"[{shown}] -> {target}" + (f" ({k})" if k != 2 else "")
        return f"{shown}>{target}" + (f"/{k}" if k != 2 else ""), Problem(
            f"Which {count} of {shown} add up to {target}?", reference, self.name,
            {"numbers": nums, "target": target, "size": k, "solution": "+".join(str(nums[i]) for i in picked),
             "difficulty": comb(n, k)})


def sum_search() -> PairSum:
    """Task `sumsearch` (design G): pairs from 3-5 numbers and triples from 4-5, numbers 1-9. A
    triple's one-step answer needs every three-number sum at once; a try is still one line."""
    return PairSum(min_numbers=3, max_numbers=5, max_number=9, max_size=3, name="sumsearch")
