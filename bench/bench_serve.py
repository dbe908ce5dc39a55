"""Benchmark: `r1lab serve` throughput with concurrent clients against serving the same requests one at a time.

The real server runs as its own process (`python -m r1lab.cli serve --port 0`: FastAPI +
uvicorn on loopback, the continuous-batching scheduler, the shipped tiny model); this process
runs closed-loop clients on one asyncio loop: at concurrency c, c clients each send the next
request as soon as their previous one is answered. Every level serves the SAME requests (chat,
the usage-rule prompt, T 0.6 / top-p 0.95, distinct seeds, max_tokens as given): a reply does
not depend on what else is in the batch, so every level generates exactly the same tokens,
which the script checks. The peer is concurrency 1: the same requests, one at a time, through
the same server.

Levels are interleaved over `--rounds` rounds (c = 1, 8, 32, 1, 8, 32, ...) so that drift in a
machine shared with other work hits them alike. Reported: generated tokens per second of wall
time, and per second of the server process's CPU time (read from /proc; it leaves out the time
the server waited for a core, the steadier number on a loaded machine), each with its ratio to
concurrency 1.

    python bench/bench_serve.py                     # 64 requests, max_tokens 128, 2 rounds
    python bench/bench_serve.py --threads 2 --requests 32
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import httpx

QUESTIONS = ["What is 12 + 34?", "Add 345 and 78.", "Find the sum of 27 and 58.", "45 + 27 = ?",
             "Using the numbers [3, 5, 7], create an equation that equals 15."]


def requests(n: int, max_tokens: int) -> list[dict]:
    return [{"model": "tiny", "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
             "seed": i, "max_tokens": max_tokens} for i in range(n)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def serve_all(url: str, bodies: list[dict], concurrency: int) -> list:
    """Replies (message and completion tokens) per request, sent by `concurrency` closed-loop clients."""
    replies: list = [None] * len(bodies)
    todo = iter(range(len(bodies)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        async def client() -> None:
            for i in todo:
                r = (await http.post(url + "/chat/completions", json=bodies[i])).json()
                replies[i] = (r["choices"][0]["message"], r["usage"]["completion_tokens"])
        await asyncio.gather(*(client() for _ in range(concurrency)))
    return replies


def start_server(threads: int) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "r1lab.cli", "serve", "--port", "0", "--threads", str(threads),
           "--max-concurrent", "1024", "--max-rows", "64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+/v1)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, match.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--levels", default="1,8,32", help="client concurrencies; the first is the peer")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    args = ap.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    bodies = requests(args.requests, args.max_tokens)
    totals = {c: [0.0, 0.0] for c in levels}
    proc, url = start_server(args.threads)
    try:
        asyncio.run(serve_all(url, bodies[:4], 4))  # warm-up
        reference = None
        for _ in range(args.rounds):
            for c in levels:
                wall, cpu = time.perf_counter(), cpu_seconds(proc.pid)
                replies = asyncio.run(serve_all(url, bodies, c))
                totals[c][0] += time.perf_counter() - wall
                totals[c][1] += cpu_seconds(proc.pid) - cpu
                reference = reference or replies
                assert replies == reference, f"concurrency {c} changed a reply"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    tokens = sum(t for _, t in reference) * args.rounds
    print(f"{args.requests} requests x {args.rounds} rounds, max_tokens {args.max_tokens}: {tokens} generated tokens "
          f"per level, identical replies at every level; server torch threads {args.threads}")
    print("| concurrency | tok/s (wall) | ratio (wall) | tok/s (server CPU) | ratio (CPU) |")
    print("|---|---|---|---|---|")
    base_wall, base_cpu = (tokens / t for t in totals[levels[0]])
    for c in levels:
        wall, cpu = (tokens / t for t in totals[c])
        print(f"| {c} | {wall:.0f} | {wall / base_wall:.2f}x | {cpu:.0f} | {cpu / base_cpu:.2f}x |")


if __name__ == "__main__":
    main()
