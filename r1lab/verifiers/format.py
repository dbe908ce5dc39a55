"""Format rewards: the R1-Zero rule that reasoning sits in <think> tags before an <answer>.

`format_reward` is strict: the whole completion is `<think> ... </think>` then
`<answer> ... </answer>`, with only white space around them.
"""

from __future__ import annotations

import re

_STRICT = re.compile(r"\s*<think>(?:(?!<think>|</think>).)*</think>\s*<answer>(?:(?!<answer>).)*?</answer>\s*",
                     re.DOTALL)


def format_reward(response: str) -> float:
    return 1.0 if _STRICT.fullmatch(response) else 0.0
