"""The synthetic pretraining corpus that stands in for a base model's web text.

Documents hold problems of the built-in task families (addition, Countdown), sometimes after a
few sentences of unrelated filler prose, sometimes several to a page. Most documents state only
the final answer, as most text on the web does; a minority show column-by-column working first,
in varied wordings and wrappers, some with a "wait, check" or a corrected slip. One wrapper among
several puts the working in <think> tags and the answer in <answer> tags, as tag-delimited text
shows up in real web text. The R1-Zero template never appears, and no document pairs it with an
answer: whatever the model does under the template at step 0 is generalisation, not training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from r1lab.tasks import Addition, Countdown, problems

_SUBJECTS = ["The teacher", "A student", "My friend", "The class", "Our team", "The book",
             "This page", "The old farmer", "A small group", "The report", "Everyone", "The city"]
_VERBS = ["reads", "writes about", "talks about", "looks at", "explains", "remembers", "likes",
          "shares", "checks", "describes", "visits", "plans"]
_OBJECTS = ["the weather", "a long story", "the new rules", "the garden", "a simple idea",
            "the last game", "a short trip", "the market", "the old bridge", "a quiet room",
            "the evening news", "some homework", "the results", "a useful method"]
_ENDINGS = ["every day", "after lunch", "with great care", "in the morning", "for a while",
            "before the test", "at home", "on the weekend", "again and again", "without a word"]
_HEADERS = ["Worksheet", "Practice", "Homework help", "Forum post", "Notes", "Quiz", "Exercises"]


@dataclass(frozen=True)
class CorpusMix:
    worked_fraction: float = 0.3  # documents that show working before the answer
    countdown_fraction: float = 0.15  # share of problems that are Countdown, not addition
    filler_fraction: float = 0.5  # documents that open with unrelated prose
    slip_fraction: float = 0.1  # worked solutions that make and fix a slip, or re-check a step


def filler(rng: random.Random, n: int) -> str:
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                    f"{rng.choice(_ENDINGS)}." for _ in range(n))


# ----- addition ---------------------------------------------------------------------------

def _addition_question(rng: random.Random, a: int, b: int) -> str:
    return rng.choice([f"What is {a} + {b}?", f"Compute {a} + {b}.", f"Find the sum of {a} and {b}.",
                       f"{a} + {b} = ?", f"Add {a} and {b}.", f"What is the sum of {a} and {b}?"])


def addition_steps(rng: random.Random, a: int, b: int, slip: bool) -> str:
    """Column addition from the ones digit up. Each step adds the last digits of what is left,
    then writes what is left of each number with that digit chopped off, and the partial result.
    So every digit the next step needs sits at the end of a number just written: a short,
    local lookup that a small model can learn, unlike indexing into the question."""
    style = rng.randrange(3)
    slip_at = rng.randrange(max(len(str(a)), len(str(b)))) if slip else -1
    carry, sofar, parts, x, y, i = 0, "", [], str(a), str(b), 0
    while x or y:
        terms = [d for d in (x[-1:], y[-1:]) if d] + (["1"] if carry else [])
        total = sum(int(t) for t in terms)
        expr = "+".join(terms) if len(terms) > 1 else f"{terms[0]}+0"
        x, y = x[:-1], y[:-1]
        carry, sofar = total // 10, str(total % 10) + sofar
        left = "+".join(n for n in (x, y) if n) or "nothing"
        tail = f", carry {carry}" if carry else ""
        text = f"{expr}={total}"
        if i == slip_at and rng.random() < 0.5:
            text = f"{expr}={total + rng.choice([-1, 1])}, wait, that is wrong. {expr}={total}"
        parts.append(text + [f", so far {sofar}{tail}, left {left}.", f" ({sofar}{tail}; {left} left)",
                             f", we have {sofar}{tail}, and {left} left."][style])
        i += 1
    if carry:
        sofar = "1" + sofar
        parts.append([f"carry 1 gives {sofar}.", f"(1 more: {sofar})", f"the carry makes {sofar}."][style])
    if slip_at >= 0 and "wrong" not in " ".join(parts):
        parts.append(f"Wait, check: {a} + {b} ends in {(a + b) % 10}. Yes, {sofar}.")
    return " ".join(parts)


# ----- countdown --------------------------------------------------------------------------

def countdown_steps(rng: random.Random, nums: list[int], target: int, solution: str) -> str:
    wrong = f"{nums[0]}*{nums[1]}={nums[0] * nums[1]}, not {target}. " if rng.random() < 0.5 else ""
    return f"Try {wrong}{solution} = {target}. Yes, that works."


# ----- documents --------------------------------------------------------------------------

def _respond(rng: random.Random, answer: str, steps: str | None) -> str:
    if steps is None:
        return rng.choice([answer, f"The answer is {answer}.", f"<answer> {answer} </answer>",
                           f"It is {answer}.", f"= {answer}"])
    return rng.choice([
        f"<think> {steps} </think> <answer> {answer} </answer>",
        f"<think> {steps} </think> The answer is {answer}.",
        f"Let's work it out. {steps} The answer is {answer}.",
        f"{steps} <answer> {answer} </answer>",
        f"Step by step: {steps} So it is {answer}.",
    ])


def _frame(rng: random.Random, question: str, response: str) -> str:
    return rng.choice([f"Q: {question}\nA: {response}", f"User: {question} Assistant: {response}",
                       f"Question: {question}\nAnswer: {response}", f"{question} {response}",
                       f"Problem: {question}\nSolution: {response}"])


def documents(seed: int, mix: CorpusMix = CorpusMix()):
    """Endless stream of documents drawn from the TRAIN split of each task."""
    rng = random.Random(f"corpus:{seed}")
    adds = problems(Addition(min_digits=2, max_digits=5), "train", seed)
    cds = problems(Countdown(), "train", seed)
    while True:
        parts = []
        if rng.random() < mix.filler_fraction:
            parts.append(filler(rng, rng.randint(1, 4)))
        if rng.random() < 0.3:
            parts.append(f"{rng.choice(_HEADERS)}:")
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            worked = rng.random() < mix.worked_fraction
            slip = rng.random() < mix.slip_fraction
            if rng.random() < mix.countdown_fraction:
                p = next(cds)
                m = p.meta
                steps = countdown_steps(rng, m["numbers"], m["target"], m["solution"]) if worked else None
                parts.append(_frame(rng, p.question, _respond(rng, m["solution"], steps)))
            else:
                p = next(adds)
                a, b = p.meta["a"], p.meta["b"]
                steps = addition_steps(rng, a, b, slip) if worked else None
                parts.append(_frame(rng, _addition_question(rng, a, b), _respond(rng, p.answer, steps)))
        yield "\n".join(parts)
