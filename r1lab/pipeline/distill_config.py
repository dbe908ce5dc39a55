"""The `r1lab distill` stage's config (kept free of torch, so a bad option fails at once)."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import DEVICE, SEED, check, help_field, require


@dataclass
class DistillConfig:
    teacher: str = help_field("", "a finished r1lab train/sft run directory, a pipeline's output directory (its last "
                                  "model), 'tiny', a model directory or hub id; with teacher_endpoint: the served "
                                  "model's name")
    teacher_endpoint: str = help_field("", "base URL of an OpenAI-compatible server holding the teacher, e.g. "
                                           "http://localhost:8000/v1 (traces through /completions)")
    student: str = help_field("tiny-small", "the model to distil into: 'tiny-small', 'tiny', a model directory or a "
                                            "hub id")
    task: str = help_field("arithmetic", "built-in task (arithmetic | countdown) or a JSONL file of question/answer "
                                         "rows (its train questions are sampled, its test problems evaluated)")
    verifier: str = help_field("", "answer checker of the traces and the evaluation (default: the task's; math for "
                                   "JSONL files)")
    benchmark: str = help_field("", "what every model is evaluated on: an r1lab eval benchmark (math500, aime24, a "
                                    "FILE.jsonl, ...; default: the task's test split)")
    output_dir: str = help_field("", "output directory (default: runs/distill-<timestamp>)")
    seed: int = help_field(0, "seed for the questions, sampling, training and the held-out problems")
    compare_rl: bool = help_field(False, "also train the student with R1-Zero GRPO from its base at the "
                                         "distillation arm's compute")
    # traces
    prompts: int = help_field(4096, "train questions the teacher answers")
    samples_per_prompt: int = help_field(2, "traces per question (open-r1's OpenR1-Math: 2), each kept when the "
                                            "verifier agrees with the reference and the filters pass")
    temperature: float = help_field(0.6, "teacher sampling temperature")
    top_p: float = help_field(0.95, "teacher nucleus sampling threshold")
    max_new_tokens: int = help_field(128, "trace and evaluation length limit in tokens")
    max_repeat_share: float = help_field(0.2, "filter: most repeated 4-gram share of a kept trace")
    max_paragraph_words: int = help_field(60, "filter: most words in one line of the chain of thought (0 = no limit)")
    min_language_consistency: float = help_field(1.0, "filter: least share of chain-of-thought words in the "
                                                      "question's language")
    # SFT of the student
    epochs: float = help_field(3.0, "passes over the kept traces (R1's distilled models: 2-3)")
    batch_size: int = help_field(16, "traces per SFT step (R1: 64)")
    lr: float = help_field(1e-3, "peak SFT learning rate, cosine to a tenth (R1: 1e-4 for 1.5B; the tiny student "
                                 "needs more)")
    warmup_steps: int = help_field(5, "SFT linear warm-up steps")
    max_seq_len: int = help_field(1024, "SFT tokens per trace with its prompt; longer ones keep their start")
    # the RL arm
    rl_lr: float = help_field(2e-4, "R1-Zero GRPO learning rate of the RL arm (r1lab train's default)")
    rl_prompts_per_step: int = help_field(8, "RL arm: questions per GRPO step")
    rl_group_size: int = help_field(8, "RL arm: G, samples per question")
    # evaluation
    eval_problems: int = help_field(64, "held-out test problems every model is evaluated on")
    eval_samples: int = help_field(4, "k: samples per problem (pass@1 over k, cons@k)")
    eval_temperature: float = help_field(0.6, "evaluation temperature (paper: 0.6)")
    eval_top_p: float = help_field(0.95, "evaluation top-p (paper: 0.95)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16")

    def __post_init__(self) -> None:  # complete when constructed: an invalid config never exists
        require(self, seed=SEED, prompts=">= 1", samples_per_prompt=">= 1", temperature=">= 0", top_p="(0, 1]",
                max_new_tokens=">= 1", max_repeat_share="[0, 1]", max_paragraph_words=">= 0",
                min_language_consistency="[0, 1]", epochs="> 0", batch_size=">= 1", lr="> 0", warmup_steps=">= 0",
                max_seq_len=">= 2", rl_lr="> 0", rl_prompts_per_step=">= 1", rl_group_size=">= 2",
                eval_problems=">= 1", eval_samples=">= 1", eval_temperature=">= 0", eval_top_p="(0, 1]",
                threads=">= 0")
        check([(bool(self.teacher), "--teacher is required (a run directory, a model, or with --teacher-endpoint the "
                                    "served model's name)"),
               (DEVICE.fullmatch(self.device) is not None, f"device must be cpu | cuda[:N], got {self.device!r}"),
               (self.dtype in ("float32", "bfloat16"), f"dtype must be float32 | bfloat16, got {self.dtype!r}")])
