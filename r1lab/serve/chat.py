"""`r1lab chat`: a terminal chat with a model, by DeepSeek-R1's usage rules, streamed as it decodes.

The thinking is shown dimmed and the answer plain. The history keeps every turn; the usage rules
(`r1lab.tasks.chat`) drop earlier replies' reasoning from the context and force `<think>\\n`.
Commands: `/reset` (forget the history), `/think on|off` (show or hide the thinking; the model
thinks either way), `/exit` (or Ctrl-D). Ctrl-C during a reply stops it.

It runs the same `Scheduler` as `r1lab serve`, in process, without HTTP.
"""

from __future__ import annotations

import importlib
import sys
from typing import TextIO

from r1lab.models.machine import check_threads
from r1lab.rollout.scheduler import GenRequest, Scheduler
from r1lab.serve.config import ChatConfig
from r1lab.serve.server import load_scheduler
from r1lab.tasks.chat import ReasoningStream, chat_prompt
from r1lab.train.grpo import set_threads

DIM, PLAIN = "\x1b[2m", "\x1b[0m"
HELP = "commands: /think on|off (show the thinking), /reset (forget the history), /exit"


class ChatSession:
    """The conversation and its display settings; `reply` streams one answer to `out`."""

    def __init__(self, cfg: ChatConfig, scheduler: Scheduler, tokenizer, out: TextIO) -> None:
        self.cfg, self.scheduler, self.tokenizer, self.out = cfg, scheduler, tokenizer, out
        self.history: list[dict] = []
        self.show_thinking = True

    def command(self, line: str) -> bool:
        """Handle a /command; False means exit."""
        word, _, arg = line.partition(" ")
        if word in ("/exit", "/quit"):
            return False
        if word == "/reset":
            self.history = []
            self._say("(history cleared)")
        elif word == "/think" and arg.strip() in ("on", "off"):
            self.show_thinking = arg.strip() == "on"
            self._say("(thinking shown)" if self.show_thinking else "(thinking hidden)")
        else:
            self._say(HELP)
        return True

    def reply(self, user_text: str) -> None:
        messages = self.history + [{"role": "user", "content": user_text}]
        ids = self.tokenizer(chat_prompt(self.tokenizer, messages, self.cfg.math), add_special_tokens=False).input_ids
        room = self.scheduler.max_model_len - len(ids)
        if room < 1:
            self._say("(the conversation no longer fits the model's context: /reset)")
            return
        req = GenRequest(tuple(ids), min(self.cfg.max_tokens, room), 1, self.cfg.temperature, self.cfg.top_p,
                         seed=self.cfg.seed)
        answer, finish = self._stream(req)
        self.history = messages + [{"role": "assistant", "content": answer}]
        if finish == "length":
            self._say("(stopped at max_tokens)")

    def _stream(self, req: GenRequest) -> tuple[str, str | None]:
        split, answer, finish, dimmed = ReasoningStream(), "", None, False
        if not self.show_thinking:
            self._write(f"{DIM}(thinking){PLAIN}\n")
        try:
            for ev in self.scheduler.stream(req):
                reasoning, content = split.push(ev.text)
                reasoning += split.flush() if ev.finish else ""
                if reasoning and self.show_thinking:
                    self._write(DIM + reasoning if not dimmed else reasoning)
                    dimmed = True
                if content:
                    self._write((PLAIN + "\n" if dimmed else "") + content)
                    dimmed, answer = False, answer + content
                finish = ev.finish or finish
        except KeyboardInterrupt:
            finish = "interrupted"
        self._write((PLAIN if dimmed else "") + "\n")
        if finish == "interrupted":
            self._say("(stopped)")
        elif split.thinking:
            self._say("(no answer: the thinking never closed)")
        return answer, finish

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _say(self, text: str) -> None:
        self._write(f"{text}\n")


def chat(cfg: ChatConfig, out: TextIO = sys.stdout) -> None:
    try:
        importlib.import_module("readline")  # line editing and history for input()
    except ImportError:
        pass
    check_threads(cfg.threads)
    set_threads(cfg.threads)
    scheduler, tokenizer = load_scheduler(cfg.model, cfg.dtype, cfg.device, max_rows=1)
    session = ChatSession(cfg, scheduler.start(), tokenizer, out)
    out.write(f"r1lab chat: {cfg.model} (temperature {cfg.temperature:g}, top-p {cfg.top_p:g}). {HELP}\n")
    try:
        while True:
            try:
                line = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                out.write("\n")
                break
            if line.startswith("/"):
                if not session.command(line):
                    break
            elif line:
                session.reply(line)
    finally:
        scheduler.close()
