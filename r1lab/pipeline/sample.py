"""`r1lab sample`: rejection sampling, DeepSeek-R1's stage 3 (and the source of the cold start).

n samples per prompt from a model, each judged in this order; the first filter a sample fails
removes it, and every filter's result is recorded on every sample:

1. `correct`: the task's verifier (the RL reward's accuracy rule) accepts the answer;
2. `format`: the response (after `rewrite`, if any) has the asked format (`verifiers.format.FORMATS`:
   `readable`, think then a summary; or `r1_zero`); a response the rewrite cannot parse fails here;
3. `language`: the chain of thought's share of words in the question's language
   (`verifiers.language.cot_consistency`, the quantity of the RL reward and the mixing metric) is at
   least `min_language_consistency` (1.0: a single word of another script removes it);
4. `repetition`: the share of repeated 4-grams (`verifiers.behaviour.repeated_ngram_share`, over
   whitespace words) is at most `max_repeat_share`;
5. `paragraphs`: no paragraph longer than `max_paragraph_words` words (a paragraph is a line of
   the chain of thought; the paper drops "long paragraphs");
6. `duplicate`: the same response (white space normalised) to the same question was kept already.

The paper also drops chains with code blocks; our tasks have none, so there is no such filter.

`rewrite readable` (the cold start) turns an R1-Zero response into the readable format by rule
(r1lab/pipeline/readable.py) before filters 2-6 judge it; the original is kept in the record.

Where samples come from is a `Source`: `LocalSource` (a model directory, `tiny` or a hub id,
through the rollout engine) today; an OpenAI-compatible endpoint is the same interface (issue 17).

Output directory:
    config.yaml            the resolved config
    chunks/chunk-NNNNNN.jsonl   every sample of `prompts_per_batch` prompts with its filter results,
                           written atomically per chunk, so a killed run resumes after its last chunk
    data.jsonl             the kept samples as chat-format rows: {"messages": [user, assistant],
                           "provenance": {model, step, seed, chunk, sample, verifier, task,
                           temperature, top_p, filters}}, ready for `r1lab sft`
    summary.json           counts: samples, kept, removed by each filter (in order) and failed
                           (each filter alone)
Chunk c draws from a generator seeded by (seed, c), so a resumed run writes what an
uninterrupted one would.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import torch

from r1lab.config import ConfigError, help_field
from r1lab.errors import UserError
from r1lab.files import write_atomic
from r1lab.models.io import load, resolve
from r1lab.pipeline.readable import REWRITES
from r1lab.rollout.engine import SamplingParams, generate
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.runs import RunDir
from r1lab.tasks import r1_zero_prompt, take
from r1lab.tasks.chat import THINK_OPEN, chat_prompt
from r1lab.train.console import Console
from r1lab.train.grpo import set_threads
from r1lab.train.run import DTYPES
from r1lab.verifiers import checked_task, get_verifier
from r1lab.verifiers.behaviour import repeated_ngram_share
from r1lab.verifiers.format import FORMATS
from r1lab.verifiers.language import chain_of_thought, cot_consistency, detect_language

FILTERS = ("correct", "format", "language", "repetition", "paragraphs", "duplicate")
SAMPLE_SAFE_TO_CHANGE = frozenset({"threads"})
_TAGS = re.compile(r"</?(?:think|answer)>")


@dataclass
class SampleConfig:
    model: str = help_field("tiny", "'tiny', a local HF model directory (a run's checkpoints/step-N), or a hub id")
    task: str = help_field("arithmetic", "built-in task (arithmetic | countdown) or a JSONL file of question/answer "
                                         "rows")
    verifier: str = help_field("", "answer checker (default: the task's; math for JSONL files)")
    split: str = help_field("train", "which split's questions to sample: train | test")
    prompts: int = help_field(64, "distinct questions")
    samples_per_prompt: int = help_field(4, "n: samples per question")
    template: str = help_field("r1_zero", "how a question becomes a prompt: r1_zero (the R1-Zero template, as train) "
                                          "| chat (the model's chat template, reply forced to open <think>)")
    temperature: float = help_field(0.6, "sampling temperature (the model card's 0.6)")
    top_p: float = help_field(0.95, "nucleus sampling threshold")
    max_new_tokens: int = help_field(128, "completion length limit in tokens")
    rewrite: str = help_field("none", "rewrite each response before filters 2-6: none | readable (R1-Zero output to "
                                      "the readable format, by rule)")
    format: str = help_field("readable", "the format a kept sample must have: readable | r1_zero")
    min_language_consistency: float = help_field(1.0, "least share of chain-of-thought words in the question's "
                                                      "language (1.0: no word of another script)")
    max_repeat_share: float = help_field(0.2, "most repeated 4-gram share of a kept response")
    max_paragraph_words: int = help_field(60, "most words in one line of the chain of thought (0 = no limit)")
    prompts_per_batch: int = help_field(32, "questions per generate call and per chunk file (the resume unit)")
    seed: int = help_field(0, "seed for the questions and the sampling")
    output_dir: str = help_field("", "output directory (default: runs/sample-<timestamp>)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16")

    def __post_init__(self) -> None:
        checks = [
            (self.split in ("train", "test"), f"split must be train | test, got {self.split!r}"),
            (self.prompts >= 1 and self.samples_per_prompt >= 1, "prompts and samples_per_prompt must be >= 1"),
            (self.template in TEMPLATES, f"template must be {' | '.join(TEMPLATES)}, got {self.template!r}"),
            (self.temperature >= 0 and 0 < self.top_p <= 1, "temperature must be >= 0 and top_p in (0, 1]"),
            (self.max_new_tokens >= 1, "max_new_tokens must be >= 1"),
            (self.rewrite in REWRITES, f"rewrite must be {' | '.join(REWRITES)}, got {self.rewrite!r}"),
            (self.format in FORMATS, f"format must be {' | '.join(FORMATS)}, got {self.format!r}"),
            (0 <= self.min_language_consistency <= 1, "min_language_consistency must be in [0, 1]"),
            (0 <= self.max_repeat_share <= 1, "max_repeat_share must be in [0, 1]"),
            (self.max_paragraph_words >= 0, "max_paragraph_words must be >= 0"),
            (self.prompts_per_batch >= 1, "prompts_per_batch must be >= 1"),
            (self.dtype in DTYPES, f"dtype must be float32 | bfloat16, got {self.dtype!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)


TEMPLATES = ("r1_zero", "chat")


# ---- where samples come from ---------------------------------------------------------------------

class Completion(NamedTuple):
    text: str  # the whole reply, as an assistant turn would hold it
    tokens: int
    truncated: bool  # hit max_new_tokens


class Source(Protocol):
    """Where samples come from: a local model (below) or, for distillation, a teacher behind an
    OpenAI-compatible endpoint. `sample` returns n completions per question, drawn reproducibly
    from `seed`; `describe` is the provenance every row carries (model, step, ...)."""

    def sample(self, questions: list[str], n: int, seed: int) -> list[list[Completion]]: ...

    def describe(self) -> dict: ...


class LocalSource:
    """A model on this machine through the rollout engine (lean static-KV decode for Llama/Qwen2)."""

    def __init__(self, cfg: SampleConfig):
        self.cfg = cfg
        self.model, self.tok = load(cfg.model, DTYPES[cfg.dtype], cfg.device)
        self.model.eval()
        if cfg.template == "chat" and not getattr(self.tok, "chat_template", None):
            raise UserError(f"model {cfg.model} has no chat template: use template r1_zero")
        self.params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                                     stop_sequences=stop_sequences(self.tok))

    def describe(self) -> dict:
        return {"model": self.cfg.model, "step": checkpoint_step(self.cfg.model), "template": self.cfg.template,
                "temperature": self.cfg.temperature, "top_p": self.cfg.top_p}

    @torch.no_grad()
    def sample(self, questions: list[str], n: int, seed: int) -> list[list[Completion]]:
        chat = self.cfg.template == "chat"
        prompts = [chat_prompt(self.tok, [{"role": "user", "content": q}]) if chat else r1_zero_prompt(q)
                   for q in questions]
        ro = generate(self.model, encode_prompts(self.tok, prompts), n, self.params,
                      eos_token_id=self.tok.eos_token_id, pad_token_id=self.tok.pad_token_id,
                      generator=torch.Generator().manual_seed(seed))
        texts = decode_completions(self.tok, ro.completion_ids, ro.completion_mask)
        out = [Completion((THINK_OPEN if chat else "") + t.strip(), int(k), bool(c))
               for t, k, c in zip(texts, ro.lengths.tolist(), ro.truncated.tolist(), strict=True)]
        return [out[i * n:(i + 1) * n] for i in range(len(questions))]


def checkpoint_step(model: str) -> int | None:
    """The training step of a run's checkpoint directory (its manifest), None for anything else."""
    manifest = Path(model) / "manifest.json"
    try:
        return int(json.loads(manifest.read_text())["step"]) if manifest.is_file() else None
    except (ValueError, KeyError, TypeError):
        return None


