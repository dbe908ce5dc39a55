"""Chat-format JSONL for supervised fine-tuning: read and validate up front, naming the line.

Two row shapes (TRL's "conversational" and "prompt-completion" datasets), one per line:

* `{"messages": [{"role": "system" | "user" | "assistant", "content": "..."}, ...]}`: a
  conversation; the assistant turns are what is trained on. At least one assistant turn with
  content; every turn a JSON object with a known role and a string content.
* `{"prompt": "...", "completion": "..."}`: raw text, no template; the completion is trained on.

Other keys (the `provenance` that `r1lab sample` writes, ids, ...) are kept and ignored. Every
problem is a `UserError` naming the file and the 1-based line: malformed JSON, not an object,
neither shape, a turn without role or content, an unknown role, no assistant turn, an empty
completion. A file with no rows is an error too (`read_chat_files`: when all are empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from r1lab.errors import UserError
from r1lab.tasks.jsonl import read_rows

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatExample:
    """One row: `messages` (a conversation), or `prompt` + `completion` (raw text); `where` is file:line."""
    where: str
    messages: tuple[dict, ...] | None = None
    prompt: str | None = None
    completion: str | None = None


def read_chat(path: str | Path, allow_empty: bool = False) -> list[ChatExample]:
    """Every row of a chat-format JSONL file, validated (see the module header)."""
    out = [_example(row, f"{path}:{n}") for n, row in read_rows(path, ())]
    if not out and not allow_empty:
        raise UserError(f"{path}: no rows")
    return out


def read_chat_files(paths: list[str | Path]) -> list[ChatExample]:
    """The rows of several files, in order, each validated before any is used; one of them may be
    empty (a rejection-sampling stage that kept nothing), not all."""
    out = [ex for p in paths for ex in read_chat(p, allow_empty=True)]
    if not out:
        raise UserError(f"no rows in {', '.join(map(str, paths))}")
    return out


def _example(row: dict, where: str) -> ChatExample:
    if "messages" in row:
        return ChatExample(where, messages=_messages(row["messages"], where))
    if "prompt" in row and "completion" in row:
        for key in ("prompt", "completion"):
            if not isinstance(row[key], str):
                raise UserError(f"{where}: field {key!r} must be a string, got {type(row[key]).__name__}")
        if not row["completion"].strip():
            raise UserError(f"{where}: field 'completion' is empty")
        return ChatExample(where, prompt=row["prompt"], completion=row["completion"])
    raise UserError(f"{where}: expected a 'messages' list or 'prompt' and 'completion' strings, "
                    f"got keys {sorted(row)}")


def _messages(turns, where: str) -> tuple[dict, ...]:
    if not isinstance(turns, list) or not turns:
        raise UserError(f"{where}: 'messages' must be a non-empty list of turns")
    out = []
    for i, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str):
            raise UserError(f"{where}: turn {i} must be an object with a 'role'")
        if turn["role"] not in ROLES:
            raise UserError(f"{where}: turn {i} has unknown role {turn['role']!r} (expected {', '.join(ROLES)})")
        if not isinstance(turn.get("content"), str):
            raise UserError(f"{where}: turn {i} ({turn['role']}) must have a string 'content'")
        out.append({"role": turn["role"], "content": turn["content"]})
    if not any(t["role"] == "assistant" and t["content"].strip() for t in out):
        raise UserError(f"{where}: no assistant turn with content (nothing to train on)")
    return tuple(out)
