"""The code sandbox against hostile programs: each must score 0 and leave the host untouched.

Most programs would pass the test (`f(1) == 2`) if their attack worked, so a 0 shows the attack
failed; the others are checked for their side effect (a file, a connection, a process).
Host-safety attacks run in up to three modes: "probed" (every layer this machine allows),
"bare" (no namespaces, no uid drop: the in-process guard alone, with the cgroup process cap kept
as a safety net) and "kernel" (namespaces, read-only mounts and cgroup, guard off; skipped where
the machine has no mount and PID namespaces). No program here signals pid -1 or a process group
it does not own, and no guard-less fork bomb runs without a cgroup cap: if a layer regressed,
such a test would take the machine down (as root) instead of failing.
"""

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from r1lab.verifiers.sandbox import Isolation, Limits, isolation, run_tests

TEST = "def check(candidate):\n    assert candidate(1) == 2\n"
GOOD = "def f(x):\n    return x + 1\n"
FAST = Limits(timeout=3.0)
ISOS = ["probed", "bare", "kernel"]


def iso_for(name: str, forks: bool = False) -> Isolation:
    probed = isolation()
    if name == "probed":
        return probed
    if name == "bare":
        return Isolation(pids_cgroup=probed.pids_cgroup)
    if not (probed.read_only and probed.pid_namespace):
        pytest.skip("this machine has no mount and PID namespaces")
    if forks and probed.pids_cgroup is None:
        pytest.skip("no pids cgroup to cap a fork bomb that meets no guard")
    return dataclasses.replace(probed, guard=False)


