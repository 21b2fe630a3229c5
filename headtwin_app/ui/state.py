"""Observable application state shared by the workspaces: the open case and the current mask.

Workspaces read from it and subscribe to its signals; nothing here computes anything.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from headtwin_app.core.case import Case


class AppState(QObject):
    """One per main window. Emits after each change; listeners must not re-enter the setter."""

    case_changed = Signal(object)  # Case
    labels_changed = Signal(object)  # Volume | None
    mask_changed = Signal(object)  # dict: {"mask": ndarray, "family": str, "accel": float, ...}
    status = Signal(str)  # a one-line message for the status bar

    def __init__(self) -> None:
        super().__init__()
        self.case: Case | None = None
        self.mask: dict[str, Any] | None = None

    def set_case(self, case: Case) -> None:
        self.case = case
        self.case_changed.emit(case)

    def set_labels(self, labels) -> None:  # type: ignore[no-untyped-def]
        if self.case is not None:
            self.case.labels = labels
        self.labels_changed.emit(labels)

    def set_mask(self, mask: dict[str, Any]) -> None:
        self.mask = mask
        self.mask_changed.emit(mask)
