"""Multi-digit addition, the default R1-Zero task.

Operands have `min_digits`..`max_digits` digits. A tiny model cannot reliably add such numbers
in one step, but can by working column by column: that gap is what RL has to discover.
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
        q = f"What is {a} + {b}?"
        return f"{a}+{b}", Problem(q, str(a + b), self.name, {"a": a, "b": b, "op": "+"})


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)
