"""The local backend: `--model tiny | MODEL_DIR | HUB_ID` through r1lab's rollout engine.

Jobs that lack the same number of samples G are generated together, up to `batch_size`
sequences (problems x G) per `generate` call. Each call draws from a generator seeded by the
seed and the first problem of the call, so a rerun of the same jobs draws the same samples. The
prompt rule's text is tokenized as is (r1zero) or rendered by the model's chat template with the
generation prompt and followed by the forced `<think>\\n` (chat, `r1lab.tasks.chat.open_think`, as
`serve` does); the reply then starts inside the think block. A row ends at the tokenizer's eos or at a stop string (kept
in the reply, as in training); `finish_reason` is "length" when it hit `max_tokens`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Iterator

import torch

from r1lab.errors import UserError
from r1lab.eval.backends import Job, Sample
from r1lab.eval.config import EvalConfig
from r1lab.eval.prompts import PromptRule, Reply
from r1lab.models.io import load
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.tasks.chat import open_think

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class LocalBackend:
    def __init__(self, cfg: EvalConfig, rule: PromptRule, max_tokens: int):
        self.cfg, self.rule = cfg, rule
        self.model, self.tok = load(cfg.model, DTYPES[cfg.dtype], cfg.device)
        if rule.style == "chat" and not getattr(self.tok, "chat_template", None):
            raise UserError(f"model {cfg.model} has no chat template: use --prompt r1zero")
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
        self.model.eval()
        stops = stop_sequences(self.tok, rule.stops) if rule.stops else ()
        self.params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=max_tokens,
                                     stop_sequences=stops)
        self.engine = None

    def render(self, user_text: str) -> str:
        if self.rule.style == "r1zero":
            return user_text
        text = self.tok.apply_chat_template(self.rule.messages(user_text), tokenize=False, add_generation_prompt=True)
        return open_think(text) if self.rule.think_prefix else text

    def describe(self) -> dict:
        return {"backend": "local", "model": self.cfg.model, "engine": self.engine, "device": self.cfg.device,
                "dtype": self.cfg.dtype, "threads": torch.get_num_threads(), "batch_size": self.cfg.batch_size}

    def close(self) -> None:
        pass

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[Sample]]]:
        by_group: dict[int, list[Job]] = defaultdict(list)
        for job in jobs:
            by_group[len(job.samples)].append(job)
        for g, group in by_group.items():
            per_call = max(1, self.cfg.batch_size // g)
            for start in range(0, len(group), per_call):
                yield from self._generate(group[start:start + per_call], g)

    def _generate(self, chunk: list[Job], g: int) -> Iterator[tuple[Job, list[Sample]]]:
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + chunk[0].index)
        ro = generate(self.model, encode_prompts(self.tok, [j.prompt for j in chunk]), g, self.params,
                      eos_token_id=self.tok.eos_token_id, pad_token_id=self.tok.pad_token_id, generator=gen)
        self.engine = ro.engine
        texts = decode_completions(self.tok, ro.completion_ids, ro.completion_mask)
        lengths, truncated = ro.lengths.tolist(), ro.truncated.tolist()
        for i, job in enumerate(chunk):
            rows = range(i * g, (i + 1) * g)
            yield job, [Sample(Reply.from_text(texts[r], thinking=bool(self.rule.think_prefix)), lengths[r],
                               "length" if truncated[r] else "stop", True) for r in rows]
