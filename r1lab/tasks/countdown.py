"""Countdown: reach a target using each given number exactly once with + - * /.

Targets are always reachable: the generator builds a random expression tree over the numbers
and uses its value (a positive integer) as the target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from r1lab.tasks.base import Problem

OPS = "+-*/"


@dataclass(frozen=True)
class Countdown:
    n_numbers: int = 3
    max_number: int = 20
    max_target: int = 100
    name: str = "countdown"
    verifier: str = "countdown"

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        while True:
            nums = [rng.randint(1, self.max_number) for _ in range(self.n_numbers)]
            expr, value = _random_expression(rng, nums)
            if value.denominator == 1 and 1 <= value <= self.max_target:
                break
        target = int(value)
        shown = ", ".join(map(str, nums))
        q = (f"Using the numbers [{shown}], create an equation that equals {target}. "
             "Use each number exactly once with + - * /")
        key = f"{sorted(nums)}={target}"
        ref = f"[{shown}] -> {target}"  # what the countdown verifier reads
        return key, Problem(q, ref, self.name,
                            {"numbers": nums, "target": target, "solution": expr})


def _random_expression(rng: random.Random, nums: list[int]) -> tuple[str, Fraction]:
    """Combine the numbers left to right in a random order with random operators."""
    order = nums[:]
    rng.shuffle(order)
    expr, value = str(order[0]), Fraction(order[0])
    for n in order[1:]:
        op = rng.choice(OPS)
        if op == "/" and n == 0:
            op = "+"
        expr = f"({expr} {op} {n})" if op in "+-" else f"{expr} {op} {n}"
        value = {"+": value + n, "-": value - n, "*": value * n, "/": value / n}[op]
    return expr, value
