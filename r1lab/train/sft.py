"""`r1lab sft`: supervised fine-tuning on chat-format JSONL, resumable after any crash.

The SFT stages of DeepSeek-R1 (the cold start, and the fine-tune of the base on ~800k rejection-
sampled and non-reasoning samples) and of distillation, as a recipe over the library's pieces:
the data (r1lab/tasks/chatdata.py, r1lab/train/sft_data.py), the training forward of GRPO
(`r1lab.train.logprobs.completion_logprobs`), its optimizer (fp32 master weights for bf16) with a
cosine schedule (`r1lab.train.optim.warmup_cosine`), and the run directory, checkpoints and exact
resume of `train` (r1lab/runs/).

Objective: the mean over the step's trained tokens (the assistant replies) of -log p(token | the
tokens before it in its own example); a token-level mean over the whole step, so a long reply
weighs by its tokens (TRL's default), and the normaliser is the step's token count even when the
step runs as several forwards (`max_tokens_per_forward`): accumulating them gives the same
gradient as one forward.

Packing (`packing true`, Llama / Qwen2): the step's examples run as ONE stream of tokens with
no padding: every per-token op (embeddings, norms, projections, MLP, lm_head) on the
concatenated tokens, each token at its own example's position (positions restart at 0 per
example), and attention kept inside each example (r1lab/train/logprobs.py groups examples of
similar length for attention only). Each example's text before its first reply is the "prompt"
of that forward and its replies the scored "completion"; later user turns are context that is
not scored. Other architectures, or `packing false`, take one HF forward over the examples
right-padded to the longest, with an attention mask (no 4D masks are passed to HF models: their
support differs across architectures and versions). Both give the same loss
(tests/train/test_sft.py, within 1e-5).

Schedule: linear warm-up over `warmup_steps`, then cosine decay to `min_lr_ratio` (R1: one
tenth) at the last step. Defaults are sized for the built-in tiny model; R1's stage-3 SFT used
lr 5e-6, batch 64, 2 epochs (recipes/ has the real-model settings).

Resume: a checkpoint holds the model (a from_pretrained directory), the optimizer with its
schedule, the step, the RNG states and the config; the data order is a function of the seed and
the step (sft_data.ExampleOrder), so `r1lab sft --resume RUN_DIR` ends exactly where the
uninterrupted run ends (tests/train/test_sft.py). Only `save_every`, `keep_checkpoints`,
`threads` and `report_to` may change on resume (`max_steps` would change the schedule).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import torch

from r1lab.config import ConfigError, help_field
from r1lab.errors import UserError
from r1lab.models import forward as fw
from r1lab.models.io import load_model, load_tokenizer, write_pretrained
from r1lab.runs import RunDir, open_run, read_run_state, truncate_jsonl, write_run_state
from r1lab.runs.trackers import TRACKERS, open_trackers
from r1lab.tasks.chatdata import read_chat_files
from r1lab.train.console import Console
from r1lab.train.grpo import TrainingStopped, set_threads
from r1lab.train.logprobs import completion_logprobs
from r1lab.train.optim import PolicyOptimizer, warmup_cosine
from r1lab.train.run import DTYPES
from r1lab.train.sft_data import TEMPLATES, Encoded, EncodeStats, ExampleOrder, encode

log = logging.getLogger("r1lab.sft")
SFT_SAFE_TO_CHANGE = frozenset({"save_every", "keep_checkpoints", "threads", "report_to"})


@dataclass
class SFTConfig:
    model: str = help_field("tiny", "'tiny' (the built-in base), a local HF model directory, or a hub id")
    data: str = help_field("", "chat-format JSONL file(s), comma-separated: rows of messages (system/user/assistant) "
                               "or prompt/completion")
    template: str = help_field("chat", "how messages rows become text: chat (the tokenizer's chat template) | r1_zero "
                                       "(the R1-Zero template around the question, as train and eval prompt)")
    output_dir: str = help_field("", "run directory (default: runs/sft-<timestamp>)")
    seed: int = help_field(0, "seed for the data order and initialisation")
    epochs: float = help_field(2.0, "passes over the data (R1's stage-3 SFT: 2)")
    max_steps: int = help_field(0, "optimizer steps (0 = as many as the epochs take)")
    batch_size: int = help_field(16, "examples per optimizer step (R1: 64)")
    lr: float = help_field(5e-4, "peak AdamW learning rate (R1: 5e-6 for a 671B model; the tiny model needs more)")
    warmup_steps: int = help_field(5, "linear learning-rate warm-up steps")
    min_lr_ratio: float = help_field(0.1, "cosine decay after warm-up ends at lr x this (R1: one tenth)")
    weight_decay: float = help_field(0.0, "AdamW weight decay")
    max_grad_norm: float = help_field(1.0, "gradient clipping norm")
    max_seq_len: int = help_field(1024, "tokens per example; longer ones keep their start (counted as truncated)")
    packing: bool = help_field(True, "run each step's examples as one padding-free token stream, attention kept "
                                     "inside each example (Llama/Qwen2; others are padded)")
    max_tokens_per_forward: int = help_field(16384, "split a step into forwards of at most this many tokens "
                                                    "(gradients accumulated, same result)")
    save_every: int = help_field(50, "write a checkpoint every N steps (and at the end)")
    keep_checkpoints: int = help_field(3, "keep the newest N checkpoints (0 = all)")
    max_skipped_in_a_row: int = help_field(5, "stop after N updates in a row skipped for a non-finite loss or gradient")
    report_to: str = help_field("", "also stream each step's metrics to: tensorboard, wandb (comma-separated)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16 (the optimizer keeps fp32 master weights)")

    def __post_init__(self) -> None:
        checks = [
            (bool(self.data_files()), "data must name at least one chat-format JSONL file"),
            (self.template in TEMPLATES, f"template must be {' | '.join(TEMPLATES)}, got {self.template!r}"),
            (self.epochs > 0 or self.max_steps > 0, "epochs must be > 0 (or set max_steps)"),
            (self.max_steps >= 0, "max_steps must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (self.max_seq_len >= 2, "max_seq_len must be >= 2"),
            (self.max_tokens_per_forward >= 1, "max_tokens_per_forward must be >= 1"),
            (self.save_every >= 0 and self.keep_checkpoints >= 0, "save_every and keep_checkpoints must be >= 0"),
            (self.max_skipped_in_a_row >= 1, "max_skipped_in_a_row must be >= 1"),
            (all(n.strip().lower() in (*TRACKERS, "none") for n in self.report_to.split(",") if n.strip()),
             f"report_to must be a comma-separated list of {', '.join(TRACKERS)}, got {self.report_to!r}"),
            (self.dtype in DTYPES, f"dtype must be float32 | bfloat16, got {self.dtype!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    def data_files(self) -> list[str]:
        return [f.strip() for f in self.data.split(",") if f.strip()]


# ---- the loss ------------------------------------------------------------------------------------

def sft_loss_sum(model, examples: list[Encoded], packed: bool) -> torch.Tensor:
    """Sum over the examples' trained tokens of -log p(token | the tokens before it in its example)."""
    if packed:
        return -_packed_logprobs(model, examples).sum()
    return -_padded_logprobs(model, examples).sum()


