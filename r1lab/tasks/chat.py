"""The chat prompt of DeepSeek-R1's usage rules (r1-facts.md section 6), for `r1lab chat`, `serve`, `eval`.

* No system prompt: system (and "developer") messages are folded into the first user turn, in
  front of its text, and a warning is logged.
* Multi-turn: an earlier assistant turn keeps only its answer; its reasoning (everything up to
  the last `</think>`) is dropped, as the model card and the DeepSeek API do. Reasoning sent back
  on input messages (`reasoning_content`, `reasoning`) is the caller's business: it is never read.
* `math=True` appends the math instruction to every user turn (after a blank line); `user_turn`
  is that join for one question and any instruction (`r1lab eval` uses it with the math or the
  code instruction).
* The rendered prompt ends with `<think>\\n`, so every response begins inside the think block:
  the generated text is the reasoning, then `</think>`, then the answer.

The model's own chat template renders the turns (the built-in tiny model's is a plain
"User: ... Assistant:" transcript).
"""

from __future__ import annotations

import logging

logger = logging.getLogger("r1lab.chat")

THINK_OPEN = "<think>\n"
THINK_CLOSE = "</think>"
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
# For HumanEval in `r1lab eval`: the question is the function's signature and docstring as code;
# the code verifier reads the last ```python block and runs it after the prompt's imports.
CODE_INSTRUCTION = ("Complete the Python function above. Reason step by step, then write the whole "
                    "function in one ```python code block.")
SYSTEM_ROLES = ("system", "developer")
ROLES = SYSTEM_ROLES + ("user", "assistant")


def usage_rule_messages(messages: list[dict], math: bool = False) -> list[dict]:
    """[{role, content}] as the model should see them (see the module docstring).

    Raises ValueError for an unknown role, or when there is no user turn or the last turn is not the user's."""
    system = [m["content"] for m in messages if m["role"] in SYSTEM_ROLES]
    turns = []
    for m in messages:
        if m["role"] not in ROLES:
            raise ValueError(f"unknown role {m['role']!r} (expected one of {', '.join(ROLES)})")
        if m["role"] == "user":
            add = math and MATH_INSTRUCTION not in m["content"]
            turns.append({"role": "user", "content": f"{m['content']}\n\n{MATH_INSTRUCTION}" if add else m["content"]})
        elif m["role"] == "assistant":
            turns.append({"role": "assistant", "content": (m["content"] or "").split(THINK_CLOSE)[-1]})
    if not turns or turns[-1]["role"] != "user":
        raise ValueError("the conversation must end with a user message")
    if system:
        logger.warning("system prompt folded into the first user turn (DeepSeek-R1 usage rules: no system prompt)")
        first = next(i for i, t in enumerate(turns) if t["role"] == "user")
        turns[first] = {"role": "user", "content": "\n\n".join(system + [turns[first]["content"]])}
    return turns


def user_turn(question: str, instruction: str) -> str:
    """One user message: the question, then the instruction (if any) after a blank line."""
    return f"{question.strip()}\n\n{instruction}" if instruction else question.strip()


def chat_prompt(tokenizer, messages: list[dict], math: bool = False) -> str:
    """The prompt text for the next assistant turn, ending inside the think block."""
    return open_think(tokenizer.apply_chat_template(usage_rule_messages(messages, math), tokenize=False,
                                                    add_generation_prompt=True))


def open_think(prompt: str) -> str:
    """A rendered prompt made to end inside the think block (`<think>\\n` forced)."""
    if prompt.endswith(THINK_OPEN):  # the template already opens the think block (recent R1 templates)
        return prompt
    return prompt + ("\n" if prompt.endswith(THINK_OPEN.rstrip()) else THINK_OPEN)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Generated text (which starts inside the think block) -> (reasoning, content).

    The text before the first `</think>` is the reasoning, the rest the content; a text that never
    closes the think block is all reasoning and its content is None (vLLM's deepseek_r1 parser), as
    is an empty answer after `</think>`."""
    reasoning, closed, content = text.partition(THINK_CLOSE)
    return reasoning, (content or None) if closed else None


class ReasoningStream:
    """`split_reasoning` for text that arrives in pieces: `push(piece)` -> (reasoning, content) deltas.

    A piece that holds `</think>` is split around it; a tail that may be the start of `</think>`
    is held back until the next piece says whether it is; `flush()` releases it at the end."""

    def __init__(self) -> None:
        self.thinking = True
        self.pending = ""

    def push(self, piece: str) -> tuple[str, str]:
        if not self.thinking:
            return "", piece
        buf = self.pending + piece
        reasoning, closed, content = buf.partition(THINK_CLOSE)
        if closed:
            self.thinking, self.pending = False, ""
            return reasoning, content
        hold = max((k for k in range(1, len(THINK_CLOSE)) if buf.endswith(THINK_CLOSE[:k])), default=0)
        self.pending = buf[len(buf) - hold:]
        return buf[:len(buf) - hold], ""

    def flush(self) -> str:
        """Reasoning text still held back (the stream ended inside the think block)."""
        out, self.pending = self.pending, ""
        return out
