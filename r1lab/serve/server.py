"""`r1lab serve`: load the model, start the decode thread, bind the socket and run uvicorn.

The socket is bound here (not by uvicorn) so that `--port 0` can print the port it got; the
printed line `r1lab serve: MODEL at http://HOST:PORT/v1` is what scripts wait for.
"""

from __future__ import annotations

import socket
import threading
import time

import torch

from r1lab.errors import UserError
from r1lab.models import io
from r1lab.models.machine import check_device, check_dtype, check_memory, check_threads
from r1lab.rollout.scheduler import Scheduler
from r1lab.serve.app import create_app
from r1lab.serve.config import ServeConfig
from r1lab.train.grpo import set_threads
from r1lab.train.memory import ModelShape

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_scheduler(model_name: str, dtype: str, device: str, max_rows: int = 64, max_model_len: int = 0):
    """(scheduler, tokenizer) for a model, or a UserError naming what is wrong with it (the KV
    cache that cannot fit in memory included, before it is allocated)."""
    check_device(device)
    check_dtype(dtype, device)
    model, tokenizer = io.load(model_name, DTYPES[dtype], device)
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"model {model_name}: its tokenizer has no chat template")
    context = int(model.config.max_position_embeddings)
    if max_model_len > context:
        raise UserError(f"max_model_len {max_model_len} exceeds model {model_name}'s context of {context} tokens")
    shape = ModelShape.of(model)
    if shape is not None:
        kv = shape.layers * max_rows * shape.kv_heads * (max_model_len or context) * shape.head_dim * 2
        check_memory({"KV cache": kv * torch.finfo(DTYPES[dtype]).bits // 8}, device, "lower --max-rows or "
                     "--max-model-len")
    try:
        return Scheduler(model, tokenizer, max_rows, max_model_len or None), tokenizer
    except ValueError as e:
        raise UserError(f"model {model_name}: {e}") from None
    except RuntimeError as e:  # out of memory for the KV cache
        raise UserError(f"cannot allocate the KV cache for {max_rows} rows x {max_model_len or context} tokens "
                        f"({str(e).splitlines()[0][:120]}); lower --max-rows or --max-model-len") from None


def build_app(cfg: ServeConfig):
    scheduler, tokenizer = load_scheduler(cfg.model, cfg.dtype, cfg.device, cfg.max_rows, cfg.max_model_len)
    return create_app(cfg, scheduler, tokenizer)


def bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(cfg: ServeConfig) -> None:
    import uvicorn

    check_threads(cfg.threads)
    set_threads(cfg.threads)
    sock = bind(cfg.host, cfg.port)  # a busy port is an error before the model is loaded
    app = build_app(cfg)
    cache = app.state.serving.scheduler.cache
    size = (cache.k.numel() + cache.v.numel()) * cache.k.element_size() / 2**20
    print(f"r1lab serve: {cfg.served_model_name or cfg.model} at {url_of(sock)}/v1 (KV cache {cache.capacity} rows x "
          f"{cache.slots} tokens, {size:.0f} MiB; Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled, after a clean shutdown
        pass
    print("r1lab serve: stopped", flush=True)


class BackgroundServer:
    """The app on a free loopback port, served by uvicorn in a daemon thread (tests, benchmarks,
    and anything that embeds a server): `url` ends in /v1; `close()` shuts it down."""

    def __init__(self, cfg: ServeConfig, scheduler: Scheduler, tokenizer) -> None:
        import uvicorn

        self.cfg, self.scheduler = cfg, scheduler
        self.app = create_app(cfg, scheduler, tokenizer)
        sock = bind("127.0.0.1", 0)
        self.host, self.port = sock.getsockname()[:2]
        self.base = url_of(sock)
        self.url = self.base + "/v1"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread stopped during start-up")
            time.sleep(0.01)

    @property
    def serving(self):
        return self.app.state.serving

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
