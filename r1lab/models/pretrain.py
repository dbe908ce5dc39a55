"""`r1lab base`: build the built-in tiny base model from nothing.

Generates the synthetic corpus (r1lab.models.corpus), trains a byte-level BPE tokenizer on it,
and pretrains a small Qwen2-style causal LM with plain next-token prediction on packed
windows of the document stream (documents separated by EOS; attention crosses document
boundaries, as in ordinary packed pretraining, which also teaches the model to ignore long
unrelated prefixes). The result is a standard Hugging Face model directory.

`--arch deepseek_v3` builds the same-sized model of DeepSeek-V3's architecture instead (the one
R1 was trained from), through transformers' `DeepseekV3ForCausalLM`, on the same corpus with the
same tokenizer: multi-head latent attention (K/V compressed to a rank-hidden/4 latent, queries to
hidden/2, 16 RoPE + 16 plain dimensions per head), the first layer a dense SwiGLU, the others
Mixture-of-Experts: `num_experts` routed experts of width intermediate_size / 3, `experts_per_token`
chosen per token by sigmoid scores, plus one always-on shared expert, so a token's MLP width is
the dense one's when k = 2. Departures from DeepSeek-V3 at this size: no group-limited routing
(one group), no multi-token prediction, and none of the routing bias updates that balance its
experts without an auxiliary loss (`r1lab train` logs the balance). It is not shipped: build it.

`tokenizer_from` builds a model from scratch on an existing model's tokenizer: the built-in
`tiny-small` student is one (recipes/tiny-small.yaml), so that traces from a `tiny` teacher are
the same token ids for it.

`extend_vocab` (with `init_from`) adapts a model to a new script, as is done to teach a trained
model a new language: up to N BPE merges learnt on the corpus, each holding a non-ASCII byte, are
added after the tokenizer's own (r1lab.models.tokenizer.extend_tokenizer), so ASCII text keeps its
exact ids; each new token's embedding row (tied to the output) starts as the mean of the rows of
the byte tokens it replaces, so the continued pretraining starts from the model's own guess.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Callable

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from r1lab.models.base_config import CONTEXT, BaseConfig
from r1lab.models.corpus import CorpusMix, documents
from r1lab.models.io import check_model_target, load, load_config, load_tokenizer, save
from r1lab.models.machine import check_machine, check_memory
from r1lab.models.tokenizer import TOKENIZER_DOCS, corpus_tokenizer, extend_tokenizer


def model_config(cfg: BaseConfig, vocab_size: int, eos_id: int):
    if cfg.arch == "deepseek_v3":
        from transformers import DeepseekV3Config
        rope = 16  # per-head query/key dimensions with RoPE; as many without
        return DeepseekV3Config(
            vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
            moe_intermediate_size=cfg.intermediate_size // 3, num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads, n_routed_experts=cfg.num_experts,
            num_experts_per_tok=cfg.experts_per_token, n_shared_experts=1, first_k_dense_replace=1, n_group=1,
            topk_group=1, kv_lora_rank=cfg.hidden_size // 4, q_lora_rank=cfg.hidden_size // 2, qk_rope_head_dim=rope,
            head_dim=rope, qk_nope_head_dim=rope, v_head_dim=cfg.hidden_size // cfg.num_heads,
            max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id,
            pad_token_id=eos_id, torch_dtype="float32")
    return Qwen2Config(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads, max_position_embeddings=CONTEXT,
        tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        torch_dtype="float32",
    )


def _model_class(cfg: BaseConfig) -> type:
    if cfg.arch == "deepseek_v3":
        from transformers import DeepseekV3ForCausalLM  # imported here: the dense path never needs it
        return DeepseekV3ForCausalLM
    return Qwen2ForCausalLM


def adamw_groups(params: list[torch.nn.Parameter], weight_decay: float,
                 tensors: list[torch.Tensor] | None = None) -> list[dict]:
    """AdamW parameter groups: matrices (dim >= 2) decay, vectors (norms, biases) do not. `tensors`
    are what the optimizer updates in the parameters' place (fp32 master copies); default: the parameters."""
    tensors = params if tensors is None else tensors
    return [{"params": [t for t, p in zip(tensors, params, strict=True) if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [t for t, p in zip(tensors, params, strict=True) if p.dim() < 2], "weight_decay": 0.0}]


def _token_stream(tok, docs, eos_id: int):
    for doc in docs:
        yield from tok(doc).input_ids
        yield eos_id


def _batches(stream, batch_size: int, seq_len: int):
    while True:
        flat = list(itertools.islice(stream, batch_size * (seq_len + 1)))
        yield torch.tensor(flat, dtype=torch.long).view(batch_size, seq_len + 1)  # (B, T+1)


def memory(cfg: BaseConfig, vocab: int) -> dict[str, int]:
    """Bytes a pretraining step needs at least, by part: fp32 logits, their log-softmax and gradient;
    each layer's activations kept for the backward pass; weights, gradients and AdamW's two moments."""
    tokens, h, i, layers = cfg.batch_size * cfg.seq_len, cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    kv = h // cfg.num_heads * cfg.num_kv_heads
    params = vocab * h + layers * (2 * h * h + 2 * h * kv + 3 * h * i)
    return {"logits": tokens * vocab * 4 * 3, "activations": tokens * layers * (4 * h + 3 * i) * 4,
            "weights and optimizer": params * 4 * 4}


def preflight(cfg: BaseConfig) -> None:
    """Everything that can be refused before any compute: the machine, memory, and where the model goes."""
    check_machine(threads=cfg.threads)
    vocab = cfg.vocab_size
    if cfg.init_from:
        config = load_config(cfg.init_from)
        vocab = max(vocab, (getattr(config, "vocab_size", 0) or 0) + cfg.extend_vocab)
    check_memory(memory(cfg, vocab), "cpu", "lower batch_size or seq_len")
    check_model_target(cfg.output_dir)
    for step in range(cfg.save_every, _last(cfg), cfg.save_every or 1) if cfg.save_every else ():
        check_model_target(_snapshot(cfg, step))


def corpus_mix(cfg: BaseConfig) -> CorpusMix:
    """The corpus a base config asks for."""
    return CorpusMix(worked_fraction=cfg.worked_fraction, countdown_fraction=cfg.countdown_fraction,
                     second_language=cfg.second_language_fraction, column_slip=cfg.column_slip,
                     check_fraction=cfg.check_fraction, guess_fraction=cfg.guess_fraction,
                     check_verdict=cfg.check_verdict, pair_fraction=cfg.pair_fraction,
                     search_fraction=cfg.search_fraction, search_offset=cfg.search_offset,
                     give_up=cfg.search_give_up, search_task=cfg.search_task,
                     pair_guess=cfg.pair_guess, search_order=cfg.search_order,
                     pair_slip=cfg.search_slip, wrong_verdict=cfg.search_wrong_verdict)


def pretrain(cfg: BaseConfig, log: Callable[[str], None] = print, metrics: list[dict] | None = None) -> Path:
    """Train and save the model to cfg.output_dir; `metrics` (if given) gets {step, loss, lr} every 50 steps."""
    preflight(cfg)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    mix = corpus_mix(cfg)
    if cfg.init_from:
        model, tok = load(cfg.init_from)
        if cfg.extend_vocab:
            tok, pieces = extend_tokenizer(tok, itertools.islice(documents(cfg.seed + 1, mix), TOKENIZER_DOCS),
                                           cfg.extend_vocab)
            grow_embeddings(model, pieces)
            log(f"tokenizer extended by {len(pieces)} tokens of non-ASCII text")
    else:
        tok = (load_tokenizer(cfg.tokenizer_from) if cfg.tokenizer_from else
               corpus_tokenizer(documents(cfg.seed + 1, mix), vocab_size=cfg.vocab_size))
        model = _model_class(cfg)(model_config(cfg, len(tok), tok.eos_token_id))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"tiny base ({type(model).__name__}): {n_params / 1e6:.2f}M parameters, vocab {len(tok)}")
    opt = torch.optim.AdamW(adamw_groups(list(model.parameters()), cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    batches = _batches(_token_stream(tok, documents(cfg.seed, mix), tok.eos_token_id),
                       cfg.batch_size, cfg.seq_len)
    model.train()
    t0 = time.time()
    last = _last(cfg)
    for step in range(1, last + 1):
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
        if step % 50 == 0 or step == last:
            tps = step * cfg.batch_size * cfg.seq_len / (time.time() - t0)
            log(f"step {step}/{cfg.steps} loss {loss.item():.4f} lr {lr:.2e} {tps:,.0f} tok/s")
            if metrics is not None:
                metrics.append({"step": step, "loss": loss.item(), "lr": lr})
        if cfg.save_every and step % cfg.save_every == 0 and step < last:
            save(model, tok, _snapshot(cfg, step))
    return save(model, tok, cfg.output_dir)


def grow_embeddings(model, pieces: dict[int, list[int]]) -> None:
    """Append one embedding row per new token id (ids follow the old ones), each the mean of the rows
    of the old ids it replaces."""
    old = model.get_input_embeddings().weight.detach().clone()  # (V, H)
    new_ids = sorted(pieces)
    assert new_ids == list(range(old.shape[0], old.shape[0] + len(new_ids))), "new ids must follow the old ones"
    model.resize_token_embeddings(old.shape[0] + len(new_ids), mean_resizing=False)
    emb = model.get_input_embeddings().weight  # (V + N, H)
    with torch.no_grad():
        for i in new_ids:
            emb[i] = old[pieces[i]].mean(0)  # (H,)


def _last(cfg: BaseConfig) -> int:
    return min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps


def _snapshot(cfg: BaseConfig, step: int) -> Path:
    return Path(f"{cfg.output_dir}-snapshots") / f"step-{step}"


def _lr(cfg: BaseConfig, step: int) -> float:
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
