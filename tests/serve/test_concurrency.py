"""32 concurrent clients: every request answered, each exactly as the same request is answered alone."""

from __future__ import annotations

import json
import threading

import httpx

QUESTIONS = ["What is 12 + 34?", "Add 345 and 78.", "Find the sum of 27 and 58.", "45 + 27 = ?"]


def _request(i: int) -> dict:
    body = {"model": "tiny", "messages": [{"role": "user", "content": QUESTIONS[i % 4]}], "seed": 100 + i,
            "max_tokens": 24 + i % 5 * 6, "n": 1 + (i % 3 == 0)}
    if i % 4 == 1:
        body["stop"] = ["carry", "+"]
    if i % 5 == 2:
        body["temperature"], body["top_p"] = 1.0, 0.8
    return body


def _answer(url: str, body: dict, stream: bool) -> list[tuple]:
    """(reasoning, content, finish_reason) per choice, streamed or not."""
    if not stream:
        r = httpx.post(url + "/chat/completions", json=body, timeout=120)
        r.raise_for_status()
        return [(c["message"]["reasoning"], c["message"]["content"], c["finish_reason"]) for c in r.json()["choices"]]
    got: dict[int, list] = {}
    with httpx.stream("POST", url + "/chat/completions", json={**body, "stream": True}, timeout=120) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            (c,) = json.loads(line[6:])["choices"]
            slot = got.setdefault(c["index"], ["", "", None])
            slot[0] += c["delta"].get("reasoning") or ""
            slot[1] += c["delta"].get("content") or ""
            slot[2] = c["finish_reason"] or slot[2]
    return [(r, c or None, f) for _, (r, c, f) in sorted(got.items())]


def test_32_concurrent_clients_each_get_the_single_request_answer(server):
    bodies = [_request(i) for i in range(32)]
    steps = server.scheduler.steps
    alone = [_answer(server.url, b, stream=False) for b in bodies]
    sequential_steps = server.scheduler.steps - steps
    together: list = [None] * 32
    start = threading.Barrier(32)

    def client(i: int) -> None:
        start.wait()
        together[i] = _answer(server.url, bodies[i], stream=i % 2 == 1)

    steps = server.scheduler.steps
    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert together == alone
    assert sum(len(a) for a in alone) == 43 and all(f in ("stop", "length") for a in alone for _, _, f in a)
    assert (server.scheduler.steps - steps) * 4 < sequential_steps, "requests were not decoded together"
