"""Model-shape flags and a random-init Qwen2 builder shared by the bench scripts."""

from __future__ import annotations

import argparse

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM


def add_model_args(ap: argparse.ArgumentParser, vocab: int, intermediate: int) -> None:
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=intermediate, help="0 = 4 x hidden")
    ap.add_argument("--vocab", type=int, default=vocab)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)


def build_qwen2(args: argparse.Namespace, dtype: torch.dtype = torch.float32) -> Qwen2ForCausalLM:
    torch.manual_seed(args.seed)
    cfg = Qwen2Config(
        vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        intermediate_size=args.intermediate or 4 * args.hidden, max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(cfg).to(dtype)
