"""The one job runner: every long computation runs here, off the GUI thread, one at a time.

A job is a core function, usually a generator whose yields report progress and are the points
where Cancel takes effect (superqt worker). Results, progress and errors come back on the GUI
thread; callbacks run after the runner is idle again, so a result may start the next job.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from headtwin_app.ui.errors import error_text

ProgressFn = Callable[[Any], "tuple[str, float] | None"]


class JobRuntimeError(Exception):
    """A RuntimeError raised inside a generator job, re-raised as another type: superqt's
    GeneratorWorker takes any RuntimeError for a deleted Qt object and then never emits
    `finished`, which would leave the runner busy for good (torch raises RuntimeError for a
    state-dict mismatch and for running out of memory)."""


def runtime_errors_reported(steps: Callable[..., Any]) -> Callable[..., Any]:
    """`steps` (a generator function) with its RuntimeErrors re-raised so that the job ends."""
    from headtwin_app.core.errors import UserError, user_message

    @functools.wraps(steps)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return (yield from steps(*args, **kwargs))
        except RuntimeError as exc:
            message = user_message(exc)
            if message is not None:
                raise UserError(message) from exc
            raise JobRuntimeError(f"{type(exc).__name__}: {exc}") from exc

    return run


def default_progress(item: Any) -> tuple[str, float] | None:
    """(text, fraction) of a yielded item: a core Progress (message, fraction), a text (fraction
    unknown: -1), or (done, total) counts."""
    if hasattr(item, "fraction"):
        return str(getattr(item, "message", "")), float(item.fraction)
    if isinstance(item, str):
        return item, -1.0
    if isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, int) for v in item):
        done, total = item
        return f"{done} / {total}", done / max(total, 1)
    return None


class JobRunner(QObject):
    """Start, progress, cancel, busy state and errors for the window's long jobs."""

    busy_changed = Signal(bool)
    progress = Signal(str, float)  # text, fraction done in [0, 1] (-1: unknown)
    failed = Signal(str, str)  # job name, one-line message (core.errors policy)
    cancelled = Signal(str)  # job name
    done = Signal(str)  # job name, after its result was handed over
    refused = Signal(str)  # why a job was not started (another one runs)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = ""
        self.worker: Any = None

    @property
    def is_busy(self) -> bool:
        return self.worker is not None

    def start(self, name: str, fn: Callable[..., Any], *args: Any,
              on_result: Callable[[Any], None] | None = None,
              on_progress: ProgressFn | None = None,
              on_error: Callable[[str], None] | None = None,
              on_finished: Callable[[], None] | None = None, **kwargs: Any) -> bool:
        """Run `fn(*args, **kwargs)` in a worker; False (and a `failed` message) when busy.

        `on_progress` maps each yielded item to (text, fraction) or None (nothing to show);
        `on_error` receives the error's one-line text; `on_finished` runs however it ended.
        """
        if self.worker is not None:
            message = f"still busy with {self.name}: wait, or cancel it first"
            self.refused.emit(message)
            if on_error is not None:
                on_error(message)
            return False
        outcome: dict[str, Any] = {}
        to_text = on_progress or default_progress
        if inspect.isgeneratorfunction(fn):
            fn = runtime_errors_reported(fn)
        worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        if hasattr(worker, "yielded"):
            worker.yielded.connect(lambda item: self._on_yield(item, to_text))
            worker.aborted.connect(lambda: outcome.setdefault("aborted", True))
        worker.returned.connect(lambda value: outcome.setdefault("result", value))
        worker.errored.connect(lambda exc: outcome.setdefault("error", exc))
        worker.finished.connect(
            lambda: self._finish(outcome, on_result, on_error, on_finished))
        self.name = name
        self.worker = worker
        self.busy_changed.emit(True)
        self.progress.emit(f"{name}…", -1.0)
        worker.start()
        return True

    def cancel(self) -> None:
        """Ask the job to stop at its next yield (a plain function's result is dropped)."""
        if self.worker is not None:
            self.worker.quit()
            self.progress.emit(f"cancelling {self.name}…", -1.0)

    def _on_yield(self, item: Any, to_text: ProgressFn) -> None:
        shown = to_text(item)
        if shown is not None and self.worker is not None:
            self.progress.emit(*shown)

    def _finish(self, outcome: dict[str, Any], on_result: Callable[[Any], None] | None,
                on_error: Callable[[str], None] | None,
                on_finished: Callable[[], None] | None) -> None:
        name = self.name
        aborted = outcome.get("aborted") or (self.worker is not None
                                             and self.worker.abort_requested)
        self.worker = None
        self.busy_changed.emit(False)
        if on_finished is not None:
            on_finished()
        if "error" in outcome:
            message = error_text(outcome["error"])
            self.failed.emit(name, message)
            if on_error is not None:
                on_error(message)
        elif aborted:
            self.progress.emit(f"{name}: cancelled", -1.0)
            self.cancelled.emit(name)
        elif "result" in outcome:
            try:
                if on_result is not None:
                    on_result(outcome["result"])
            except Exception as exc:  # showing a result failed: the same one-line policy
                self.failed.emit(name, error_text(exc))
                return
            self.done.emit(name)
