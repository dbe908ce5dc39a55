"""`r1lab serve`: load the model, start the decode thread, bind the socket and run uvicorn.

The socket is bound here (not by uvicorn) so that `--port 0` can print the port it got; the
printed line `r1lab serve: MODEL at http://HOST:PORT/v1` is what scripts wait for.
"""

from __future__ import annotations

import socket

import torch

from r1lab.errors import UserError
from r1lab.models import io
from r1lab.rollout.scheduler import Scheduler
from r1lab.serve.app import create_app
from r1lab.serve.config import ServeConfig
from r1lab.train.grpo import set_threads

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_scheduler(model_name: str, dtype: str, device: str, max_rows: int = 64, max_model_len: int = 0):
    """(scheduler, tokenizer) for a model, or a UserError naming what is wrong with it."""
    model, tokenizer = io.load(model_name, DTYPES[dtype], device)
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"model {model_name}: its tokenizer has no chat template")
    try:
        return Scheduler(model, tokenizer, max_rows, max_model_len or None), tokenizer
    except ValueError as e:
        raise UserError(f"model {model_name}: {e}") from None


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

    set_threads(cfg.threads)
    app = build_app(cfg)
    sock = bind(cfg.host, cfg.port)
    print(f"r1lab serve: {cfg.served_model_name or cfg.model} at {url_of(sock)}/v1 (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
