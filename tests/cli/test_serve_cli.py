"""`r1lab serve` and `r1lab chat` as commands: a real subprocess, the openai client, Ctrl-C, bad options."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest
from openai import OpenAI

from r1lab.errors import UserError
from r1lab.serve.server import bind
from tests.helpers import ENV, assert_user_error, r1lab


@pytest.mark.slow
def test_serve_answers_the_openai_client_and_stops_cleanly_on_ctrl_c():
    p = subprocess.Popen([sys.executable, "-m", "r1lab.cli", "serve", "--port", "0", "--threads", "1",
                          "--api-key", "k", "--served-model-name", "r1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = p.stdout.readline()
        url = re.fullmatch(r"r1lab serve: r1 at (http://127\.0\.0\.1:\d+/v1) "
                           r"\(KV cache 64 rows x 1024 tokens, \d+ MiB; Ctrl-C stops\)\n", line).group(1)
        r = OpenAI(base_url=url, api_key="k", max_retries=0).chat.completions.create(
            model="r1", messages=[{"role": "user", "content": "What is 2 + 3?"}], max_tokens=8, seed=0)
        assert r.choices[0].finish_reason == "length" and r.choices[0].message.reasoning
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.endswith("r1lab serve: stopped\n") and "Traceback" not in err, err


def test_bad_limits_are_a_one_line_error():
    assert_user_error(r1lab("serve", "--max-n", "100", "--max-rows", "8"), "max_n")


def test_a_busy_port_is_a_user_error_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
