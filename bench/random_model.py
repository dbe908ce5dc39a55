"""A random-init model directory of a real Qwen2.5 shape (bench_gpu.SHAPES), for timing `r1lab
train` where nothing can be downloaded: the weights are random and the tokenizer is the built-in
tiny base's (512 tokens), so ids past it decode to nothing and the rewards are ~0. It measures
time and memory, not learning.

    python bench/random_model.py --shape 0.5b --out /tmp/model-0.5b [--device cuda] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse

import torch
from bench_gpu import SHAPES, build

from r1lab.models.io import load_tokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="0.5b", choices=sorted(SHAPES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    model = build(args.shape, torch.device(args.device), getattr(torch, args.dtype))
    tok = load_tokenizer("tiny")
    model.config.eos_token_id = model.config.pad_token_id = tok.eos_token_id
    model.save_pretrained(args.out)
    tok.save_pretrained(args.out)
    print(f"{args.shape}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters -> {args.out}")


if __name__ == "__main__":
    main()
