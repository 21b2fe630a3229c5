"""The job plumbing shared by panels that run their long work on the window's job runner
(`AppState.jobs`): start a job with this panel's progress, error and finish callbacks, show its
progress (a core Progress or a plain text) on the panel's bar and label, Cancel, errors and the
"done" state.

`JobPanelMixin` has no state of its own and no `__init__`; the panel (a QWidget, listed first
among the bases) must provide:

- `state`: the window's `AppState` (its `jobs` runner and `status` signal);
- `progress`: a `QProgressBar`, used with the range 0–1000 (0–0 while the fraction is unknown);
- `progress_label`, `error_label`: `QLabel`s for the job's progress text and its last error;
- `_running`: the name of the job this panel started, while it runs ("" otherwise);
- `_last_job`: the name of the last job of this panel that finished ("" at first);

and may override `_set_busy(busy)` to enable or disable its controls. The panel connects
`state.jobs.cancelled` to `_on_cancelled` itself, where it wants the "cancelled" note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLabel, QProgressBar

    from headtwin_app.ui.state import AppState


class JobPanelMixin:
    """Start, progress, Cancel, errors and completion of a panel's jobs (see the module)."""

    state: AppState
    progress: QProgressBar
    progress_label: QLabel
    error_label: QLabel
    _running: str
    _last_job: str

    def _set_busy(self, busy: bool) -> None:
        """Enable or disable the panel's controls while a job runs (override)."""

    def _start(self, name: str, fn: Callable[..., Any], *args: Any,
               on_result: Callable[[Any], None], **kwargs: Any) -> bool:
        """Run `fn` on the window's job runner; this panel shows its progress and errors."""
        if self.state.jobs.is_busy:
            self.show_error(f"still busy with {self.state.jobs.name}: wait, or cancel it first")
            return False
        self.error_label.setText("")
        self.progress.setRange(0, 0)
        self.progress_label.setText(f"{name}…")
        self._running = name
        started = self.state.jobs.start(name, fn, *args, on_result=on_result,
                                        on_progress=self._on_progress, on_error=self.show_error,
                                        on_finished=self._on_finished, **kwargs)
        if not started:
            self._running = ""
        self._set_busy(self.state.jobs.is_busy)
        return started

    def _on_progress(self, item: Any) -> tuple[str, float] | None:
        """Show a yielded item: a Progress (.fraction, .message or .stage) or a text (fraction
        unknown: busy indicator); other items are ignored (None)."""
        if hasattr(item, "fraction"):
            text = str(getattr(item, "message", "") or getattr(item, "stage", ""))
            fraction = float(item.fraction)
        elif isinstance(item, str):
            text, fraction = item, -1.0
        else:
            return None
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))
        shown = f"{self._running}: {text}" if text else self._running
        self.progress_label.setText(shown)
        return shown, fraction

    def _on_finished(self) -> None:
        self._last_job = self._running
        self._running = ""
        self.progress.setRange(0, 1000)
        self._set_busy(self.state.jobs.is_busy)

    def _on_cancelled(self, name: str) -> None:
        """A job of this panel stopped by Cancel (here or in the window's status bar)."""
        if name and name == self._last_job:
            self.progress_label.setText(f"{name}: cancelled")
            self.progress.setValue(0)

    def cancel(self) -> None:
        """Ask this panel's running job to stop at its next step."""
        if self._running:
            self.state.jobs.cancel()
            self.progress_label.setText("cancelling…")

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.progress_label.setText("")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.state.status.emit(message)

    def _done(self, text: str) -> None:
        """The job's work is done: a full bar and `text`."""
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress_label.setText(text)
