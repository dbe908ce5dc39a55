"""What this machine can honour, checked before any compute: devices, dtypes, threads and memory.

A config is valid or not on its own (`r1lab.config.require`); these checks depend on where it
runs, so commands call them at the start of a run, before the run directory is created:

* `--device cuda` (or cuda:N) needs a CUDA device that torch can see;
* bfloat16 on a GPU needs one that supports it (every CPU torch build does, emulated if need be);
* `--threads N` must not exceed the cores this process may use (its CPU affinity): more threads
  than cores only spin against each other (0 means one per core);
* an estimated memory need (each command's own estimate, by named parts) must fit in what is
  available now: MemAvailable (and the cgroup's limit, where one is set) on CPU,
  `torch.cuda.mem_get_info` on a GPU. The estimates are lower bounds, so a refusal is certain;
  passing the check does not promise the run fits.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from r1lab.errors import UserError


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads(threads: int, name: str = "threads") -> None:
    n = cores()
    if threads > n:
        raise UserError(f"{name} {threads}: this machine gives the process {n} cores; {name} must be in [0, {n}] "
                        "(0 = one per core)")


def check_device(device: str) -> None:
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only build)"
        raise UserError(f"device {device}: torch sees no CUDA device here (torch {torch.__version__} with {built}); "
                        "use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"device {device}: there are only {torch.cuda.device_count()} CUDA devices "
                        f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")


def check_dtype(dtype: str, device: str) -> None:
    if dtype == "bfloat16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise UserError(f"dtype bfloat16: {torch.cuda.get_device_name(device)} does not support it; use float32")


def check_machine(device: str = "cpu", dtype: str = "float32", threads: int = 0) -> None:
    check_device(device)
    check_dtype(dtype, device)
    check_threads(threads)


def available_memory(device: str) -> int:
    """Bytes that can still be allocated on `device`."""
    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    avail = _meminfo_available()
    limit = _cgroup_room()
    return min(avail, limit) if limit is not None else avail


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))  # total memory: the best we know


def _cgroup_room() -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), or None if unlimited or unknown."""
    try:
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**27 else f"{n / 2**20:.0f} MiB"


def check_memory(need: dict[str, int], device: str, hint: str) -> None:
    """UserError with the estimate's parts when their sum exceeds the memory available on `device`."""
    total, free = sum(need.values()), available_memory(device)
    if total > free:
        parts = ", ".join(f"{name} {gib(n)}" for name, n in sorted(need.items(), key=lambda kv: -kv[1]) if n)
        raise UserError(f"not enough memory: this needs at least {gib(total)} ({parts}) and {device} has "
                        f"{gib(free)} available; {hint}")
