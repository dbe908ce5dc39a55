"""The endpoint backend: any OpenAI-compatible server (vLLM, SGLang, the DeepSeek API, `r1lab serve`).

Requests: `POST {endpoint}/chat/completions` with the user message (`--api chat`), or
`POST {endpoint}/completions` with the raw prompt (`--api completions`), plus `model`,
`temperature`, `top_p`, `max_tokens`, and `n` when more than one sample is wanted. `--api auto`
(default) takes the chat API, except for the R1-Zero template, which is raw text.

* Concurrency: `concurrency` worker threads, one request in flight each. Replies come back to
  the calling thread, which grades and writes them. The workers are daemon threads, so an error
  or an interrupt never waits for the requests still in flight.
* `n`: a problem's missing samples are asked for in one request. A server that rejects `n` (a
  4xx to a request with n > 1 that the same request without `n` does not get) or ignores it
  (fewer choices than asked) is asked one sample per request from then on. Extra choices are
  dropped.
* Retries: a 429, a 5xx, a timeout or a connection error is retried up to `max_retries` times
  after `retry_backoff * 2**attempt` seconds (at most 60; a 429's `Retry-After` seconds are
  honoured, at most 60). Other 4xx are not retried. A request that still fails, or a response
  without choices, is a `UserError` naming the endpoint, the status and the server's message;
  whatever was written before stays on disk.
* Reasoning may arrive as `message.reasoning_content` (DeepSeek API, SGLang, vLLM until late
  2025), as `message.reasoning` (vLLM since), or inline as `<think>...</think>` in `content`; a
  completion's `text` is split inline (`prompts.Reply`). Only the answer part is graded.
* Stop strings: servers cut a stop string out of the text. Under the r1zero prompt the stop is
  `</answer>`: it is put back when vLLM's `stop_reason` names it, or when a reply that finished
  with "stop" ends inside an opened `<answer>`, so the reply reads as it does locally.
* Tokens: `usage.completion_tokens`. When one response carries several choices that is their
  total; it is split over the choices in proportion to their characters (integers that sum to
  the total, `tokens_exact: false` in samples.jsonl), so the mean length stays exact.
* An API key is read from `$OPENAI_API_KEY` when set, sent as a bearer token, never written.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Iterator

import httpx

from r1lab.errors import UserError
from r1lab.eval.backends import Job, Sample
from r1lab.eval.config import EvalConfig
from r1lab.eval.prompts import PromptRule, Reply

log = logging.getLogger("r1lab.eval")
MAX_WAIT_S = 60.0


def resolve_api(api: str, rule: PromptRule) -> str:
    """`--api auto`: the raw-text completions API for the R1-Zero template, the chat API otherwise."""
    return api if api != "auto" else ("completions" if rule.style == "r1zero" else "chat")


class EndpointBackend:
    def __init__(self, cfg: EvalConfig, rule: PromptRule, max_tokens: int):
        if rule.style == "r1zero" and cfg.api == "chat":
            raise UserError("--prompt r1zero sends the template as raw text, which needs --api completions "
                            "(a chat API would wrap it in the server's chat template); or use --prompt chat")
        if rule.style == "chat" and cfg.api == "completions":
            raise UserError("--api completions sends raw text, and the chat prompt needs the model's chat "
                            "template: use --api chat, or --prompt r1zero")
        self.cfg, self.rule, self.max_tokens = cfg, rule, max_tokens
        self.url = cfg.endpoint.rstrip("/") + ("/chat/completions" if cfg.api == "chat" else "/completions")
        key = os.environ.get("OPENAI_API_KEY")
        self.client = httpx.Client(timeout=cfg.request_timeout,
                                   headers={"Authorization": f"Bearer {key}"} if key else {},
                                   limits=httpx.Limits(max_connections=cfg.concurrency))
        self.n_supported: bool | None = None  # unknown until a request with n > 1 is answered
        self._lock = threading.Lock()

    def render(self, user_text: str) -> str:
        return user_text

    def describe(self) -> dict:
        return {"backend": "endpoint", "endpoint": self.cfg.endpoint, "api": self.cfg.api, "model": self.cfg.model,
                "n_supported": self.n_supported, "concurrency": self.cfg.concurrency}

    def close(self) -> None:
        self.client.close()

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[Sample]]]:
        todo: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()

        def worker() -> None:
            while (job := todo.get()) is not None:
                try:
                    done.put((job, self._request(job), None))
                except BaseException as e:  # noqa: BLE001 - handed to the calling thread, which raises it
                    done.put((job, None, e))
        # daemon threads: an error or Ctrl-C in the calling thread never waits for requests in flight
        workers = [threading.Thread(target=worker, daemon=True, name=f"r1lab-eval-{i}")
                   for i in range(self.cfg.concurrency)]
        for w in workers:
            w.start()
        for job in jobs:
            todo.put(job)
        outstanding = len(jobs)
        try:
            while outstanding:
                job, samples, error = done.get()
                outstanding -= 1
                if error is not None:
                    raise error
                yield job._replace(samples=job.samples[:len(samples)]), samples
                for i in job.samples[len(samples):]:  # the server gave fewer than asked: one request each
                    todo.put(job._replace(samples=(i,)))
                    outstanding += 1
        finally:
            with todo.mutex:
                todo.queue.clear()
            for _ in workers:
                todo.put(None)

    # ------------------------------------------------------------------ one request

    def _request(self, job: Job) -> list[Sample]:
        n = len(job.samples) if self.n_supported is not False else 1
        data = self._post(self._body(job.prompt, n), fail_on_4xx=n == 1)
        if data is None:  # a 4xx to a request with n > 1: try without n
            data = self._post(self._body(job.prompt, 1), fail_on_4xx=True)
            self._note_n(False, "rejected")
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list):
            raise UserError(f"endpoint {self.url}: the response for problem {job.id} has no choices")
        if n > 1:
            self._note_n(len(choices) >= n, "ignored")
        return self._samples(_by_index(choices)[:n], data.get("usage"))

    def _samples(self, choices: list, usage) -> list[Sample]:
        replies = [self._reply(c if isinstance(c, dict) else {}) for c in choices]
        chars = [len(r.full or (r.reasoning or "") + r.answer) for r, _ in replies]
        tokens = _split_tokens((usage or {}).get("completion_tokens"), chars)
        return [Sample(r, t, finish, len(replies) == 1) for (r, finish), t in zip(replies, tokens, strict=True)]

    def _body(self, prompt: str, n: int) -> dict:
        body = {"model": self.cfg.model, "temperature": self.cfg.temperature, "top_p": self.cfg.top_p,
                "max_tokens": self.max_tokens}
        if self.cfg.api == "chat":
            body["messages"] = self.rule.messages(prompt)
        else:
            body["prompt"] = prompt
            if self.rule.stops:
                body["stop"] = list(self.rule.stops)
        if n > 1:
            body["n"] = n
        return body

    def _reply(self, choice: dict) -> tuple[Reply, str | None]:
        finish = choice.get("finish_reason")
        if self.cfg.api == "chat":
            msg = choice.get("message") or {}
            reasoning = msg.get("reasoning_content")
            reasoning = msg.get("reasoning") if reasoning is None else reasoning
            return Reply.from_parts(reasoning, msg.get("content")), finish
        text = choice.get("text") or ""
        stop = choice.get("stop_reason")
        if isinstance(stop, str) and stop in self.rule.stops:
            text += stop
        elif stop is None and finish == "stop" and "</answer>" in self.rule.stops \
                and text.rfind("<answer>") > text.rfind("</answer>"):
            text += "</answer>"
        return Reply.from_text(text), finish

    def _note_n(self, supported: bool, how: str) -> None:
        with self._lock:
            if self.n_supported is None or (self.n_supported and not supported):
                if not supported:
                    log.warning("endpoint %s %s n > 1: asking one sample per request", self.url, how)
                self.n_supported = supported

    def _post(self, body: dict, fail_on_4xx: bool) -> dict | None:
        """The response's JSON; None for a 4xx when not `fail_on_4xx`; retries as in the header."""
        why = ""
        for attempt in range(self.cfg.max_retries + 1):
            delay = min(MAX_WAIT_S, self.cfg.retry_backoff * 2 ** attempt)
            try:
                r = self.client.post(self.url, json=body)
            except httpx.TransportError as e:
                why = f"unreachable after {self.cfg.max_retries} retries: {type(e).__name__}: {_first_line(e)}"
            else:
                if r.status_code < 400:
                    return _json(r, self.url)
                if r.status_code != 429 and r.status_code < 500:
                    if not fail_on_4xx:
                        return None
                    raise UserError(f"endpoint {self.url} answered {r.status_code} (not retried): {_message(r)}")
                why = f"answered {r.status_code} after {self.cfg.max_retries} retries: {_message(r)}"
                delay = _retry_after(r, delay)
            if attempt < self.cfg.max_retries:
                time.sleep(delay)
        raise UserError(f"endpoint {self.url} {why}")


