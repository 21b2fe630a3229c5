"""One 2D slice view (axial, coronal or sagittal) of a Volume with an optional label overlay.

Display convention: RAS+ volumes shown with the patient's right on screen right (neurological),
anterior up in axial views and superior up in coronal and sagittal views.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSlider, QVBoxLayout, QWidget

from headtwin_app.core.volume import Volume

# plane name → (array axis that the slider walks, screen-horizontal axis, screen-vertical axis)
PLANES = {"axial": (2, 0, 1), "coronal": (1, 0, 2), "sagittal": (0, 1, 2)}
EDGE_LETTERS = {"axial": ("L", "R", "P", "A"), "coronal": ("L", "R", "I", "S"),
                "sagittal": ("P", "A", "I", "S")}


def take_slice(data: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The 2D slice of `data` on `plane` at `index`, indexed [horizontal, vertical]."""
    axis = PLANES[plane][0]
    return np.take(data, index, axis=axis)


class SliceView(QWidget):
    """A pyqtgraph view of one plane, with a slice slider and a crosshair.

    Signals:
        clicked(voxel): the user clicked a point; `voxel` is an (i, j, k) index tuple.
        hovered(voxel): the mouse is over voxel (i, j, k), or None when it leaves the image.
        slice_changed(int): the slider moved.
    """

    clicked = Signal(tuple)
    hovered = Signal(object)
    slice_changed = Signal(int)

    def __init__(self, plane: str, parent: QWidget | None = None):
        super().__init__(parent)
        if plane not in PLANES:
            raise ValueError(f"unknown plane '{plane}'")
        self.plane = plane
        self.volume: Volume | None = None
        self.overlay_lut: np.ndarray | None = None
        self.labels: np.ndarray | None = None

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.view: pg.ViewBox = self.graphics.addViewBox(lockAspect=True, enableMenu=False)
        self.image_item = pg.ImageItem(axisOrder="col-major")
        self.overlay_item = pg.ImageItem(axisOrder="col-major")
        self.overlay_item.setZValue(10)
        self.view.addItem(self.image_item)
        self.view.addItem(self.overlay_item)
        pen = pg.mkPen((255, 220, 0, 150), width=1)
        self.vline = pg.InfiniteLine(angle=90, pen=pen, movable=False)
        self.hline = pg.InfiniteLine(angle=0, pen=pen, movable=False)
        for line in (self.vline, self.hline):
            line.setZValue(20)
            self.view.addItem(line)
        self.title = QLabel(plane.capitalize())
        self.title.setStyleSheet("font-weight: bold;")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip(f"{plane} slice (PgUp/PgDn)")
        self.slider.valueChanged.connect(self._on_slider)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(1)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.slider)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        self.graphics.scene().sigMouseMoved.connect(self._on_move)
        self._letters: list[pg.TextItem] = []

    # --- data -----------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        self.volume = volume
        if volume is None:
            self.image_item.clear()
            self.overlay_item.clear()
            return
        axis, h, v = PLANES[self.plane]
        n = volume.shape[axis]
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.setValue(n // 2)
        self.slider.blockSignals(False)
        sp = volume.spacing
        self._scale = (sp[h], sp[v])
        self._refresh()
        self.view.autoRange(padding=0.02)

    def set_levels(self, low: float, high: float) -> None:
        self.image_item.setLevels((low, high))

    def set_labels(self, labels: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        """Overlay a label map (same shape as the volume) coloured by `lut` (N×4 uint8 RGBA)."""
        self.labels = labels
        if lut is not None:
            self.overlay_lut = lut
        self._refresh_overlay()

    @property
    def index(self) -> int:
        return int(self.slider.value())

    def set_index(self, index: int) -> None:
        self.slider.setValue(int(index))

    def set_crosshair(self, h: float, v: float) -> None:
        """Place the crosshair at screen coordinates given in voxels (horizontal, vertical)."""
        sx, sy = getattr(self, "_scale", (1.0, 1.0))
        self.vline.setPos((h + 0.5) * sx)
        self.hline.setPos((v + 0.5) * sy)

    # --- drawing --------------------------------------------------------------------------------
    def _rect(self, shape: tuple[int, int]) -> pg.QtCore.QRectF:
        sx, sy = self._scale
        return pg.QtCore.QRectF(0, 0, shape[0] * sx, shape[1] * sy)

    def _refresh(self) -> None:
        if self.volume is None:
            return
        sl = take_slice(self.volume.data, self.plane, self.index)
        levels = self.image_item.levels
        self.image_item.setImage(sl, autoLevels=levels is None)
        if levels is not None:
            self.image_item.setLevels(levels)
        self.image_item.setRect(self._rect(sl.shape))
        self._refresh_overlay()
        self._place_letters(sl.shape)

    def _refresh_overlay(self) -> None:
        if self.labels is None or self.overlay_lut is None or self.volume is None:
            self.overlay_item.clear()
            return
        sl = take_slice(self.labels, self.plane, self.index)
        lut = self.overlay_lut
        rgba = lut[np.clip(sl, 0, len(lut) - 1)]
        self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(self._rect(sl.shape))

    def _place_letters(self, shape: tuple[int, int]) -> None:
        for item in self._letters:
            self.view.removeItem(item)
        w, h = shape[0] * self._scale[0], shape[1] * self._scale[1]
        left, right, bottom, top = EDGE_LETTERS[self.plane]
        spots = [(left, 0, h / 2, (0, 0.5)), (right, w, h / 2, (1, 0.5)),
                 (bottom, w / 2, 0, (0.5, 1)), (top, w / 2, h, (0.5, 0))]
        self._letters = []
        for text, x, y, anchor in spots:
            item = pg.TextItem(text, color=(255, 200, 0), anchor=anchor)
            item.setPos(x, y)
            self.view.addItem(item)
            self._letters.append(item)

    # --- interaction ----------------------------------------------------------------------------
    def _on_slider(self, value: int) -> None:
        self._refresh()
        self.slice_changed.emit(int(value))

    def _voxel_at(self, scene_pos) -> tuple[int, int, int] | None:  # type: ignore[no-untyped-def]
        if self.volume is None:
            return None
        p = self.view.mapSceneToView(scene_pos)
        axis, h, v = PLANES[self.plane]
        sx, sy = self._scale
        ih, iv = int(np.floor(p.x() / sx)), int(np.floor(p.y() / sy))
        shape = self.volume.shape
        if not (0 <= ih < shape[h] and 0 <= iv < shape[v]):
            return None
        ijk = [0, 0, 0]
        ijk[axis], ijk[h], ijk[v] = self.index, ih, iv
        return tuple(ijk)  # type: ignore[return-value]

    def _on_click(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.button() != Qt.MouseButton.LeftButton:
            return
        voxel = self._voxel_at(event.scenePos())
        if voxel is not None:
            self.clicked.emit(voxel)

    def _on_move(self, pos) -> None:  # type: ignore[no-untyped-def]
        self.hovered.emit(self._voxel_at(pos))

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        step = {Qt.Key.Key_PageUp: 1, Qt.Key.Key_Up: 1, Qt.Key.Key_PageDown: -1,
                Qt.Key.Key_Down: -1}.get(event.key())
        if step is None:
            super().keyPressEvent(event)
            return
        self.slider.setValue(self.slider.value() + step)
