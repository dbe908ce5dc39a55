"""Crash-safe checkpoints for any long-running command (today `r1lab train`).

    RUN/checkpoints/step-000012/            a complete checkpoint (manifest.json written last)
    RUN/checkpoints/.step-000013.partial-x/ one being written: ignored, removed by `clean()`

`save(step, write)`: `write(dir)` fills a fresh temporary directory with whatever the caller
needs (model files, optimizer, RNG states, ...). Then manifest.json records every file's size
and sha256, every file and the directory are fsynced, the directory is renamed to step-NNNNNN
(atomic on POSIX) and the parent directory fsynced. Only after that are checkpoints beyond the
newest `keep` deleted. A crash at any instant leaves the previous set intact, plus at most one
complete new checkpoint and a temporary directory.

`latest()`: the newest step-N that has a manifest; temporary directories are ignored. Its files
are checked against the manifest. A mismatch (a truncated or altered file) is a `UserError` naming
the file: falling back to an older checkpoint silently would throw work away without telling.

`rng_state()` / `set_rng_state()` capture and restore Python's, NumPy's and torch's (CPU and CUDA)
global generators, in a form `torch.load(weights_only=True)` accepts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import re
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from r1lab.errors import UserError, no_room, writing

log = logging.getLogger("r1lab.checkpoint")
MANIFEST = "manifest.json"
RUN_CONFIG = "run_config.yaml"  # the config a checkpoint's run trained with (written by the trainer)
_STEP = re.compile(r"step-(\d+)")


class Checkpoints:
    def __init__(self, root: str | Path, keep: int = 3):
        self.root, self.keep = Path(root), keep

    def path(self, step: int) -> Path:
        return self.root / f"step-{step:06d}"

    def save(self, step: int, write: Callable[[Path], None]) -> Path:
        """Write checkpoint `step` atomically through `write(tmp_dir)`; keep the newest `keep`."""
        final = self.path(step)
        with writing(f"checkpoint {final}", "the earlier checkpoints are intact: free some space, then resume"):
            return self._save(step, final, write)

    def _save(self, step: int, final: Path, write: Callable[[Path], None]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=self.root))
        try:
            write(tmp)
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            manifest = {str(p.relative_to(tmp)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                        for p in files}
            (tmp / MANIFEST).write_text(json.dumps({"step": step, "files": manifest}, indent=1))
            for p in [*files, tmp / MANIFEST]:
                _fsync(p)
            for d in {p.parent for p in files} | {tmp}:
                _fsync(d)
            if final.exists():  # re-saving a step (a resumed run reaching it again)
                shutil.rmtree(final)
            tmp.rename(final)
            _fsync(self.root)
        except Exception as e:
            full = None if no_room(e) else _out_of_room(tmp)
            if full is not None:  # torch.save reports a failed write as "unexpected pos": say why it failed
                raise OSError(full, os.strerror(full)) from e
            raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self._prune()
        return final

    def complete(self) -> list[tuple[int, Path]]:
        """(step, path) of every checkpoint with a manifest, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            m = _STEP.fullmatch(p.name)
            if m and p.is_dir():
                if (p / MANIFEST).is_file():
                    found.append((int(m.group(1)), p))
                else:
                    log.warning("ignoring %s: no %s (not completely written)", p, MANIFEST)
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest complete checkpoint, verified against its manifest, or None."""
        done = self.complete()
        if not done:
            return None
        verify(done[-1][1])
        return done[-1][1]

    def clean(self) -> None:
        """Remove directories left by a save that was interrupted."""
        if self.root.is_dir():
            for p in self.root.glob(".step-*.partial-*"):
                shutil.rmtree(p, ignore_errors=True)

    def _prune(self) -> None:
        if self.keep > 0:
            for _, p in self.complete()[:-self.keep]:
                shutil.rmtree(p, ignore_errors=True)


def verify(path: Path) -> dict:
    """Check every file of a checkpoint against its manifest; return the manifest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"checkpoint {path} is damaged: unreadable {MANIFEST} ({e})") from None
    for name, want in files.items():
        f = path / name
        if not f.is_file():
            raise UserError(f"checkpoint {path} is damaged: {name} is missing "
                            "(delete the directory to resume from the one before)")
        size = f.stat().st_size
        if size != want["bytes"]:
            raise UserError(f"checkpoint {path} is damaged: {name} has {size} bytes, the manifest says "
                            f"{want['bytes']} (truncated? delete the directory to resume from the one before)")
        if _sha256(f) != want["sha256"]:
            raise UserError(f"checkpoint {path} is damaged: {name} does not match its sha256 "
                            "(delete the directory to resume from the one before)")
    return manifest


def rng_state() -> dict:
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": [py[0], list(py[1]), py[2]],
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, g = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, g))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _out_of_room(tmp: Path) -> int | None:
    """EFBIG if a file in `tmp` reached the process's file-size limit, ENOSPC if the disk is (nearly) full."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    sizes = [p.stat().st_size for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []
    if soft != resource.RLIM_INFINITY and sizes and max(sizes) >= soft:
        return errno.EFBIG
    return errno.ENOSPC if shutil.disk_usage(tmp.parent).free < 2**20 else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
