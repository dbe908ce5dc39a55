"""Bad and hostile requests get OpenAI-style 4xx errors, never a 5xx or a hang; the server stays correct.

Raw sockets, so that malformed HTTP, bodies cut off midway, stalled bodies and clients that
vanish mid-stream are sent exactly as a hostile client would send them.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 2, "seed": 1}
COMPLETION = {"model": "tiny", "prompt": "What is 2 + 3?", "max_tokens": 2, "seed": 1}
PATHS = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}


def http(path: str, body: bytes, method: str = "POST", headers: dict | None = None,
         content_length: int | None = None) -> bytes:
    head = {"Host": "x", "Connection": "close", "Content-Type": "application/json",
            "Content-Length": str(len(body) if content_length is None else content_length), **(headers or {})}
    return f"{method} {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() \
        + b"\r\n" + body


def send(server, data: bytes, close_after: int | None = None, timeout: float = 30) -> tuple[int | None, bytes]:
    """Send raw bytes; read the whole reply (or, with close_after, vanish after that many reply bytes)."""
    reply = b""
    with socket.create_connection((server.host, server.port), timeout=timeout) as s:
        try:  # a server may reset a connection whose request it rejects before reading it all (a 70 KB header):
            s.sendall(data)  # that ends the reply; callers still require a status for well-formed requests
            while close_after is None or len(reply) < close_after:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    status = reply.split(b" ", 2)[1] if reply.startswith(b"HTTP/1.1 ") else None
    return (int(status) if status else None), reply


def error_body(reply: bytes) -> dict:
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize("kind,body,status", [
    ("chat", b"{bad json", 400),
    ("chat", json.dumps({**CHAT, "max_tokens": "10"}).encode(), 400),
    ("chat", json.dumps({**CHAT, "messages": [{"role": "tool", "content": "x"}]}).encode(), 400),
    ("chat", json.dumps({**CHAT, "messages": []}).encode(), 400),
    ("chat", json.dumps({**CHAT, "temperature": 2.5}).encode(), 400),
    ("chat", json.dumps({**CHAT, "top_p": 0}).encode(), 400),
    ("chat", json.dumps({**CHAT, "n": 1000}).encode(), 400),
    ("chat", json.dumps({**CHAT, "max_tokens": 10**6}).encode(), 400),
    ("chat", json.dumps({**CHAT, "messages": [{"role": "user", "content": "1 " * 5000}]}).encode(), 400),
    ("chat", b"\xff\xfe{}", 400),
    ("chat", json.dumps({**CHAT, "model": "gpt-4"}).encode(), 404),
    ("chat", b'{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}]}', 400),
    ("chat", b"[" * 50000, 400),
    ("completion", json.dumps({**COMPLETION, "prompt": [""]}).encode(), 400),
    ("completion", json.dumps({**COMPLETION, "logprobs": 5}).encode(), 400),
    ("chat", json.dumps({**CHAT, "pad": "x" * 70000}).encode(), 413),
])
def test_bad_request_gets_an_openai_error(server, kind, body, status):
    got, reply = send(server, http(PATHS[kind], body))
    assert got == status
    assert error_body(reply)["type"] == "invalid_request_error"


def test_api_key_and_in_flight_limit(strict_server):
    url, good = strict_server.url, {"Authorization": "Bearer sekret"}
    body = {**CHAT, "model": "r1-tiny"}
    assert httpx.post(url + "/chat/completions", json=body).status_code == 401
    assert httpx.post(url + "/chat/completions", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url + "/models").status_code == 401
    assert httpx.post(url + "/chat/completions", json=body, headers=good).status_code == 200
    with httpx.stream("POST", url + "/chat/completions", headers=good,
                      json={**body, "stream": True, "max_tokens": 900, "ignore_eos": True}) as held:
        chunks = held.iter_bytes()
        next(chunks)  # one request in flight (kept open by holding `chunks`): the next one is refused
        r = httpx.post(url + "/chat/completions", json=body, headers=good)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert strict_server.idle()
    assert httpx.post(url + "/chat/completions", json=body, headers=good).status_code == 200


HOSTILE = [None, True, -1, 0, 2**63, 10**30, 1e308, -1e-308, "", "0.6", "x" * 3000, [], [1, "a"], {}, {"a": [{}]},
           [[[[]]]], "\ud800", "日本語\u0000", 0.5, 7]
FIELDS = ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "seed",
          "stream", "stream_options", "logprobs", "tools", "prompt", "echo", "best_of"]


def _mutated(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["chat", "completion"])
    body = copy.deepcopy(CHAT if kind == "chat" else COMPLETION)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.6:
            body[rng.choice(FIELDS)] = copy.deepcopy(rng.choice(HOSTILE))
        elif op < 0.75 and body:
            body.pop(rng.choice(sorted(body)))
        elif kind == "chat" and isinstance(body.get("messages"), list):
            body["messages"] = [{rng.choice(["role", "content", "reasoning_content", "name"]): rng.choice(HOSTILE),
                                 "role": rng.choice(["user", "assistant", "system", "robot", 3]), "content": "hi"}]
        else:
            body = rng.choice([[], 1, "x", None, [body]])
            break
    return kind, json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def _cases(rng: random.Random) -> list[tuple[str, bytes, int | None, bool]]:
    """(name, raw request, close_after, well-formed HTTP) for >= 300 hostile requests."""
    cases = []
    for _ in range(170):
        kind, body = _mutated(rng)
        cases.append(("mutated", http(PATHS[kind], body), None, True))
    for _ in range(40):
        body = json.dumps(CHAT).encode()
        cases.append(("truncated json", http(PATHS["chat"], body[:rng.randrange(len(body))]), None, True))
    for _ in range(30):
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        cases.append(("random bytes", http(PATHS[rng.choice(["chat", "completion"])], junk), None, True))
    for _ in range(25):
        body = json.dumps(CHAT).encode()
        cut = rng.randrange(len(body))  # Content-Length promises the whole body, the client vanishes midway
        cases.append(("body cut off", http(PATHS["chat"], body, content_length=len(body))[:-len(body) + cut],
                      0, True))
    for _ in range(25):  # streamed replies whose client vanishes after the first bytes
        body = json.dumps({**CHAT, "stream": True, "max_tokens": 150, "n": rng.randint(1, 4)}).encode()
        cases.append(("gone mid-stream", http(PATHS["chat"], body), rng.randint(200, 900), True))
    for path, method in [("/v1/chat/completions", "GET"), ("/v1/nope", "POST"), ("/v1/models", "DELETE")] * 3:
        cases.append(("wrong route", http(path, b"{}", method=method), None, True))
    for raw in [b"GARBAGE\r\n\r\n", b"POST /v1/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] * 2:
        cases.append(("malformed http", raw, None, False))
    return cases


def test_fuzz_hostile_requests_never_5xx_and_server_stays_correct(server, caplog):
    reference = dict(CHAT, max_tokens=30, seed=11)
    before = httpx.post(server.url + "/chat/completions", json=reference, timeout=30).json()["choices"]
    cases = _cases(random.Random(0))
    with ThreadPoolExecutor(8) as pool:
        stalled = [pool.submit(send, server, http(PATHS["chat"], b'{"model": "ti', content_length=500))
                   for _ in range(4)]  # slow-loris: a body that never finishes
        results = list(pool.map(lambda c: (c, send(server, c[1], close_after=c[2])), cases))
        assert [f.result()[0] for f in stalled] == [408] * 4
    assert len(results) + len(stalled) >= 300
    statuses = {}
    for (name, _, close_after, well_formed), (status, reply) in results:
        statuses.setdefault(name, set()).add(status)
        assert status is None or status < 500, (name, reply[:300])
        if close_after is None and well_formed:
            assert status is not None, name
            if status >= 400:
                error_body(reply)
    assert statuses["mutated"] >= {200, 400}, statuses  # the mutations reach both valid and invalid requests
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "the server logged an error"
    assert server.idle(), "rows or in-flight slots were not freed"
    assert httpx.get(server.base + "/health").json() == {"status": "ok"}
    after = httpx.post(server.url + "/chat/completions", json=reference, timeout=30).json()["choices"]
    assert after == before


def test_client_leaving_a_stream_frees_its_rows(server):
    body = json.dumps({**CHAT, "stream": True, "max_tokens": 200, "n": 8, "seed": 0}).encode()
    steps = server.scheduler.steps
    send(server, http(PATHS["chat"], body))
    full = server.scheduler.steps - steps
    steps = server.scheduler.steps
    send(server, http(PATHS["chat"], body), close_after=300)
    assert server.idle()
    assert full >= 100 and server.scheduler.steps - steps < full // 2
