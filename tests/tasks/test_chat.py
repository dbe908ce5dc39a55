"""The usage rules' chat prompt, and the reasoning split, whole and streamed."""

from __future__ import annotations

import logging

import pytest

from r1lab.models import io
from r1lab.tasks.chat import MATH_INSTRUCTION, ReasoningStream, chat_prompt, split_reasoning, usage_rule_messages


@pytest.fixture(scope="module")
def tok():
    return io.load_tokenizer("tiny")


def test_system_is_folded_into_the_first_user_turn_with_a_warning(caplog):
    msgs = [{"role": "user", "content": "a"}, {"role": "system", "content": "S"}, {"role": "assistant", "content": "b"},
            {"role": "developer", "content": "D"}, {"role": "user", "content": "c"}]
    with caplog.at_level(logging.WARNING, logger="r1lab.chat"):
        out = usage_rule_messages(msgs)
    assert out == [{"role": "user", "content": "S\n\nD\n\na"}, {"role": "assistant", "content": "b"},
                   {"role": "user", "content": "c"}]
    assert "folded" in caplog.text


def test_earlier_reasoning_is_dropped_and_the_math_instruction_appended():
    msgs = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "think a</think>think b</think> 4"},
            {"role": "user", "content": "q2"}]
    out = usage_rule_messages(msgs, math=True)
    assert out[1]["content"] == " 4"
    assert out[0]["content"] == f"q1\n\n{MATH_INSTRUCTION}" and out[2]["content"].endswith(MATH_INSTRUCTION)


@pytest.mark.parametrize("msgs", [[], [{"role": "assistant", "content": "x"}], [{"role": "tool", "content": "x"}],
                                  [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]])
def test_conversations_that_cannot_be_answered_are_refused(msgs):
    with pytest.raises(ValueError):
        usage_rule_messages(msgs)


class _Template:
    def __init__(self, ending: str) -> None:
        self.ending = ending

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "<|User|>" + messages[-1]["content"] + "<|Assistant|>" + self.ending


@pytest.mark.parametrize("ending", ["", "<think>", "<think>\n"])
def test_the_prompt_ends_inside_one_think_block(tok, ending):
    assert chat_prompt(_Template(ending), [{"role": "user", "content": "hi"}]).endswith("<|Assistant|><think>\n")
    assert chat_prompt(tok, [{"role": "user", "content": "hi"}]) == "User: hi Assistant:<think>\n"


@pytest.mark.parametrize("text,expected", [
    ("plan</think> 42", ("plan", " 42")), ("plan", ("plan", None)), ("plan</think>", ("plan", None)),
    ("", ("", None)), ("a</think>b</think>c", ("a", "b</think>c")),
])
def test_split_reasoning(text, expected):
    assert split_reasoning(text) == expected


@pytest.mark.parametrize("text", ["so x = 2</think> The answer is 2.", "never closes </thin", "</think>", "a</think",
                                  "ab</think>cd</think>", "</</think>x"])
def test_streamed_split_equals_the_whole_split_at_every_cut(text):
    for cuts in [[i] for i in range(len(text) + 1)] + [list(range(len(text) + 1))]:
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)], strict=True)]
        stream, reasoning, content = ReasoningStream(), "", ""
        for p in pieces:
            r, c = stream.push(p)
            assert not (r and content), "reasoning after content"
            reasoning, content = reasoning + r, content + c
        reasoning += stream.flush()
        assert (reasoning, content or None) == split_reasoning(text), pieces
