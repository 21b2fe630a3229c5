"""Shared test setup: settings and caches isolated from the user's, Qt on the Xvfb display."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The sample head is generated once per machine into the repo's .cache (reused across runs).
os.environ.setdefault("HEADTWIN_CACHE", str(ROOT / ".cache" / "headtwin"))
os.environ.setdefault("MPLBACKEND", "Agg")


try:
    import torch

    TORCH_THREADS = torch.get_num_threads()  # the machine's default, before any test sets it
except ImportError:  # core-only environments
    torch = None  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _torch_threads_restored():  # type: ignore[no-untyped-def]
    """Commands run in process (`recon --threads 1`, training configs) set torch's global
    thread count; every test starts with the machine's default again."""
    if torch is not None and torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    yield


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """QSettings go to a throwaway folder so tests never touch the user's recent files."""
    try:
        from PySide6.QtCore import QSettings
    except ImportError:  # core-only environments
        yield
        return
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield


# After a full run the interpreter's teardown can abort in native code ("malloc_consolidate():
# unaligned fastbin chunk detected", seen once ITK's SWIG wrappers, VTK and Qt were all loaded in
# one process) — after every test has passed and the summary is printed. The exit status is the
# tests' own: leave without the native teardown once pytest is done.
_EXIT: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "status" in _EXIT and not hasattr(config, "workerinput"):
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])
