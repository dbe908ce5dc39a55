"""What several test files share: the CLI in a subprocess, the benchmark files, tiny models, the
trainer on the shipped base, the padded reference of the training forward, and loopback
OpenAI-compatible servers (for the eval tests and bench/bench_eval.py).

Fixtures stay in conftest.py; a test file imports helpers from here, never from another test file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from r1lab.models import forward as fw
from r1lab.verifiers.math import last_boxed

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "data" / "bench"  # the real benchmark files, read-only, beside the checkout
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")

# ----------------------------------------------------------------------------------- the command line


def r1lab(*args, cwd=None) -> subprocess.CompletedProcess:
    """`python -m r1lab.cli ARGS` in a subprocess (offline, warnings off), output captured."""
    return subprocess.run([sys.executable, "-m", "r1lab.cli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def assert_user_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit code 2, exactly one `error:` line holding every needle, no traceback."""
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def file_hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots` (to check that a command left existing files byte-identical)."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_unchanged(before: dict[str, str], *roots: Path) -> None:
    """Every file in `before` still exists with the same bytes."""
    after = file_hashes(*roots)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    assert not changed, f"changed or lost: {changed}"


# ----------------------------------------------------------------------------------- benchmark data


def bench_file(name: str) -> Path:
    """A file of ../shared/data/bench; a missing one FAILS the test (CI must never skip these quietly)."""
    path = BENCH / name
    if not path.is_file():
        pytest.fail(f"benchmark data not found at {path} (the tests need /work/shared/data/bench beside the repo)")
    return path


def bench_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in bench_file(name).read_text(encoding="utf-8").splitlines() if line.strip()]


def perturb_boxed(solution: str) -> str:
    """A negative control: the solution with its last boxed answer made wrong (+1 on its first
    integer, else replaced by 12345). A sound grader must mark every perturbed answer wrong."""
    i = max(solution.rfind("\\boxed"), solution.rfind("\\fbox"))
    head, tail = solution[:i], solution[i:]
    body = last_boxed(tail)
    j = tail.index(body)
    m = re.search(r"\d+", body)
    new = body[:m.start()] + str(int(m.group()) + 1) + body[m.end():] if m else "12345"
    return head + tail[:j] + new + tail[j + len(body):]


# ----------------------------------------------------------------------------------- models and trainers

VOCAB = 64
COMMON = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=64, initializer_range=0.2, pad_token_id=0, max_position_embeddings=256,
)
VARIANTS = {
    "qwen2": (Qwen2ForCausalLM, Qwen2Config, dict(tie_word_embeddings=True)),
    "llama": (LlamaForCausalLM, LlamaConfig, dict(tie_word_embeddings=False)),
    # biases everywhere, head_dim != hidden / heads, no GQA
    "llama-bias-mha": (
        LlamaForCausalLM, LlamaConfig,
        dict(attention_bias=True, mlp_bias=True, head_dim=16, num_key_value_heads=4,
             rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
    ),
}


def build_tiny(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    """A tiny random-init model (fp32, seeded): Qwen2 / Llama variants take our lean forward,
    GPT-2 the HF fallback. Biases and norm weights are randomised so they are exercised."""
    torch.manual_seed(seed)
    if name == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                                           initializer_range=0.2, pad_token_id=0, bos_token_id=1,
                                           eos_token_id=2, **overrides))
    else:
        cls, cfg_cls, extra = VARIANTS[name]
        model = cls(cfg_cls(**{**COMMON, **extra, **overrides}))
    model = model.float().eval()
    with torch.no_grad():  # HF zero-inits biases and ones-inits norms
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.normal_(0.0, 0.2)
            elif "norm" in pname:
                p.uniform_(0.5, 1.5)
    return model


def tiny_trainer(verifier: str = "number", **fields):
    """A GRPO trainer on the shipped tiny base model, its config built (and validated) from `fields`."""
    from r1lab.config import load
    from r1lab.models.io import load as load_model
    from r1lab.train.config import GRPOConfig
    from r1lab.train.grpo import GRPO

    model, tok = load_model("tiny")
    return GRPO(load(GRPOConfig, None, fields), model, tok, verifier)


# ----------------------------------------------------------------------------------- reference forwards


def hf_logits(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """HF's own forward over left-padded ids (B, T) with positions from the mask -> logits (B, T, V)."""
    return model(input_ids=ids, attention_mask=mask.long(), position_ids=fw.positions_from_mask(mask)).logits


def shared_prefix_hidden(model, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor, completion_ids: torch.Tensor,
                         group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The padded shared-prefix forward, the reference of the padding-free one in r1lab.train.logprobs.

    prefix_ids/prefix_mask (P, Lp) left-padded; completion_ids (N, T) with N = P*G, row i*G+j continuing
    prompt i, computed at all N x T positions. Returns the final-normed hidden of the last prompt position
    (P, C) and of every completion position (N, T, C).
    """
    sp = fw.spec(model)
    p, lp = prefix_mask.shape
    n, t = completion_ids.shape
    dev = completion_ids.device
    plen = prefix_mask.long().sum(-1).repeat_interleave(group_size)  # (N,)
    cpos = plen[:, None] + torch.arange(t, device=dev)  # (N, T)
    padded = not bool(prefix_mask.all())
    pmask = fw.padded_causal_mask(prefix_mask) if padded else None  # (P, 1, Lp, Lp)
    own = torch.ones(t, t, dtype=torch.bool, device=dev).tril().expand(n, 1, t, t)  # (N, 1, T, T)
    pref = prefix_mask.repeat_interleave(group_size, dim=0)[:, None, None, :].expand(n, 1, t, lp)  # (N, 1, T, Lp)
    cmask = torch.cat((pref, own), dim=-1)  # (N, 1, T, Lp+T)
    xp, xc = fw.embed(model, prefix_ids), fw.embed(model, completion_ids)  # (P, Lp, C), (N, T, C)
    cos_p, sin_p = fw.rope_cos_sin(model, fw.positions_from_mask(prefix_mask), xp.dtype)  # (P, 1, Lp, D)
    cos_c, sin_c = fw.rope_cos_sin(model, cpos, xc.dtype)  # (N, 1, T, D)
    for layer in model.model.layers:
        qp, kp, vp = fw.qkv(layer, sp, xp, cos_p, sin_p)  # (P, H|Hkv, Lp, D)
        qc, kc, vc = fw.qkv(layer, sp, xc, cos_c, sin_c)  # (N, H|Hkv, T, D)
        keys = torch.cat((kp.repeat_interleave(group_size, dim=0), kc), dim=2)  # (N, Hkv, Lp+T, D)
        vals = torch.cat((vp.repeat_interleave(group_size, dim=0), vc), dim=2)  # (N, Hkv, Lp+T, D)
        xc = fw.block_out(layer, xc, fw.attend(qc, keys, vals, cmask))  # (N, T, C)
        xp = fw.block_out(layer, xp, fw.attend(qp, kp, vp, pmask, is_causal=not padded))  # (P, Lp, C)
    return fw.final_norm(model, xp[:, -1]), fw.final_norm(model, xc)


def padded_completion_logprobs(model, prompt_ids: list[list[int]], completion_ids: torch.Tensor,
                               completion_mask: torch.Tensor, group_size: int, temperature: float = 1.0,
                               with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`completion_logprobs` computed through `shared_prefix_hidden` at all N x T positions (lean models only)."""
    from r1lab.train.logprobs import _score

    ids, pmask = fw.left_pad(prompt_ids, 0, completion_ids.device)  # (P, Lp)
    last, hidden = shared_prefix_hidden(model, ids, pmask, completion_ids, group_size)  # (P, C), (N, T, C)
    first = last.repeat_interleave(group_size, dim=0).unsqueeze(1)  # (N, 1, C)
    pred = torch.cat((first, hidden[:, :-1]), dim=1)  # (N, T, C)
    return _score(pred.reshape(-1, pred.shape[-1]), None, completion_ids, completion_mask.bool(), model.lm_head,
                  temperature, with_entropy, 1024)


# ----------------------------------------------------------------------------------- many commands, cheaply

_FORK_SERVER = r'''
import json, os, sys, tempfile, time, traceback, signal
import importlib
import r1lab.cli
for name in ("r1lab.train.run", "r1lab.pipeline.ablate", "r1lab.models.pretrain", "r1lab.eval.grade",
             "r1lab.report", "r1lab.serve.server", "r1lab.serve.chat"):
    try:
        importlib.import_module(name)  # warm: every command's own imports are paid once
    except Exception:
        pass
out = sys.stdout
sys.stdout = sys.stderr  # nothing but replies on the pipe
for line in sys.stdin:
    req = json.loads(line)
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(req["cwd"])
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(files[0].fileno(), 1)
            os.dup2(files[1].fileno(), 2)
            sys.stdout = sys.__stdout__
            sys.argv = ["r1lab", *req["args"]]
            r1lab.cli.main()
            code = 0
        except SystemExit as e:  # what the interpreter does with it
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.__stdout__, sys.__stderr__):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)
    deadline, status = time.monotonic() + req["timeout"], None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            req["timed_out"] = True
        else:
            time.sleep(0.005)
    texts = []
    for f in files:
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    rc = os.waitstatus_to_exitcode(status)
    reply = {"rc": rc, "stdout": texts[0], "stderr": texts[1], "timed_out": req.get("timed_out", False)}
    out.write(json.dumps(reply) + "\n")
    out.flush()
'''


class ForkedCli:
    """Runs `r1lab.cli.main()` once per call, each time in a fresh process forked from one warmed-up
    interpreter (started with `ENV`, imports done once): each call has its own exit code, stdout and
    stderr, like `r1lab(...)`, at a fraction of the start-up cost. For tables of many cheap cases
    (tests/cli/test_hostile.py); a case that needs a different environment uses `r1lab(...)`.
    `tree`: the checkout whose r1lab to run (default this one)."""

    def __init__(self, tree: Path = ROOT):
        env = dict(ENV, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=tree)

    def __call__(self, *args, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
        req = {"args": [str(a) for a in args], "cwd": str(cwd or os.getcwd()), "timeout": timeout}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        res = subprocess.CompletedProcess(["r1lab", *req["args"]], reply["rc"], reply["stdout"], reply["stderr"])
        res.timed_out = reply["timed_out"]
        return res

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ----------------------------------------------------------------------------------- OpenAI-compatible servers
# `ReplayServer`: fixed replies over real HTTP on 127.0.0.1 (a free port, or a given one to serve again
# where a stopped server was), one thread per connection, HTTP/1.1 keep-alive. The reasoning comes as
# `reasoning_content`, as `reasoning` or inline; `n` supported, ignored or rejected; scripted failures
# by request number; a delay. (A model is served by `r1lab serve` itself: `serve.server.BackgroundServer`.)


class _Server:
    """An HTTP server on 127.0.0.1 in a daemon thread; subclasses answer POSTs in `respond`."""

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


# ----------------------------------------------------------------------------------- data parallel

DIST_FIELDS = {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 24, "threads": 1, "seed": 3, "lr": 1e-3,
               "kl_every": 1}
LENGTH_REWARD = "def reward(completion, answer=None):\n    return (len(completion) % 5) / 4\n"  # varied: A != 0


def dist_step(d, reward_file, fsdp: bool = False) -> dict:
    """One GRPO step of the shipped tiny model on a fixed global batch under `d` (a
    `r1lab.train.dist.Dist`), with a length reward so advantages are not all zero: the step's
    metrics, and every parameter's gradient (after the all-reduce) and new weight, full tensors."""
    from dataclasses import replace

    from r1lab.config import load
    from r1lab.models.io import load as load_model
    from r1lab.tasks import get_task, take
    from r1lab.train.config import GRPOConfig
    from r1lab.train.grpo import GRPO

    def full(t):
        return None if t is None else (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()

    model, tok = load_model("tiny")
    cfg = load(GRPOConfig, None, dict(DIST_FIELDS, reward_fn=f"{reward_file}:reward", fsdp=fsdp))
    trainer = GRPO(cfg, model, tok, "number", dist=replace(d, fsdp=fsdp))
    metrics, _ = trainer.step(take(get_task("arithmetic"), "train", DIST_FIELDS["prompts_per_step"], 0))
    return {"metrics": metrics, "world": d.world, "trainer": trainer,
            "grads": {n: full(p.grad) for n, p in trainer.model.named_parameters()},
            "weights": {n: full(p) for n, p in trainer.model.named_parameters()}}
