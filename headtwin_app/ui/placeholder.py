"""A workspace that later work fills: it shows the open case and says what is coming."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from headtwin_app.ui.ortho_view import OrthoViewer
from headtwin_app.ui.state import AppState


class PlaceholderWorkspace(QWidget):
    """The case in three views under a banner describing the workspace to come."""

    def __init__(self, state: AppState, title: str, coming: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        banner = QLabel(f"<b>{title}</b> — {coming}")
        banner.setWordWrap(True)
        banner.setStyleSheet("padding: 6px; background: #2b3340; color: #e8e8e8;")
        self.viewer = OrthoViewer(layout="row")
        layout = QVBoxLayout(self)
        layout.addWidget(banner)
        layout.addWidget(self.viewer, 1)
        state.case_changed.connect(self._on_case)
        state.labels_changed.connect(lambda labels: self.viewer.set_labels(labels))
        if state.case is not None:
            self._on_case(state.case)

    def _on_case(self, case) -> None:  # type: ignore[no-untyped-def]
        self.viewer.set_volume(case.image)
        self.viewer.set_labels(case.labels)
