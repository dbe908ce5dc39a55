"""The official `openai` client against a live server: the reasoning split, streaming, n, stop, seed, usage."""

from __future__ import annotations

import logging

import pytest
from openai import OpenAI

from r1lab.tasks.chat import chat_prompt, split_reasoning

QUESTION = [{"role": "user", "content": "What is 12 + 34?"}]


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=60)


def _raw(client, tokenizer, messages, **kw) -> list[str]:
    """The same generation through /v1/completions: the chat prompt as text, nothing split."""
    r = client.completions.create(model="tiny", prompt=chat_prompt(tokenizer, messages), **kw)
    return [c.text for c in sorted(r.choices, key=lambda c: c.index)]


def test_chat_reply_splits_reasoning_under_both_names(client, tiny):
    kw = dict(n=8, seed=0, max_tokens=160)
    r = client.chat.completions.create(model="tiny", messages=QUESTION, **kw)
    raw = _raw(client, tiny[1], QUESTION, **kw)
    assert [c.index for c in r.choices] == list(range(8))
    closed = 0
    for c, text in zip(r.choices, raw, strict=True):
        msg = c.model_dump()["message"]
        assert msg["reasoning_content"] == msg["reasoning"]
        reasoning, content = split_reasoning(text)
        assert (msg["reasoning"], msg["content"]) == (reasoning, content)
        if "</think>" in text:
            closed += 1
            assert msg["reasoning"] + "</think>" + (msg["content"] or "") == text
        else:
            assert msg["content"] is None and msg["reasoning"] == text
    assert 0 < closed < 8, "this seed should give both closed and unclosed thinking"


def test_streamed_chat_equals_the_whole_reply(client):
    kw = dict(model="tiny", messages=QUESTION, n=2, seed=0, max_tokens=160)
    whole = client.chat.completions.create(**kw)
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    reasoning, content, finish, chunks = ["", ""], ["", ""], [None, None], list(stream)
    for ch in chunks[:-1]:
        (c,) = ch.choices
        d = ch.model_dump()["choices"][0]["delta"]
        assert d.get("reasoning_content") == d.get("reasoning")
        if d.get("reasoning"):
            assert content[c.index] == "", "reasoning delta after a content delta"
            reasoning[c.index] += d["reasoning"]
        content[c.index] += d.get("content") or ""
        if c.finish_reason:
            finish[c.index] = c.finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    for c in whole.choices:
        assert (reasoning[c.index], content[c.index] or None, finish[c.index]) == \
            (c.message.reasoning, c.message.content, c.finish_reason)


def test_same_seed_same_text_other_seed_other_text(client):
    kw = dict(model="tiny", messages=QUESTION, max_tokens=40, n=3)
    a, b, c = (client.chat.completions.create(seed=s, **kw) for s in (7, 7, 8))
    def text(r):
        return [(ch.message.reasoning, ch.message.content) for ch in r.choices]
    assert text(a) == text(b)
    assert text(a) != text(c)
    assert len(set(text(a))) == 3, "the n samples of one request draw differently"


def test_usage_counts_prompt_once_and_every_choice(client, tiny):
    r = client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=5, n=3, seed=1)
    prompt_ids = tiny[1](chat_prompt(tiny[1], QUESTION), add_special_tokens=False).input_ids
    assert [c.finish_reason for c in r.choices] == ["length"] * 3
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == \
        (len(prompt_ids), 15, len(prompt_ids) + 15)


def test_max_completion_tokens_is_honoured_and_a_shorter_limit_gives_a_prefix(client):
    long = client.chat.completions.create(model="tiny", messages=QUESTION, seed=5, max_completion_tokens=60)
    short = client.chat.completions.create(model="tiny", messages=QUESTION, seed=5, max_tokens=12)
    assert short.usage.completion_tokens == 12 and short.choices[0].finish_reason == "length"
    assert long.choices[0].message.reasoning.startswith(short.choices[0].message.reasoning)


def test_stop_string_cuts_the_text_before_it(client, tiny):
    full = _raw(client, tiny[1], QUESTION, seed=2, max_tokens=60)[0]
    stop = full[20:23]
    r = client.completions.create(model="tiny", prompt=chat_prompt(tiny[1], QUESTION), seed=2, max_tokens=60,
                                  stop=[stop, "never-there"])
    assert r.choices[0].text == full[:full.index(stop)] and r.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model="tiny", prompt=chat_prompt(tiny[1], QUESTION), seed=2, max_tokens=60,
                                         stop=stop, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == r.choices[0].text


def test_system_and_earlier_reasoning_follow_the_usage_rules(client, tiny, caplog):
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 1 + 1?"},
               {"role": "assistant", "content": "<think>one and one</think> 2", "reasoning_content": "one and one",
                "reasoning": "one and one"},
               {"role": "user", "content": "And 2 + 2?"}]
    with caplog.at_level(logging.WARNING, logger="r1lab.chat"):
        r = client.chat.completions.create(model="tiny", messages=history, max_tokens=4, seed=0)
    expected = "User: Be brief.\n\nWhat is 1 + 1? Assistant:  2<|endoftext|>\nUser: And 2 + 2? Assistant:<think>\n"
    assert chat_prompt(tiny[1], history) == expected
    assert r.usage.prompt_tokens == len(tiny[1](expected, add_special_tokens=False).input_ids)
    assert any("system prompt folded" in rec.message for rec in caplog.records)


def test_models_and_health(client, server):
    import httpx
    (m,) = client.models.list().data
    assert m.id == "tiny" and m.owned_by == "r1lab" and client.models.retrieve("tiny").id == "tiny"
    assert httpx.get(server.base + "/health").json() == {"status": "ok"}


def test_greedy_and_top_p_one_are_accepted(client):
    a = client.chat.completions.create(model="tiny", messages=QUESTION, temperature=0, max_tokens=20)
    b = client.chat.completions.create(model="tiny", messages=QUESTION, temperature=0, max_tokens=20, seed=99)
    assert a.choices[0].message.reasoning == b.choices[0].message.reasoning  # greedy ignores the seed
    c = client.chat.completions.create(model="tiny", messages=QUESTION, top_p=1.0, max_tokens=20, seed=1)
    assert c.usage.completion_tokens >= 1
