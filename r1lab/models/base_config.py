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
    worked_fraction: float = help_field(0.3, "share of documents that show working before the answer")
    countdown_fraction: float = help_field(0.15, "share of problems that are Countdown")
    second_language_fraction: float = help_field(0.0, "share of worked solutions whose working is in a second "
                                                      "vocabulary (Cyrillic script) or switches to it mid-solution; "
                                                      "half as many documents are wholly in it (0 = English only)")
    init_from: str = help_field("", "continue pretraining from this model directory (its tokenizer is kept)")
    tokenizer_from: str = help_field("", "train from scratch with this model's tokenizer instead of a new one ('tiny' "
                                         "or a model directory; vocab_size is then its size): a smaller student "
                                         "that shares token ids with its teacher")
    save_every: int = help_field(0, "also save a snapshot to <output_dir>-snapshots/step-N every N steps (0 = only at "
                                    "the end)")
    threads: int = help_field(0, "torch threads (0 = all cores)")

    def __post_init__(self) -> None:  # complete when constructed: invalid values never exist
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError("hidden_size must divide by num_heads, and num_heads by num_kv_heads")
        if self.init_from and self.tokenizer_from:
            raise ConfigError("init_from keeps that model's tokenizer: tokenizer_from is for a model from scratch")
        if not 0 <= self.worked_fraction <= 1:
            raise ConfigError(f"worked_fraction must be in [0, 1], got {self.worked_fraction}")
        if not 0 <= self.second_language_fraction <= 1:
            raise ConfigError(f"second_language_fraction must be in [0, 1], got {self.second_language_fraction}")
