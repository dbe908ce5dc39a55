"""The program the code sandbox runs (stdlib only, never imported): a judge and a candidate.

`sandbox.py` runs `guard.py` + this source with `python -I -S -X utf8 -c` in a private namespace,
with a JSON payload on stdin and the sentinel and result pipes inherited. The process (the
judge: pid 1 of the run's PID namespace) joins the run's pids cgroup, makes the file system
read-only when asked, and forks before reading anything:

* the candidate (child) closes every inherited fd but stdout/stderr and its two pipes to the
  judge, and receives only the program and the limits, never the tests or the sentinel. It
  sets rlimits, pre-imports common modules, drops to `nobody` when asked, installs the audit
  hook of `guard.py` (Python code cannot remove it; only tests of the kernel layers turn it off)
  and runs the program. It reports its top-level names (functions, modules, plain values), then
  serves calls: a function name and arguments in, the return value or the exception name out.
* the judge reads the payload and the sentinel, sends the program, builds the tests' namespace
  from the reported names (functions become proxies that call into the candidate; names of
  builtins are never shadowed), runs the tests and `check(candidate)` itself, and writes the
  sentinel to the result pipe only if they return normally.

Values cross the pipe as tagged JSON of plain types (None, bool, int, float, complex, str, bytes,
list, tuple, dict, set, frozenset), rebuilt by the judge as exact built-in types. An object whose
`__eq__` always answers True, an exit, patched builtins, modules or `check`, a printed or guessed
sentinel: all of it happens in a process that holds no sentinel and decides nothing. Known
limits: the tests do not see a candidate's mutation of its arguments, and tests that use the
candidate's classes or other objects that are not plain data fail.
"""

import json
import os
import sys

_PRELOAD = ("math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq",
            "bisect", "operator", "random", "hashlib", "fractions", "typing", "copy", "json")
_MAX_MESSAGE = 64 << 20


