"""Rule rewards for RL: accuracy (the task's verifier) plus format, with weights.

A reward function that raises for one sample gives that sample `None` ("no opinion": NaN in
the reward tensor, excluded from the group statistics, advantage 0), logs a warning and counts
it; training goes on. The same verifier grades evaluation, so reward and grade cannot disagree.
Verifiers with a batch form (code: sandboxes in parallel) are run through it; if the batch call
raises, the samples are graded one by one so a bad sample still costs only itself.
`column_reward` applies any reward `fn(text, **columns) -> float | None` (for example the
language-consistency reward with a per-prompt `target` column) with the same protection. The
protection is a `RewardGuard`, one per run, which also caps the logged warnings per run.

User code (`--reward-fn FILE.py:FUNCTION`) gets two more protections. Importing its file is a
one-line `UserError` naming the file whatever goes wrong: an exception, `sys.exit`, or an import
that runs past `timeout` seconds. Each call runs under the same deadline (`within`): a call that
takes longer costs its sample like one that raises. The deadline is SIGALRM (`setitimer`), so it
interrupts Python code and blocking calls such as sleep, but only in the main thread (elsewhere
there is no deadline), and not a C extension that never returns to the interpreter; a function
that itself sets SIGALRM (math-verify's parser does) cancels it for the rest of that call.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from r1lab.errors import UserError
from r1lab.verifiers import BATCH_VERIFIERS, Verifier, format_reward, get_verifier

log = logging.getLogger("r1lab.rewards")


class RewardGuard:
    """Calls reward and grading functions so that a failure costs one sample, never the run: an
    exception or a non-finite value gives None and counts as failed. The first `max_warnings`
    failures are logged; make one guard per run (the trainer does), so every run logs its own."""

    def __init__(self, max_warnings: int = 5) -> None:
        self.warnings_left = max_warnings

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, bool]:
        """(fn's result, False), or (None, True) if it raised."""
        try:
            return fn(*args, **kwargs), False
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a broken reward costs one sample, never the run
            self.warn(f"reward function failed: {type(e).__name__}: {e}")
            return None, True

    def value(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float | None, bool]:
        """(value, failed) of a reward: None means "no opinion"; an exception, a non-number or a
        non-finite value is a failure: value None, failed True."""
        value, failed = self.call(lambda: _as_float(fn(*args, **kwargs)))
        if failed or value is None:
            return None, failed
        if not math.isfinite(value):
            self.warn(f"reward function returned {value!r}")
            return None, True
        return value, False

    def warn(self, message: str) -> None:
        if self.warnings_left > 0:
            self.warnings_left -= 1
            log.warning(message + ("" if self.warnings_left else
                                   " (further reward failures are counted in metrics as reward_failures, not logged)"))


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def rule_rewards(texts: list[str], references: list[str], verifier: str, accuracy_weight: float = 1.0,
                 format_weight: float = 1.0, guard: RewardGuard | None = None,
                 format_fn: Callable[[str], float] = format_reward):
    """Returns (reward (N,), accuracy (N,), format (N,), number of failed reward calls). `guard`: the
    run's (default: a new one for this call); `format_fn`: R1-Zero's rule unless told (format.FORMATS)."""
    guard = guard or RewardGuard()
    verify = get_verifier(verifier)
    batched = _batch_scores(verifier, texts, references)
    acc, fmt, failures = [], [], 0
    for i, (text, ref) in enumerate(zip(texts, references, strict=True)):
        a, fa = (batched[i], False) if batched is not None else guard.value(_score, verify, text, ref)
        f, ff = guard.value(format_fn, text)
        failures += fa + ff
        acc.append(math.nan if a is None else a)
        fmt.append(math.nan if f is None else f)
    acc_t = torch.tensor(acc, dtype=torch.float32)  # (N,)
    fmt_t = torch.tensor(fmt, dtype=torch.float32)  # (N,)
    return accuracy_weight * acc_t + format_weight * fmt_t, acc_t, fmt_t, failures


def _score(verify: Verifier, text: str, reference: str) -> float:
    return verify(text, reference).score


def _batch_scores(verifier: str, texts: list[str], references: list[str]) -> list[float] | None:
    batch = BATCH_VERIFIERS.get(verifier)
    if batch is None or len(texts) < 2:
        return None
    try:
        return [g.score for g in batch(texts, references)]
    except Exception as e:  # noqa: BLE001 - fall back to one by one, where failures stay per sample
        log.warning("batch grading failed, grading one by one: %s: %s", type(e).__name__, e)
        return None


def column_reward(fn: Callable[..., float | None], texts: Sequence[str], columns: dict[str, Sequence] | None = None,
                  guard: RewardGuard | None = None, timeout: float = 0.0) -> tuple[torch.Tensor, int]:
    """(rewards (N,), number of failed calls): fn(text, **row) per sample, where row holds the
    sample's value of each extra dataset column. None, NaN, an exception or a call longer than
    `timeout` seconds (0: no limit) gives NaN ("no opinion"); all but None are logged (by `guard`)
    and counted."""
    guard = guard or RewardGuard()
    fn = within(timeout, fn)
    columns = columns or {}
    for name, values in columns.items():
        if len(values) != len(texts):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(texts)} texts")
    out, failures = [], 0
    for i, text in enumerate(texts):
        value, failed = guard.value(fn, text, **{name: values[i] for name, values in columns.items()})
        failures += failed
        out.append(math.nan if value is None else value)
    return torch.tensor(out, dtype=torch.float32), failures