def _by_index(choices: list) -> list:
    return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)


def _split_tokens(total, weights: list[int]) -> list[int | None]:
    """`total` split over the choices in proportion to `weights` (largest remainders)."""
    if not isinstance(total, int):
        return [None] * len(weights)
    if len(weights) == 1:
        return [total]
    w = [x + 1 for x in weights]
    exact = [total * x / sum(w) for x in w]
    out = [int(e) for e in exact]
    for i in sorted(range(len(w)), key=lambda i: out[i] - exact[i])[:total - sum(out)]:
        out[i] += 1
    return out


def _json(r: httpx.Response, url: str) -> dict:
    try:
        return r.json()
    except ValueError:
        raise UserError(f"endpoint {url} answered {r.status_code} with a body that is not JSON: "
                        f"{r.text[:100]!r}") from None


def _message(r: httpx.Response) -> str:
    """The server's error message: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    try:
        body = r.json()
    except ValueError:
        return r.text.strip()[:200] or r.reason_phrase
    err = body.get("error", body.get("detail", body)) if isinstance(body, dict) else body
    msg = err.get("message", err) if isinstance(err, dict) else err
    return str(msg)[:200]


def _retry_after(r: httpx.Response, default: float) -> float:
    try:
        return min(MAX_WAIT_S, max(0.0, float(r.headers.get("retry-after", ""))))
    except ValueError:
        return default


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
