"""Atomic writes: a file (or a whole folder) appears complete or not at all.

Every writer of the app writes into a temporary sibling named
`.<stem>.<pid>-<token>.htw-tmp<suffix>` (same folder, so the rename cannot cross file systems;
same suffix, so libraries that pick the format from the name still do), syncs it and renames it
over the target. A crash leaves the old file untouched plus, at worst, a temporary that
`remove_stale_temporaries` deletes the next time a writer or the app opens that folder (it only
removes temporaries whose process is gone). Failures become `OutputError` with one line.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from headtwin_app.core.errors import OutputError, UserError, describe_os_error

TMP_MARK, OLD_MARK = ".htw-tmp", ".htw-old"
_OURS = re.compile(r"^\..*\.(\d+)-[0-9a-f]{8}\.htw-(?:tmp|old)(?:\.[^.]*)*$")
# tempfile.mkstemp names of earlier versions (".labels.nii.gz.k3j_8a2q.tmp.nii.gz")
_LEGACY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(?:\.[^.]*)*$")
STALE_AFTER_S = 24 * 3600.0  # a temporary this old is stale even if its process number lives
LEGACY_STALE_AFTER_S = 600.0
NAME_MAX = 255


def full_suffix(path: str | os.PathLike[str]) -> str:
    """".nii.gz" for NIfTI-gz, else the last suffix, lower case ("" for none)."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def _temp_path(path: Path, mark: str) -> Path:
    suffix = full_suffix(path)
    suffix = suffix if len(suffix) <= 16 else ""
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem[:64]}.{os.getpid()}-{secrets.token_hex(4)}{mark}{suffix}")


def check_name(path: Path) -> None:
    """A file name the file system can hold (clear error instead of ENAMETOOLONG later)."""
    if str(path) in ("", ".", "..") or not path.name:
        raise OutputError(f"'{path}': give an output file or folder name")
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise OutputError(f"{str(path)[:80]}…: the file name is too long "
                          f"({len(os.fsencode(path.name))} bytes; at most {NAME_MAX})")


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _make_parent(path: Path) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(describe_os_error(exc, parent)) from None
    if not parent.is_dir():
        raise OutputError(f"{path}: a part of the path is a file, not a folder")


def _is_stale(entry: os.DirEntry[str], pid: int | None, max_age_s: float) -> bool:
    try:
        age = time.time() - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    if age > max_age_s:
        return True
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by someone else
        return False
    return False


def remove_stale_temporaries(folder: str | os.PathLike[str], recursive: bool = False,
                             legacy: bool = False) -> list[Path]:
    """Delete the temporaries left in `folder` by writers that died (their process is gone, or
    the file is a day old); returns what was removed. Never raises. `legacy` also removes the
    `tempfile.mkstemp` leftovers of earlier versions' project saves (only where a project is
    opened: elsewhere such a name could be someone else's file)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        ours = _OURS.match(entry.name)
        old = legacy and _LEGACY.match(entry.name)
        if ours and _is_stale(entry, int(ours.group(1)), STALE_AFTER_S) or \
                old and not ours and _is_stale(entry, None, LEGACY_STALE_AFTER_S):
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
        elif recursive and entry.is_dir(follow_symlinks=False):
            removed += remove_stale_temporaries(entry.path, recursive=True, legacy=legacy)
    return removed


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an error, the file
    written there is synced and renamed over `path`. On any error the temporary is removed and
    `path` is left as it was."""
    target = Path(path)
    check_name(target)
    _make_parent(target)
    if target.is_dir():
        raise OutputError(f"{target}: is a folder; give a file name")
    if target.exists() and not target.is_file():
        raise OutputError(f"{target}: not a regular file (a device, pipe or socket); give a "
                          "file name")
    remove_stale_temporaries(target.parent)
    tmp = _temp_path(target, TMP_MARK)
    try:
        yield tmp
        if not tmp.is_file():
            raise OutputError(f"{target}: the writer produced no file")
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent, directory=True)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(describe_os_error(exc, target)) from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """`write(tmp)` writes the file at a temporary path; it then replaces `path` atomically."""
    with atomic_output(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False when the
    system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def atomic_folder(path: str | os.PathLike[str], replaceable: Callable[[Path], bool],
                  ) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; when the block ends without an error it takes
    the place of `path` in one rename (an existing folder is swapped out and deleted, but only
    when `replaceable(path)` says it holds nothing but what this writer makes)."""
    target = Path(path)
    check_name(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: a file is in the way (a folder is needed here)")
    if target.is_dir() and not replaceable(target):
        raise OutputError(f"{target}: the folder exists and holds other files; choose a new or "
                          "empty folder")
    _make_parent(target)
    remove_stale_temporaries(target.parent)
    tmp = _temp_path(target, TMP_MARK)
    try:
        tmp.mkdir()
        yield tmp
        for f in tmp.iterdir():
            _fsync(f)
        if target.is_dir():
            if _rename_exchange(tmp, target):
                shutil.rmtree(tmp, ignore_errors=True)
            else:  # two renames: a crash between them leaves the old folder as a temporary
                old = _temp_path(target, OLD_MARK)
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        _fsync(target.parent, directory=True)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(describe_os_error(exc, target)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def refuse_inputs(outputs: Iterable[str | os.PathLike[str] | None],
                  inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """UserError when an output path is one of the inputs (writing it would destroy the input),
    or when an output folder would replace a folder that holds an input."""
    ins = [Path(i) for i in inputs if i is not None]
    for out in outputs:
        if out is None:
            continue
        o = Path(out)
        for i in ins:
            if _same_file(o, i):
                raise UserError(f"{o}: this output is the input {i}; writing it would destroy "
                                "the input (choose another output)")


def check_writable(path: str | os.PathLike[str], folder: bool = False) -> None:
    """Fail early, before any long work, when `path` cannot be written: its folder cannot be
    made or written, a file is in the way, the name is too long. (A full disk still shows only
    when writing; the write is atomic, so nothing is lost but the new file.)"""
    target = Path(path)
    check_name(target)
    if folder:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{target}: a file is in the way (a folder is needed here)")
        probe_dir = target
    else:
        if target.is_dir():
            raise OutputError(f"{target}: is a folder; give a file name")
        if target.exists() and not target.is_file():
            raise OutputError(f"{target}: not a regular file (a device, pipe or socket); give "
                              "a file name")
        probe_dir = target.parent
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{target}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(describe_os_error(exc, probe_dir)) from None
    probe = _temp_path(probe_dir / "probe", TMP_MARK)
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputError(describe_os_error(exc, probe_dir)) from None