class RewardTimeout(Exception):
    """A reward call ran past its deadline (counted as a failed call, like an exception)."""


class _Expired(BaseException):
    """Raised by the deadline's signal handler: a BaseException, so that user code's own
    `except Exception` cannot swallow it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise `_Expired` in the main thread after `seconds` (0, or another thread: no deadline)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _Expired

    old_handler = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)


def within(seconds: float, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` under a deadline: a call longer than `seconds` raises RewardTimeout (0: `fn` itself)."""
    if not seconds:
        return fn

    def timed(*args: Any, **kwargs: Any) -> Any:
        try:
            with deadline(seconds):
                return fn(*args, **kwargs)
        except _Expired:
            raise RewardTimeout(f"took longer than reward_timeout ({seconds:g} s)") from None
    return timed


_LOADED: dict[tuple, Callable[..., float | None]] = {}


def load_reward_fn(spec: str, timeout: float = 0.0) -> Callable[..., float | None]:
    """A user reward from "path/to/file.py:function"; it is called as fn(completion, answer=...)
    and may return a float or None. Problems loading it (a missing file or function, an exception,
    sys.exit, or an import longer than `timeout` seconds) are one-line user errors naming the file.
    A file is imported once per process while it is unchanged."""
    file, _, name = spec.rpartition(":")
    if not file or not name:
        raise UserError(f"reward_fn {spec!r}: expected FILE.py:FUNCTION")
    path = Path(file)
    if not path.is_file():
        raise UserError(f"reward_fn {spec!r}: file {file} not found")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, name)
    if key not in _LOADED:
        _LOADED[key] = _import_reward(spec, path, name, timeout)
    return _LOADED[key]


def _import_reward(spec: str, path: Path, name: str, timeout: float) -> Callable[..., float | None]:
    try:
        with deadline(timeout):
            module_spec = importlib.util.spec_from_file_location(f"r1lab_user_reward_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
    except _Expired:
        raise UserError(f"reward_fn {spec!r}: importing {path} took longer than reward_timeout ({timeout:g} s); "
                        "raise --reward-timeout if it is slow rather than stuck") from None
    except SystemExit as e:
        raise UserError(f"reward_fn {spec!r}: importing {path} called sys.exit({e.code!r})") from None
    except Exception as e:  # noqa: BLE001 - any failure in the user's file is the user's to fix
        raise UserError(f"reward_fn {spec!r}: importing {path} failed: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"reward_fn {spec!r}: {path} has no function {name!r}")
    return fn
