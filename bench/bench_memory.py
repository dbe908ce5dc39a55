"""Where a GRPO update's GPU memory goes, measured on CPU: the bytes autograd keeps for backward
per token per layer in the policy's training forward (`completion_logprobs`), at real layer
widths, for the three attention/recompute layouts, and the model-sized states.

The forward measured is the packed shared-prefix one up to the final norm (the lm_head and
log-softmax run per chunk inside their own recompute, so they keep nothing). Saved tensors are
counted through `torch.autograd.graph.saved_tensors_hooks`, once per storage
(views share one), parameters excluded. The attention kernels are chosen as CUDA chooses them:

* unfolded: grouped K/V heads with a mask through SDPA's enable_gqa, which on CUDA only the math
  kernel runs (flash takes no mask, memory-efficient no GQA); forced here with
  `sdpa_kernel(MATH)`; the math kernel computes in fp32 and keeps the attention matrices;
* folded (the default on CUDA since this measurement): query heads folded per K/V head, so the
  memory-efficient kernel runs, keeping only q, k, v, the output and the log-sum-exp; on CPU the
  default kernel keeps the same set;
* checkpointed: `activation_checkpointing`, each layer's input only (the layer is recomputed).

Then the states for a model of `--params` parameters in bf16 with fp32 master weights and AdamW
(weights 2 + reference 2 + master 4 + Adam 8 + fp32 gradient 4 bytes per parameter; the bf16
gradient is dropped once copied) and the extrapolation to `--tokens` tokens x `--layers` layers.

    python bench/bench_memory.py          # the 1.5B shape, bench_gpu.py's default batch
"""

from __future__ import annotations

import argparse
import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import Qwen2Config, Qwen2ForCausalLM

from r1lab.models import forward as fw
from r1lab.train.logprobs import packed_shared_prefix_hidden


def saved_bytes(model, prompts, comp, mask, group, variant: str) -> int:
    seen: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        return t

    ids, pmask = fw.left_pad(prompts, 0)
    kernel = sdpa_kernel(SDPBackend.MATH) if variant == "unfolded" else contextlib.nullcontext()
    with kernel, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        packed_shared_prefix_hidden(model, ids, pmask, comp, mask.long().sum(-1), group,
                                    fold_gqa=variant != "unfolded", checkpoint_layers=variant == "checkpointed")
    return sum(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--intermediate", type=int, default=8960)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--measure-layers", type=int, default=2, help="layers built here (their widths are real)")
    ap.add_argument("--prompt-len", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--group", type=int, default=4, help="rows measured here (one prompt x group)")
    ap.add_argument("--layers", type=int, default=28, help="layers of the model extrapolated to")
    ap.add_argument("--tokens", type=int, default=8 * 256 + 64 * 256, help="tokens of the update extrapolated to")
    ap.add_argument("--params", type=float, default=1.54e9)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = Qwen2Config(hidden_size=args.hidden, num_hidden_layers=args.measure_layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, intermediate_size=args.intermediate, vocab_size=1024,
                      tie_word_embeddings=True, max_position_embeddings=4096)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, 1024, (args.prompt_len,), generator=g).tolist()]
    comp = torch.randint(0, 1024, (args.group, args.new_tokens), generator=g)
    mask = torch.ones_like(comp, dtype=torch.bool)
    tokens = args.prompt_len + args.group * args.new_tokens
    states = args.params * (2 + 2 + 4 + 8 + 4) / 2**30
    print(f"hidden {args.hidden}, intermediate {args.intermediate}, heads {args.heads}/{args.kv_heads}, bf16; "
          f"{tokens} tokens measured over {args.measure_layers} layers; extrapolated to {args.tokens:,} tokens x "
          f"{args.layers} layers, states of {args.params / 1e9:.2f}B parameters: {states:.1f} GiB")
    print("| layout | KiB per token per layer | activations GiB | + states GiB |\n|---|---|---|---|")
    for variant in ("unfolded", "folded", "checkpointed"):
        per = saved_bytes(model, prompts, comp, mask, args.group, variant) / tokens / args.measure_layers
        act = per * args.tokens * args.layers / 2**30
        print(f"| {variant} | {per / 1024:.1f} | {act:.1f} | {act + states:.1f} |", flush=True)


if __name__ == "__main__":
    main()
