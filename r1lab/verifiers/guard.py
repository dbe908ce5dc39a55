"""The candidate's audit hook: the in-process half of the code sandbox (stdlib only).

Never imported: `sandbox.py` prepends this source to `harness.py`'s and runs both with
`python -c`. The hook is installed in the candidate process before the program runs; CPython
offers no way to remove it. It refuses: fork beyond a cap or from a forked child; exec, spawn,
subprocess, system; signals to other processes; sockets that connect, bind or send, and name
lookups; ctypes (its import and every ctypes event) and a few internal modules that reach C
directly; symlinks; opening or listing /proc, /sys and /dev/fd (the judge's memory and fds);
writes, renames, deletes and permission changes outside the working directory; trace and
profile hooks and gc walks (they would reach the hook's own state). Paths must be str or bytes
(a PathLike would run the program's code inside the hook), resolved with C functions captured
at install time. Audit hooks are not a security boundary against code written to defeat them
(see sandbox.py's threat model); the OS layer is.

`_read_only_host` is OS-level and runs in the judge before anything else: inside the run's own
mount namespace it makes every mount read-only except the working directory and /dev/null.
"""

import os

_DENY = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "os.forkpty",
         "os.kill", "os.killpg", "signal.pthread_kill", "socket.connect", "socket.bind",
         "socket.sendto", "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname",
         "socket.gethostbyaddr", "os.symlink", "os.chroot", "os.setuid", "os.setgid", "resource.prlimit",
         # the hook's own state must stay out of reach: no frames of it, no gc walks to it
         "sys.settrace", "sys.setprofile", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
         "gc.get_referents")
_MODULES = ("ctypes", "_ctypes", "_posixsubprocess", "_testcapi", "_testinternalcapi", "posix",
            "_xxsubinterpreters", "_xxinterpchannels", "cffi", "_cffi_backend")
# event -> (positions of paths that must stay inside the working dir, positions of dir_fd args)
_MUTATE = (("os.remove", (0,), (1,)), ("os.rmdir", (0,), (1,)), ("os.mkdir", (0,), (2,)),
           ("os.chmod", (0,), (2,)), ("os.chown", (0,), (3,)), ("os.utime", (0,), (3,)),
           ("os.truncate", (0,), ()), ("os.rename", (0, 1), (2, 3)), ("os.link", (0, 1), (2, 3)),
           ("os.mkfifo", (0,), (2,)), ("os.mknod", (0,), (3,)), ("os.setxattr", (0,), ()),
           ("os.removexattr", (0,), ()), ("shutil.rmtree", (0,), (1,)), ("shutil.move", (0, 1), ()),
           ("shutil.copyfile", (1,), ()), ("shutil.copytree", (1,), ()))
_PRIVATE = ("/proc", "/sys", "/dev/fd")
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
_MOUNT_OPTIONS = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def _resolver(getcwd=os.getcwd, lstat=os.lstat, readlink=os.readlink):
    """A realpath built only from C functions captured now (posixpath could be patched later).
    Paths must be str or bytes: a PathLike would run the program's code inside the hook."""
    def resolve(path):
        if type(path) is bytes:
            path = path.decode("utf-8", "surrogateescape")
        if type(path) is not str:
            raise PermissionError("sandbox: only str or bytes paths are allowed")
        parts = (path if path.startswith("/") else getcwd() + "/" + path).split("/")
        done, hops = [], 0
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            here = "/" + "/".join(done + [part])
            try:
                link = (lstat(here).st_mode & 0o170000) == 0o120000
            except OSError:
                link = False
            if link and hops < 40:
                hops += 1
                target = readlink(here)
                parts = target.split("/") + parts
                if target.startswith("/"):
                    done = []
                continue
            done.append(part)
        return "/" + "/".join(done)
    return resolve


def _policy(home, max_forks, pid=os.getpid):
    """The candidate's audit hook. Everything it uses is bound here, immutable or C-level (the
    fork counter only counts up), so the program cannot rebind or reset it."""
    import itertools
    resolve, deny, modules, private, writing, mutate = _resolver(), _DENY, _MODULES, _PRIVATE, _WRITING, _MUTATE
    home, forks, root_pid = resolve(home), itertools.count(1), pid()

    def inside(path):
        if type(path) is int:
            return False
        p = resolve(path)
        return p == home or p.startswith(home + "/") or p == "/dev/null"

    def judge(event, args):
        if event in deny or event.startswith("ctypes."):
            return event + " is not allowed"
        if event == "os.fork":
            return "fork limit reached" if pid() != root_pid or next(forks) > max_forks else None
        if event == "import":
            return "import of %s is not allowed" % args[0] if str(args[0]).split(".")[0] in modules else None
        if event == "open":
            path, mode, flags = args
            if type(path) is int:
                return None
            if resolve(path).startswith(private):
                return "opening %s is not allowed" % resolve(path)
            wants = (type(mode) is str and any(c in mode for c in "wax+")) or (type(flags) is int and flags & writing)
            return "writing outside the working directory is not allowed" if wants and not inside(path) else None
        if event in ("os.listdir", "os.scandir"):
            p = args[0]
            return "listing that directory is not allowed" if p is not None and type(p) is not int and \
                resolve(p).startswith(private) else None
        for name, paths, dir_fds in mutate:
            if event == name:
                ok = all(inside(args[i]) for i in paths if i < len(args)) and \
                    all(type(args[i]) is int and args[i] == -1 or args[i] is None for i in dir_fds if i < len(args))
                return None if ok else event + " outside the working directory is not allowed"
        return None

    def hook(event, args):
        why = judge(event, args)
        if why:
            raise PermissionError("sandbox: " + why)

    return hook




def _read_only_host(work):
    """Every mount of this (private) mount namespace read-only but `work` and /dev/null; then
    check that a file beside `work` cannot be created. Raises OSError when that fails."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source, target, flags):
        if libc.mount(source and source.encode(), target.encode(), None, ctypes.c_ulong(flags), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), target)

    mount(None, "/", _MS_REC | _MS_PRIVATE)  # nothing done here may propagate to the host
    keep = (work, "/dev/null")
    for path in keep:
        mount(path, path, _MS_BIND)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        entries = [line.split() for line in f]
    for fields in entries:
        target = fields[4].encode().decode("unicode_escape")  # "\040" is a space
        if target in keep:
            continue
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY
        for option in fields[5].split(","):
            flags |= _MOUNT_OPTIONS.get(option, 0)
        try:
            mount(None, target, flags)
        except OSError:
            if target == "/":
                raise
    os.chdir(work)  # the old cwd still points into the now read-only parent mount
    check = os.path.join(os.path.dirname(work), ".r1lab-write-check")
    try:
        fd = os.open(check, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return
    os.close(fd)
    os.remove(check)
    raise OSError("the file system outside the working directory is still writable")
