"""Writing files safely: an output directory proven writable before work goes into it, and
replacing a file so that a crash leaves the old or the new one, never a torn one. Shared by the
run directories (`r1lab.runs`) and the eval store (`r1lab.eval.store`)."""

from __future__ import annotations

import os
from pathlib import Path

from r1lab.errors import UserError


def make_writable_dir(path: Path) -> None:
    """Create the output directory `path` and prove it can be written, or raise one UserError
    (read-only mount, no permission, a file in the way)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise UserError(f"output directory {path} is not writable: {e.strerror or e}") from None


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`: write a temporary file beside it, fsync, rename over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
