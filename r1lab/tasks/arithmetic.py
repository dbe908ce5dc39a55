"""Multi-digit addition: the default R1-Zero task, and a mixed-difficulty variant.

`Addition`: both operands have `min_digits`..`max_digits` digits, drawn independently. A tiny
model cannot reliably add such numbers in one step, but can by working column by column: that
gap is what RL has to discover.

`MixedAddition` (task `arithmetic-mixed`): problems of graded difficulty. The longer operand has
d digits, d uniform in `min_digits`..`max_digits`; the other has `min_digits`..d. A problem's
`meta["difficulty"]` is d: a d-digit sum takes d or d + 1 columns of working, so harder problems
need more steps (and more checks) than easy ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from r1lab.tasks.base import Problem


@dataclass(frozen=True)
class Addition:
    min_digits: int = 3
    max_digits: int = 4
    name: str = "arithmetic"
    verifier: str = "number"

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        a = _number(rng, rng.randint(self.min_digits, self.max_digits))
        b = _number(rng, rng.randint(self.min_digits, self.max_digits))
        return _problem(a, b, self.name)


@dataclass(frozen=True)
class MixedAddition:
    min_digits: int = 2
    max_digits: int = 5
    name: str = "arithmetic-mixed"
    verifier: str = "number"

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        d = rng.randint(self.min_digits, self.max_digits)
        a, b = _number(rng, d), _number(rng, rng.randint(self.min_digits, d))
        if rng.random() < 0.5:
            a, b = b, a
        return _problem(a, b, self.name)


def _problem(a: int, b: int, task: str) -> tuple[str, Problem]:
    difficulty = max(len(str(a)), len(str(b)))
    return f"{a}+{b}", Problem(f"What is {a} + {b}?", str(a + b), task,
                               {"a": a, "b": b, "op": "+", "difficulty": difficulty})


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)
