"""What every verifier returns, and answer extraction shared by the built-in verifiers.

A verifier is one function `verify(response, reference) -> Grade`. Training uses
`grade.score` as the accuracy reward; evaluation uses the same call as the grader, so the two
can never disagree. `extracted is None` means the response had no parseable answer: it scores
0 and is counted separately.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


class Grade(NamedTuple):
    score: float  # 1.0 correct, 0.0 wrong or unparseable
    extracted: str | None  # the answer the verifier read, None when unparseable

    @property
    def correct(self) -> bool | None:
        return None if self.extracted is None else self.score > 0


def answer_tag(text: str) -> str | None:
    """Content of the last <answer>...</answer> pair, stripped; None if there is none."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None
