"""The OpenAI wire format: request models, response and chunk builders, error bodies.

Requests are validated strictly (a string where a number belongs is an error, as at OpenAI).
Fields r1lab does not act on (penalties, user, response_format text, ...) are accepted and
ignored, as vLLM does; the ones whose absence would silently change the answer's meaning
(`logprobs`, `tools`, `echo`, `best_of` above n) are refused with a 400.

Chat replies carry the reasoning under both names, `reasoning_content` (DeepSeek API, SGLang) and
`reasoning` (vLLM since late 2025); `content` is the answer after `</think>`, or null.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from r1lab.tasks.chat import split_reasoning

MAX_STOPS = 8
MAX_STOP_CHARS = 256


class ApiError(Exception):
    """An error answered with an OpenAI error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    role: str
    content: str | list[TextPart] | None = None  # reasoning_content / reasoning on input: ignored

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(_Strict):
    include_usage: bool = False


class _Sampling(_Strict):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: bool | int | None = None
    tools: list[Any] | None = None
    ignore_eos: bool = False  # vLLM's extension: generate max_tokens tokens whatever the model says

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else (v or [])
        if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"at most {MAX_STOPS} stop strings of at most {MAX_STOP_CHARS} characters")
        return v

    def stops(self) -> tuple[str, ...]:
        return tuple(s for s in ([self.stop] if isinstance(self.stop, str) else (self.stop or [])) if s)

    def refuse_unsupported(self) -> None:
        if self.logprobs not in (None, False, 0):
            raise ApiError(400, "logprobs are not supported by r1lab serve", "logprobs")
        if self.tools:
            raise ApiError(400, "tools are not supported by r1lab serve", "tools")


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    echo: bool | None = False
    best_of: int | None = Field(None, ge=1)

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def token_limit(self) -> int | None:
        return self.max_tokens

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo:
            raise ApiError(400, "echo is not supported by r1lab serve", "echo")
        if self.best_of is not None and self.best_of > (self.n or 1):
            raise ApiError(400, "best_of > n is not supported by r1lab serve", "best_of")
        if not self.prompts() or any(not p for p in self.prompts()):
            raise ApiError(400, "prompt must be a non-empty string or a non-empty list of non-empty strings", "prompt")


def parse(cls: type[_Sampling], obj: Any) -> _Sampling:
    """Validate a decoded JSON body; the first problem becomes a 400 naming the field."""
    if not isinstance(obj, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        req = cls.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]  # loc: the field, then (for unions) the member tried, then list indexes
        loc = ".".join(str(p) for p in err["loc"])
        raise ApiError(400, f"{loc or 'body'}: {err['msg']}", str(err["loc"][0]) if err["loc"] else None) from None
    req.refuse_unsupported()
    return req



# ----------------------------------------------------------------------------- responses


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_message(text: str) -> dict:
    reasoning, content = split_reasoning(text)
    return {"role": "assistant", "content": content, "reasoning_content": reasoning, "reasoning": reasoning}


def chat_completion(rid: str, model: str, texts: list[str], finishes: list[str], use: dict) -> dict:
    choices = [{"index": i, "message": chat_message(t), "logprobs": None, "finish_reason": f}
               for i, (t, f) in enumerate(zip(texts, finishes, strict=True))]
    return {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": use, "system_fingerprint": None}


def text_completion(rid: str, model: str, texts: list[str], finishes: list[str], use: dict) -> dict:
    choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": f}
               for i, (t, f) in enumerate(zip(texts, finishes, strict=True))]
    return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": use, "system_fingerprint": None}


def chat_chunk(rid: str, model: str, created: int, index: int, delta: dict, finish: str | None = None,
               with_usage: bool = False) -> dict:
    chunk = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
             "system_fingerprint": None,
             "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if with_usage:
        chunk["usage"] = None
    return chunk


def text_chunk(rid: str, model: str, created: int, index: int, text: str, finish: str | None = None,
               with_usage: bool = False) -> dict:
    chunk = {"id": rid, "object": "text_completion", "created": created, "model": model, "system_fingerprint": None,
             "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": finish}]}
    if with_usage:
        chunk["usage"] = None
    return chunk


def usage_chunk(rid: str, model: str, created: int, obj: str, use: dict) -> dict:
    return {"id": rid, "object": obj, "created": created, "model": model, "system_fingerprint": None,
            "choices": [], "usage": use}


def models_list(name: str, max_model_len: int, created: int) -> dict:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "r1lab",
                                        "max_model_len": max_model_len}]}
