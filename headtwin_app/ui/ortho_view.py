"""Three linked orthogonal slice views (axial, coronal, sagittal) with window/level controls."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.display import auto_window
from headtwin_app.core.labels import LabelTable, default_label_table, lut_rgba
from headtwin_app.core.volume import Volume
from headtwin_app.ui.slice_view import PLANES, SliceView

LAYOUTS = ("row", "column", "grid", "single")


class OrthoViewer(QWidget):
    """Axial, coronal and sagittal views sharing one crosshair and one window/level.

    Clicking in any view moves the crosshair and the other two views to that voxel.
    Signals: cursor(voxel, value) while the mouse moves over the image (None when outside).
    """

    cursor = Signal(object, object)

    def __init__(self, parent: QWidget | None = None, layout: str = "row"):
        super().__init__(parent)
        self.volume: Volume | None = None
        self.table: LabelTable = default_label_table()
        self.views = {name: SliceView(name) for name in PLANES}
        self.position = [0, 0, 0]
        self.visible_labels: set[int] | None = None  # None: all labels visible

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        self.grid = grid
        self.layout_kind = ""
        self.single_plane = "axial"
        self.set_layout(layout)
        for view in self.views.values():
            view.clicked.connect(self.set_position)
            view.hovered.connect(self._on_hover)
            view.slice_changed.connect(self._sync_from_slider)

        self.window = QDoubleSpinBox()
        self.level = QDoubleSpinBox()
        for box, tip in ((self.window, "Window width"), (self.level, "Window centre (level)")):
            box.setRange(-1e9, 1e9)
            box.setDecimals(1)
            box.setToolTip(tip)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._apply_levels)
        self.auto_button = QPushButton("Auto W/L")
        self.auto_button.setToolTip("Window/level from the 0.5–99.5 percentiles")
        self.auto_button.clicked.connect(self.auto_levels)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setToolTip("Label overlay opacity")
        self.opacity.setMinimumWidth(80)
        self.opacity.valueChanged.connect(self._refresh_lut)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Window"))
        controls.addWidget(self.window)
        controls.addWidget(QLabel("Level"))
        controls.addWidget(self.level)
        second = controls if layout != "column" else QHBoxLayout()  # narrow docks: two rows
        second.addWidget(self.auto_button)
        second.addWidget(QLabel("Labels"))
        second.addWidget(self.opacity)
        controls.addStretch(1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addLayout(grid, 1)
        outer.addLayout(controls)
        if second is not controls:
            outer.addLayout(second)

    def set_layout(self, kind: str, plane: str | None = None) -> None:
        """Arrange the views: "row" (1×3), "column" (3×1), "grid" (2×2) or "single" (one view,
        `plane`, filling the space)."""
        if kind not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not '{kind}'")
        if plane is not None:
            if plane not in self.views:
                raise ValueError(f"unknown plane '{plane}'")
            self.single_plane = plane
        for view in self.views.values():
            self.grid.removeWidget(view)
        for r in range(3):  # stretch from an earlier arrangement must not linger
            self.grid.setRowStretch(r, 0)
            self.grid.setColumnStretch(r, 0)
        for n, (name, view) in enumerate(self.views.items()):
            shown = kind != "single" or name == self.single_plane
            view.setVisible(shown)
            if not shown:
                continue
            cell = {"row": (0, n), "column": (n, 0), "grid": (n // 2, n % 2),
                    "single": (0, 0)}[kind]
            self.grid.addWidget(view, *cell)
            self.grid.setRowStretch(cell[0], 1)
            self.grid.setColumnStretch(cell[1], 1)
        self.layout_kind = kind

    def set_extra(self, data: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        """A third label map drawn filled on top in every view (grow seeds); None hides."""
        lut = lut if lut is not None else lut_rgba(self.table, 0.9)
        for view in self.views.values():
            view.set_extra(data, lut)

    def set_heat(self, data: np.ndarray | None) -> None:
        """A 0..1 map (model uncertainty) as a heat map in every view; None hides."""
        for view in self.views.values():
            view.set_heat(data)

    def set_wheel_scrolls_slices(self, on: bool) -> None:
        """Slicer's mouse habit: the wheel walks slices and Ctrl+wheel zooms."""
        for view in self.views.values():
            view.wheel_scrolls_slices = bool(on)

    def set_volume(self, volume: Volume | None) -> None:
        self.volume = volume
        for view in self.views.values():
            view.set_volume(volume)
        if volume is None:
            return
        self.position = [s // 2 for s in volume.shape]
        self.auto_levels()
        self.set_position(tuple(self.position))

    def set_labels(self, labels: Volume | np.ndarray | None) -> None:
        data = labels.data if isinstance(labels, Volume) else labels
        if data is not None and self.volume is not None and data.shape != self.volume.shape:
            raise ValueError(f"label map shape {data.shape} does not match image "
                             f"{self.volume.shape}")
        lut = self.label_lut()
        for view in self.views.values():
            view.set_labels(data, lut)

    def label_lut(self) -> np.ndarray:
        """The overlay colour table: label colours at the opacity slider, hidden labels clear."""
        return lut_rgba(self.table, self.opacity.value() / 100.0, self.visible_labels)

    def _refresh_lut(self) -> None:
        lut = self.label_lut()
        for view in self.views.values():
            view.set_labels(view.labels, lut)

    def set_visible_labels(self, visible: set[int] | None) -> None:
        """Show only these label ids (None: all)."""
        self.visible_labels = None if visible is None else set(visible)
        self._refresh_lut()
        drafts = {id(v.draft): v.draft for v in self.views.values() if v.draft is not None}
        if len(drafts) == 1:  # the proposal outlines follow the same visibility
            self.set_draft(next(iter(drafts.values())))

    def set_outline(self, on: bool) -> None:
        """Draw the label overlay as outlines (True) or filled (False) in every view."""
        for view in self.views.values():
            view.outline = bool(on)
        self._refresh_lut()

    def set_draft(self, draft: Volume | np.ndarray | None) -> None:
        """Show a proposal label map as outlines over the labels in every view (None hides)."""
        data = draft.data if isinstance(draft, Volume) else draft
        if data is not None and self.volume is not None and data.shape != self.volume.shape:
            raise ValueError(f"proposal shape {data.shape} does not match image "
                             f"{self.volume.shape}")
        lut = lut_rgba(self.table, 1.0, self.visible_labels)
        for view in self.views.values():
            view.set_draft(data, lut)

    def refresh_overlays(self, planes: tuple[str, ...] | None = None) -> None:
        """Redraw the label overlays of `planes` (default all) after the label array changed."""
        for name in planes or tuple(self.views):
            self.views[name].refresh_overlay()

    def auto_levels(self) -> None:
        if self.volume is None:
            return
        # ravel in memory order: no copy of a Fortran-ordered (NIfTI) volume
        low, high = auto_window(np.asarray(self.volume.data).ravel(order="K"))
        self.set_window(low, high)

    def set_window(self, low: float, high: float) -> None:
        for box in (self.window, self.level):
            box.blockSignals(True)
        self.window.setValue(high - low)
        self.level.setValue((high + low) / 2)
        for box in (self.window, self.level):
            box.blockSignals(False)
        self._apply_levels()

    def levels(self) -> tuple[float, float]:
        w, c = self.window.value(), self.level.value()
        return c - w / 2, c + w / 2

    def _apply_levels(self) -> None:
        low, high = self.levels()
        for view in self.views.values():
            view.set_levels(low, high)

    def set_position(self, voxel: tuple[int, ...]) -> None:
        """Move every view to show `voxel` and put the crosshair on it."""
        self.position = [int(v) for v in voxel]
        for view in self.views.values():
            axis, h, v = PLANES[view.plane]
            view.blockSignals(True)
            view.set_index(self.position[axis])
            view.blockSignals(False)
            view._refresh()
            view.set_crosshair(self.position[h], self.position[v])

    def _sync_from_slider(self, _value: int) -> None:
        for view in self.views.values():
            axis = PLANES[view.plane][0]
            self.position[axis] = view.index
        for view in self.views.values():
            _axis, h, v = PLANES[view.plane]
            view.set_crosshair(self.position[h], self.position[v])

    def _on_hover(self, voxel) -> None:  # type: ignore[no-untyped-def]
        if voxel is None or self.volume is None:
            self.cursor.emit(None, None)
            return
        self.cursor.emit(voxel, float(self.volume.data[voxel]))