def _packed_logprobs(model, examples: list[Encoded]) -> torch.Tensor:
    """Padding-free: each example's text before its first trained token is its prompt, the rest its
    completion (scored where trained). Returns log-probs (n, T), 0 where not trained."""
    dev = model.device
    split = [e.trained.index(True) for e in examples]  # >= 1: the first token is never trained
    width = max(len(e.ids) - s for e, s in zip(examples, split, strict=True))
    ids = torch.zeros((len(examples), width), dtype=torch.long)  # (n, T) right-padded, pad id 0 never scored
    mask = torch.zeros((len(examples), width), dtype=torch.bool)  # (n, T)
    for i, (e, s) in enumerate(zip(examples, split, strict=True)):
        ids[i, :len(e.ids) - s] = torch.tensor(e.ids[s:])
        mask[i, :len(e.ids) - s] = torch.tensor(e.trained[s:])
    logp, _ = completion_logprobs(model, [e.ids[:s] for e, s in zip(examples, split, strict=True)],
                                  ids.to(dev), mask.to(dev), group_size=1)  # (n, T)
    return logp


def _padded_logprobs(model, examples: list[Encoded]) -> torch.Tensor:
    """One HF forward over the examples right-padded to the longest; log-probs of the trained tokens (K,)."""
    dev, width = model.device, max(len(e.ids) for e in examples)
    ids = torch.zeros((len(examples), width), dtype=torch.long)  # (n, L)
    attn = torch.zeros((len(examples), width), dtype=torch.long)  # (n, L)
    trained = torch.zeros((len(examples), width), dtype=torch.bool)  # (n, L)
    for i, e in enumerate(examples):
        ids[i, :len(e.ids)], attn[i, :len(e.ids)] = torch.tensor(e.ids), 1
        trained[i, :len(e.ids)] = torch.tensor(e.trained)
    ids, attn, trained = ids.to(dev), attn.to(dev), trained.to(dev)
    logits = model(input_ids=ids, attention_mask=attn).logits  # (n, L, V)
    pred = logits[:, :-1][trained[:, 1:]]  # (K, V): the rows that predict a trained token
    logp = torch.log_softmax(pred.float(), dim=-1)  # (K, V)
    return logp.gather(-1, ids[:, 1:][trained[:, 1:]].unsqueeze(-1)).squeeze(-1)  # (K,)


