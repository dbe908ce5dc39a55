"""The `r1lab base` stage's config (kept free of torch so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import ConfigError, help_field


@dataclass
class BaseConfig:
    output_dir: str = help_field("runs/base", "where the model directory is written")
    seed: int = help_field(0, "seed for the corpus, the tokenizer and the initialisation")
    steps: int = help_field(3000, "length of the learning-rate schedule in optimizer steps")
    stop_at: int = help_field(1500, "stop after this many steps of the schedule (0 = run it all)")
    batch_size: int = help_field(16, "windows per step")
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
    arch: str = help_field("qwen2", "qwen2 (dense, the built-in base) | deepseek_v3 (Mixture-of-Experts with a shared "
                                    "expert and multi-head latent attention)")
    num_experts: int = help_field(8, "deepseek_v3: routed experts per MoE layer")
    experts_per_token: int = help_field(2, "deepseek_v3: routed experts each token uses (top-k)")
    worked_fraction: float = help_field(0.3, "share of documents that show working before the answer")
    countdown_fraction: float = help_field(0.15, "share of problems that are Countdown")
    init_from: str = help_field("", "continue pretraining from this model directory (its tokenizer is kept)")
    save_every: int = help_field(0, "also save a snapshot to <output_dir>-snapshots/step-N every N steps (0 = only at "
                                    "the end)")
    threads: int = help_field(0, "torch threads (0 = all cores)")

    def __post_init__(self) -> None:  # complete when constructed: invalid values never exist
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError("hidden_size must divide by num_heads, and num_heads by num_kv_heads")
        if self.arch not in ("qwen2", "deepseek_v3"):
            raise ConfigError(f"arch must be qwen2 | deepseek_v3, got {self.arch!r}")
        if not 1 <= self.experts_per_token <= self.num_experts:
            raise ConfigError("experts_per_token must be in [1, num_experts]")
        if not 0 <= self.worked_fraction <= 1:
            raise ConfigError(f"worked_fraction must be in [0, 1], got {self.worked_fraction}")
