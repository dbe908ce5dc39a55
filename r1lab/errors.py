"""User errors: anything the user can fix (a bad flag, a missing file, a malformed row).

The CLI prints them as one line, `error: <message>`, and exits with code 2. Everything else is
a bug and keeps its traceback.
"""


class UserError(Exception):
    """An error in the user's input, printed as one line (exit code 2)."""
