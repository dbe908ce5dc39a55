"""SFT examples as token ids with a mask of the tokens trained on, and their order over epochs.

Rendering (`encode`), by `template`:

* `chat`: the tokenizer's own chat template. The conversation is rendered turn by turn: the text
  of turns 1..k must extend the text of turns 1..k-1 (and an assistant turn the text of the turns
  before it with the generation prompt), so each turn's text is a segment of the whole. Segments
  are tokenized one by one, as at inference the prompt is tokenized alone and the reply generated
  after it. The assistant segments (their text after the generation prompt, with the template's
  end-of-turn tokens) are trained on; system and user segments are context. Consecutive context
  segments are tokenized as one text (a prompt is, at inference): token boundaries fall only where
  a reply starts or ends.
* `r1_zero`: one user turn (a system turn is folded in front of it, as the usage rules do) and one
  assistant turn, rendered as the R1-Zero template around the question, then " " + the reply +
  eos: exactly what `train` and the evaluation prompt with, so a cold-started model answers
  under the template it will be trained and evaluated under.
* `prompt` / `completion` rows are raw text whatever the template: prompt, then completion + eos.

Examples longer than `max_seq_len` keep their first `max_seq_len` tokens (counted as truncated);
one with no trained token left is dropped (counted). The first token is never trained on (nothing
predicts it).

Order (`ExampleOrder`): epoch e visits the examples in a permutation drawn from a generator seeded
by (seed, e); step k takes positions [(k-1)B, kB) of the concatenated epochs, so a run's data
order is a function of the seed alone and a resumed run needs only its step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from r1lab.errors import UserError
from r1lab.tasks.chatdata import ChatExample
from r1lab.tasks.templates import r1_zero_prompt

TEMPLATES = ("chat", "r1_zero")


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    trained: list[bool]  # True where the token is part of a reply (the loss reads these)
    where: str

    @property
    def n_trained(self) -> int:
        return sum(self.trained)


@dataclass
class EncodeStats:
    truncated: int = 0
    dropped: int = 0


def encode(ex: ChatExample, tok, template: str, max_seq_len: int, stats: EncodeStats | None = None) -> Encoded | None:
    """Token ids and trained mask of one example (see the module header); None when nothing is left to train."""
    if ex.messages is None:
        segments = [(ex.prompt, False), (ex.completion + tok.eos_token, True)]
    elif template == "r1_zero":
        segments = _r1_zero_segments(ex, tok)
    else:
        segments = _chat_segments(ex, tok)
    ids, trained = [], []
    for text, train in _merge(segments):
        piece = tok(text, add_special_tokens=False).input_ids if text else []
        ids += piece
        trained += [train] * len(piece)
    if trained:
        trained[0] = False
    if len(ids) > max_seq_len:
        ids, trained = ids[:max_seq_len], trained[:max_seq_len]
        if stats is not None:
            stats.truncated += 1
    if not any(trained):
        if stats is not None:
            stats.dropped += 1
        return None
    return Encoded(ids, trained, ex.where)


def _merge(segments: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Adjacent segments of the same kind joined: context is tokenized as one text, as a prompt is at
    inference; only the edges between context and reply are token boundaries."""
    out: list[tuple[str, bool]] = []
    for text, train in segments:
        if out and out[-1][1] == train:
            out[-1] = (out[-1][0] + text, train)
        else:
            out.append((text, train))
    return out


def _r1_zero_segments(ex: ChatExample, tok) -> list[tuple[str, bool]]:
    roles = [m["role"] for m in ex.messages]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise UserError(f"{ex.where}: template r1_zero takes one user turn and one assistant turn "
                        f"(a system turn first at most), got {', '.join(roles)}")
    question = "\n\n".join(m["content"] for m in ex.messages[:-1])
    return [(r1_zero_prompt(question), False), (" " + ex.messages[-1]["content"].strip() + tok.eos_token, True)]


def _chat_segments(ex: ChatExample, tok) -> list[tuple[str, bool]]:
    if not getattr(tok, "chat_template", None):
        raise UserError(f"{ex.where}: the tokenizer has no chat template (use template r1_zero, or prompt/completion "
                        "rows)")
    turns = list(ex.messages)
    segments, before = [], ""
    for k, turn in enumerate(turns):
        if turn["role"] == "assistant":
            prompt = _render(tok, turns[:k], ex.where, generation=True) if k else ""
            if not prompt.startswith(before):
                raise UserError(f"{ex.where}: the chat template does not render turn by turn (turn {k + 1})")
            segments.append((prompt[len(before):], False))
            before = prompt
        text = _render(tok, turns[:k + 1], ex.where)
        if not text.startswith(before):
            raise UserError(f"{ex.where}: the chat template does not render turn by turn (turn {k + 1})")
        segments.append((text[len(before):], turn["role"] == "assistant"))
        before = text
    return segments


def _render(tok, turns: list[dict], where: str, generation: bool = False) -> str:
    try:
        return tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation)
    except Exception as e:  # noqa: BLE001 - a template that rejects a conversation is a data error
        raise UserError(f"{where}: the chat template rejects this conversation: {type(e).__name__}: {e}") from None


class ExampleOrder:
    """Which examples each step trains on: seeded permutations per epoch, concatenated."""

    def __init__(self, n_examples: int, epochs: float, batch_size: int, seed: int, visits: int | None = None):
        self.n, self.batch_size, self.seed = n_examples, batch_size, seed
        self.total = visits or math.ceil(epochs * n_examples)  # example visits over the run
        self.steps = math.ceil(self.total / batch_size)
        self._perms: dict[int, list[int]] = {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(self.n, generator=gen).tolist()}
        return self._perms[epoch]

    def batch(self, step: int) -> list[int]:
        """Example indices of step `step` (1-based)."""
        start, stop = (step - 1) * self.batch_size, min(step * self.batch_size, self.total)
        return [self._perm(i // self.n)[i % self.n] for i in range(start, stop)]
