"""Loopback OpenAI-compatible servers for the eval tests and bench/bench_eval.py.

Real HTTP on 127.0.0.1 (a free port, or a given one to serve again where a stopped server was),
one real thread per connection (`ThreadingHTTPServer`).

* `ModelServer`: serves a model through r1lab's rollout engine, one request at a time:
  `/v1/completions` (raw prompt) and `/v1/chat/completions` (the tokenizer's chat template),
  `n`, `temperature` (0 is greedy), `top_p`, `max_tokens`, `stop` (cut out of the text, as
  OpenAI-compatible servers do), `usage`. Small and generic, so that `r1lab serve` can replace it.
* `ReplayServer`: fixed replies per question, with the reasoning as `reasoning_content`, as
  `reasoning` or inline in `content`; `n` supported, ignored (one choice) or rejected (400); a
  script of failures by request number (a status code, "no_choices"); an optional delay per
  request. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    def __init__(self, port: int = 0):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                status, payload, headers = owner.respond(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"content-type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.request_queue_size = 128  # socketserver's default backlog of 5 drops bursts of connects
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # port 0: any free one
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def respond(self, path: str, body: dict) -> tuple[int, dict, dict]:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _error(status: int, message: str) -> tuple[int, dict, dict]:
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}, {}


class ModelServer(_Server):
    def __init__(self, model: str = "tiny"):
        super().__init__()
        from r1lab.models.io import load
        self.model, self.tok = load(model)
        self.lock = threading.Lock()

    def respond(self, path, body):
        import torch

        from r1lab.rollout.engine import SamplingParams, generate
        from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
        chat = path.endswith("/chat/completions")
        prompt = (self.tok.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
                  if chat else body["prompt"])
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        n = body.get("n", 1)
        params = SamplingParams(temperature=body.get("temperature", 1.0), top_p=body.get("top_p", 1.0),
                                max_new_tokens=body.get("max_tokens", 16),
                                stop_sequences=stop_sequences(self.tok, stops))
        gen = torch.Generator().manual_seed(body.get("seed", 0))
        with self.lock:
            ro = generate(self.model, encode_prompts(self.tok, [prompt]), n, params, generator=gen,
                          eos_token_id=self.tok.eos_token_id, pad_token_id=self.tok.pad_token_id)
        texts = decode_completions(self.tok, ro.completion_ids, ro.completion_mask)
        choices = []
        for i, (text, cut) in enumerate(zip(texts, ro.truncated.tolist(), strict=True)):
            for s in stops:
                if not cut and text.endswith(s):
                    text = text[:-len(s)]
            finish = "length" if cut else "stop"
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                           if chat else {"index": i, "text": text, "finish_reason": finish})
        used = int(ro.lengths.sum())
        return 200, {"object": "chat.completion" if chat else "text_completion", "choices": choices,
                     "usage": {"prompt_tokens": len(ro.prompt_ids[0]), "completion_tokens": used,
                               "total_tokens": len(ro.prompt_ids[0]) + used}}, {}


class ReplayServer(_Server):
    """replies: {substring of the question: [(reasoning or None, answer or None), ...]}; the k-th
    sample served for a question is its k-th reply (cycling). An answer of None is a truncated
    reply: finish_reason "length" and no content, as vLLM's reasoning parser returns it."""

    def __init__(self, replies: dict, reasoning_as: str = "reasoning_content", n_mode: str = "supported",
                 script: list | None = None, delay: float = 0.0, tokens_per_reply: int = 5, port: int = 0):
        super().__init__(port)
        self.replies, self.reasoning_as, self.n_mode = replies, reasoning_as, n_mode
        self.script, self.delay, self.tokens = list(script or []), delay, tokens_per_reply
        self.requests: list[dict] = []
        self.served: dict[str, int] = {}
        self.lock = threading.Lock()

    def respond(self, path, body):
        with self.lock:
            number = len(self.requests)
            self.requests.append(body)
        if self.delay:
            time.sleep(self.delay)
        action = self.script[number] if number < len(self.script) else None
        if isinstance(action, int):
            return _error(action, f"scripted {action}") if action != 429 else (429, {"error": {"message": "slow down"}},
                                                                               {"retry-after": "0"})
        if action == "no_choices":
            return 200, {"choices": [], "usage": {"completion_tokens": 0}}, {}
        n = body.get("n", 1)
        if n > 1 and self.n_mode == "rejected":
            return _error(400, "n > 1 is not supported")
        n = 1 if self.n_mode == "ignored" else n
        text = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        key = next(k for k in self.replies if k in text)
        with self.lock:
            first = self.served.get(key, 0)
            self.served[key] = first + n
        picked = [self.replies[key][(first + i) % len(self.replies[key])] for i in range(n)]
        chat = path.endswith("/chat/completions")
        choices = [self._choice(i, r, a, chat) for i, (r, a) in enumerate(picked)]
        return 200, {"choices": choices, "usage": {"completion_tokens": self.tokens * n}}, {}

    def _choice(self, i: int, reasoning: str | None, answer: str | None, chat: bool) -> dict:
        finish = "length" if answer is None else "stop"
        if reasoning is None:
            inline = answer or ""
        else:
            inline = f"<think>\n{reasoning}" + ("" if answer is None else f"\n</think>\n\n{answer}")
        if not chat:
            return {"index": i, "text": inline, "finish_reason": finish}
        if self.reasoning_as == "inline":
            msg = {"role": "assistant", "content": inline}
        else:
            msg = {"role": "assistant", "content": answer}
            if reasoning is not None:
                msg[self.reasoning_as] = reasoning
        return {"index": i, "message": msg, "finish_reason": finish}
