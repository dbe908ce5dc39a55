"""Between token ids and text: prompt encoding, stop sequences and completion decoding."""

from __future__ import annotations

import torch

STOP_STRINGS = ("</answer>",)


def encode_prompts(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer(t, add_special_tokens=False).input_ids for t in texts]


def stop_sequences(tokenizer, strings=STOP_STRINGS) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(tokenizer.encode(s, add_special_tokens=False)) for s in strings)


def decode_completions(tokenizer, completion_ids: torch.Tensor, mask: torch.Tensor) -> list[str]:
    """Text of each completion (N, T), without padding and without the EOS token."""
    out = []
    eos = tokenizer.eos_token_id
    for ids, m in zip(completion_ids.tolist(), mask.tolist(), strict=True):
        ids = [t for t, keep in zip(ids, m, strict=True) if keep and t != eos]
        out.append(tokenizer.decode(ids, skip_special_tokens=False))
    return out


class Detokenizer:
    """Text of a growing token list, handed out in pieces that never split a character.

    Byte-level BPE spreads one character over several tokens, so the text of the newest token
    alone may be a fragment. Each push decodes a short window (the tokens since the last
    emitted piece plus the ones before them, for context) and hands out only the new,
    complete text: the pieces joined equal the decoded whole. Special tokens (eos) are skipped.
    """

    def __init__(self, tokenizer) -> None:
        # a fast tokenizer's Rust backend decodes the same text as tokenizer.decode without
        # transformers' per-call overhead (clean_up_tokenization_spaces off in both)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self.decode = backend.decode if backend is not None else self._slow_decode
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # window start
        self.read = 0  # tokens whose text is already handed out

    def _slow_decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False)

    def _text(self, ids: list[int]) -> str:
        return self.decode(ids, skip_special_tokens=True)

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self._text(self.ids[self.prefix:self.read])
        now = self._text(self.ids[self.prefix:])
        if len(now) <= len(before) or now.endswith("\ufffd"):  # nothing new, or a character still incomplete
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return now[len(before):]


class StopText:
    """Text-level stop strings: finds the first one, and holds back text that may begin one.

    `push(piece)` returns (text safe to emit, stopped). When a stop string appears, the text
    before it is returned and the stop string itself is dropped (OpenAI's convention). Until
    then, a tail that is a prefix of some stop string is held back, so a stream never shows
    text that a later stop removes; `flush()` returns it when the row ends otherwise.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def push(self, piece: str) -> tuple[str, bool]:
        buf = self.pending + piece
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.pending = ""
            return buf[:min(hits)], True
        hold = max((k for s in self.stops for k in range(1, len(s)) if buf.endswith(s[:k])), default=0)
        self.pending = buf[len(buf) - hold:]
        return buf[:len(buf) - hold], False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
