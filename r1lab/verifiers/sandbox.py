"""Run untrusted Python against tests in a sandbox; a pass needs a per-run sentinel.

Threat model. The code comes from a policy trained with RL: not written against this file, but
RL finds any cheap way to collect reward (exit early, print what a pass looks like, patch
builtins or the checker, return an object equal to everything), and sampled programs can hang,
fork, allocate, print or write without end. Three layers:

* Verdict integrity (`harness.py`). The untrusted program runs in its own process (the
  candidate); the tests run in a separate judge process that calls the candidate's functions
  over a pipe and gets back plain data only (rebuilt as exact built-in types). The sentinel, 128
  random bits made here per run, reaches the judge through an inherited pipe after the candidate
  has been forked; the judge writes it to a second pipe (never stdout) only when the tests
  returned normally. The candidate never holds the sentinel or the tests, and decides nothing.
* Host safety, by the kernel (`isolation()` probes what this machine allows, once): a new
  session and process group; `unshare` mount, network and PID namespaces with a private /proc
  (no interface but loopback; when the judge, pid 1 there, dies every process in the namespace
  is killed); every mount read-only but the run's working directory and /dev/null; a per-run
  pids cgroup (`pids.max`, enforced even for root, unlike RLIMIT_NPROC); the uid `nobody` when we
  are root and the interpreter is readable by it; rlimits on CPU seconds, address space, file
  size, processes, open files and core dumps; a wall timeout, then SIGKILL to the group, the
  cgroup and any process carrying the run id; a fresh temporary directory, deleted afterwards;
  an environment stripped to PATH, HOME, TMPDIR and LANG.
* In-process guard (`guard.py`): an audit hook in the candidate refusing fork beyond a cap,
  exec, kill, sockets, ctypes, writes outside the working dir and /proc. It is the only barrier
  where the kernel layers are unavailable (no `unshare`), and a second one elsewhere.

Not defended: code written to defeat CPython's audit hooks (documented as no sandbox) on a
machine without namespaces; a kernel exploit. Each layer is tested alone in tests/verifiers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

_HARNESS = "\n".join(Path(__file__).with_name(n).read_text(encoding="utf-8") for n in ("guard.py", "harness.py"))
_BOOT = ("import sys\nexec(compile(%r, '<r1lab-harness>', 'exec'), "
         "{'__name__': 'r1lab_harness', '__builtins__': dict(__builtins__.__dict__)})\n" % _HARNESS)
NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # wall seconds for the whole run, then the process group is killed
    memory_mb: int = 1024  # RLIMIT_AS
    file_mb: int = 16  # RLIMIT_FSIZE: largest file, stdout included
    processes: int = 256  # pids.max of the run's cgroup and RLIMIT_NPROC (threads count too)
    max_forks: int = 4  # forks allowed to the main process; forked children may not fork
    output_bytes: int = 4096  # tail of stdout+stderr kept in the outcome


@dataclass(frozen=True)
class Isolation:
    prefix: tuple[str, ...] = ()  # e.g. ("unshare", "-n", "-p", "-f", "--kill-child")
    drop_to: int | None = None  # uid/gid the harness switches to before user code
    pids_cgroup: str | None = None  # a cgroup dir with the pids controller: one child cgroup per run
    read_only: bool = False  # with a mount namespace in prefix: all mounts read-only but the work dir
    guard: bool = True  # the candidate's audit hook; False only to test the kernel layers alone

    @property
    def pid_namespace(self) -> bool:
        return "-p" in self.prefix


class Outcome(NamedTuple):
    passed: bool
    status: str  # "passed" | "failed" | "timeout"
    detail: str  # the harness's reason for a failure, or how the process ended
    output: str  # tail of the program's stdout and stderr
    seconds: float


class Job(NamedTuple):
    program: str  # the candidate's source
    test: str  # test source; defines check(candidate) when entry_point is given
    entry_point: str | None = None  # the function passed to check; None: the test is top-level asserts


_probe_lock = threading.Lock()
_probed: Isolation | None = None


def isolation() -> Isolation:
    """The strongest isolation this machine allows, probed once per process."""
    global _probed
    with _probe_lock:
        if _probed is None:
            _probed = _probe()
        return _probed


def _probe() -> Isolation:
    cgroup = _probe_pids_cgroup()
    root = os.geteuid() == 0
    user = () if root else ("-r",)  # without root, a user namespace makes the others possible
    full = ("unshare", *user, "-m", "-n", "-p", "-f", "--kill-child", "--mount-proc")
    basic = ("unshare", *user, "-n", "-p", "-f", "--kill-child")
    candidates = [Isolation(full, None, cgroup, True), Isolation(basic, None, cgroup), Isolation((), None, cgroup)]
    best = next(iso for iso in candidates if not iso.prefix or _trial(iso))
    if root and _trial(dataclasses.replace(best, drop_to=NOBODY)):
        best = dataclasses.replace(best, drop_to=NOBODY)
    return best


def _trial(iso: Isolation) -> bool:
    if iso.prefix and not shutil.which(iso.prefix[0]):
        return False
    try:
        return run_tests("import hashlib, decimal, datetime, json\n", "assert hashlib.md5(b'').hexdigest()\n",
                         None, Limits(timeout=30), iso).passed
    except OSError:
        return False


def _probe_pids_cgroup() -> str | None:
    """A writable cgroup directory whose children get `pids.max` (v1 `pids` or v2 root), or None."""
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        test = os.path.join(root, "r1lab-probe-" + secrets.token_hex(4))
        try:
            os.mkdir(test)
        except OSError:
            continue
        try:
            if not os.path.exists(os.path.join(test, "cgroup.procs")):
                continue  # a plain directory (tmpfs), not a cgroup: the kernel made no files
            with open(os.path.join(test, "pids.max"), "w") as f:
                f.write("8")
            return root
        except OSError:
            continue
        finally:
            try:
                os.rmdir(test)
            except OSError:
                pass
    return None


def run_tests(program: str, test: str, entry_point: str | None = None, limits: Limits = Limits(),
              iso: Isolation | None = None) -> Outcome:
    """Run `program`, then `test` (and `check(entry_point)`), in a fresh sandboxed process."""
    iso = isolation() if iso is None else iso
    start = time.monotonic()
    root = tempfile.mkdtemp(prefix="r1lab-sandbox-")
    fds: list[int] = []
    cgroup = None
    try:
        work = os.path.join(root, "work")
        os.mkdir(work, 0o700)
        if iso.drop_to is not None:
            os.chmod(root, 0o711)
            os.chown(work, iso.drop_to, iso.drop_to)
        token = secrets.token_hex(16).encode()
        run_id = "r1lab-run-" + secrets.token_hex(8)
        cgroup = _make_cgroup(iso, run_id, limits.processes)
        sentinel_r, sentinel_w = os.pipe()
        result_r, result_w = os.pipe()
        fds += [sentinel_r, sentinel_w, result_r, result_w]
        os.write(sentinel_w, token)
        payload = json.dumps({
            "program": program, "test": test, "entry_point": entry_point, "sentinel_fd": sentinel_r,
            "result_fd": result_w, "drop_to": iso.drop_to, "max_forks": limits.max_forks, "guard": iso.guard,
            "cpu_seconds": max(1, math.ceil(limits.timeout)), "memory_bytes": limits.memory_mb << 20,
            "file_bytes": limits.file_mb << 20, "processes": limits.processes}).encode()
        argv = [*iso.prefix, sys.executable, "-I", "-S", "-X", "utf8", "-c", _BOOT, run_id, cgroup or "",
                "ro" if iso.read_only else ""]
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8"}
        out_path = os.path.join(root, "output")
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=work, env=env, pass_fds=(sentinel_r, result_w), start_new_session=True)
        for fd in (sentinel_r, sentinel_w, result_w):
            os.close(fd)
            fds.remove(fd)
        status, detail = _wait(proc, payload, limits.timeout, run_id, iso)
        os.set_blocking(result_r, False)
        try:
            verdict = os.read(result_r, 4096)
        except BlockingIOError:
            verdict = b""
        passed = status == "exited 0" and verdict == token + b"\n"
        if verdict.startswith(b"FAIL "):
            detail = verdict[5:].decode("utf-8", "replace").strip()
        return Outcome(passed, "passed" if passed else "timeout" if status == "timeout" else "failed",
                       "" if passed else detail, _tail(out_path, limits.output_bytes),
                       time.monotonic() - start)
    finally:
        for fd in fds:
            os.close(fd)
        if cgroup:
            _drop_cgroup(cgroup)
        _remove(root)


def run_many(jobs: Sequence[Job], limits: Limits | Sequence[Limits] = Limits(),
             workers: int | None = None) -> list[Outcome]:
    """Run jobs in parallel: a thread pool where each thread waits on one sandboxed subprocess.
    `limits`: one for every job, or one per job."""
    iso = isolation()
    workers = workers or os.cpu_count() or 1
    per_job = [limits] * len(jobs) if isinstance(limits, Limits) else list(limits)
    if len(per_job) != len(jobs):
        raise ValueError(f"{len(per_job)} limits for {len(jobs)} jobs")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda j, lim: run_tests(j.program, j.test, j.entry_point, lim, iso), jobs, per_job))


def _make_cgroup(iso: Isolation, run_id: str, processes: int) -> str | None:
    if iso.pids_cgroup is None:
        return None
    path = os.path.join(iso.pids_cgroup, run_id)
    try:
        os.mkdir(path)
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write(str(processes))
    except OSError:
        return None
    return path


def _drop_cgroup(path: str) -> None:
    """Kill whatever is left in the run's cgroup, then remove it."""
    for _ in range(100):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
            for p in pids:
                os.kill(p, signal.SIGKILL)
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:  # ProcessLookupError, or EBUSY while the killed processes exit
            time.sleep(0.01)


def _wait(proc: subprocess.Popen, payload: bytes, timeout: float, run_id: str, iso: Isolation) -> tuple[str, str]:
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            code = proc.wait(timeout=timeout)
            status = f"exited {code}" if code >= 0 else "killed"
            detail = f"exit code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        except subprocess.TimeoutExpired:
            status, detail = "timeout", f"wall timeout after {timeout:g}s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group, even after a normal exit
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if not iso.pid_namespace:
            kill_tagged(run_id)
    return status, detail


def kill_tagged(tag: str) -> int:
    """SIGKILL every process whose command line carries `tag` (children that left the group)."""
    killed, needle = 0, tag.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if needle in f.read():
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
        except OSError:
            continue
    return killed


def _tail(path: str, n: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - n))
        return f.read().decode("utf-8", "replace")


def _remove(root: str) -> None:
    def fix(func, path, _exc):  # a program may leave read-only or unsearchable directories
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass
    shutil.rmtree(root, onerror=fix)