def sandboxed_pids() -> list[int]:
    """Processes still running the harness (forked children keep its command line)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if b"r1lab_harness" in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def no_leftovers(wait: float = 5.0) -> bool:
    end = time.monotonic() + wait
    while sandboxed_pids():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def run(program: str, iso_name: str = "probed", test: str = TEST, limits: Limits = FAST, forks: bool = False):
    return run_tests(program, test, "f", limits, iso_for(iso_name, forks))


@pytest.fixture
def victim():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def server():
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    seen, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                seen.append(conn.recv(100))
                conn.close()
            except OSError:
                continue
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1], seen
    stop.set()
    t.join()
    srv.close()


def test_good_program_passes_and_output_is_kept():
    out = run("print('hello')\n" + GOOD)
    assert out.passed and out.status == "passed" and "hello" in out.output


# ---- host safety: resources -------------------------------------------------------------------

@pytest.mark.parametrize("iso", ISOS)
def test_fork_bomb(iso):
    start = time.monotonic()
    out = run("import os\nwhile True:\n    os.fork()\n" + GOOD, iso, limits=Limits(timeout=3.0, processes=64),
              forks=True)
    assert not out.passed and time.monotonic() - start < 10
    assert no_leftovers()


@pytest.mark.parametrize("iso", ISOS)
def test_forked_sleepers_that_leave_the_group_are_killed(iso):
    prog = ("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        time.sleep(1000)\nexit(0)\n")
    out = run(prog, iso, forks=True)
    assert not out.passed and no_leftovers()


def test_fork_cap_holds_when_errors_are_swallowed():
    prog = ("import os, threading, time\nn = 0\nfor _ in range(10000):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(1000)\n    n += 1\n"
            "def f(x):\n    return x + 1 if n > 4 else 0\n")  # passes only if a 5th fork succeeded
    out = run(prog)
    assert not out.passed and no_leftovers()


@pytest.mark.parametrize("bomb", ["a = []\nwhile True:\n    a.append(' ' * 10**6)\n", "x = bytearray(1 << 36)\n"])
def test_memory_bomb(bomb):
    start = time.monotonic()
    out = run(bomb + GOOD, limits=Limits(timeout=10.0, memory_mb=256))
    assert not out.passed and out.detail == "program raised MemoryError" and time.monotonic() - start < 10


@pytest.mark.parametrize("where", ["program", "candidate"])
def test_infinite_loop(where):
    prog = "while True:\n    pass\n" + GOOD if where == "program" else "def f(x):\n    while True:\n        pass\n"
    start = time.monotonic()
    out = run(prog, limits=Limits(timeout=2.0))
    assert out.status == "timeout" and not out.passed and time.monotonic() - start < 6
    assert no_leftovers()


def test_gigabytes_of_output():
    start = time.monotonic()
    out = run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n" + GOOD)
    assert not out.passed and time.monotonic() - start < 10
    assert len(out.output) <= FAST.output_bytes


# ---- host safety: files, secrets, network, other processes -----------------------------------

@pytest.mark.parametrize("iso", ISOS)
@pytest.mark.parametrize("how", [
    "open({T!r}, 'w').write('x')",
    "import os; os.close(os.open({T!r}, os.O_WRONLY | os.O_CREAT))",
    "import pathlib; pathlib.Path({T!r}).write_text('x')",
    "import os; os.symlink({T!r}, 'link'); open('link', 'w').write('x')",
    "import shutil; open('mine', 'w').write('x'); shutil.copyfile('mine', {T!r})",
    "import os; open('mine', 'w').write('x'); os.rename('mine', {T!r})",
])
def test_writes_outside_the_work_dir(tmp_path, iso, how):
    target = tmp_path / "pwned"
    out = run("try:\n    " + how.format(T=str(target)) + "\nexcept Exception:\n    pass\n"
              f"import os\ndef f(x):\n    return x + 1 if os.path.exists({str(target)!r}) else 0\n", iso)
    assert not target.exists() and not out.passed


@pytest.mark.parametrize("iso", ISOS)
def test_deletes_outside_the_work_dir(tmp_path, iso):
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    out = run(f"import os, shutil\nfor fn in (os.remove, os.unlink):\n    try:\n        fn({str(keep)!r})\n"
              f"    except OSError:\n        pass\n"
              f"try:\n    shutil.rmtree({str(tmp_path)!r})\nexcept OSError:\n    pass\n"
              f"def f(x):\n    return x + int(not os.path.exists({str(keep)!r}))\n", iso)
    assert keep.read_text() == "precious" and not out.passed


@pytest.mark.parametrize("iso", ISOS)
def test_environment_secrets_are_not_visible(monkeypatch, iso):
    monkeypatch.setenv("R1LAB_FAKE_SECRET", "hunter2")
    prog = ("import os\nseen = os.environ.get('R1LAB_FAKE_SECRET', '')\n"
            "try:\n    pids = os.listdir('/proc')\nexcept OSError:\n    pids = []\n"
            "for pid in ['self', str(os.getppid()), '1'] + pids:\n    try:\n"
            "        seen += open(f'/proc/{pid}/environ', 'rb').read().decode('latin-1')\n"
            "    except Exception:\n        pass\nprint('found' if 'hunter2' in seen else 'clean')\n"
            "def f(x):\n    return x + 1 if 'hunter2' in seen else 0\n")
    out = run(prog, iso)
    assert not out.passed and "clean" in out.output


@pytest.mark.parametrize("iso", ISOS)
def test_no_network(server, iso):
    port, seen = server
    prog = (f"import socket\nok = False\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    s.sendall(b'leak'); ok = True\nexcept Exception:\n    pass\ntry:\n"
            "    socket.getaddrinfo('example.com', 80); ok = True\nexcept Exception:\n    pass\n"
            "def f(x):\n    return x + 1 if ok else 0\n")
    out = run(prog, iso)
    time.sleep(0.3)
    assert not out.passed and seen == []


@pytest.mark.parametrize("iso", ISOS)
def test_cannot_kill_the_parent_or_other_processes(victim, iso):
    # the candidate's parent is the judge; the victim stands for any other process on the host
    prog = (f"import os\nfor pid in (os.getppid(), {victim.pid}, -{victim.pid}):\n    try:\n"
            "        os.kill(pid, 9)\n    except Exception:\n        pass\n"
            "def f(x):\n    return x\n")
    out = run(prog, iso)
    time.sleep(0.2)
    assert victim.poll() is None  # the victim lives; so do we (this line runs)
    assert out.detail == "tests raised AssertionError"  # the judge lived to run the tests
    assert no_leftovers()


@pytest.mark.parametrize("attack", ["import subprocess; subprocess.run(['touch', {T!r}])",
                                    "import os; os.system('touch {T}')",
                                    "import os; os.execv('/usr/bin/touch', ['touch', {T!r}])",
                                    "import os; os.posix_spawn('/usr/bin/touch', ['touch', {T!r}], {{}})",
                                    "import ctypes; ctypes.CDLL(None).system(b'touch {T}')"])
def test_no_subprocess_exec_or_ctypes(tmp_path, attack):
    target = tmp_path / "from-shell"
    out = run(attack.format(T=str(target)) + "\n" + GOOD)
    assert not out.passed and out.detail == "program raised PermissionError"
    assert not target.exists()
