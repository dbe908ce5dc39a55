"""Live servers on loopback for the serve tests: the real app, the real tiny model, uvicorn in a thread.

`server` is shared by the whole session (one model load, one decode thread); tests that need
other limits (`strict_server`: an API key, one request in flight) get their own app on the same
model. Limits are set small so hostile requests are cheap: 64 KiB bodies, 1 s to send a body.
"""

from __future__ import annotations

import time

import pytest

from r1lab.models import io
from r1lab.rollout.scheduler import Scheduler
from r1lab.serve.config import ServeConfig
from r1lab.serve.server import BackgroundServer


class LiveServer(BackgroundServer):
    def __init__(self, cfg: ServeConfig, model, tokenizer) -> None:
        super().__init__(cfg, Scheduler(model, tokenizer, cfg.max_rows, cfg.max_model_len or None), tokenizer)

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is in flight and no row is decoding; True if that happened."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.serving.in_flight == 0 and self.scheduler.cache.rows == 0 and not self.scheduler.waiting:
                return True
            time.sleep(0.02)
        return False


@pytest.fixture(scope="session")
def tiny():
    return io.load("tiny")


@pytest.fixture(scope="session")
def server(tiny):
    cfg = ServeConfig(max_body_bytes=1 << 16, body_timeout=1.0, max_n=8, max_rows=64, max_concurrent=64, max_tokens=200)
    live = LiveServer(cfg, *tiny)
    yield live
    live.close()


@pytest.fixture(scope="session")
def strict_server(tiny):
    cfg = ServeConfig(api_key="sekret", max_concurrent=1, max_rows=4, max_n=4, served_model_name="r1-tiny")
    live = LiveServer(cfg, *tiny)
    yield live
    live.close()