# ---- the filters ---------------------------------------------------------------------------------

def judge(question: str, reference: str, response: str, cfg: SampleConfig, verify) -> tuple[str | None, dict]:
    """(the text to keep, or None if the rewrite could not parse it; the measurements and, under
    `passed`, each filter's verdict)."""
    text = response if REWRITES[cfg.rewrite] is None else REWRITES[cfg.rewrite](response, question)
    shown = text if text is not None else response
    cot = _TAGS.sub(" ", chain_of_thought(shown))
    consistency = cot_consistency(shown, detect_language(question))
    longest = max((len(line.split()) for line in cot.splitlines()), default=0)
    repeats = repeated_ngram_share(shown)
    passed = {"correct": verify(response, reference).score > 0,
              "format": text is not None and FORMATS[cfg.format](text) > 0,
              "language": consistency is None or consistency >= cfg.min_language_consistency,
              "repetition": repeats <= cfg.max_repeat_share,
              "paragraphs": not cfg.max_paragraph_words or longest <= cfg.max_paragraph_words}
    return text, {"language_consistency": consistency, "repeat_share": repeats, "longest_paragraph_words": longest,
                  "passed": passed}


def _first_failure(results: dict) -> str | None:
    return next((name for name in FILTERS if not results["passed"].get(name, True)), None)


