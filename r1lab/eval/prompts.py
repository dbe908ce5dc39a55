"""What the model is asked, and how its reply splits into reasoning and answer.

The prompt rule (`--prompt`), written to results.json with the exact template:

* `r1zero`: the R1-Zero template filled with the user turn (question, then the instruction if
  any), sent as raw text. Locally it is tokenized as is; an endpoint needs `--api completions`
  (a chat API would wrap it in the server's chat template). The model opens its own `<think>`;
  generation stops after `</answer>`, as in training.
* `chat` (R1's usage rules): one user message and no system prompt (`--system-prompt` adds
  one). Locally the model's chat template renders it with the generation prompt, and
  `<think>\\n` is forced after it (unless the template already ends with it; `--force-think
  false` turns it off). An endpoint gets the messages through `/chat/completions`; its own chat
  template decides the rest (DeepSeek-R1's ends with `<think>\\n`).
* `auto` (default): `r1zero` for the built-in tasks (they are defined by that template and
  graded from `<answer>` tags) and for the built-in tiny model, which was never taught a chat
  format; `chat` for everything else.

Splitting a reply (`r1lab.tasks.chat.split_reasoning`, as `serve` does): reasoning is the text
inside `<think>...</think>`; the first `</think>` closes it, as vLLM's deepseek_r1 parser does.
The answer is everything after it. A think block that is never closed (a truncated thought)
makes the whole text reasoning and the answer empty. Text with no `</think>` and no `<think>`,
from a prompt that did not open the block, is all answer. Only the answer is graded, as
lighteval does.

Format: under `r1zero`, the strict R1-Zero format of the whole response (the training reward's
`format_reward`); under `chat`, a closed reasoning followed by a non-empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import ConfigError
from r1lab.tasks.chat import CODE_INSTRUCTION, MATH_INSTRUCTION, THINK_OPEN, split_reasoning, user_turn
from r1lab.tasks.templates import R1_ZERO, r1_zero_prompt
from r1lab.verifiers import format_reward

R1ZERO_STOPS = ("</answer>",)
INSTRUCTIONS = {"math": MATH_INSTRUCTION, "code": CODE_INSTRUCTION, "task": ""}


@dataclass(frozen=True)
class PromptRule:
    style: str  # "r1zero" | "chat"
    instruction: str  # appended to the question ("" for none)
    think_prefix: str  # forced at the start of every generation ("" where the model or server decides)
    stops: tuple[str, ...]  # strings that end a generation (kept in the reply)
    system: str = ""  # a system message before the user turn (chat only; "" for none)

    def user_text(self, question: str) -> str:
        """r1zero: the whole prompt; chat: the user message."""
        turn = user_turn(question, self.instruction)
        return r1_zero_prompt(turn) if self.style == "r1zero" else turn

    def messages(self, user_text: str) -> list[dict]:
        """The chat messages for one user message."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + [{"role": "user", "content": user_text}]

    def describe(self, example: str) -> dict:
        template = (R1_ZERO.replace("{prompt}", "{question}" + ("\n\n{instruction}" if self.instruction else ""))
                    if self.style == "r1zero" else
                    "chat template of the model on [{'role': 'user', 'content': '{question}"
                    + ("\\n\\n{instruction}" if self.instruction else "") + "'}] with the generation prompt")
        out = {"style": self.style, "template": template, "instruction": self.instruction or None,
               "system_prompt": self.system or None, "think_prefix": self.think_prefix or None,
               "stop": list(self.stops), "example": example}
        if self.style == "r1zero":  # what r1_zero_prompt does with the template's full stop
            out["note"] = "a user turn ending in . ? or ! keeps its own mark instead of the template's full stop"
        return out


def prompt_rule(prompt: str, kind: str, instruction: str | None, local: bool, tiny: bool, system: str = "",
                force_think: bool = True) -> PromptRule:
    """The rule for `--prompt` on a benchmark of `kind` ("math" | "code" | "task")."""
    style = prompt if prompt != "auto" else ("r1zero" if kind == "task" or tiny else "chat")
    text = INSTRUCTIONS[kind] if instruction is None else instruction
    if style == "r1zero":
        if system:
            raise ConfigError("--system-prompt needs --prompt chat (the R1-Zero template has no system turn)")
        return PromptRule("r1zero", text, "", R1ZERO_STOPS)
    return PromptRule("chat", text, THINK_OPEN if local and force_think else "", (), system)


class Reply:
    """One generated sample, split (see the module header)."""

    __slots__ = ("reasoning", "answer", "full")

    def __init__(self, reasoning: str | None, answer: str, full: str | None):
        self.reasoning, self.answer, self.full = reasoning, answer, full

    @classmethod
    def from_text(cls, text: str, thinking: bool = False) -> Reply:
        """`thinking`: the prompt opened the think block, so the text starts inside it."""
        if not thinking and "<think>" not in text and "</think>" not in text:
            return cls(None, text, text)
        reasoning, content = split_reasoning(text if thinking else _drop_open(text))
        return cls(reasoning, content or "", text)

    @classmethod
    def from_parts(cls, reasoning: str | None, content: str | None) -> Reply:
        """A chat message whose reasoning came in its own field (reasoning_content / reasoning)."""
        if reasoning is None:
            return cls.from_text(content or "")
        return cls(reasoning, cls.from_text(content or "").answer, None)

    def format_ok(self, style: str) -> bool:
        if style == "r1zero":
            return self.full is not None and format_reward(self.full) > 0
        return self.reasoning is not None and bool(self.answer.strip())


def _drop_open(text: str) -> str:
    head, opened, tail = text.partition("<think>")
    return tail if opened and not head.strip() else text
