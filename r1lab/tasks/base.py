"""Problems and the task protocol shared by built-in generators and benchmark loaders.

A task yields `Problem`s and names the verifier that grades them. Train and test splits are
disjoint by construction: a problem's split is a pure function of its canonical key (a hash),
so the two generators can never emit the same problem whatever their seeds.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Problem:
    question: str  # the user's question, without any template
    answer: str  # the reference the verifier compares against
    task: str  # task family name, e.g. "arithmetic"
    meta: dict = field(default_factory=dict, compare=False, hash=False)


class Task(Protocol):
    name: str
    verifier: str  # key into r1lab.verifiers.VERIFIERS

    def sample(self, rng: random.Random) -> tuple[str, Problem]:
        """Draw one problem; returns (canonical key, problem)."""


def split_of(key: str, test_fraction: float = 0.1) -> str:
    """'test' for a fixed ~test_fraction of keys, else 'train' (stable across runs and machines)."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return "test" if (h % 10_000) < test_fraction * 10_000 else "train"


def problems(task: Task, split: str, seed: int, unique: bool = False) -> Iterator[Problem]:
    """Endless seeded stream of problems from one split (optionally without repeats)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"{task.name}:{split}:{seed}")
    seen: set[str] = set()
    misses = 0
    while True:
        key, prob = task.sample(rng)
        if split_of(key) != split or (unique and key in seen):
            misses += 1
            if misses > 100_000:
                raise RuntimeError(f"task {task.name!r} cannot produce more {split} problems")
            continue
        misses = 0
        seen.add(key)
        yield prob


def take(task: Task, split: str, n: int, seed: int) -> list[Problem]:
    """The first n distinct problems of a split (all of them, if a finite task has fewer)."""
    size = getattr(task, "size", None)
    n = min(n, size(split)) if size else n
    it = problems(task, split, seed, unique=True)
    return [next(it) for _ in range(n)]


class ProblemStream:
    """`problems(task, split, seed)` that counts what it has handed out, so that a resumed run
    continues from the same place: ProblemStream(..., position=p) skips the first p problems."""

    def __init__(self, task: Task, split: str, seed: int, position: int = 0):
        self._it = problems(task, split, seed)
        self.position = 0
        self.take(position)

    def take(self, n: int) -> list[Problem]:
        out = [next(self._it) for _ in range(n)]
        self.position += n
        return out
