"""Our own functional forward pass for the HF Llama / Qwen2 decoder family.

Why: HF's generic forward carries a lot of per-call machinery (cache objects, mask
builders, output dataclasses) that dominates the cost of tiny models on CPU and makes
the two RL-specific shapes awkward. This module holds the pieces both use (support check,
RoPE, norms, q/k/v projections, attention, the block's MLP, the plain causal forward):

* decoding with a preallocated static KV cache whose rows can be compacted as
  sequences finish: `r1lab.rollout.decode`;
* training with a shared prefix, padding-free: each prompt is run ONCE, its G completions
  attend to its K/V, and the per-token work runs on the real tokens only:
  `r1lab.train.logprobs.packed_shared_prefix_hidden`.

Choices:

* The HF module's OWN parameters are read at call time (`F.linear(x, lin.weight,
  lin.bias)`), never copied, so optimizer steps are seen immediately and autograd
  flows into the HF parameters. The one exception is decoding (no autograd): a
  `DecodeWeights` taken once per rollout concatenates q/k/v and gate/up weights so a
  decode step, bound by per-op overhead at small sizes, runs fewer matmuls.
* Every numerical step mirrors HF (fp32 RMSNorm, fp32 RoPE angles cast to the model
  dtype, SDPA with the 1/sqrt(head_dim) scale) so logits agree to float rounding.
* Prompts are left-padded; padding is masked in attention and RoPE positions are
  counted per row from the first real token (position 0), like HF `generate`.
* A padded query (which nobody reads) may always attend to itself, so no softmax
  row is empty (no NaNs, also in backward).
* GQA: a single decode query is folded into (B, Hkv, n_rep, D) so the cache is never
  repeated (with a shared prompt, the G samples' queries too: (P, Hkv, G*n_rep, D));
  multi-token attention lets SDPA broadcast the K/V heads (`enable_gqa`; expanded on torch < 2.5).
* Biases are taken from the modules when present (Qwen2 q/k/v bias, Llama
  `attention_bias` / `mlp_bias`); a tied lm_head is simply the same Parameter.

`supports(model)` is False for anything this file does not reproduce exactly (other
architectures, non-default RoPE, sliding window, attention dropout, non-SiLU MLPs,
wrapped/quantised Linear layers). A model sharded by FSDP2 (`fully_shard`) is supported only
while it is unsharded (`unshard()`: plain tensors again); sharded, its weights are DTensors that
only its own forward gathers, so callers take the HF path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SUPPORTED_CLASSES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
SUPPORTED_MODEL_TYPES = ("llama", "qwen2")


# --------------------------------------------------------------------------- support


def _rope_type(config) -> str:
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and params:
        return str(params.get("rope_type", params.get("type", "default")))
    scaling = getattr(config, "rope_scaling", None)
    if isinstance(scaling, dict) and scaling:
        return str(scaling.get("rope_type", scaling.get("type", "default")))
    return "default"


def layer_linears(layer: nn.Module) -> list[nn.Module]:
    attn, mlp = layer.self_attn, layer.mlp
    return [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]


def supports(model: nn.Module) -> bool:
    """True when our forward reproduces `model`'s HF forward exactly."""
    config = getattr(model, "config", None)
    if config is None or type(model).__name__.removeprefix("FSDP") not in SUPPORTED_CLASSES:
        return False  # FSDP2's fully_shard turns <Class> into FSDP<Class>
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    if getattr(config, "hidden_act", "silu") not in ("silu", "swish"):
        return False
    if _rope_type(config) != "default" or float(getattr(config, "attention_dropout", 0.0) or 0.0) != 0.0:
        return False
    if getattr(config, "use_sliding_window", False):
        return False
    if any(t != "full_attention" for t in (getattr(config, "layer_types", None) or [])):
        return False
    try:
        base = model.model
        rotary = base.rotary_emb
        linears = [m for layer in base.layers for m in layer_linears(layer)] + [model.lm_head]
    except AttributeError:
        return False
    if float(getattr(rotary, "attention_scaling", 1.0)) != 1.0 or not hasattr(rotary, "inv_freq"):
        return False
    if type(base.embed_tokens) is not nn.Embedding:
        return False
    return all(type(m) is nn.Linear and not _sharded(m.weight) for m in linears)


def _sharded(t: Tensor) -> bool:
    """A DTensor (FSDP2's sharded parameter), without importing torch.distributed."""
    return any(c.__name__ == "DTensor" for c in type(t).__mro__)


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class Spec:
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @property
    def n_rep(self) -> int:
        return self.n_heads // self.n_kv_heads


def spec(model: nn.Module) -> Spec:
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    return Spec(len(model.model.layers), cfg.num_attention_heads, n_kv, head_dim)


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Left-pad token lists -> ids (P, L) long, mask (P, L) bool."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("need at least one prompt and every prompt must be non-empty")
    length = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)  # (P, L)
    mask = torch.zeros((len(prompts), length), dtype=torch.bool)  # (P, L)
    for i, p in enumerate(prompts):
        ids[i, length - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, length - len(p):] = True
    return ids.to(device), mask.to(device)