def _main():
    cgroup, read_only = sys.argv[2:4]
    if cgroup:  # join the run's pids cgroup: a kernel cap on processes, root included
        with open(cgroup + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
    if read_only == "ro":
        _read_only_host(os.getcwd())
    from_judge, to_child = os.pipe()
    from_child, to_judge = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(to_child)
        os.close(from_child)
        _candidate(from_judge, to_judge)  # never returns
    os.close(from_judge)
    os.close(to_judge)
    raw = b""
    while chunk := os.read(0, 1 << 20):
        raw += chunk
    job = json.loads(raw.decode("utf-8"))
    token = os.read(job["sentinel_fd"], 256)
    os.close(job["sentinel_fd"])
    _limit(job)
    if job["drop_to"] is not None:
        _drop(job["drop_to"])
    ok, why = _judge(job, to_child, from_child)
    os.write(job["result_fd"], token + b"\n" if ok else b"FAIL " + why.encode("utf-8", "replace")[:500] + b"\n")
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    os._exit(0 if ok else 1)


def _judge(job, out_fd, in_fd):
    import builtins
    _send(out_fd, {k: job[k] for k in ("program", "drop_to", "max_forks", "guard", "cpu_seconds",
                                        "memory_bytes", "file_bytes", "processes")})
    first = _receive(in_fd)
    if first is None:
        return False, "the program ended without reporting"
    if "error" in first:
        return False, "program raised " + str(first["error"])[:100]

    def call(name):
        def proxy(*args, **kwargs):
            _send(out_fd, ["call", name, _encode(list(args)), _encode(kwargs)])
            reply = _receive(in_fd)
            if reply is None:
                raise RuntimeError("the candidate process ended")
            if reply[0] == "ok":
                return _decode(reply[1])
            exc = getattr(builtins, str(reply[1]), None)
            if not (isinstance(exc, type) and issubclass(exc, Exception)):
                exc = RuntimeError
            raise exc(str(reply[2])[:200])
        return proxy

    tests = {"__name__": "__main__"}
    for name, kind in first["names"].items():
        if hasattr(builtins, name) or name.startswith("__"):
            continue  # a candidate must not shadow abs, len, ... in the tests
        if kind[0] == "fn":
            tests[name] = call(name)
        elif kind[0] == "mod" and kind[1] in sys.stdlib_module_names:
            tests[name] = __import__(kind[1])
        elif kind[0] == "val":
            tests[name] = _decode(kind[1])
    try:
        exec(compile(job["test"], "<r1lab-tests>", "exec"), tests)
        if job["entry_point"]:
            if job["entry_point"] not in first["names"]:
                return False, "entry point %r is not defined" % job["entry_point"]
            tests["check"](call(job["entry_point"]))
    except BaseException as e:  # noqa: BLE001 - whatever the tests raise is a failure
        return False, "tests raised " + type(e).__name__
    return True, ""


def _candidate(in_fd, out_fd):
    try:
        try:
            fds = [int(n) for n in os.listdir("/proc/self/fd")]
        except OSError:  # no /proc here: try every number below the usual limit
            fds = list(range(3, 4096))
        for fd in fds:
            if fd > 2 and fd not in (in_fd, out_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        job = _receive(in_fd)
        _limit(job)
        for name in _PRELOAD:
            __import__(name)
        if job["drop_to"] is not None:
            _drop(job["drop_to"])
        import builtins
        builtins.exit = builtins.quit = sys.exit  # `-S` skips site, which defines them
        import signal
        signal.signal = sys.modules["_signal"].signal = _no_handlers
        if job["guard"]:
            sys.addaudithook(_policy(os.getcwd(), job["max_forks"]))
        ns = {"__name__": "__main__", "__builtins__": builtins}
        try:
            exec(compile(job["program"], "<solution>", "exec"), ns)
        except BaseException as e:  # noqa: BLE001 - SystemExit before the tests is a failure too
            _flush()
            _send(out_fd, {"error": type(e).__name__})
            os._exit(1)
        _flush()
        _send(out_fd, {"names": _describe(ns)})
        while (msg := _receive(in_fd)) is not None:
            try:
                value = ns[msg[1]](*_decode(msg[2]), **_decode(msg[3]))
                reply = ["ok", _encode(value)]
            except BaseException as e:  # noqa: BLE001 - reported to the judge, who fails the test
                reply = ["raise", type(e).__name__, str(e)[:200] if isinstance(e, Exception) else ""]
            _flush()
            _send(out_fd, reply)
    finally:
        os._exit(1)


def _flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced or closed them
            pass


def _describe(ns):
    names = {}
    for name, value in list(ns.items()):
        if type(value).__name__ == "module":
            names[name] = ["mod", value.__name__]
        elif callable(value):
            names[name] = ["fn"]
        else:
            try:
                enc = _encode(value)
                if len(json.dumps(enc)) < (1 << 20):
                    names[name] = ["val", enc]
            except (TypeError, ValueError, RecursionError):
                pass
    return names


def _encode(x):
    """Plain data as tagged JSON; anything else raises TypeError."""
    if x is None:
        return ["N"]
    if isinstance(x, bool):
        return ["b", bool(x)]
    if isinstance(x, int):
        return ["i", hex(int(x))]
    if isinstance(x, float):
        return ["f", float(x).hex()]
    if isinstance(x, complex):
        return ["c", float(x.real).hex(), float(x.imag).hex()]
    if isinstance(x, str):
        return ["s", str(x)]
    if isinstance(x, (bytes, bytearray)):
        return ["y", bytes(x).hex()]
    for cls, tag in ((list, "l"), (tuple, "t"), (set, "S"), (frozenset, "F")):
        if isinstance(x, cls):
            return [tag, [_encode(v) for v in x]]
    if isinstance(x, dict):
        return ["d", [[_encode(k), _encode(v)] for k, v in x.items()]]
    raise TypeError("cannot send a %s between the candidate and the tests" % type(x).__name__)


def _decode(x):
    """The judge's side: rebuild only exact built-in types, reject anything malformed."""
    tag = x[0]
    if tag == "N":
        return None
    if tag == "b":
        return x[1] is True
    if tag == "i":
        return int(x[1], 16)
    if tag == "f":
        return float.fromhex(x[1])
    if tag == "c":
        return complex(float.fromhex(x[1]), float.fromhex(x[2]))
    if tag == "s" and type(x[1]) is str:
        return x[1]
    if tag == "y":
        return bytes.fromhex(x[1])
    if tag in ("l", "t", "S", "F"):
        items = [_decode(v) for v in x[1]]
        return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
    if tag == "d":
        return {_decode(k): _decode(v) for k, v in x[1]}
    raise ValueError("malformed value from the candidate")


def _send(fd, obj):
    data = json.dumps(obj).encode("utf-8")
    data = len(data).to_bytes(8, "big") + data
    while data:
        data = data[os.write(fd, data):]


def _receive(fd):
    head = _read_exactly(fd, 8)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > _MAX_MESSAGE:
        raise ValueError("message from the candidate is too large")
    body = _read_exactly(fd, size)
    return None if body is None else json.loads(body.decode("utf-8"))


def _read_exactly(fd, n):
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _drop(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _limit(job):
    import resource
    cpu = job["cpu_seconds"]
    for res, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1),
                            (resource.RLIMIT_AS, job["memory_bytes"], job["memory_bytes"]),
                            (resource.RLIMIT_FSIZE, job["file_bytes"], job["file_bytes"]),
                            (resource.RLIMIT_NPROC, job["processes"], job["processes"]),
                            (resource.RLIMIT_NOFILE, 256, 256),
                            (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(res, (soft, hard))


def _no_handlers(*args, **kwargs):
    raise PermissionError("sandbox: signal handlers are not allowed (a handler receives the hook's frame)")


if __name__ == "r1lab_harness":
    _main()
