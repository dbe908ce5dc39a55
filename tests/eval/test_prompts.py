"""The prompt rule and the split of a reply into reasoning and answer."""

import pytest

from r1lab.config import ConfigError
from r1lab.eval.prompts import Reply, prompt_rule
from r1lab.tasks.chat import MATH_INSTRUCTION


@pytest.mark.parametrize("text,reasoning,answer", [
    ("<think>\nwork\n</think>\n\n\\boxed{2}", "\nwork\n", "\n\n\\boxed{2}"),
    ("<think>\nwork \\boxed{3}", "\nwork \\boxed{3}", ""),  # never closed: all reasoning, no answer
    ("work</think>the end", "work", "the end"),  # a forced <think> lives in the prompt, not the reply
    (" <answer> 7 </answer>", None, " <answer> 7 </answer>"),  # no thinking at all
    ("<think>a</think> b </think> c", "a", " b </think> c"),  # the first </think> closes, as vLLM's parser
])
def test_reply_split(text, reasoning, answer):
    r = Reply.from_text(text)
    assert (r.reasoning, r.answer, r.full) == (reasoning, answer, text)


def test_reply_after_a_prompt_that_opened_the_think_block():
    r = Reply.from_text("plan</think>\n\\boxed{1}", thinking=True)
    assert (r.reasoning, r.answer) == ("plan", "\n\\boxed{1}") and r.format_ok("chat")
    cut = Reply.from_text("still planning \\boxed{2}", thinking=True)  # truncated inside the thought
    assert (cut.reasoning, cut.answer) == ("still planning \\boxed{2}", "") and not cut.format_ok("chat")


def test_separate_reasoning_and_format():
    r = Reply.from_parts("thinking", "\\boxed{1}")
    assert (r.reasoning, r.answer, r.full) == ("thinking", "\\boxed{1}", None) and r.format_ok("chat")
    assert not Reply.from_parts("cut off", None).format_ok("chat")  # vLLM: no </think>, content null
    assert Reply.from_parts(None, "<think>x</think>\\boxed{1}").reasoning == "x"  # inline in content
    assert not Reply.from_text("\\boxed{1}").format_ok("chat")
    strict = Reply.from_text(" <think> 1+1=2 </think> <answer> 2 </answer>")
    assert strict.format_ok("r1zero") and not Reply.from_text(" <answer> 2 </answer>").format_ok("r1zero")


def test_prompt_rule_defaults():
    task = prompt_rule("auto", "task", None, local=True, tiny=False)
    assert (task.style, task.instruction, task.think_prefix, task.stops) == ("r1zero", "", "", ("</answer>",))
    assert task.user_text("What is 1 + 2?").endswith("User: What is 1 + 2? Assistant:")
    assert prompt_rule("auto", "math", None, local=True, tiny=True).style == "r1zero"  # the tiny model knows no chat
    chat = prompt_rule("auto", "math", None, local=True, tiny=False)
    assert (chat.style, chat.think_prefix, chat.stops) == ("chat", "<think>\n", ())
    assert chat.user_text("Find x.") == "Find x.\n\n" + MATH_INSTRUCTION
    endpoint = prompt_rule("auto", "math", None, local=False, tiny=False)
    assert endpoint.think_prefix == ""  # the server's chat template decides
    assert prompt_rule("chat", "math", "", local=True, tiny=False).user_text("Find x.") == "Find x."
    assert chat.messages("hi") == [{"role": "user", "content": "hi"}]
    sys_rule = prompt_rule("chat", "math", None, local=True, tiny=False, system="Be brief.", force_think=False)
    assert sys_rule.messages("hi")[0] == {"role": "system", "content": "Be brief."} and sys_rule.think_prefix == ""
    with pytest.raises(ConfigError, match="--system-prompt needs --prompt chat"):
        prompt_rule("r1zero", "math", None, local=True, tiny=False, system="Be brief.")
    d = chat.describe("EXAMPLE")
    assert d["system_prompt"] is None and d["instruction"] == MATH_INSTRUCTION and d["example"] == "EXAMPLE"
    assert "{question}\\n\\n{instruction}" in d["template"]
