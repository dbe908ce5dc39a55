"""`r1lab base`: build the built-in tiny base model from nothing.

Generates the synthetic corpus (r1lab.models.corpus), trains a byte-level BPE tokenizer on it,
and pretrains a small Qwen2-style causal LM with plain next-token prediction on packed
windows of the document stream (documents separated by EOS; attention crosses document
boundaries, as in ordinary packed pretraining, which also teaches the model to ignore long
unrelated prefixes). The result is a standard Hugging Face model directory.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from r1lab.config import help_field
from r1lab.models.corpus import CorpusMix, documents
from r1lab.models.io import save
from r1lab.models.tokenizer import corpus_tokenizer


@dataclass
class BaseConfig:
    output_dir: str = help_field("runs/base", "where the model directory is written")
    seed: int = help_field(0, "seed for the corpus, the tokenizer and the initialisation")
    steps: int = help_field(1500, "optimizer steps")
    batch_size: int = help_field(32, "windows per step")
    seq_len: int = help_field(320, "tokens per window (covers the R1-Zero prompt plus an answer)")
    lr: float = help_field(3e-3, "peak learning rate (AdamW, linear warm-up, cosine to 10%)")
    warmup_steps: int = help_field(50, "linear warm-up steps")
    weight_decay: float = help_field(0.1, "AdamW weight decay")
    vocab_size: int = help_field(512, "BPE vocabulary size")
    hidden_size: int = help_field(128, "model width")
    num_layers: int = help_field(4, "transformer blocks")
    num_heads: int = help_field(4, "attention heads")
    num_kv_heads: int = help_field(2, "key/value heads (grouped-query attention)")
    intermediate_size: int = help_field(384, "SwiGLU hidden size")
    worked_fraction: float = help_field(0.3, "share of documents that show working before the answer")
    countdown_fraction: float = help_field(0.15, "share of problems that are Countdown")
    init_from: str = help_field("", "continue pretraining from this model directory (its tokenizer is kept)")
    save_every: int = help_field(0, "also save a snapshot to output_dir/step-N every N steps (0 = only at the end)")
    threads: int = help_field(0, "torch threads (0 = all cores)")

    def validate(self) -> None:
        from r1lab.config import ConfigError
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError("hidden_size must divide by num_heads, and num_heads by num_kv_heads")
        if not 0 <= self.worked_fraction <= 1:
            raise ConfigError(f"worked_fraction must be in [0, 1], got {self.worked_fraction}")


def model_config(cfg: BaseConfig, vocab_size: int, eos_id: int) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads, max_position_embeddings=1024,
        tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        torch_dtype="float32",
    )


def _token_stream(tok, docs, eos_id: int):
    for doc in docs:
        yield from tok(doc).input_ids
        yield eos_id


def _batches(stream, batch_size: int, seq_len: int):
    while True:
        flat = list(itertools.islice(stream, batch_size * (seq_len + 1)))
        yield torch.tensor(flat, dtype=torch.long).view(batch_size, seq_len + 1)  # (B, T+1)


def pretrain(cfg: BaseConfig, log: Callable[[str], None] = print) -> Path:
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    mix = CorpusMix(worked_fraction=cfg.worked_fraction, countdown_fraction=cfg.countdown_fraction)
    if cfg.init_from:
        from r1lab.models.io import load
        model, tok = load(cfg.init_from)
    else:
        tok = corpus_tokenizer(documents(cfg.seed + 1, mix), vocab_size=cfg.vocab_size)
        model = Qwen2ForCausalLM(model_config(cfg, len(tok), tok.eos_token_id))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"tiny base: {n_params / 1e6:.2f}M parameters, vocab {len(tok)}")
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    batches = _batches(_token_stream(tok, documents(cfg.seed, mix), tok.eos_token_id),
                       cfg.batch_size, cfg.seq_len)
    model.train()
    t0 = time.time()
    for step in range(1, cfg.steps + 1):
        lr = _lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = next(batches)  # (B, T+1)
        logits = model(input_ids=batch[:, :-1]).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == cfg.steps:
            tps = step * cfg.batch_size * cfg.seq_len / (time.time() - t0)
            log(f"step {step}/{cfg.steps} loss {loss.item():.4f} lr {lr:.2e} {tps:,.0f} tok/s")
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
            save(model, tok, Path(cfg.output_dir) / f"step-{step}")
    return save(model, tok, cfg.output_dir)


def _lr(cfg: BaseConfig, step: int) -> float:
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
