"""Benchmark: what `r1lab serve`'s batch invariance buys and costs (`r1lab/rollout/slots.py`).

The decode step pads the rows its GEMMs see to a multiple of 4 and the keys it attends over to a
multiple of 4 (at least 64), pads a single query per KV head to two, and sums P.V over chunks of
256 keys, so that a row's logits do not depend on the rest of the batch. The peer, in the same
process, is the same step with those guards off (rows, keys and queries as they are, one P.V).

1. Replies: N chat requests (the shipped tiny model, the usage-rule prompt, T 0.6, top-p 0.95,
   distinct seeds, up to `--max-tokens`) are served one at a time, then all at once through the
   scheduler (64 rows at a time); the script counts the replies that differ, with the guards on
   and off.
2. Cost: the process CPU time of one decode step at 1, 2, 8 and 32 live rows, each row after
   the chat prompt and after a 700-token prompt (where P.V spans three chunks), guards on and
   off, interleaved, best of `--repeats`.

    python bench/bench_batch_invariance.py                   # 128 requests
    python bench/bench_batch_invariance.py --requests 320
    python bench/bench_batch_invariance.py --device cuda --dtype bfloat16   # no guarantee on GPUs: measured

On a GPU the step cost is wall time after a synchronize, not process CPU time.
"""

from __future__ import annotations

import argparse
import threading
import time

import torch

import r1lab.rollout.slots as slots
from r1lab.models import io
from r1lab.rollout import decode as dec
from r1lab.rollout.scheduler import GenRequest, Scheduler
from r1lab.tasks.chat import chat_prompt

QUESTIONS = ["What is 12 + 34?", "Add 345 and 78.", "Find the sum of 27 and 58.", "45 + 27 = ?",
             "Using the numbers [3, 5, 7], create an equation that equals 15."]
GUARDS = {  # the constants of r1lab/rollout/slots.py, with the guards on and off
    "on": dict(ROW_QUANTUM=4, KEY_QUANTUM=4, MIN_KEYS=64, MIN_QUERIES=2, KEY_CHUNK=256),
    "off": dict(ROW_QUANTUM=1, KEY_QUANTUM=1, MIN_KEYS=1, MIN_QUERIES=1, KEY_CHUNK=1 << 30),
}


def set_guards(which: str) -> None:
    for name, value in GUARDS[which].items():
        setattr(slots, name, value)


def reply(s: Scheduler, req: GenRequest) -> tuple[str, int]:
    text, tokens = "", 0
    for ev in s.stream(req):
        text, tokens = text + ev.text, ev.tokens or tokens
    return text, tokens


def differing_replies(model, tok, reqs: list[GenRequest]) -> tuple[int, int]:
    s = Scheduler(model, tok, max_rows=64).start()
    try:
        alone = [reply(s, r) for r in reqs]
        together: list = [None] * len(reqs)
        threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, reply(s, reqs[i])))
                   for i in range(len(reqs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        s.close()
    return sum(a != b for a, b in zip(alone, together, strict=True)), sum(t for _, t in alone)


def step_ms(model, kvs, rows: int, steps: int = 50) -> float:
    cache = slots.SlotKVCache(model, 64, 1024)
    cache.add(kvs, rows)
    tokens = torch.full((rows,), 7, device=cache.device)
    cuda = cache.device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    if cuda:
        torch.cuda.synchronize()
    t = clock()
    for _ in range(steps):
        slots.decode_rows(cache, tokens)
    if cuda:
        torch.cuda.synchronize()
    return (clock() - t) / steps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = io.load("tiny", getattr(torch, args.dtype), args.device)
    print(f"{args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}), {args.dtype}")
    reqs = [GenRequest(tuple(tok(chat_prompt(tok, [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]),
                                 add_special_tokens=False).input_ids), args.max_tokens, seed=i)
            for i in range(args.requests)]
    with torch.inference_mode():
        for which in GUARDS:
            set_guards(which)
            differ, tokens = differing_replies(model, tok, reqs)
            print(f"guards {which}: {differ} of {len(reqs)} replies differ between alone and batched "
                  f"({tokens} tokens)")
        chat = list(reqs[0].prompt_ids)
        contexts = {"chat prompt": chat, "700 tokens": (chat * (700 // len(chat) + 1))[:700]}
        best: dict = {}
        for name, prompt in contexts.items():
            ids = torch.tensor([prompt], device=args.device)
            _, kvs = dec.prefill(model, ids, torch.ones_like(ids, dtype=torch.bool))
            for _ in range(args.repeats):
                for which in GUARDS:
                    set_guards(which)
                    for rows in (1, 2, 8, 32):
                        ms = step_ms(model, kvs, rows)
                        best[name, which, rows] = min(best.get((name, which, rows), ms), ms)
    unit = "wall" if args.device == "cuda" else "CPU"
    print(f"| context | live rows | step, guards on (ms {unit}) | guards off | cost |")
    print("|---|---|---|---|---|")
    for name in contexts:
        for rows in (1, 2, 8, 32):
            on, off = best[name, "on", rows], best[name, "off", rows]
            print(f"| {name} | {rows} | {on:.2f} | {off:.2f} | {on / off:.2f}x |")


if __name__ == "__main__":
    main()
