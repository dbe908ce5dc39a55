"""Pair search (task `pairsum`): which two of the listed numbers add up to the target?

"Which two of 7, 3, 12, 4 add up to 16?" Exactly one pair of the listed (distinct) numbers has
the target as its sum, so the answer "12+4" is unique. Checking a candidate pair is one addition
and a comparison; finding the pair in one step means weighing every pair at once. So a small
model that tries a pair, checks it and tries again when it misses can do better than one that
guesses, and more numbers (more pairs) need more tries: the issue-15 setting where thinking can
grow and go where it is needed (docs/emergence.md, design F). `meta["difficulty"]` is how many
numbers are listed (3 numbers: 3 pairs; 6 numbers: 15 pairs).

The reference is written as Countdown's, "[7, 3, 12, 4] -> 16"; the `pairsum` verifier grades it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations

from r1lab.tasks.base import Problem


@dataclass(frozen=True)
class PairSum:
    min_numbers: int = 3
    max_numbers: int = 6
    max_number: int = 15
    name: str = "pairsum"
    verifier: str = "pairsum"

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        n = rng.randint(self.min_numbers, self.max_numbers)
        while True:
            nums = rng.sample(range(1, self.max_number + 1), n)
            i, j = sorted(rng.sample(range(n), 2))
            target = nums[i] + nums[j]
            if sum(x + y == target for x, y in combinations(nums, 2)) == 1:
                break
        shown = ", ".join(map(str, nums))
        return f"{shown}>{target}", Problem(
            f"Which two of {shown} add up to {target}?", f"[{shown}] -> {target}", self.name,
            {"numbers": nums, "target": target, "solution": f"{nums[i]}+{nums[j]}", "difficulty": n})
