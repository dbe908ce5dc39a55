"""Continuous batching: one thread owns the model and decodes every running request together.

The anchor is vLLM's continuous batching. Requests wait in a FIFO queue. At every step boundary
the thread admits waiting requests while their n rows fit in the cache, runs ONE prefill per
request (its n samples share it, as a prompt's G samples do in training) and samples each
sample's first token; from the next decode step on they advance with every other running row.
A row that ends (eos, a stop string, max_tokens, or a cancelled request) leaves the batch at
once, and its slot goes to the next waiting request. Admission is strictly FIFO: a request whose
n rows do not fit yet is not overtaken.

Reproducibility: each sample draws its uniforms from its own generator, seeded from (request
seed, sample index), never from a shared batch generator; and `slots.decode_rows` makes a row's
logits independent of the rest of the batch. So a request gets the same reply alone or beside 31
others (tests/rollout/test_scheduler.py, bit for bit on CPU). Sample j of seed s draws the same
uniforms whatever n and max_tokens are: a smaller max_tokens gives a prefix of the same text.

Sampling (`sample_rows`) has temperature and top-p per row: the nucleus and inverse-CDF draw of
`engine.sample_next`, with the nucleus found among the 64 likeliest tokens when it lies there;
temperature 0 (below 1e-5) is greedy.

The thread also turns tokens into text (`text.Detokenizer`), applies stop strings
(`text.StopText`) and hands out `Event`s: once per step, all requests' events go to `deliver`
(by default each ticket's sink is called in the thread; a server hops into its event loop once
per step, not once per token).

Departure from vLLM: no paged KV cache. Each row owns `max_model_len` slots, so capacity is
`max_rows` sequences of at most `max_model_len` tokens; no preemption.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from r1lab.models import forward as fw
from r1lab.rollout import decode as dec
from r1lab.rollout.engine import inverse_cdf_at
from r1lab.rollout.slots import SlotKVCache, decode_rows, fill_order
from r1lab.rollout.text import Detokenizer, StopText

logger = logging.getLogger("r1lab.rollout")


@dataclass(frozen=True)
class GenRequest:
    prompt_ids: tuple[int, ...]
    max_tokens: int
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    stop: tuple[str, ...] = ()  # text-level stop strings, not included in the output
    seed: int | None = None  # None: a fresh random seed
    ignore_eos: bool = False  # run to max_tokens (benchmarks; vLLM's extension of the OpenAI API)


class Event(NamedTuple):
    sample: int  # which of the request's n samples
    text: str  # new text (may be empty)
    tokens: int  # tokens this sample has generated so far (incl. a final eos)
    finish: str | None  # None while running; "stop", "length" or "error" on its last event


class Ticket:
    """A submitted request. `sink(events)` receives its events (with `stream` False, one per sample,
    when it ends, holding its whole text); `cancel()` frees its rows at the next step."""

    def __init__(self, request: GenRequest, sink: Callable[[list[Event]], None], stream: bool = True) -> None:
        self.request, self.sink, self.stream = request, sink, stream
        self.seed = secrets.randbits(63) if request.seed is None else request.seed
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def sample_seed(seed: int, sample: int) -> int:
    """The generator seed of sample `sample` of a request with seed `seed` (stable across processes)."""
    digest = hashlib.blake2b(f"{seed}/{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


GREEDY_BELOW = 1e-5  # temperatures under this are greedy (logits / T would overflow), as in vLLM
NUCLEUS_CANDIDATES = 64  # top-p looks at this many most likely tokens first, sorting the vocabulary only if needed


def sample_rows(logits: Tensor, temperature: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    """logits (B, V), temperature/top_p/u (B,) -> (B,) tokens; a row's result depends on its own inputs only.

    A full sort of the vocabulary costs ~1 s per step for 32 rows of a 152k vocabulary on CPU, so
    the nucleus is taken from the top `NUCLEUS_CANDIDATES` tokens when they hold top_p of the mass
    (nearly always at T 0.6); only the other rows are sorted whole. top_p = 1 draws from the
    whole distribution without sorting. Which path a row takes depends on that row alone."""
    greedy = temperature < GREEDY_BELOW  # (B,)
    probs = torch.softmax(logits.float() / torch.where(greedy, 1.0, temperature)[:, None], dim=-1)  # (B, V)
    top, order = probs.topk(min(NUCLEUS_CANDIDATES, probs.shape[1]), dim=-1)  # (B, K) descending
    tokens = _nucleus(top, order, top_p, u)  # (B,)
    whole = top_p >= 1.0  # (B,)
    sort = ~whole & (top.sum(-1) < top_p)  # (B,) the nucleus reaches past the candidates
    if bool(whole.any()):
        tokens[whole] = inverse_cdf_at(probs[whole], u[whole, None])
    if bool(sort.any()):
        tokens[sort] = _nucleus(*probs[sort].sort(dim=-1, descending=True), top_p[sort], u[sort])
    return torch.where(greedy, logits.argmax(-1), tokens)  # (B,)


def _nucleus(sorted_probs: Tensor, order: Tensor, top_p: Tensor, u: Tensor) -> Tensor:
    """Probabilities sorted descending (B, K) and their token ids -> (B,) a draw from the top-p nucleus.

    The nucleus is the smallest prefix whose mass reaches top_p (the top token always kept),
    drawn by inverse CDF at u, as `engine.sample_next` does."""
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p[:, None]  # (B, K): mass above reaches top_p
    outside[:, 0] = False
    choice = inverse_cdf_at(sorted_probs.masked_fill(outside, 0.0), u[:, None])  # (B,)
    return order.gather(-1, choice[:, None]).squeeze(1)  # (B,)


class _Row:
    """Host-side state of one running sample."""

    __slots__ = ("ticket", "sample", "detok", "stop", "count", "held")

    def __init__(self, ticket: Ticket, sample: int, tokenizer) -> None:
        self.ticket, self.sample, self.count, self.held = ticket, sample, 0, ""
        self.detok = Detokenizer(tokenizer)
        self.stop = StopText(ticket.request.stop) if ticket.request.stop else None

    def advance(self, token: int, eos: frozenset[int]) -> Event:
        """Take this row's next token; the event says what text it adds and whether the row ended
        (for a ticket that does not stream, the text is held back until the row ends)."""
        ev = self._next(token, eos)
        if self.ticket.stream:
            return ev
        self.held += ev.text
        return ev._replace(text=self.held) if ev.finish else ev._replace(text="")

    def _next(self, token: int, eos: frozenset[int]) -> Event:
        self.count += 1
        req = self.ticket.request
        if token in eos and not req.ignore_eos:
            return Event(self.sample, self.stop.flush() if self.stop else "", self.count, "stop")
        text = self.detok.push(token)
        if self.stop:
            text, stopped = self.stop.push(text)
            if stopped:
                return Event(self.sample, text, self.count, "stop")
        if self.count >= req.max_tokens:
            return Event(self.sample, text + (self.stop.flush() if self.stop else ""), self.count, "length")
        return Event(self.sample, text, self.count, None)


def _deliver_direct(out: dict[Ticket, list[Event]]) -> None:
    for ticket, events in out.items():
        ticket.sink(events)


class Scheduler:
    """Owns the model on one background thread; `submit` from any thread.

    `max_rows`: samples decoded together (a request's n counts n); `max_model_len`: prompt plus
    completion tokens per sample (default: the model's `max_position_embeddings`).
    """

    def __init__(self, model: nn.Module, tokenizer, max_rows: int = 64, max_model_len: int | None = None,
                 deliver: Callable[[dict[Ticket, list[Event]]], None] | None = None) -> None:
        if not fw.supports(model):
            raise ValueError(f"{type(model).__name__}: serving needs a Llama/Qwen2-family model (r1lab's decode path)")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_model_len = max_model_len or int(model.config.max_position_embeddings)
        self.eos = frozenset(_eos_ids(model, tokenizer))
        self.deliver = deliver or _deliver_direct
        with torch.inference_mode():
            self.cache = SlotKVCache(model, max_rows, self.max_model_len)
        cap, dev = self.cache.k.shape[1], self.cache.device
        self.u = torch.zeros((cap, self.max_model_len), device=dev)  # (cap, M) each row's own uniforms
        self.temperature = torch.zeros(cap, device=dev)  # (cap,)
        self.top_p = torch.ones(cap, device=dev)  # (cap,)
        self.tokens = torch.zeros(cap, dtype=torch.long, device=dev)  # (cap,) last sampled token
        self.rows: list[_Row] = []  # host state of the live rows, in cache order
        self.waiting: deque[Ticket] = deque()
        self.cv = threading.Condition()
        self.closed = False
        self.steps = 0  # decode steps run (each advances every live row by one token)
        self.thread = threading.Thread(target=self._loop, name="r1lab-decode", daemon=True)

    @property
    def max_rows(self) -> int:
        return self.cache.capacity

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()
        if self.thread.is_alive():
            self.thread.join()

    def check(self, request: GenRequest) -> None:
        """Raise ValueError if the request can never run here."""
        if not request.prompt_ids:
            raise ValueError("the prompt is empty")
        if not 1 <= request.n <= self.max_rows:
            raise ValueError(f"n must be between 1 and {self.max_rows}")
        if request.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if len(request.prompt_ids) + request.max_tokens > self.max_model_len:
            raise ValueError(f"prompt ({len(request.prompt_ids)} tokens) + max_tokens ({request.max_tokens}) "
                             f"exceeds the context of {self.max_model_len} tokens")

    def submit(self, request: GenRequest, sink: Callable[[list[Event]], None], stream: bool = True) -> Ticket:
        self.check(request)
        ticket = Ticket(request, sink, stream)
        with self.cv:
            if self.closed or not self.thread.is_alive():
                raise RuntimeError("the scheduler is not running")
            self.waiting.append(ticket)
            self.cv.notify()
        return ticket

    def stream(self, request: GenRequest) -> Iterator[Event]:
        """Submit and yield the request's events in the caller's thread (cancelled if the caller stops early)."""
        q: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
        ticket = self.submit(request, q.put)
        running = request.n
        try:
            while running:
                try:
                    events = q.get(timeout=0.5)
                except queue.Empty:
                    if not self.thread.is_alive():
                        raise RuntimeError("the decode thread has stopped") from None
                    continue
                for ev in events:
                    running -= ev.finish is not None
                    yield ev
        finally:
            if running:
                ticket.cancel()

    # ----------------------------------------------------------------- the decode thread

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                admitted = self._take_waiting()
                if admitted is None:
                    return
                out: dict[Ticket, list[Event]] = {}
                try:
                    self._step(admitted, out)
                except Exception:  # a bug or out of memory: fail the running requests, keep serving
                    logger.exception("decode step failed; failing %d running rows", len(self.rows))
                    self._fail_all(admitted, out)
                if out:
                    self.deliver(out)

    def _take_waiting(self) -> list[Ticket] | None:
        """The waiting requests that fit now, in order (blocks while nothing runs); None once closed."""
        with self.cv:
            while not self.closed and not self.rows and not self.waiting:
                self.cv.wait()
            if self.closed:
                return None
            taken, free = [], self.cache.free
            while self.waiting and (self.waiting[0].cancelled or self.waiting[0].request.n <= free):
                ticket = self.waiting.popleft()
                if not ticket.cancelled:
                    taken.append(ticket)
                    free -= ticket.request.n
            return taken

    def _step(self, admitted: list[Ticket], out: dict[Ticket, list[Event]]) -> None:
        for ticket in admitted:
            self._start(ticket, out)
        self._drop_cancelled()
        a = self.cache.rows
        if a == 0:
            return
        logits = decode_rows(self.cache, self.tokens[:a])  # (A, V)
        self.steps += 1
        counts = torch.tensor([row.count for row in self.rows], device=self.u.device)  # (A,)
        u = self.u[torch.arange(a, device=self.u.device), counts]  # (A,)
        self.tokens[:a] = sample_rows(logits, self.temperature[:a], self.top_p[:a], u)
        self._advance(0, self.tokens[:a].tolist(), out)

    def _start(self, ticket: Ticket, out: dict[Ticket, list[Event]]) -> None:
        """Prefill the prompt once, give each of its n samples a row and its first token."""
        req, r0 = ticket.request, self.cache.rows
        ids = torch.tensor([req.prompt_ids], device=self.u.device)  # (1, Lp)
        logits, kvs = dec.prefill(self.model, ids, torch.ones_like(ids, dtype=torch.bool))  # (1, V)
        self.cache.add(kvs, req.n)
        rows = slice(r0, r0 + req.n)
        self.temperature[rows], self.top_p[rows] = req.temperature, req.top_p
        for j in range(req.n):
            self.rows.append(_Row(ticket, j, self.tokenizer))
            if req.temperature > 0:
                gen = torch.Generator().manual_seed(sample_seed(ticket.seed, j))
                self.u[r0 + j, :req.max_tokens] = torch.rand(req.max_tokens, generator=gen)
        first = sample_rows(logits.expand(req.n, -1), self.temperature[rows], self.top_p[rows], self.u[rows, 0])
        self.tokens[rows] = first
        self._advance(r0, first.tolist(), out)

    def _advance(self, r0: int, tokens: list[int], out: dict[Ticket, list[Event]]) -> None:
        """Rows r0.. take their new tokens; rows that end leave the batch."""
        ended = []
        for r, tok in enumerate(tokens, start=r0):
            row = self.rows[r]
            ev = row.advance(tok, self.eos)
            if ev.text or ev.finish:
                out.setdefault(row.ticket, []).append(ev)
            if ev.finish:
                ended.append(r)
        if ended:
            self._drop(set(ended))

    def _drop_cancelled(self) -> None:
        self._drop({r for r, row in enumerate(self.rows) if row.ticket.cancelled})

    def _drop(self, drop: set[int]) -> None:
        """Remove rows `drop`; the last rows move into the holes (row order does not matter to the numerics)."""
        if not drop:
            return
        order = fill_order(len(self.rows), drop)
        self.cache.reorder(order)
        moved = [(i, r) for i, r in enumerate(order) if i != r]
        if moved:
            dst = torch.tensor([i for i, _ in moved], device=self.u.device)
            src = torch.tensor([r for _, r in moved], device=self.u.device)
            for t in (self.u, self.temperature, self.top_p, self.tokens):
                t[dst] = t[src]
        self.rows = [self.rows[r] for r in order]

    def _fail_all(self, admitted: list[Ticket], out: dict[Ticket, list[Event]]) -> None:
        """End every sample that has not ended yet (running, or admitted this step) with an "error" event."""
        ended = {(t, ev.sample) for t, evs in out.items() for ev in evs if ev.finish}
        running = {(row.ticket, row.sample) for row in self.rows}
        admitted_samples = {(t, j) for t in admitted for j in range(t.request.n)}
        for ticket, j in sorted((running | admitted_samples) - ended, key=lambda tj: (id(tj[0]), tj[1])):
            out.setdefault(ticket, []).append(Event(j, "", 0, "error"))
        self.rows = []
        self.cache.reorder([])


def _eos_ids(model: nn.Module, tokenizer) -> set[int]:
    """The tokenizer's eos plus the model's generation_config eos ids (chat models often list several)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids.update([extra] if isinstance(extra, int) else list(extra or []))
    if not ids:
        raise ValueError("the tokenizer has no eos token")
    return ids
