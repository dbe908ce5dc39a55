"""Where a distillation teacher is, checked before any compute, and traces from an endpoint.

`--teacher` names a finished `r1lab train` or `r1lab sft` run directory (its newest complete
checkpoint is the teacher), a `r1lab pipeline` output directory (the model of its last stage that
made one), or anything `--model` accepts ('tiny', a model directory, a hub id). With
`--teacher-endpoint URL` the teacher is the model `--teacher` names on an OpenAI-compatible
server (vLLM, SGLang, `r1lab serve`): it is asked `GET URL/models` before anything runs, and its
traces come through the eval issue's endpoint backend (r1lab/eval/endpoint.py) with the R1-Zero
template as raw text (`/completions`), n samples per request. Endpoint sampling is not seeded.

Tokenizers: traces are text, and `r1lab sft` tokenises them with the student's own tokenizer, so a
student whose tokenizer differs from the teacher's is trained on the retokenised text, never on
the teacher's ids. The one thing refused is a student tokenizer that cannot hold the text: one
whose decode(encode(text)) differs from the text (unknown characters, lost tags), checked on a
probe before any compute and on every kept trace before SFT.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from r1lab.errors import UserError
from r1lab.eval.config import EvalConfig
from r1lab.eval.endpoint import EndpointBackend
from r1lab.eval.prompts import prompt_rule
from r1lab.models.io import load_tokenizer, resolve
from r1lab.pipeline.sample import Completion
from r1lab.runs import Checkpoints
from r1lab.tasks import r1_zero_prompt

PROBE = r1_zero_prompt("What is 23 + 19?") + " <think> 23 + 19 = 42 </think> <answer> 42 </answer>"


def teacher_model(teacher: str) -> str:
    """The model directory (or name) a `--teacher` argument stands for; a one-line error if none."""
    p = Path(teacher).expanduser()
    if p.is_dir() and not (p / "config.json").is_file():
        if (p / "pipeline.json").is_file():
            return _pipeline_model(p)
        if (p / "checkpoints").is_dir():
            done = Checkpoints(p / "checkpoints").complete()
            if not done:
                raise UserError(f"teacher run {teacher} has no complete checkpoint (is it finished?)")
            return str(done[-1][1])
        raise UserError(f"teacher {teacher} is a directory with no model (config.json), run (checkpoints/) or "
                        "pipeline (pipeline.json)")
    resolve(teacher)
    return teacher


def _pipeline_model(d: Path) -> str:
    try:
        stages = json.loads((d / "pipeline.json").read_text())["stages"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"teacher pipeline {d}: pipeline.json is not a pipeline's state file") from None
    models = [s["model"] for s in stages if isinstance(s, dict) and s.get("model")]
    if not models:
        raise UserError(f"teacher pipeline {d}: no finished stage made a model yet")
    return models[-1]


def check_loadable(model: str, what: str):
    """The tokenizer and config of a local model load (a one-line error naming `what` if not); the tokenizer."""
    from transformers import AutoConfig
    path = resolve(model)
    try:
        AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{what} {model}: cannot load its config: {str(e).strip().splitlines()[0]}") from None
    return load_tokenizer(model)


def check_retokenise(tok, text: str, what: str) -> None:
    """Refuse a student tokenizer that cannot hold `text` (the traces are retokenised with it)."""
    back = tok.decode(tok(text, add_special_tokens=False).input_ids)
    if back != text:
        at = next((i for i, (a, b) in enumerate(zip(back, text, strict=False)) if a != b), min(len(back), len(text)))
        raise UserError(f"{what}: the student's tokenizer cannot reproduce the trace text (it differs at character "
                        f"{at}: {text[at:at + 20]!r} comes back as {back[at:at + 20]!r}); choose a student whose "
                        "tokenizer covers the teacher's text")


def check_endpoint(url: str, timeout: float = 10.0) -> None:
    """A server answers at `url` (`GET URL/models`; any answer but 401/403 will do, as not every server
    lists models); a one-line error naming the URL if nothing is there."""
    try:
        r = httpx.get(url.rstrip("/") + "/models", timeout=timeout,
                      headers={"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
                      if os.environ.get("OPENAI_API_KEY") else {})
    except httpx.HTTPError as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"teacher endpoint {url} cannot be reached: {type(e).__name__}: {why}") from None
    if r.status_code in (401, 403):
        raise UserError(f"teacher endpoint {url} answered {r.status_code}: set OPENAI_API_KEY to its key")


class EndpointSource:
    """`r1lab sample`'s Source for a teacher behind an OpenAI-compatible endpoint (r1lab/eval/endpoint.py)."""

    def __init__(self, url: str, model: str, temperature: float, top_p: float, max_tokens: int):
        self.url, self.model, self.temperature, self.top_p = url, model, temperature, top_p
        self.rule = prompt_rule("r1zero", "task", None, local=False, tiny=False)
        cfg = EvalConfig(model=model, endpoint=url, api="completions", temperature=temperature, top_p=top_p,
                         max_tokens=max_tokens, concurrency=8)
        self.backend = EndpointBackend(cfg, self.rule, max_tokens)

    def describe(self) -> dict:
        return {"model": self.model, "endpoint": self.url, "step": None, "template": "r1_zero",
                "temperature": self.temperature, "top_p": self.top_p}

    def sample(self, questions: list[str], n: int, seed: int) -> list[list[Completion]]:
        from r1lab.eval.backends import Job
        jobs = [Job(i, str(i), self.rule.user_text(q), tuple(range(n))) for i, q in enumerate(questions)]
        out: list[dict[int, Completion]] = [{} for _ in questions]
        for job, samples in self.backend.run(jobs):
            for i, s in zip(job.samples, samples, strict=True):
                r = s.reply
                text = r.full if r.full is not None else f"<think>{r.reasoning}</think>{r.answer}"
                out[job.index][i] = Completion(text.strip(), s.tokens or 0, s.finish_reason == "length")
        return [[got[i] for i in range(n)] for got in out]

    def close(self) -> None:
        self.backend.close()
