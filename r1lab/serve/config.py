"""Configs of `r1lab serve` and `r1lab chat` (kept free of torch so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

from r1lab.config import DEVICE, SEED, check, help_field, require


@dataclass
class ChatConfig:
    model: str = help_field("tiny", "'tiny' (the built-in model), a local HF model directory, or a hub id")
    temperature: float = help_field(0.6, "sampling temperature (the model card's 0.6; 0 = greedy)")
    top_p: float = help_field(0.95, "nucleus sampling mass (the model card's 0.95)")
    max_tokens: int = help_field(512, "largest reply in tokens (also bounded by the model's context)")
    math: bool = help_field(False, "append the math instruction to every user turn")
    seed: int | None = help_field(None, "sampling seed (None = a fresh one per reply)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16")

    def __post_init__(self) -> None:
        require(self, temperature="[0, 2]", top_p="(0, 1]", max_tokens=">= 1", seed=SEED, threads=">= 0")
        check([
            (DEVICE.fullmatch(self.device) is not None, f"device must be cpu | cuda | cuda:N, got {self.device!r}"),
            (self.dtype in ("float32", "bfloat16"), f"dtype must be float32 | bfloat16, got {self.dtype!r}"),
        ])


@dataclass
class ServeConfig:
    model: str = help_field("tiny", "'tiny' (the built-in model), a local HF model directory, or a hub id")
    served_model_name: str = help_field("", "the name clients send as `model` (default: the --model value)")
    host: str = help_field("127.0.0.1", "interface to bind (0.0.0.0 exposes the server to the network)")
    port: int = help_field(8000, "TCP port (0 = any free port; the chosen one is printed)")
    api_key: str = help_field("", "if set, requests must send `Authorization: Bearer KEY` (else 401)")
    math: bool = help_field(False, "append the math instruction to every user turn of chat requests")
    max_rows: int = help_field(64, "samples decoded together (a request's n counts n)")
    max_model_len: int = help_field(0, "prompt + completion tokens per sample (0 = the model's context length)")
    max_tokens: int = help_field(0, "largest max_tokens a request may ask for; also the default (0 = the context left)")
    max_n: int = help_field(16, "largest n per request")
    max_concurrent: int = help_field(256, "requests in flight (waiting or decoding); more get 429")
    max_body_bytes: int = help_field(1 << 20, "largest request body; larger gets 413")
    body_timeout: float = help_field(10.0, "seconds to receive a request body; slower gets 408")
    threads: int = help_field(0, "torch CPU threads (0 = one per core)")
    device: str = help_field("cpu", "torch device: cpu | cuda")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16")

    def __post_init__(self) -> None:
        require(self, port="[0, 65535]", max_rows=">= 1", max_model_len=">= 0", max_tokens=">= 0",
                max_concurrent=">= 1", max_body_bytes=">= 1024", body_timeout="> 0", threads=">= 0")
        check([
            (1 <= self.max_n <= self.max_rows, f"max_n must be in [1, max_rows={self.max_rows}], got {self.max_n}"),
            (DEVICE.fullmatch(self.device) is not None, f"device must be cpu | cuda | cuda:N, got {self.device!r}"),
            (self.dtype in ("float32", "bfloat16"), f"dtype must be float32 | bfloat16, got {self.dtype!r}"),
        ])
