"""Format rewards: the R1-Zero rule that reasoning sits in <think> tags before an <answer>.

`format_reward` is strict: the whole completion is `<think> ... </think>` then
`<answer> ... </answer>`, with only white space around them. `tag_count_reward` is the soft
variant: a quarter point for each of the four tags appearing exactly once.
"""

from __future__ import annotations

import re

_STRICT = re.compile(r"\s*<think>(?:(?!<think>|</think>).)*</think>\s*<answer>(?:(?!<answer>).)*?</answer>\s*",
                     re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def format_reward(response: str) -> float:
    return 1.0 if _STRICT.fullmatch(response) else 0.0


def tag_count_reward(response: str) -> float:
    return sum(0.25 for t in _TAGS if response.count(t) == 1)
