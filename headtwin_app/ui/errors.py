"""The GUI side of the error policy (core.errors): a user-facing failure is its one line; a bug
is logged with its traceback and shown as one line naming the log."""

from __future__ import annotations

from headtwin_app.core.errors import bug_message, log_bug, user_message


def error_text(exc: BaseException) -> str:
    """What a dialog or status line shows for `exc`."""
    message = user_message(exc)
    if message is not None:
        return message
    return bug_message(exc, log_bug(exc, "GUI"))
