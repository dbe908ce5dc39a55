"""How much memory a GRPO run needs beyond the loaded policy, estimated from the config and the prompts.

`grpo_memory` is a pure function of the model's shape, the config and the longest prompt; it
returns bytes by named part, each a lower bound, so that `r1lab.models.machine.check_memory`
refuses only runs that certainly cannot fit:

* model copies: the frozen reference (beta > 0) or the initial policy kept for `kl_init`;
* gradients and AdamW: a gradient per parameter in the model's dtype, two fp32 moments, and fp32
  master weights for a bfloat16 policy;
* KV cache: layers x rows x kv_heads x (prompt + max_new_tokens) x head_dim x 2 (K and V) x dtype
  bytes, with rows the larger of a training rollout (prompts_per_step x group_size) and an
  evaluation batch (up to 32 problems x eval_samples). The cache keeps a long prompt's K/V once
  per prompt (r1lab/rollout/decode.py), so the bound counts it once;
* prefill: the hidden states and MLP activations of a batch of prompts, P x prompt x
  (4 x hidden + 3 x intermediate) values;
* logits: a decode step's (rows, vocab) fp32 logits and the probabilities sampled from them, and
  the training log-probability chunk (1024 positions x vocab, fp32, with its gradient);
* training activations: at least each layer's input at every position of a minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass

EVAL_BATCH = 32  # prompts per evaluation batch (r1lab/eval/protocol.py)
LOGPROB_CHUNK = 1024  # positions per log-probability chunk (r1lab/train/logprobs.py)


@dataclass(frozen=True)
class ModelShape:
    layers: int
    hidden: int
    intermediate: int
    kv_heads: int
    head_dim: int
    vocab: int
    params: int
    context: int  # max_position_embeddings

    @classmethod
    def of(cls, model) -> ModelShape | None:
        """The shape of a loaded HF causal LM (Llama/Qwen2 naming), or None if its config does not say."""
        c = model.config
        try:
            heads = c.num_attention_heads
            return cls(layers=c.num_hidden_layers, hidden=c.hidden_size, intermediate=c.intermediate_size,
                       kv_heads=getattr(c, "num_key_value_heads", None) or heads,
                       head_dim=getattr(c, "head_dim", None) or c.hidden_size // heads, vocab=c.vocab_size,
                       params=sum(p.numel() for p in model.parameters()), context=c.max_position_embeddings)
        except (AttributeError, TypeError):
            return None


def grpo_memory(m: ModelShape, cfg, prompt_tokens: int, dtype_bytes: int) -> dict[str, int]:
    """Bytes by part (see the module docstring) for a GRPOConfig-like `cfg` whose longest prompt
    has `prompt_tokens` tokens."""
    copies = int(cfg.beta > 0) + int(cfg.kl_every > 0 and cfg.beta == 0)
    master = 4 if dtype_bytes < 4 else 0
    train_rows = cfg.prompts_per_step * cfg.group_size
    eval_prompts = min(cfg.eval_problems, EVAL_BATCH)
    prompts, rows = max((cfg.prompts_per_step, train_rows), (eval_prompts, eval_prompts * cfg.eval_samples),
                        key=lambda pr: pr[1])
    per_token_kv = m.layers * m.kv_heads * m.head_dim * 2 * dtype_bytes
    minibatch_tokens = (train_rows * cfg.max_new_tokens + cfg.prompts_per_step * prompt_tokens) // cfg.num_minibatches
    return {
        "model copies": copies * m.params * dtype_bytes,
        "gradients and optimizer": m.params * (dtype_bytes + 8 + master),
        "KV cache": per_token_kv * (rows * cfg.max_new_tokens + prompts * prompt_tokens),
        "prefill": prompts * prompt_tokens * (4 * m.hidden + 3 * m.intermediate) * dtype_bytes,
        "logits": rows * m.vocab * 4 * 2 + LOGPROB_CHUNK * m.vocab * 4 * 2,
        "training activations": minibatch_tokens * m.layers * m.hidden * dtype_bytes,
    }
