"""Verifiers: one function per answer type, used as both the RL reward and the eval grader."""

from typing import Callable

from r1lab.verifiers.base import Grade, answer_tag
from r1lab.verifiers.code import parse_reference, verify_code, verify_code_many
from r1lab.verifiers.countdown import parse_reference as countdown_reference
from r1lab.verifiers.countdown import same_equation, verify_countdown
from r1lab.verifiers.format import format_reward
from r1lab.verifiers.gsm8k import reference_number, verify_gsm8k
from r1lab.verifiers.language import detect_language, language_consistency
from r1lab.verifiers.math import equivalent, verify_math
from r1lab.verifiers.number import reference_int, verify_number
from r1lab.verifiers.pairsum import parse_reference as pairsum_reference
from r1lab.verifiers.pairsum import verify_pairsum

Verifier = Callable[[str, str], Grade]
VERIFIERS: dict[str, Verifier] = {"number": verify_number, "countdown": verify_countdown, "math": verify_math,
                                  "gsm8k": verify_gsm8k, "code": verify_code,
                                  "pairsum": verify_pairsum}
# Verifiers that also grade a whole batch at once (code: sandboxes run in parallel).
BatchVerifier = Callable[..., list[Grade]]  # (responses, references, workers=None)
BATCH_VERIFIERS: dict[str, BatchVerifier] = {"code": verify_code_many}
# Reference validators (raise ValueError): a task's references must pass its verifier's check before
# training starts (does the verifier fit the task?), and `r1lab grade` names the bad row of a batch
# verifier with them. math takes any text as a reference.
REFERENCE_CHECKS: dict[str, Callable[[str], object]] = {"code": parse_reference, "countdown": countdown_reference,
                                                        "pairsum": pairsum_reference,
                                                        "gsm8k": reference_number, "number": reference_int}
# When two extracted answers are the same answer (cons@k clusters by it): the verifier's own
# equivalence. number and gsm8k extract a canonical form already (an integer; a reduced fraction),
# so text equality is theirs; code programs are one answer only when their text is identical.
EQUIVALENCE: dict[str, Callable[[str, str], bool]] = {"math": equivalent, "countdown": same_equation,
                                                       "pairsum": same_equation}


def same_answer(verifier: str) -> Callable[[str, str], bool]:
    return EQUIVALENCE.get(verifier, lambda a, b: a.strip() == b.strip())


def checked_task(name: str, verifier: str = ""):
    """The task `name` (a built-in or a JSONL file) graded by `verifier` (default: the task's), or
    one UserError naming what is unknown: what train, sample, ablate and distill check first."""
    from r1lab.errors import UserError
    from r1lab.tasks import get_task
    try:
        task = get_task(name, verifier)
    except KeyError as e:
        raise UserError(str(e.args[0])) from None
    if task.verifier not in VERIFIERS:
        raise UserError(f"unknown verifier {task.verifier!r}; known: {', '.join(VERIFIERS)}")
    return task


def get_verifier(name: str) -> Verifier:
    if name not in VERIFIERS:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(VERIFIERS)}")
    return VERIFIERS[name]


__all__ = ["BATCH_VERIFIERS", "BatchVerifier", "EQUIVALENCE", "REFERENCE_CHECKS", "Grade", "Verifier", "VERIFIERS",
           "answer_tag", "detect_language", "format_reward", "get_verifier", "language_consistency", "same_answer",
           "verify_code", "verify_countdown", "verify_gsm8k", "verify_math", "verify_number", "verify_pairsum"]
