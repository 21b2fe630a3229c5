"""The error policy shared by the command line and the GUI.

A user-facing failure (bad input or argument, unwritable or full output, no such device, a
missing optional package) becomes one line that names the file or argument and the problem:
`user_message(exc)` returns it, or None for an exception that is a genuine bug (the caller then
logs the traceback with `log_bug` and shows its path). The CLI prints the line and exits 2; the
GUI shows it in a dialog.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(ValueError):
    """A failure the user can fix; the message is one line naming the file or argument."""


class OutputError(UserError, OSError):
    """An output that cannot be written (read-only folder, full disk, a file in the way, ...).
    Also an OSError, so code that guards its writes with `except OSError` keeps working."""


class DeviceError(UserError):
    """A compute device that was asked for but is not there (e.g. CUDA without a GPU)."""


class MissingPackageError(UserError):
    """An optional package (e.g. nnunetv2) that this feature needs is not installed."""


_ERRNO_TEXT = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file would be too large for this file system (or the disk is full)",
    errno.EACCES: "permission denied (the folder is read-only for this user)",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "it already exists",
    errno.ENOTEMPTY: "the folder is not empty",
    errno.EIO: "input/output error (disk or network problem)",
    errno.ELOOP: "too many symbolic links",
    errno.EMFILE: "too many open files",
    errno.EXDEV: "it is on another file system",
}


def os_reason(exc: OSError) -> str:
    """Plain words for an OSError's errno (falls back to its strerror or text)."""
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    text = exc.strerror or str(exc) or type(exc).__name__
    return one_line(text)


def describe_os_error(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """"<path>: <reason>" for an OSError, the path taken from the error when not given."""
    where = path if path is not None else exc.filename
    reason = os_reason(exc)
    return f"{where}: {reason}" if where is not None else reason


def one_line(text: str, limit: int = 400) -> str:
    """The first non-empty line of `text`, shortened to `limit` characters."""
    for line in str(text).strip().splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def user_message(exc: BaseException) -> str | None:
    """One line for an expected, user-facing failure; None when `exc` is a bug."""
    if isinstance(exc, ValueError):  # VolumeError, UserError and the core's input errors
        return one_line(str(exc).strip("'\"")) or type(exc).__name__
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this operation (try a smaller image or a coarser grid)"
    oom = _torch_out_of_memory()
    if oom is not None and isinstance(exc, oom):
        return "the GPU ran out of memory (use --device cpu or a smaller batch)"
    return None


def _torch_out_of_memory() -> type | None:
    import sys

    torch = sys.modules.get("torch")
    return getattr(torch, "OutOfMemoryError", None) if torch is not None else None


def log_dir() -> Path:
    """Where logs go: `$HEADTWIN_CACHE/logs`, else `~/.cache/headtwin/logs`."""
    env = os.environ.get("HEADTWIN_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "headtwin"
    return root / "logs"


def log_bug(exc: BaseException, context: str = "") -> Path | None:
    """Append the traceback of `exc` to the bug log; its path, or None when it cannot be
    written (the caller then says so)."""
    log = log_dir() / "errors.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} {context}\n{text}\n")
    except OSError:
        return None
    return log


def bug_message(exc: BaseException, log: Path | None) -> str:
    """One line for a genuine bug: what broke and where the details are."""
    what = one_line(f"{type(exc).__name__}: {exc}", 200)
    where = f"details in {log}" if log is not None else "the log could not be written"
    return f"internal error (a bug, please report it): {what}; {where}"


def route_warnings_to_log() -> None:
    """Python warnings (nibabel, torch, numpy, ...) go to `warnings.log`, not to the terminal,
    so they never come before or instead of the app's own one-line message."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        log_warning(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show


def log_warning(text: str) -> None:
    """Append `text` to `warnings.log` (quietly: a log that cannot be written is skipped)."""
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "warnings.log").open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text.rstrip()}\n")
    except OSError:
        pass


@contextmanager
def stderr_to_log() -> Iterator[None]:
    """C/C++ libraries (ITK's MetaIO and GDCM, VTK, Mesa) print straight to the process's
    stderr, not through Python: for the duration of a call, file descriptor 2 goes to a
    temporary file whose text is then appended to `warnings.log`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace").strip()
            if text:
                log_warning(text)
