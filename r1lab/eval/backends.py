"""What every eval backend takes and gives back.

A backend turns `Job`s (one problem's prompt and the sample indices it still lacks) into
`Sample`s. `run(jobs)` yields `(job, samples)` as work finishes, where `job.samples` names the
indices the samples fill, in order; a backend may split a job over several yields (an endpoint
that ignores `n`). Replies are graded and written by the caller, in its own thread.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Protocol

from r1lab.eval.prompts import Reply


class Job(NamedTuple):
    index: int  # the problem's position in the benchmark
    id: str  # the problem's id
    prompt: str  # exactly what is sent: a whole prompt (local, completions API) or the user message (chat API)
    samples: tuple[int, ...]  # sample indices to generate


class Sample(NamedTuple):
    reply: Reply
    tokens: int | None  # completion tokens (None when the server reported no usage)
    finish_reason: str | None  # "stop" | "length" | whatever the server said
    tokens_exact: bool  # False when a response's usage was split over several choices


class Backend(Protocol):
    def render(self, user_text: str) -> str:
        """The prompt sent for one problem, from the prompt rule's text."""

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[Sample]]]:
        """Generate every job's samples, yielding as they finish."""

    def describe(self) -> dict:
        """What results.json records about the backend."""

    def close(self) -> None:
        """Release connections and threads."""
