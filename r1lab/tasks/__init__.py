"""Problem sources: built-in generators with disjoint train/test splits, and templates."""

from r1lab.tasks.arithmetic import Addition, MixedAddition
from r1lab.tasks.base import Problem, ProblemStream, Task, problems, split_of, take
from r1lab.tasks.countdown import Countdown
from r1lab.tasks.jsonl import JsonlTask, read_rows
from r1lab.tasks.pairsum import PairSum, sum_search
from r1lab.tasks.templates import R1_ZERO, r1_zero_prompt

TASKS = {"arithmetic": Addition, "arithmetic-mixed": MixedAddition, "countdown": Countdown,
         "pairsum": PairSum,
         "sumsearch": sum_search}


def get_task(name: str, verifier: str = "") -> Task:
    """A built-in task by name, or a JSONL file of question/answer rows (graded by `verifier`,
    default "math"). An unknown name raises KeyError; a bad file raises UserError."""
    if name.endswith(".jsonl"):
        return JsonlTask(name, verifier or "math")
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; built-in tasks: {', '.join(TASKS)}, or a FILE.jsonl")
    task = TASKS[name]()
    return task if not verifier else _with_verifier(task, verifier)


def _with_verifier(task, verifier: str):
    import dataclasses
    return dataclasses.replace(task, verifier=verifier)


__all__ = ["Addition", "MixedAddition", "Countdown", "PairSum", "JsonlTask", "Problem", "ProblemStream", "Task",
           "TASKS", "get_task", "problems", "read_rows", "split_of", "take", "R1_ZERO", "r1_zero_prompt"]
