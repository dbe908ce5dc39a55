"""The R1-Zero GRPO stage's config: every field, its default and why."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import DEVICE, SEED, ConfigError, check, help_field, require
from r1lab.runs.trackers import TRACKERS


@dataclass
class GRPOConfig:
    # what to train
    model: str = help_field("tiny", "'tiny' (the built-in base), a local HF model directory, or a hub id")
    task: str = help_field("arithmetic", "built-in task (arithmetic | arithmetic-mixed | countdown | pairsum | "
                                         "sumsearch) or a JSONL file of question/answer rows")
    verifier: str = help_field("", "answer checker for the accuracy reward (default: the task's; math for JSONL files)")
    reward_fn: str = help_field("", "extra reward FILE.py:FUNCTION, called fn(completion, answer=...) -> float | None, "
                                    "added to the others")
    reward_timeout: float = help_field(30.0, "seconds a --reward-fn call (and the import of its file) may take; a call "
                                             "that takes longer costs its sample, as one that raises (0 = no limit)")
    output_dir: str = help_field("", "run directory (default: runs/r1-zero-<timestamp>)")
    seed: int = help_field(0, "seed for problems, sampling and initialisation")
    max_steps: int = help_field(120, "GRPO steps (one rollout each)")
    # rollout
    prompts_per_step: int = help_field(8, "questions per step")
    group_size: int = help_field(8, "G: sampled completions per question")
    temperature: float = help_field(1.0, "rollout temperature (R1-Zero: 1.0)")
    top_p: float = help_field(1.0, "rollout nucleus sampling threshold")
    max_new_tokens: int = help_field(128, "completion length limit in tokens")
    # objective (fields left at None take the --algo preset's value; see r1lab/train/presets.py)
    algo: str = help_field("grpo", "preset: grpo | dr_grpo | dapo | bnpo | gspo | cispo (advantages, policy loss, "
                                   "loss aggregation and the defaults below)")
    lr: float = help_field(2e-4, "AdamW learning rate (constant after warm-up)")
    warmup_steps: int = help_field(5, "linear learning-rate warm-up steps")
    weight_decay: float = help_field(0.0, "AdamW weight decay")
    beta: float | None = help_field(None, "KL coefficient against the reference model (0 loads no reference; grpo/bnpo "
                                          "preset 0.04 as DeepSeekMath, dr_grpo/dapo 0; R1: 0.001)")
    epsilon: float | None = help_field(None, "clip range below: ratio >= 1 - epsilon (presets: 0.2; gspo 3e-4 on its "
                                             "sequence ratio; cispo 1, no lower clip of its weight)")
    epsilon_high: float | None = help_field(None, "clip range above: ratio <= 1 + epsilon_high (presets: the same as "
                                                  "epsilon; dapo 0.28, clip-higher; gspo 4e-4; cispo 4, a weight cap "
                                                  "of 5)")
    dynamic_sampling: bool | None = help_field(None, "drop groups whose rewards are all equal and sample more "
                                                     "questions to refill (dapo preset: true)")
    max_resample_rounds: int = help_field(3, "dynamic sampling: extra rollouts of prompts_per_step questions per step, "
                                             "at most")
    overlong_buffer: int | None = help_field(None, "DAPO soft overlong penalty over the last N tokens before "
                                                   "max_new_tokens (0 = off; dapo preset: max_new_tokens / 4)")
    mu: int = help_field(1, "inner update epochs over each rollout")
    num_minibatches: int = help_field(1, "optimizer steps per epoch; must divide prompts_per_step")
    ref_refresh_steps: int = help_field(400, "replace the reference with the policy every N steps (paper: 400)")
    kl_every: int = help_field(5, "log kl_init, the KL to the initial policy, every N steps (a no-grad forward of a "
                                  "frozen copy, never in the loss; the copy is one more model in memory unless "
                                  "beta > 0 keeps the initial reference; 0 = off)")
    max_grad_norm: float = help_field(1.0, "gradient clipping norm")
    accuracy_weight: float = help_field(1.0, "weight of the accuracy reward")
    format_weight: float = help_field(1.0, "weight of the format reward")
    format_rule: str = help_field("r1_zero", "what the format reward asks for: r1_zero (<think>...</think> <answer>..."
                                             "</answer>) | readable (<think>...</think> then a summary in words, the "
                                             "answer tag last; DeepSeek-R1's later stages)")
    language_weight: float = help_field(0.0, "weight of DeepSeek-R1's language-consistency reward, added to the "
                                             "others: the share of the chain of thought's words in the question's "
                                             "language (r1lab/verifiers/language.py; 0 = off)")
    shuffle_rewards: bool = help_field(False, "control run: permute each step's rewards across all its "
                                       "responses before the advantages (same compute, no signal)")
    # evaluation (the paper's protocol: k samples at T=0.6, top-p 0.95)
    eval_problems: int = help_field(64, "held-out test problems for the before/after evaluation")
    eval_samples: int = help_field(4, "k: samples per problem for pass@1")
    eval_temperature: float = help_field(0.6, "evaluation temperature")
    eval_top_p: float = help_field(0.95, "evaluation top-p")
    # logging and saving
    log_samples_every: int = help_field(10, "write completions to samples.jsonl every N steps")
    samples_per_log: int = help_field(8, "completions written each time (0 = all of the step's, as the "
                                      "emergence measurements need)")
    save_every: int = help_field(50, "write a checkpoint every N steps (and at the end)")
    keep_checkpoints: int = help_field(3, "keep the newest N checkpoints (0 = all)")
    max_skipped_in_a_row: int = help_field(5, "stop the run after N updates in a row skipped for a non-finite loss or "
                                              "gradient")
    report_to: str = help_field("", "also stream each step's metrics to: tensorboard, wandb (comma-separated; "
                                    "metrics.jsonl is always written)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16 (half precision: the optimizer keeps fp32 "
                                       "master weights)")
    # scaling out (several processes: torchrun --nproc-per-node N -m r1lab train ...; docs/scaling.md)
    fsdp: bool = help_field(False, "shard the policy, its frozen copies and the optimizer state across the torchrun "
                                   "ranks with FSDP2 (needs torchrun; without it each rank holds a replica: DDP)")
    activation_checkpointing: bool = help_field(False, "recompute each layer's activations in the backward pass: "
                                                       "about a third more training compute, far less memory")
    rollout: str = help_field("lean", "rollout backend: lean (r1lab's engine) | vllm (colocated vLLM; needs the vllm "
                                      "package and a CUDA GPU)")
    vllm_gpu_memory_utilization: float = help_field(0.3, "rollout vllm: share of the GPU's memory vLLM takes "
                                                         "(weights and KV cache)")
    vllm_sleep: bool = help_field(False, "rollout vllm: offload vLLM's weights and free its KV cache during updates")
    tis_cap: float = help_field(2.0, "rollout vllm: truncated importance-sampling cap, token weight = "
                                     "min(pi_old / pi_vllm, tis_cap)")

    def __post_init__(self) -> None:
        from r1lab.train.presets import PRESETS  # here, not at the top: it imports torch, which --help need not
        preset = PRESETS.get(self.algo)
        if preset is None:
            raise ConfigError(f"unknown algo {self.algo!r}; presets: {', '.join(PRESETS)}")
        for name in ("beta", "epsilon", "epsilon_high", "dynamic_sampling"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(preset, name))
        if self.epsilon_high is None:
            self.epsilon_high = self.epsilon
        if self.overlong_buffer is None:
            self.overlong_buffer = int(self.max_new_tokens * preset.overlong_fraction)
        self.validate()  # complete when constructed: library code and benches cannot skip the checks

    def validate(self) -> None:
        from r1lab.verifiers.format import FORMATS  # here, not at the top: the verifiers package is slow to import
        require(self, seed=SEED, max_steps=">= 0", prompts_per_step=">= 1", group_size=">= 2", temperature="> 0",
                top_p="(0, 1]", max_new_tokens=">= 1", lr="> 0", warmup_steps=">= 0", weight_decay=">= 0",
                beta=">= 0", epsilon="> 0", epsilon_high=">= 0", max_resample_rounds=">= 0", mu=">= 1",
                num_minibatches=">= 1", ref_refresh_steps=">= 1", kl_every=">= 0", max_grad_norm="> 0",
                accuracy_weight="finite", format_weight="finite", eval_problems=">= 1", eval_samples=">= 1",
                eval_temperature=">= 0", eval_top_p="(0, 1]", log_samples_every=">= 0", samples_per_log=">= 0",
                save_every=">= 0", keep_checkpoints=">= 0", max_skipped_in_a_row=">= 1", threads=">= 0",
                reward_timeout=">= 0", vllm_gpu_memory_utilization="(0, 1]", tis_cap="> 0")
        check([
            (self.group_size >= 2, f"group_size must be >= 2 (GRPO needs a group), got {self.group_size}"),
            (self.epsilon_high >= self.epsilon,
             f"epsilon_high ({self.epsilon_high}) must be >= epsilon ({self.epsilon}), the lower clip range"),
            (0 <= self.overlong_buffer <= self.max_new_tokens,
             f"overlong_buffer must be in [0, max_new_tokens], got {self.overlong_buffer} (max_new_tokens "
             f"{self.max_new_tokens})"),
            (self.prompts_per_step % self.num_minibatches == 0,
             f"num_minibatches ({self.num_minibatches}) must divide prompts_per_step ({self.prompts_per_step})"),
            (self.format_rule in FORMATS, f"format_rule must be {' | '.join(FORMATS)}, got {self.format_rule!r}"),
            (self.language_weight >= 0, f"language_weight must be >= 0, got {self.language_weight}"),
            (all(n.strip().lower() in (*TRACKERS, "none") for n in self.report_to.split(",") if n.strip()),
             f"report_to must be a comma-separated list of {', '.join(TRACKERS)}, got {self.report_to!r}"),
            (DEVICE.fullmatch(self.device) is not None, f"device must be cpu | cuda | cuda:N, got {self.device!r}"),
            (self.rollout in ("lean", "vllm"), f"rollout must be lean | vllm, got {self.rollout!r}"),
            (self.dtype in ("float32", "bfloat16"),
             f"dtype must be float32 | bfloat16, got {self.dtype!r} (float16 training would need loss scaling)"),
        ])
