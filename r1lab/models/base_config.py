"""The `r1lab base` stage's config (kept free of torch so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import SEED, check, help_field, require

CONTEXT = 1024  # max_position_embeddings of the model `r1lab base` builds
MIN_VOCAB = 261


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
    second_language_fraction: float = help_field(0.0, "share of worked solutions whose working is in a second "
                                                      "vocabulary (Cyrillic script) or switches to it mid-solution; "
                                                      "half as many documents are wholly in it (0 = English only)")
    column_slip: float = help_field(0.0, "emergence corpus (design D, docs/emergence.md): per column of worked "
                                         "working, the first sum written is off by one with this probability "
                                         "(0 = the default corpus)")
    check_fraction: float = help_field(0.0, "emergence corpus: share of worked solutions that re-add a quarter, half "
                                            "or all of their columns in the other order, and redo a column after "
                                            "'wait' when the two disagree")
    guess_fraction: float = help_field(0.0, "emergence corpus: share of worked solutions that open with a hasty "
                                            "answer (half of them one digit off) that the working then verifies")
    check_verdict: bool = help_field(False, "emergence corpus (design E): each re-added check ends in a verdict, "
                                            "'same' or 'not X, wait' before the redo")
    pair_fraction: float = help_field(0.0, "emergence corpus (design F): share of problems that are pair searches "
                                           "(task pairsum); a share search_fraction of their worked solutions try a "
                                           "pair, check it by adding, and try again (0 = the default corpus)")
    search_fraction: float = help_field(0.5, "emergence corpus: share of worked pair solutions that search")
    search_give_up: float = help_field(0.5, "emergence corpus: share of pair searches that stop after one to three "
                                            "misses and state an unchecked pair")
    search_task: str = help_field("pairsum", "emergence corpus: pairsum (pairs) | sumsearch (design G: pairs and "
                                             "triples of numbers 1-9)")
    search_offset: bool = help_field(False, "emergence corpus (design F2): each try writes how far its sum is from "
                                            "the target ('off by 6') before its verdict")
    pair_guess: float = help_field(0.0, "emergence corpus (design H): share of the pair answers stated without a "
                                        "search that are a guess, a random pair of the listed numbers")
    search_order: str = help_field("random", "emergence corpus: random | listed (design H3: a search tries the "
                                             "pairs in the order of the list) | anchored (H4: listed, restating "
                                             "the numbers left to pair each first number with)")
    search_slip: float = help_field(0.05, "emergence corpus: share of a search's tries whose sum is written off by "
                                          "one (a check that misleads)")
    search_wrong_verdict: float = help_field(0.03, "emergence corpus: share of a search's tries whose verdict "
                                                   "contradicts its own sum ('off by 3, yes')")
    init_from: str = help_field("", "continue pretraining from this model directory (its tokenizer is kept, or "
                                    "grown: extend_vocab)")
    extend_vocab: int = help_field(0, "with init_from: add up to this many tokens of non-ASCII text (the second "
                                      "language's script) to its tokenizer, learnt on the corpus; ASCII text keeps "
                                      "its ids; a new row starts as the mean of its bytes' rows (0 = none)")
    tokenizer_from: str = help_field("", "train from scratch with this model's tokenizer instead of a new one ('tiny' "
                                         "or a model directory; vocab_size is then its size): a smaller student "
                                         "that shares token ids with its teacher")
    save_every: int = help_field(0, "also save a snapshot to <output_dir>-snapshots/step-N every N steps (0 = only at "
                                    "the end)")
    threads: int = help_field(0, "torch threads (0 = all cores)")

    def __post_init__(self) -> None:  # complete when constructed: invalid values never exist
        require(self, seed=SEED, steps=">= 1", stop_at=">= 0", batch_size=">= 1", seq_len=f"[1, {CONTEXT}]",
                lr="> 0", warmup_steps=">= 0", weight_decay=">= 0", hidden_size=">= 1", num_layers=">= 1",
                num_heads=">= 1", num_kv_heads=">= 1", intermediate_size=">= 1", worked_fraction="[0, 1]",
                second_language_fraction="[0, 1]", countdown_fraction="[0, 1]", column_slip="[0, 1]",
                check_fraction="[0, 1]", guess_fraction="[0, 1]", pair_fraction="[0, 1]",
                search_fraction="[0, 1]", search_give_up="[0, 1]", pair_guess="[0, 1]", search_slip="[0, 1]",
                search_wrong_verdict="[0, 1]", save_every=">= 0",
                threads=">= 0", num_experts=">= 1", extend_vocab=">= 0")
        check([
            (not (self.init_from and self.tokenizer_from),
             "init_from keeps that model's tokenizer: tokenizer_from is for a model from scratch"),
            (not self.extend_vocab or self.init_from, "extend_vocab extends the tokenizer of init_from: set init_from"),
            (self.vocab_size >= MIN_VOCAB,
             f"vocab_size must be >= {MIN_VOCAB} (256 bytes and 5 special tokens), got {self.vocab_size}"),
            (self.hidden_size % self.num_heads == 0 and self.num_heads % self.num_kv_heads == 0,
             "hidden_size must divide by num_heads, and num_heads by num_kv_heads"),
            (self.hidden_size // self.num_heads % 2 == 0,
             f"hidden_size / num_heads (the head size, {self.hidden_size // self.num_heads}) must be even for RoPE"),
            (self.search_task in ("pairsum", "sumsearch"),
             f"search_task must be pairsum | sumsearch, got {self.search_task!r}"),
            (self.search_order in ("random", "listed", "anchored"),
             f"search_order must be random | listed | anchored, got {self.search_order!r}"),
            (self.arch in ("qwen2", "deepseek_v3"), f"arch must be qwen2 | deepseek_v3, got {self.arch!r}"),
            (1 <= self.experts_per_token <= self.num_experts,
             f"experts_per_token must be in [1, num_experts ({self.num_experts})], got {self.experts_per_token}"),
        ])