def positions_from_mask(mask: Tensor) -> Tensor:
    """Left-padded mask (B, T) -> RoPE positions (B, T), first real token at 0."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)  # (B, T)


def rms_norm(norm: nn.Module, x: Tensor) -> Tensor:
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6)
    h = x.float()  # (..., C)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)  # (..., C)
    return norm.weight * h.to(x.dtype)


def rope_cos_sin(model: nn.Module, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """positions (B, T) -> cos, signed sin (B, 1, T, D), angles in fp32 like HF.

    The sin is returned with its first half negated so that RoPE is
    `x * cos + roll(x, D/2) * sin_signed`, bit-identical to HF's
    `x * cos + rotate_half(x) * sin` with fewer ops.
    """
    inv_freq = model.model.rotary_emb.inv_freq.float()  # (D/2,)
    freqs = positions.unsqueeze(-1).float() * inv_freq  # (B, T, D/2)
    sin = freqs.sin()  # (B, T, D/2)
    cos = torch.cat((freqs, freqs), dim=-1).cos()  # (B, T, D)
    sin_signed = torch.cat((-sin, sin), dim=-1)  # (B, T, D)
    return cos.to(dtype).unsqueeze(1), sin_signed.to(dtype).unsqueeze(1)


def apply_rope(x: Tensor, cos: Tensor, sin_signed: Tensor) -> Tensor:
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed  # (B, H, T, D)


def linear(module: nn.Module, x: Tensor) -> Tensor:
    return F.linear(x, module.weight, module.bias)


def qkv(layer: nn.Module, sp: Spec, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pre-norm + q/k/v projections + RoPE. x (B, T, C) -> q (B, H, T, D), k/v (B, Hkv, T, D)."""
    attn = layer.self_attn
    h = rms_norm(layer.input_layernorm, x)  # (B, T, C)
    b, t, _ = h.shape
    q = linear(attn.q_proj, h).view(b, t, sp.n_heads, sp.head_dim).transpose(1, 2)  # (B, H, T, D)
    k = linear(attn.k_proj, h).view(b, t, sp.n_kv_heads, sp.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
    v = linear(attn.v_proj, h).view(b, t, sp.n_kv_heads, sp.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
    return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v


_SDPA_GQA = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 5)


def attend_heads(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool = False) -> Tensor:
    """SDPA with GQA, head-major output. q (B, H, T, D), k/v (B, Hkv, S, D), mask (B, 1, T, S) bool
    or additive float -> (B, H, T, D). K/V are expanded to all heads only on torch < 2.5 (no
    `enable_gqa`); both forms give bit-identical results on CPU."""
    if _SDPA_GQA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                              enable_gqa=k.shape[1] != q.shape[1])
    b, h, t, d = q.shape
    rep, s = h // k.shape[1], k.shape[2]
    if rep > 1:
        k = k[:, :, None].expand(b, k.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
        v = v[:, :, None].expand(b, v.shape[1], rep, s, d).reshape(b, h, s, d)  # (B, H, S, D)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool = False) -> Tensor:
    """`attend_heads`, token-major. q (B, H, T, D), k/v (B, Hkv, S, D) -> (B, T, H*D)."""
    b, h, t, d = q.shape
    return attend_heads(q, k, v, mask, is_causal).transpose(1, 2).reshape(b, t, h * d)  # (B, T, H*D)


def block_out(layer: nn.Module, x: Tensor, attn_out: Tensor) -> Tensor:
    """o_proj + residual + post-norm SwiGLU MLP + residual. x (..., C), attn_out (..., H*D) -> (..., C)."""
    x = x + linear(layer.self_attn.o_proj, attn_out)  # (..., C)
    mlp = layer.mlp
    hn = rms_norm(layer.post_attention_layernorm, x)  # (..., C)
    return x + linear(mlp.down_proj, F.silu(linear(mlp.gate_proj, hn)) * linear(mlp.up_proj, hn))  # (..., C)


def embed(model: nn.Module, ids: Tensor) -> Tensor:
    emb = model.model.embed_tokens
    return F.embedding(ids, emb.weight, emb.padding_idx)  # (B, T, C)


def final_norm(model: nn.Module, x: Tensor) -> Tensor:
    return rms_norm(model.model.norm, x)


def lm_logits(model: nn.Module, hidden: Tensor) -> Tensor:
    """Final-normed hidden (..., C) -> logits (..., V) with the model's (maybe tied) lm_head."""
    return linear(model.lm_head, hidden)


def padded_causal_mask(mask: Tensor) -> Tensor:
    """Left-pad mask (B, T) -> (B, 1, T, T) bool: causal, pads hidden, diagonal always on."""
    t = mask.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=mask.device).tril()  # (T, T)
    eye = torch.eye(t, dtype=torch.bool, device=mask.device)  # (T, T)
    return (causal & mask[:, None, :] | eye).unsqueeze(1)  # (B, 1, T, T)


# --------------------------------------------------------------------------- full forward


def forward_hidden(
    model: nn.Module, ids: Tensor, mask: Tensor | None = None, return_kv: bool = False
) -> tuple[Tensor, list[tuple[Tensor, Tensor]] | None]:
    """Plain causal forward over left-padded ids (B, T) -> final-normed hidden (B, T, C) [, per-layer K/V]."""
    sp = spec(model)
    padded = mask is not None and not bool(mask.all())
    if mask is None:
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)  # (B, T)
    else:
        pos = positions_from_mask(mask)  # (B, T)
    x = embed(model, ids)  # (B, T, C)
    cos, sin = rope_cos_sin(model, pos, x.dtype)  # (B, 1, T, D)
    attn_mask = padded_causal_mask(mask) if padded else None  # (B, 1, T, T)
    kvs: list[tuple[Tensor, Tensor]] = []
    for layer in model.model.layers:
        q, k, v = qkv(layer, sp, x, cos, sin)  # (B, H|Hkv, T, D)
        if return_kv:
            kvs.append((k, v))
        x = block_out(layer, x, attend(q, k, v, attn_mask, is_causal=not padded))  # (B, T, C)
    return final_norm(model, x), (kvs if return_kv else None)


def forward_logits(model: nn.Module, ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """Logits (B, T, V) for left-padded ids (B, T); equals HF with position_ids from the mask."""
    return lm_logits(model, forward_hidden(model, ids, mask)[0])