def _forwards(batch: list[Encoded], max_tokens: int) -> list[list[Encoded]]:
    """The step's examples in order, cut into groups of at most `max_tokens` tokens (one example at least)."""
    groups, size = [[]], 0
    for e in batch:
        if groups[-1] and size + len(e.ids) > max_tokens:
            groups.append([])
            size = 0
        groups[-1].append(e)
        size += len(e.ids)
    return groups


# ---- the trainer ---------------------------------------------------------------------------------

class SFT:
    """Owns the model and the optimizer; `step(examples)` is one optimizer step."""

    def __init__(self, cfg: SFTConfig, model, tokenizer, total_steps: int):
        self.cfg, self.model, self.tok = cfg, model, tokenizer
        self.packed = cfg.packing and fw.supports(model)
        if cfg.packing and not self.packed:
            log.warning("packing needs the lean forward (Llama/Qwen2): %s runs padded batches instead",
                        type(model).__name__)
        self.opt = PolicyOptimizer(model, cfg.lr, cfg.weight_decay, cfg.warmup_steps,
                                   warmup_cosine(cfg.warmup_steps, total_steps, cfg.min_lr_ratio))
        self.steps_done = 0
        self.nonfinite_streak = 0

    def step(self, batch: list[Encoded]) -> dict:
        t0 = time.perf_counter()
        n_trained = sum(e.n_trained for e in batch)
        self.model.train()
        self.opt.zero_grad()
        total = 0.0
        for group in _forwards(batch, self.cfg.max_tokens_per_forward):
            loss = sft_loss_sum(self.model, group, self.packed) / n_trained  # the step's normaliser
            loss.backward()
            total += loss.item()
        lr = self.opt.last_lr()
        gnorm, finite = self.opt.clip_and_step(self.cfg.max_grad_norm, torch.tensor(total))
        self.opt.schedule_step()
        self.steps_done += 1
        self.nonfinite_streak = 0 if finite else self.nonfinite_streak + 1
        seconds = time.perf_counter() - t0
        n_tokens = sum(len(e.ids) for e in batch)
        return {"step": self.steps_done, "loss": total, "lr": lr, "grad_norm": gnorm.item(),
                "skipped_updates": int(not finite), "examples": len(batch), "trained_tokens": n_trained,
                "tokens": n_tokens, "tokens_per_second": n_tokens / seconds, "seconds": seconds}

    def save_state(self, out) -> None:
        write_pretrained(self.model, self.tok, out)
        torch.save({**self.opt.state_dict(), "steps_done": self.steps_done, "nonfinite_streak": self.nonfinite_streak},
                   out / "trainer.pt")

    def load_state(self, path) -> None:
        """Restore what `save_state` wrote; the weights were loaded with the model."""
        state = torch.load(path / "trainer.pt", weights_only=True)
        self.opt.load_state_dict(state)
        self.steps_done, self.nonfinite_streak = state["steps_done"], state["nonfinite_streak"]


# ---- the run -------------------------------------------------------------------------------------

