"""The `r1lab eval` stage's config: the command-line contract's flags plus the protocol knobs.

Fields left at None take the benchmark's or the backend's default when the run starts (see
`resolve`); results.json and DIR/config.yaml record the values actually used.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import DEVICE, SEED, ConfigError, check, help_field, require

PROMPTS = ("auto", "r1zero", "chat")
APIS = ("auto", "chat", "completions")
ENDPOINT_MAX_TOKENS = 32768  # the paper's generation limit
TINY_MAX_TOKENS = 128  # the built-in tasks' completion limit (r1lab train's max_new_tokens)
# Fields that decide what a sample is: a resumed eval must keep them (the rest may change).
SAMPLE_FIELDS = ("model", "endpoint", "benchmark", "split", "verifier", "prompt", "instruction", "system_prompt",
                 "force_think", "api", "temperature", "top_p", "max_tokens", "seed", "dtype")


@dataclass
class EvalConfig:
    model: str = help_field("tiny", "local: 'tiny' (the built-in base), a model directory or a hub id; "
                                    "with --endpoint: the served model's name")
    endpoint: str = help_field("", "base URL of an OpenAI-compatible server, e.g. http://localhost:8000/v1 "
                                   "(empty: run --model locally through r1lab's rollout engine)")
    benchmark: str = help_field("", "math500 | aime24 | amc23 | gsm8k | humaneval | arithmetic | countdown, "
                                    "a FILE.jsonl of id/question/answer rows, or a Hugging Face dataset "
                                    "ORG/NAME[:CONFIG]")
    output_dir: str = help_field("", "directory for samples.jsonl, results.json and config.yaml (required)")
    samples: int | None = help_field(None, "K: samples per problem (default: aime24 64, amc23 16, humaneval 16, "
                                           "others 4)")
    limit: int | None = help_field(None, "evaluate only the first N problems (default: all; built-in tasks 64)")
    verifier: str = help_field("", "grader (default: the benchmark's; math for JSONL files and hub datasets)")
    split: str = help_field("test", "split of a Hugging Face dataset")
    prompt: str = help_field("auto", "r1zero: the R1-Zero template as raw text; chat: the model's chat template "
                                     "on one user turn, then '<think>\\n' (local); auto: r1zero for the built-in "
                                     "tasks and the tiny model, chat otherwise")
    instruction: str | None = help_field(None, "text after the question (default: math benchmarks the boxed "
                                               "instruction, humaneval a code instruction, built-in tasks none)")
    system_prompt: str = help_field("", "system message before the question (chat prompt only; R1's usage rules: "
                                        "none)")
    force_think: bool = help_field(True, "local chat prompt: start every generation with '<think>\\n' (R1's usage "
                                         "rules)")
    api: str = help_field("auto", "endpoint API: chat (/chat/completions) | completions (/completions, raw text) | "
                                  "auto: completions for the r1zero prompt, chat otherwise")
    temperature: float = help_field(0.6, "sampling temperature (paper: 0.6; 0 is greedy)")
    top_p: float = help_field(0.95, "nucleus sampling threshold (paper: 0.95)")
    max_tokens: int | None = help_field(None, "generation limit in tokens (default: 32768; the tiny model 128)")
    seed: int = help_field(0, "seed for the built-in tasks' problems and local sampling")
    concurrency: int = help_field(16, "endpoint: requests in flight at once")
    request_timeout: float = help_field(600.0, "endpoint: seconds per request before it is retried")
    max_retries: int = help_field(5, "endpoint: retries of a request after a 429, a 5xx, a timeout or a "
                                     "connection error (4xx are not retried)")
    retry_backoff: float = help_field(1.0, "endpoint: first retry delay in seconds, doubled each retry "
                                           "(capped at 60; a 429's Retry-After is honoured)")
    batch_size: int = help_field(256, "local: sequences generated at once (problems x samples)")
    threads: int = help_field(0, "local: torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "local: torch device: cpu | cuda")
    dtype: str = help_field("float32", "local: model dtype: float32 | bfloat16")

    def __post_init__(self) -> None:  # complete when constructed: an invalid config never exists
        require(self, seed=SEED, samples=">= 1", limit=">= 1", temperature=">= 0", top_p="(0, 1]", max_tokens=">= 1",
                concurrency=">= 1", request_timeout="> 0", max_retries=">= 0", retry_backoff=">= 0",
                batch_size=">= 1", threads=">= 0")
        check([
            (self.prompt in PROMPTS, f"prompt must be {' | '.join(PROMPTS)}, got {self.prompt!r}"),
            (self.api in APIS, f"api must be {' | '.join(APIS)}, got {self.api!r}"),
            (DEVICE.fullmatch(self.device) is not None, f"device must be cpu | cuda | cuda:N, got {self.device!r}"),
            (self.dtype in ("float32", "bfloat16"), f"dtype must be float32 | bfloat16, got {self.dtype!r}"),
        ])

    def require_run_fields(self) -> None:
        if not self.benchmark:
            raise ConfigError("--benchmark is required (a built-in name, a FILE.jsonl or ORG/NAME)")
        if not self.output_dir:
            raise ConfigError("--output-dir is required")
