"""Verifiers: one function per answer type, used as both the RL reward and the eval grader."""

from typing import Callable

from r1lab.verifiers.base import Grade, answer_tag
from r1lab.verifiers.countdown import verify_countdown
from r1lab.verifiers.format import format_reward, tag_count_reward
from r1lab.verifiers.number import verify_number

Verifier = Callable[[str, str], Grade]
VERIFIERS: dict[str, Verifier] = {"number": verify_number, "countdown": verify_countdown}


def get_verifier(name: str) -> Verifier:
    if name not in VERIFIERS:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(VERIFIERS)}")
    return VERIFIERS[name]


__all__ = ["Grade", "Verifier", "VERIFIERS", "answer_tag", "format_reward", "get_verifier",
           "tag_count_reward", "verify_countdown", "verify_number"]