# ---- the run -------------------------------------------------------------------------------------

def run_sample(cfg: SampleConfig, console: Console | None = None, resume: bool = False,
               source: Source | None = None) -> dict:
    console = console or Console()
    t0 = time.time()
    if not cfg.output_dir:
        cfg.output_dir = str(RunDir.default("sample"))
    task = checked_task(cfg.task, cfg.verifier)
    if source is None:
        resolve(cfg.model)  # a missing model directory is a one-line error before the output is touched
    rundir = RunDir(cfg.output_dir, resume=resume)
    questions = take(task, cfg.split, cfg.prompts, seed=cfg.seed)
    rundir.save_config(cfg)
    chunks = rundir.path / "chunks"
    chunks.mkdir(exist_ok=True)
    n_chunks = -(-len(questions) // cfg.prompts_per_batch)
    todo = [c for c in range(n_chunks) if not _chunk_path(chunks, c).is_file()]
    if todo:
        threads = set_threads(cfg.threads)
        source = source or LocalSource(cfg)
        console.rich.print(f"[bold]r1lab sample[/] · model {cfg.model} · {len(questions)} questions × "
                           f"{cfg.samples_per_prompt} · {len(todo)} of {n_chunks} chunks to do · {threads} threads · "
                           f"output {rundir.path}", highlight=False)
        verify = get_verifier(task.verifier)
        with console.progress(len(todo), label="sample", info=lambda m: f"kept {m['kept']}/{m['samples']}") as bar:
            for c in todo:
                part = questions[c * cfg.prompts_per_batch:(c + 1) * cfg.prompts_per_batch]
                rows = _chunk(part, c, cfg, source, task.verifier, verify)
                write_atomic(_chunk_path(chunks, c), "".join(json.dumps(r) + "\n" for r in rows))
                bar.update({"kept": sum(r["removed_by"] is None for r in rows), "samples": len(rows)})
    rows = [json.loads(line) for c in range(n_chunks) for line in _chunk_path(chunks, c).read_text().splitlines()]
    kept = _deduplicate(rows)
    write_atomic(rundir.path / "data.jsonl", "".join(json.dumps(_chat_row(r)) + "\n" for r in kept))
    summary = _summary(rows, kept, cfg, time.time() - t0)
    rundir.write_json("summary.json", summary)
    console.rich.print(summary_text(summary), highlight=False)
    return summary


def _chunk_path(chunks: Path, c: int) -> Path:
    return chunks / f"chunk-{c:06d}.jsonl"


def _chunk(problems, c: int, cfg: SampleConfig, source: Source, verifier: str, verify) -> list[dict]:
    completions = source.sample([p.question for p in problems], cfg.samples_per_prompt, cfg.seed * 1_000_003 + c)
    provenance = dict(source.describe(), seed=cfg.seed, chunk=c, verifier=verifier, task=cfg.task)
    rows = []
    for p, group in zip(problems, completions, strict=True):
        for j, comp in enumerate(group):
            text, results = judge(p.question, p.answer, comp.text, cfg, verify)
            rows.append({"question": p.question, "reference": p.answer, "response": text or comp.text,
                         "original": comp.text if text != comp.text else None, "tokens": comp.tokens,
                         "truncated": comp.truncated, "filters": results, "removed_by": _first_failure(results),
                         "provenance": dict(provenance, sample=j)})
    return rows


def _deduplicate(rows: list[dict]) -> list[dict]:
    """The rows that passed every filter, without repeats of a (question, response) already kept;
    marks the repeats `removed_by: duplicate` (in place)."""
    seen, kept = set(), []
    for r in rows:
        if r["removed_by"] is not None:
            continue
        key = (r["question"], " ".join(r["response"].split()))
        r["filters"]["passed"]["duplicate"] = key not in seen
        if key in seen:
            r["removed_by"] = "duplicate"
            continue
        seen.add(key)
        kept.append(r)
    return kept


def _chat_row(r: dict) -> dict:
    return {"messages": [{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["response"]}],
            "reference": r["reference"], "provenance": dict(r["provenance"], filters=r["filters"])}


def _summary(rows: list[dict], kept: list[dict], cfg: SampleConfig, wall: float) -> dict:
    return {"samples": len(rows), "kept": len(kept),
            "removed_by": {f: sum(r["removed_by"] == f for r in rows) for f in FILTERS},
            "failed": {f: sum(not r["filters"]["passed"].get(f, True) for r in rows) for f in FILTERS},
            "questions": len({r["question"] for r in rows}), "questions_kept": len({r["question"] for r in kept}),
            "model": cfg.model, "step": checkpoint_step(cfg.model), "seed": cfg.seed, "wall_seconds": wall}


def summary_text(s: dict) -> str:
    removed = " · ".join(f"{f} {s['removed_by'][f]} (failed {s['failed'][f]})" for f in FILTERS)
    share = s["kept"] / s["samples"] if s["samples"] else 0.0
    return (f"kept {s['kept']} of {s['samples']} samples ({share:.0%}), {s['questions_kept']} of {s['questions']} "
            f"questions · removed by filter, in order: {removed}")
