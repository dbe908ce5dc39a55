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
