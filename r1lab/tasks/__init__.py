"""Problem sources: built-in generators with disjoint train/test splits, and templates."""

from r1lab.tasks.arithmetic import Addition
from r1lab.tasks.base import Problem, Task, problems, split_of, take
from r1lab.tasks.countdown import Countdown
from r1lab.tasks.templates import R1_ZERO, r1_zero_prompt

TASKS = {"arithmetic": Addition, "countdown": Countdown}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; built-in tasks: {', '.join(TASKS)}")
    return TASKS[name]()


__all__ = ["Addition", "Countdown", "Problem", "Task", "TASKS", "get_task", "problems",
           "split_of", "take", "R1_ZERO", "r1_zero_prompt"]
