"""Format rewards: where the reasoning and the answer sit in a response.

`format_reward` is R1-Zero's rule, strict: the whole completion is `<think> ... </think>` then
`<answer> ... </answer>`, with only white space around them.

`readable_format_reward` is the readable format of DeepSeek-R1's cold start and later stages
(the paper's `|special_token|<reasoning_process>|special_token|<summary>`, with `<think>` tags
as the special tokens): `<think> reasoning </think>` then a summary for the reader, in words,
which may end with the machine-read answer in `<answer> ... </answer>` (our verifiers read the
tag as the paper's read `\\boxed{}`). Exactly one think block; the summary holds at least one
letter outside the answer tags; nothing but white space after `</answer>`. The reasoning may
be empty (the non-reasoning rows of the SFT mix: `<think>\\n</think>` then the answer).

`FORMATS` names both for `train --format-rule` and `sample --format`.
"""

from __future__ import annotations

import re

_STRICT = re.compile(r"\s*<think>(?:(?!<think>|</think>).)*</think>\s*<answer>(?:(?!<answer>).)*?</answer>\s*",
                     re.DOTALL)
_NO_TAG = r"(?:(?!</?think>|</?answer>).)"
_READABLE = re.compile(rf"\s*<think>{_NO_TAG}*?</think>(?P<summary>{_NO_TAG}*)(?:<answer>{_NO_TAG}*</answer>)?\s*",
                       re.DOTALL)
_LETTER = re.compile(r"[^\W\d_]")


def format_reward(response: str) -> float:
    return 1.0 if _STRICT.fullmatch(response) else 0.0


def readable_format_reward(response: str) -> float:
    m = _READABLE.fullmatch(response)
    return 1.0 if m is not None and _LETTER.search(m.group("summary")) else 0.0


FORMATS = {"r1_zero": format_reward, "readable": readable_format_reward}
