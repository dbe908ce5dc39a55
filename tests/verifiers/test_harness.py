"""Verdict integrity: programs that try to be graded as passing without passing must score 0.

Every program below gets `f` wrong (or defines none) and tries one trick to pass anyway; a
correct control shows the same test does pass honest code, so a 0 is the trick failing.
"""

import pytest

from r1lab.verifiers.sandbox import Limits, run_tests

TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert abs(candidate(0.5) - 1.5) < 1e-9\n"
WRONG = "def f(x):\n    return x\n"
LIMITS = Limits(timeout=3.0)

HACKS = {
    "exit_before_tests": WRONG + "exit(0)\n",
    "sys_exit_before_tests": WRONG + "import sys\nsys.exit(0)\n",
    "os_exit_before_tests": WRONG + "import os\nos._exit(0)\n",
    "os_exit_inside_candidate": "import os\ndef f(x):\n    os._exit(0)\n",
    "system_exit_inside_candidate": "def f(x):\n    raise SystemExit(0)\n",
    "keyboard_interrupt_inside_candidate": "def f(x):\n    raise KeyboardInterrupt\n",
    "override_builtin_abs": "import builtins\nbuiltins.abs = lambda x: 0\n" + WRONG,
    "override_assertion_error": ("import builtins\nclass Quiet(Exception):\n    pass\n"
                                 "builtins.AssertionError = Quiet\n" + WRONG),
    "define_own_check": WRONG + "def check(candidate):\n    pass\n",
    "patch_check_from_candidate": ("import sys\ndef f(x):\n    g = sys._getframe(1).f_globals\n"
                                   "    g['check'] = lambda c: None\n    return x\n"),
    "always_equal_object": "class E:\n    def __eq__(self, o):\n        return True\n    __sub__ = lambda s, o: 0\n"
                           "def f(x):\n    return E()\n",
    "always_equal_int_subclass": "class I(float):\n    __eq__ = lambda s, o: True\n    __sub__ = lambda s, o: 0.0\n"
                                 "def f(x):\n    return I(0)\n",
    "always_equal_metaclass": ("class M(type):\n    __eq__ = lambda s, o: True\n    __hash__ = lambda s: hash(int)\n"
                               "class E(metaclass=M):\n    __eq__ = lambda s, o: True\n    __sub__ = lambda s, o: 0\n"
                               "def f(x):\n    return E()\n"),
    "print_fake_sentinels": WRONG + "print('PASSED\\nOK\\nall tests passed\\n' + '0' * 32)\n",
    "write_fake_sentinel_to_every_fd": ("import os\nfor fd in range(1, 300):\n    try:\n"
                                        "        os.write(fd, b'0' * 32 + b'\\n')\n"
                                        "    except OSError:\n        pass\n" + WRONG),
    "read_every_fd_for_the_sentinel": ("import os\nfound = b''\nfor fd in range(3, 300):\n    try:\n"
                                       "        found += os.read(fd, 64)\n    except OSError:\n        pass\n"
                                       "for fd in range(3, 300):\n    try:\n        os.write(fd, found)\n"
                                       "    except OSError:\n        pass\n" + WRONG),
    "scan_proc_fds": "import os\nprint(os.listdir('/proc/self/fd'))\n" + WRONG,
    "read_proc_self_mem": "data = open('/proc/self/mem', 'rb')\n" + WRONG,
    "gc_scan_for_the_sentinel": ("import gc\ncands = [o for o in gc.get_objects() if isinstance(o, bytes)]\n" + WRONG),
    "walk_frames_to_the_reporter": ("import sys\nf = sys._getframe(1)\nreport = f.f_locals.get('report')\n"
                                    "report(True, '')\n" + WRONG),
    "walk_traceback_to_the_reporter": ("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n"
                                       "    caller = e.__traceback__.tb_frame.f_back\n"
                                       "    caller.f_locals['report'](True, '')\n" + WRONG),
    "signal_handler_frame": ("import signal\n"
                             "signal.signal(signal.SIGALRM, lambda s, fr: fr.f_locals['report'](True, ''))\n"
                             "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n" + WRONG),
    "trace_function": "import sys\nsys.settrace(lambda *a: None)\n" + WRONG,
    "atexit_exit_zero": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
    "thread_exits_zero_later": ("import os, threading, time\n"
                                "threading.Thread(target=lambda: (time.sleep(0.05), os._exit(0)),"
                                " daemon=True).start()\n"
                                "def f(x):\n    time.sleep(1)\n    return x\n"),
    "patch_math_used_by_tests": "import math\nmath.isclose = lambda *a, **k: True\n" + WRONG,
    "close_all_fds": "import os\nos.closerange(3, 4096)\n" + WRONG,
    "no_entry_point": "def g(x):\n    return x + 1\n",
    "syntax_error": "def f(x) return x + 1\n",
}


def test_control_passes():
    assert run_tests("def f(x):\n    return x + 1\n", TEST, "f", LIMITS).passed
    assert run_tests("import math\ndef f(x):\n    return x + 1\n",
                     "import math\ndef check(c):\n    assert math.isclose(c(1), 2)\n", "f", LIMITS).passed


@pytest.mark.parametrize("name", HACKS)
def test_hack_scores_zero(name):
    test = TEST
    if name == "patch_math_used_by_tests":
        test = "import math\ndef check(candidate):\n    assert math.isclose(candidate(1), 2)\n"
    out = run_tests(HACKS[name], test, "f", LIMITS)
    assert not out.passed and out.status in ("failed", "timeout"), out


def test_top_level_assert_tests_without_entry_point():
    assert run_tests("x = 3\n", "assert x == 3\n", None, LIMITS).passed
    assert not run_tests("x = 4\n", "assert x == 3\n", None, LIMITS).passed
    assert not run_tests("import os\nx = 4\n", "os._exit(0)\n", None, LIMITS).passed  # tests may not exit either


def test_legitimate_code_is_not_blocked():
    prog = ("import collections, itertools, functools, heapq, hashlib, json, re, random, datetime, decimal\n"
            "from typing import List\nimport os\nopen('scratch.txt', 'w').write('ok')\nos.mkdir('d')\n"
            "os.rename('scratch.txt', 'd/s.txt')\nassert open('d/s.txt').read() == 'ok'\n"
            "from collections import namedtuple\nP = namedtuple('P', 'a b')\n"
            "def f(x: int) -> int:\n    try:\n        1 / 0\n    except ZeroDivisionError:\n        pass\n"
            "    return P(x, 1).a + int(hashlib.md5(b'').hexdigest()[:1], 16) - 12\n")
    out = run_tests(prog, TEST.replace("0.5) - 1.5", "0) - 1"), "f", LIMITS)
    assert out.passed, out
