"""The OpenAI-compatible HTTP server: FastAPI routes in front of one continuous-batching Scheduler.

Endpoints: `GET /v1/models` (and `/v1/models/NAME`), `POST /v1/chat/completions`, `POST /v1/completions`, `GET /health`.

* Chat requests get the usage rules of `r1lab.tasks.chat` (T 0.6 and top-p 0.95 by default, the
  system prompt folded into the first user turn, earlier reasoning dropped, `<think>\\n` forced)
  and the reasoning split. `/v1/completions` is raw text completion: the prompt is the caller's,
  nothing is added and nothing is split (the sampling defaults are the same).
* Every request is decoded by the `Scheduler` thread together with the others. Its events come
  back into the event loop (`call_soon_threadsafe`, once per decode step for all requests) into
  one asyncio queue per request: every step's text for a streamed request, each choice's whole
  text when it ends for one that is not. A client that goes away (mid-stream, or while waiting
  for a non-streamed reply) has its request cancelled, which frees its rows at the next step.
* Limits, all answered with an OpenAI error body (`protocol.ApiError`), never a 5xx: body size
  (413, also for chunked bodies), body time (408, for clients that stop sending), bad UTF-8 or
  JSON, wrong types, ranges, n, max_tokens against the context (400), unknown model (404), a
  missing or wrong bearer key (401), requests in flight (429). A 500 means a bug in r1lab.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from r1lab.rollout.scheduler import Event, GenRequest, Scheduler, Ticket
from r1lab.serve import protocol as P
from r1lab.serve.config import ServeConfig
from r1lab.tasks.chat import ReasoningStream, chat_prompt

logger = logging.getLogger("r1lab.serve")


class Disconnected(Exception):
    """The client went away before its reply was complete."""


class Serving:
    """What the routes share: config, tokenizer, scheduler, and the count of requests in flight."""

    def __init__(self, cfg: ServeConfig, scheduler: Scheduler, tokenizer) -> None:
        self.cfg, self.scheduler, self.tokenizer = cfg, scheduler, tokenizer
        self.name = cfg.served_model_name or cfg.model
        self.created = int(time.time())
        self.in_flight = 0

    # ------------------------------------------------------------------ request checks

    def authorize(self, request: Request) -> None:
        if not self.cfg.api_key:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.cfg.api_key}".encode()):
            raise P.ApiError(401, "missing or invalid API key (send Authorization: Bearer KEY)",
                             code="invalid_api_key")

    async def read_json(self, request: Request):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.cfg.max_body_bytes):
            raise P.ApiError(413, f"request body over {self.cfg.max_body_bytes} bytes", code="request_too_large")
        try:
            body = await asyncio.wait_for(self._body(request), self.cfg.body_timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            raise P.ApiError(408, f"request body not received within {self.cfg.body_timeout:g} s",
                             code="timeout") from None
        except ClientDisconnect:
            raise P.ApiError(400, "the client disconnected while sending the body") from None
        try:
            obj = json.loads(body.decode("utf-8"))
            json.dumps(obj, ensure_ascii=False).encode("utf-8")  # a \ud800-style escape decodes to an unencodable str
        except UnicodeDecodeError:
            raise P.ApiError(400, "the request body is not UTF-8") from None
        except UnicodeEncodeError:
            raise P.ApiError(400, "the request holds a lone UTF-16 surrogate escape (not a character)") from None
        except (ValueError, RecursionError) as e:
            raise P.ApiError(400, f"invalid JSON: {str(e).splitlines()[0][:200]}") from None
        return obj

    async def _body(self, request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.cfg.max_body_bytes:
                raise P.ApiError(413, f"request body over {self.cfg.max_body_bytes} bytes", code="request_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    def check_model(self, name: str) -> None:
        if name != self.name:
            raise P.ApiError(404, f"model {name!r} does not exist; this server serves {self.name!r}", "model",
                             "model_not_found")

    def gen_requests(self, prompts: list[list[int]], req) -> list[GenRequest]:
        n, ctx = req.n or 1, self.scheduler.max_model_len
        if n > self.cfg.max_n:
            raise P.ApiError(400, f"n must be at most {self.cfg.max_n}", "n")
        if len(prompts) * n > self.scheduler.max_rows:
            raise P.ApiError(400, f"at most {self.scheduler.max_rows} choices (prompts x n) per request", "prompt")
        cap, asked = self.cfg.max_tokens or ctx, req.token_limit()
        if asked is not None and asked > cap:
            raise P.ApiError(400, f"max_tokens must be at most {cap}", "max_tokens")
        out = []
        for ids in prompts:
            if len(ids) >= ctx:
                raise P.ApiError(400, f"the prompt has {len(ids)} tokens; this model's context is {ctx}", "messages")
            if asked is not None and len(ids) + asked > ctx:
                raise P.ApiError(400, f"prompt ({len(ids)} tokens) + max_tokens ({asked}) exceeds this model's "
                                 f"context of {ctx} tokens", "max_tokens")
            out.append(GenRequest(
                tuple(ids), asked if asked is not None else min(cap, ctx - len(ids)), n,
                0.6 if req.temperature is None else req.temperature, 0.95 if req.top_p is None else req.top_p,
                req.stops(), req.seed, req.ignore_eos))
        return out

    def release(self) -> None:
        self.in_flight -= 1

    def admit(self) -> None:
        if self.in_flight >= self.cfg.max_concurrent:
            raise P.ApiError(429, f"more than {self.cfg.max_concurrent} requests in flight; retry later",
                             code="rate_limit_exceeded", type="rate_limit_error")
        self.in_flight += 1

    # ------------------------------------------------------------------ running requests

    async def events(self, gens: list[GenRequest], watch: Request | None) -> AsyncIterator[list[tuple[int, Event]]]:
        """Submit `gens`; yield each decode step's events as (choice index, event), until all choices end.

        Choice i*n + j is sample j of prompt i. With `watch` (a request that is not streamed), each
        choice arrives whole in one event, and the request is polled for a disconnect."""
        queue: asyncio.Queue[tuple[int, list[Event]]] = asyncio.Queue()
        tickets: list[Ticket] = []
        remaining = sum(g.n for g in gens)
        try:
            for i, g in enumerate(gens):
                tickets.append(self.scheduler.submit(g, lambda evs, i=i: queue.put_nowait((i, evs)), watch is None))
            while remaining:
                i, evs = await self._next(queue, watch)
                remaining -= sum(ev.finish is not None for ev in evs)
                yield [(i * gens[i].n + ev.sample, ev) for ev in evs]
        finally:
            if remaining:
                for t in tickets:
                    t.cancel()

    async def _next(self, queue: asyncio.Queue, watch: Request | None):
        while True:
            try:
                return await asyncio.wait_for(queue.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if not self.scheduler.thread.is_alive():
                    raise P.ApiError(503, "the decode thread has stopped; restart the server",
                                     type="server_error") from None
                if watch is not None and await watch.is_disconnected():
                    raise Disconnected() from None


def _dispatch(out: dict[Ticket, list[Event]]) -> None:
    for ticket, events in out.items():
        ticket.sink(events)


def create_app(cfg: ServeConfig, scheduler: Scheduler, tokenizer) -> FastAPI:
    """The FastAPI app; starting it starts `scheduler`'s thread, stopping it stops the thread."""
    serving = Serving(cfg, scheduler, tokenizer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        scheduler.deliver = lambda out: loop.call_soon_threadsafe(_dispatch, out)
        scheduler.start()
        try:
            yield
        finally:
            scheduler.close()

    app = FastAPI(title="r1lab serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serving = serving
    _error_handlers(app)

    @app.get("/health")
    async def health():
        alive = scheduler.thread.is_alive()
        return JSONResponse({"status": "ok" if alive else "decode thread stopped"}, 200 if alive else 503)

    @app.get("/v1/models")
    async def models(request: Request):
        serving.authorize(request)
        return P.models_list(serving.name, scheduler.max_model_len, serving.created)

    @app.get("/v1/models/{name:path}")
    async def model(request: Request, name: str):
        serving.authorize(request)
        serving.check_model(name)
        return P.models_list(serving.name, scheduler.max_model_len, serving.created)["data"][0]

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        serving.authorize(request)
        req = P.parse(P.ChatRequest, await serving.read_json(request))
        serving.check_model(req.model)
        try:
            prompt = chat_prompt(tokenizer, [{"role": m.role, "content": m.text()} for m in req.messages], cfg.math)
        except ValueError as e:
            raise P.ApiError(400, str(e), "messages") from None
        gens = serving.gen_requests([tokenizer(prompt, add_special_tokens=False).input_ids], req)
        return await _respond(serving, request, req, gens, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        serving.authorize(request)
        req = P.parse(P.CompletionRequest, await serving.read_json(request))
        serving.check_model(req.model)
        ids = [tokenizer(p, add_special_tokens=False).input_ids for p in req.prompts()]
        if any(not i for i in ids):
            raise P.ApiError(400, "a prompt encodes to no tokens", "prompt")
        return await _respond(serving, request, req, serving.gen_requests(ids, req), chat=False)

    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(P.ApiError)
    async def api_error(request: Request, e: P.ApiError):
        return JSONResponse(e.body(), e.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return JSONResponse(P.ApiError(e.status_code, str(e.detail)).body(), e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception):
        logger.error("internal error on %s: %r", request.url.path, e)
        return JSONResponse(P.ApiError(500, "internal server error", type="server_error").body(), 500)


# ---------------------------------------------------------------------------- responses


async def _respond(serving: Serving, request: Request, req, gens: list[GenRequest], chat: bool):
    serving.admit()
    if req.stream:
        return _Stream(_stream(serving, req, gens, chat), serving.release)
    try:
        return await _whole(serving, request, req, gens, chat)
    except Disconnected:
        return JSONResponse(P.ApiError(400, "client disconnected").body(), 400)
    finally:
        serving.release()


async def _whole(serving: Serving, request: Request, req, gens: list[GenRequest], chat: bool):
    total = sum(g.n for g in gens)
    texts, finishes, tokens = [""] * total, [""] * total, [0] * total
    async with aclosing(serving.events(gens, request)) as steps:
        async for step in steps:
            for c, ev in step:
                texts[c] += ev.text
                if ev.finish:
                    finishes[c], tokens[c] = ev.finish, ev.tokens
    if "error" in finishes:
        raise RuntimeError("the decode thread failed on this request (see the server log)")
    use = P.usage(sum(len(g.prompt_ids) for g in gens), sum(tokens))
    rid = P.new_id("chatcmpl" if chat else "cmpl")
    build = P.chat_completion if chat else P.text_completion
    return build(rid, serving.name, texts, finishes, use)


class _Stream(StreamingResponse):
    """SSE whose body generator is always closed (so a cancelled request frees its rows) and whose
    in-flight slot is always released, also when the client left before the first chunk."""

    def __init__(self, body: AsyncIterator[str], release) -> None:
        super().__init__(body, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self.release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()
            self.release()


def _sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _stream(serving: Serving, req, gens: list[GenRequest], chat: bool) -> AsyncIterator[str]:
    """SSE: per choice its deltas (chat: reasoning, then content; the delta holding `</think>` split),
    then a chunk with its finish_reason; a usage chunk if asked; then `[DONE]`."""
    rid, name, created = P.new_id("chatcmpl" if chat else "cmpl"), serving.name, int(time.time())
    with_usage = bool(req.stream_options and req.stream_options.include_usage)
    total = sum(g.n for g in gens)
    splitters, tokens = [ReasoningStream() for _ in range(total)], [0] * total
    if chat:
        yield "".join(_sse(P.chat_chunk(rid, name, created, c, {"role": "assistant", "content": ""},
                                        with_usage=with_usage)) for c in range(total))
    async with aclosing(serving.events(gens, None)) as steps:
        async for step in steps:
            out = []
            for c, ev in step:
                if ev.finish == "error":
                    yield _sse(P.ApiError(500, "the decode thread failed on this request", type="server_error").body())
                    return
                tokens[c] = ev.tokens
                out += _chat_deltas(rid, name, created, c, ev, splitters[c], with_usage) if chat else \
                    _text_deltas(rid, name, created, c, ev, with_usage)
            if out:
                yield "".join(out)
    if with_usage:
        use = P.usage(sum(len(g.prompt_ids) for g in gens), sum(tokens))
        yield _sse(P.usage_chunk(rid, name, created, "chat.completion.chunk" if chat else "text_completion", use))
    yield "data: [DONE]\n\n"


def _chat_deltas(rid, name, created, c: int, ev: Event, split: ReasoningStream, with_usage: bool) -> list[str]:
    reasoning, content = split.push(ev.text)
    if ev.finish:
        reasoning += split.flush()
    out = []
    if reasoning:
        out.append(_sse(P.chat_chunk(rid, name, created, c, {"reasoning_content": reasoning, "reasoning": reasoning},
                                     with_usage=with_usage)))
    if content:
        out.append(_sse(P.chat_chunk(rid, name, created, c, {"content": content}, with_usage=with_usage)))
    if ev.finish:
        out.append(_sse(P.chat_chunk(rid, name, created, c, {}, ev.finish, with_usage=with_usage)))
    return out


def _text_deltas(rid, name, created, c: int, ev: Event, with_usage: bool) -> list[str]:
    out = [_sse(P.text_chunk(rid, name, created, c, ev.text, with_usage=with_usage))] if ev.text else []
    if ev.finish:
        out.append(_sse(P.text_chunk(rid, name, created, c, "", ev.finish, with_usage=with_usage)))
    return out
