"""The readable format of DeepSeek-R1's cold start, and the rule that rewrites R1-Zero outputs into it.

The paper's readable pattern is `|special_token|<reasoning_process>|special_token|<summary>`:
the reasoning, then a summary for the reader. Ours (`verifiers.format.readable_format_reward`):

    <think>
    one step of the reasoning per line
    ...
    </think>
    The answer is 1468. <answer> 1468 </answer>

`readable(response, question)` is the rule-based rewrite the paper's cold start approximates by
"post-processing" R1-Zero outputs and human annotators: from an R1-Zero response
(`<think> R </think> <answer> X </answer>`) it keeps the reasoning R word for word, puts each of
its sentences on its own line (a sentence ends at ". ", "! " or "? "; the tiny model's working is
one sentence per column), and writes the summary in the question's language ("The answer is X."
or, for a question in Cyrillic script, "Ответ: X.") before the answer tag. A response without a
think block or an answer tag, or with an empty one, has nothing to rewrite: None.
"""

from __future__ import annotations

import re

from r1lab.verifiers.base import answer_tag
from r1lab.verifiers.language import detect_language

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
SUMMARIES = {"Latin": "The answer is {answer}.", "Cyrillic": "Ответ: {answer}."}


def summary(answer: str, question: str) -> str:
    """The summary sentence in the question's language (English for a script without one here)."""
    return SUMMARIES.get(detect_language(question), SUMMARIES["Latin"]).format(answer=answer)


def readable(response: str, question: str) -> str | None:
    """An R1-Zero response rewritten into the readable format (see the module header), or None."""
    think = _THINK.search(response)
    answer = answer_tag(response[think.end():]) if think else None
    if think is None or not answer or not think.group(1).strip():
        return None
    steps = [s for s in _SENTENCE_END.split(think.group(1).strip()) if s]
    return f"<think>\n{chr(10).join(steps)}\n</think>\n{summary(answer, question)} <answer> {answer} </answer>"


REWRITES = {"none": None, "readable": readable}
