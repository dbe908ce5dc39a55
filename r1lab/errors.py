"""User errors: anything the user can fix (a bad flag, a missing file, a malformed row, a full disk).

The CLI prints them as one line, `error: <message>`, and exits with code 2. Everything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """An error in the user's input, printed as one line (exit code 2)."""


_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
         errno.EFBIG: "the file size limit is reached"}


def no_room(e: BaseException | None) -> str | None:
    """Why `e` (or an exception it was raised from) says a write found no room, or None. Libraries
    that write from C or Rust (torch.save, safetensors) wrap the OSError, or quote its "os error N"."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _FULL:
            return _FULL[e.errno]
        m = re.search(r"os error (\d+)", str(e))
        if m and int(m.group(1)) in _FULL:
            return _FULL[int(m.group(1))]
        e = e.__cause__ or e.__context__
    return None


@contextmanager
def writing(what: str, then: str = "") -> Iterator[None]:
    """A write that fails because there is no room (ENOSPC, EDQUOT, EFBIG) is a one-line UserError
    naming `what`, followed by `then` (what is kept, how to go on); other OSErrors stay bugs."""
    try:
        yield
    except Exception as e:
        why = no_room(e)
        if why is None:
            raise
        raise UserError(f"cannot write {what}: {why}{'; ' + then if then else ''}") from None
