"""`r1lab chat` driven as a person would, through a pseudo-terminal: type, watch it stream, use the commands."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pexpect
import pytest

from r1lab.rollout.scheduler import Scheduler
from r1lab.serve.chat import DIM, PLAIN, ChatSession
from r1lab.serve.config import ChatConfig

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What is 12 + 34?"


def _expected(tiny, cfg: ChatConfig, turns: list[str]) -> list[str]:
    """What ChatSession prints for each turn, run in this process on the same model."""
    scheduler = Scheduler(*tiny, max_rows=1).start()
    try:
        session, out = ChatSession(cfg, scheduler, tiny[1], io.StringIO()), []
        for text in turns:
            session.out = io.StringIO()
            session.command(text) if text.startswith("/") else session.reply(text)
            out.append(session.out.getvalue())
        return out
    finally:
        scheduler.close()


@pytest.mark.slow
def test_chat_in_a_terminal(tiny):
    cfg = ChatConfig(seed=0, max_tokens=160)
    turns = [QUESTION, "/think off", QUESTION, "/reset", "/think on", QUESTION]
    expected = _expected(tiny, cfg, turns)
    child = pexpect.spawn(sys.executable, ["-m", "r1lab.cli", "chat", "--seed", "0", "--max-tokens", "160",
                                           "--threads", "1"], cwd=str(ROOT), encoding="utf-8", timeout=120)
    child.expect("you> ")
    assert "/think on|off" in child.before
    seen = []
    for text in turns:
        child.sendline(text)
        child.expect("you> ")
        seen.append(child.before.replace("\r\n", "\n").removeprefix(text + "\n"))
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert seen == expected
    first = seen[0]  # the thinking dimmed, then the plain answer after </think>
    assert first.startswith(DIM) and PLAIN + "\n" in first
    reasoning, answer = first[len(DIM):].split(PLAIN + "\n")
    assert "<think>" in reasoning and answer.strip() == "<answer> 2736 </answer>"
    assert seen[1] == "(thinking hidden)\n" and seen[2].startswith(DIM + "(thinking)" + PLAIN)
    assert seen[3] == "(history cleared)\n" and seen[5] == first  # a fresh conversation: the same first reply