def run_sft(cfg: SFTConfig, console: Console | None = None, resume: bool = False) -> dict:
    console = console or Console()
    t_start = time.time()
    if not cfg.output_dir:
        cfg.output_dir = str(RunDir.default("sft"))
    rows = read_chat_files(cfg.data_files())  # every row validated before any compute
    rundir, ckpts, latest = open_run(cfg.output_dir, cfg.keep_checkpoints, resume)
    source = str(latest) if latest else cfg.model
    tok = load_tokenizer(source)
    stats = EncodeStats()
    examples = [e for e in (encode(r, tok, cfg.template, cfg.max_seq_len, stats) for r in rows) if e is not None]
    if not examples:
        raise UserError(f"{cfg.data}: no example has a reply token left to train on (max_seq_len {cfg.max_seq_len})")
    model = load_model(source, DTYPES[cfg.dtype], cfg.device)
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rundir.save_config(cfg)
    visits = cfg.max_steps * cfg.batch_size if cfg.max_steps else None
    order = ExampleOrder(len(examples), cfg.epochs, cfg.batch_size, cfg.seed, visits)
    trainer = SFT(cfg, model, tok, order.steps)
    start = 0
    if latest is not None:
        trainer.load_state(latest)
        read_run_state(latest)
        start = trainer.steps_done
        console.rich.print(f"resuming from {latest} (step {start} of {order.steps})")
    truncate_jsonl(rundir.path / "metrics.jsonl", lambda r: r.get("step", 0) <= start)
    console.rich.print(
        f"[bold]r1lab sft[/] · model {cfg.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params) · "
        f"{len(examples)} examples ({stats.truncated} truncated, {stats.dropped} dropped), "
        f"{sum(e.n_trained for e in examples)} trained tokens · template {cfg.template} · "
        f"{order.steps} steps × {cfg.batch_size} · packing {trainer.packed} · {threads} threads · "
        f"run dir {rundir.path}")
    save = lambda step: ckpts.save(step, lambda d: (trainer.save_state(d),  # noqa: E731
                                                    write_run_state(d, step * cfg.batch_size, cfg)))
    trackers = open_trackers(cfg.report_to, rundir.path, cfg, start)
    with console.progress(order.steps, completed=start, label="SFT", info=_info) as bar, trackers:
        for step in range(start + 1, order.steps + 1):
            metrics = trainer.step([examples[i] for i in order.batch(step)])
            rundir.append("metrics.jsonl", [metrics])
            trackers.log(metrics, step)
            bar.update(metrics)
            if trainer.nonfinite_streak >= cfg.max_skipped_in_a_row:
                raise TrainingStopped(f"stopped at step {step}: {trainer.nonfinite_streak} updates in a row had a "
                                      f"non-finite loss or gradient (lower lr?); metrics are in {rundir.path}")
            if (cfg.save_every and step % cfg.save_every == 0) or step == order.steps:
                save(step)
    if not ckpts.complete():
        save(trainer.steps_done)
    summary = {"steps": order.steps, "examples": len(examples), "examples_truncated": stats.truncated,
               "examples_dropped": stats.dropped, "trained_tokens": sum(e.n_trained for e in examples),
               "final_loss": _final_loss(rundir), "model": cfg.model, "data": cfg.data,
               "checkpoint": str(ckpts.complete()[-1][1]), "wall_seconds": time.time() - t_start}
    rundir.write_json("summary.json", summary)
    console.rich.print(f"final loss {summary['final_loss']:.4f} · model {summary['checkpoint']} · "
                       f"wall time {summary['wall_seconds']:.0f}s", highlight=False)
    return summary


def _info(m: dict) -> str:
    return f"loss {m['loss']:.3f} · lr {m['lr']:.2e} · {m['seconds']:.2f}s/step"


def _final_loss(rundir: RunDir, last: int = 10) -> float:
    """Mean loss of the last `last` steps in metrics.jsonl (the whole run's, also after a resume)."""
    rows = [json.loads(line) for line in (rundir.path / "metrics.jsonl").read_text().splitlines() if line.strip()]
    tail = [r["loss"] for r in rows[-last:]]
    return sum(tail) / len(tail) if tail else float("nan")
