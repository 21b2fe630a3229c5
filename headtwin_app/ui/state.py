"""The Qt side of the application model: relays `core.app_model.AppModel` events as Qt signals
and holds the window's one job runner and tab requests.

Workspaces read from it and subscribe to its signals; nothing here computes anything.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from headtwin_app.core.app_model import AppModel
from headtwin_app.core.case import Case
from headtwin_app.ui.jobs import JobRunner


class AppState(QObject):
    """One per main window, a thin adaptor over `model` (the AppModel): the setters change the
    model, the model's events come out here as Qt signals. Listeners must not re-enter a setter."""

    case_changed = Signal(object)  # Case
    labels_changed = Signal(object)  # Volume | None
    mask_changed = Signal(object)  # dict: {"mask": ndarray, "family": str, "accel": float, ...}
    layers_changed = Signal()  # a layer was added, replaced or removed (re-read model.layers())
    status = Signal(str)  # a one-line message for the status bar
    show_workspace = Signal(str)  # a workspace asks the window to show a tab (its key)
    proposal_requested = Signal()  # ask Labelling for a model proposal of the case image

    def __init__(self, model: AppModel | None = None) -> None:
        super().__init__()
        self.model = model or AppModel()
        self.jobs = JobRunner(self)
        self.model.case_changed.connect(self.case_changed.emit)
        self.model.labels_changed.connect(self.labels_changed.emit)
        self.model.mask_changed.connect(self.mask_changed.emit)
        self.model.status.connect(self.status.emit)
        for event in (self.model.layer_added, self.model.layer_changed,
                      self.model.layer_removed):
            event.connect(lambda _layer: self.layers_changed.emit())
        self.case_changed.connect(lambda _case: self.layers_changed.emit())

    @property
    def case(self) -> Case | None:
        return self.model.case

    @property
    def mask(self) -> dict[str, Any] | None:
        return self.model.mask

    def set_case(self, case: Case) -> None:
        self.model.set_case(case)

    def set_labels(self, labels) -> None:  # type: ignore[no-untyped-def]
        self.model.set_labels(labels)

    def set_mask(self, mask: dict[str, Any]) -> None:
        self.model.set_mask(mask)
