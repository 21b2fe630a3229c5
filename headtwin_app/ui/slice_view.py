"""One 2D slice view (axial, coronal or sagittal) of a Volume with an optional label overlay.

Display convention: RAS+ volumes shown with the patient's right on screen right (neurological),
anterior up in axial views and superior up in coronal and sagittal views.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.overlay import label_rgba
from headtwin_app.core.volume import Volume

# plane name → (array axis that the slider walks, screen-horizontal axis, screen-vertical axis)
PLANES = {"axial": (2, 0, 1), "coronal": (1, 0, 2), "sagittal": (0, 1, 2)}
HEAT_FULL = 0.5  # uncertainty (0..1) drawn at full strength
EDGE_LETTERS = {"axial": ("L", "R", "P", "A"), "coronal": ("L", "R", "I", "S"),
                "sagittal": ("P", "A", "I", "S")}


def take_slice(data: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The 2D slice of `data` on `plane` at `index`, indexed [horizontal, vertical] (a view, not a
    copy: basic indexing is ~100× faster than np.take on a 256³ volume)."""
    axis = PLANES[plane][0]
    where: list[int | slice] = [slice(None)] * 3
    where[axis] = int(index)
    return data[tuple(where)]


class SliceView(QWidget):
    """A pyqtgraph view of one plane, with a slice slider and a crosshair.

    Signals:
        clicked(voxel): the user clicked a point; `voxel` is an (i, j, k) index tuple.
        hovered(voxel): the mouse is over voxel (i, j, k), or None when it leaves the image.
        slice_changed(int): the slider moved.
        stroke_started(voxel), stroke_moved(voxel), stroke_finished(): a left-button drag while
            paint mode is on (`set_paint_mode(True)`); the view then does not pan on left drags
            (wheel zoom, right-drag zoom and middle-drag pan still work).
    """

    clicked = Signal(tuple)
    hovered = Signal(object)
    slice_changed = Signal(int)
    stroke_started = Signal(tuple)
    stroke_moved = Signal(tuple)
    stroke_finished = Signal()
    picked = Signal(tuple)  # Ctrl+click: the voxel whose label to pick
    wheel_brush = Signal(int)  # Shift+wheel: brush size steps (+1 larger, -1 smaller)

    def __init__(self, plane: str, parent: QWidget | None = None):
        super().__init__(parent)
        if plane not in PLANES:
            raise ValueError(f"unknown plane '{plane}'")
        self.plane = plane
        self.volume: Volume | None = None
        self.overlay_lut: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.outline = False  # draw labels as outlines instead of filled
        self.draft: np.ndarray | None = None  # e.g. a model proposal, drawn as outlines
        self.draft_lut: np.ndarray | None = None
        self.paint_enabled = False
        self.wheel_scrolls_slices = False  # Slicer's habit: wheel = slice, Ctrl+wheel = zoom
        self.extra: np.ndarray | None = None  # e.g. grow seeds, drawn filled over the labels
        self.extra_lut: np.ndarray | None = None
        self.heat: np.ndarray | None = None  # e.g. model uncertainty 0..1, drawn as a heat map
        self._stroking = False
        self._last_voxel: tuple[int, int, int] | None = None
        self._brush_radius: tuple[float, float] | None = None

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.view: pg.ViewBox = self.graphics.addViewBox(lockAspect=True, enableMenu=False)
        self.image_item = pg.ImageItem(axisOrder="col-major")
        # the grey image is cached as a device pixmap: repainting after a brush dab (which only
        # changes the overlay) then blits it instead of rescaling the whole slice
        self.image_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.overlay_item = pg.ImageItem(axisOrder="col-major")
        self.overlay_item.setZValue(10)
        self.view.addItem(self.image_item)
        self.view.addItem(self.overlay_item)
        self.draft_item = pg.ImageItem(axisOrder="col-major")
        self.draft_item.setZValue(11)
        self.view.addItem(self.draft_item)
        self.extra_item = pg.ImageItem(axisOrder="col-major")
        self.extra_item.setZValue(12)
        self.view.addItem(self.extra_item)
        self.heat_item = pg.ImageItem(axisOrder="col-major")
        self.heat_item.setZValue(9)
        self.view.addItem(self.heat_item)
        self.brush_item = QGraphicsEllipseItem()
        self.brush_item.setPen(pg.mkPen((255, 255, 255, 200), width=1, cosmetic=True))
        self.brush_item.setZValue(30)
        self.brush_item.setVisible(False)
        self.view.addItem(self.brush_item)
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
        self.graphics.viewport().installEventFilter(self)
        self._letters: list[pg.TextItem] = []

    # --- data -----------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        self.volume = volume
        if volume is None:
            self.image_item.clear()
            self.overlay_item.clear()
            self.draft_item.clear()
            self.extra_item.clear()
            self.heat_item.clear()
            return
        if self.labels is not None and self.labels.shape != volume.shape:
            self.labels = None  # a label map of the previous image
        if self.draft is not None and self.draft.shape != volume.shape:
            self.draft = None
        for name in ("extra", "heat"):
            if getattr(self, name) is not None and getattr(self, name).shape != volume.shape:
                setattr(self, name, None)
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

    def set_draft(self, draft: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        """Show a second label map (a proposal) as outlines over the labels; None hides it."""
        self.draft = draft
        if lut is not None:
            self.draft_lut = lut
        self._refresh_draft()

    def set_outline(self, on: bool) -> None:
        self.outline = bool(on)
        self._refresh_overlay()

    def set_extra(self, data: np.ndarray | None, lut: np.ndarray | None = None) -> None:
        """Show a third label map filled on top (grow seeds); None hides it."""
        self.extra = data
        if lut is not None:
            self.extra_lut = lut
        self._refresh_extra()

    def set_heat(self, data: np.ndarray | None) -> None:
        """Show a 0..1 map (model uncertainty) as a translucent heat map under the labels."""
        self.heat = data
        self._refresh_heat()

    def refresh_overlay(self, region: tuple[int, int, int, int] | None = None) -> None:
        """Redraw this view's label overlay (the current slice only). With `region` =
        (h0, h1, v0, v1), a half-open box in slice voxels, only that part is recoloured and
        repainted — what a brush dab needs."""
        item, lut = self.overlay_item, self.overlay_lut
        if (region is None or self.labels is None or lut is None or item.image is None
                or self.volume is None):
            self._refresh_overlay()
            return
        sl = take_slice(self.labels, self.plane, self.index)
        if item.image.shape[:2] != sl.shape:
            self._refresh_overlay()
            return
        h0, h1, v0, v1 = region
        m = 1 if self.outline else 0  # outlines depend on the neighbours
        a0, a1 = max(h0 - m, 0), min(h1 + m, sl.shape[0])
        b0, b1 = max(v0 - m, 0), min(v1 + m, sl.shape[1])
        if a0 >= a1 or b0 >= b1:
            return
        patch = label_rgba(sl[a0:a1, b0:b1], lut, self.outline)
        if self.outline:  # the patch's own border is not an image edge
            inner = label_rgba(sl[max(a0 - 1, 0):a1 + 1, max(b0 - 1, 0):b1 + 1], lut, True)
            patch = inner[a0 - max(a0 - 1, 0):, b0 - max(b0 - 1, 0):][: a1 - a0, : b1 - b0]
        item.image[a0:a1, b0:b1] = patch
        item._renderRequired = True  # pyqtgraph re-renders its QImage from item.image on paint
        sx, sy = self._scale
        item.update(pg.QtCore.QRectF(a0, b0, a1 - a0, b1 - b0))

    def set_paint_mode(self, on: bool) -> None:
        """Left-button drags become strokes (signals) instead of panning the view."""
        self.paint_enabled = bool(on)
        if not on:
            self.brush_item.setVisible(False)
            self._stroking = False

    def set_brush_radius(self, radius_mm: float | None) -> None:
        """Radius (mm) of the brush outline drawn around the cursor; None hides it."""
        self._brush_radius = None if radius_mm is None else (radius_mm, radius_mm)
        if radius_mm is None:
            self.brush_item.setVisible(False)

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
        rgba = label_rgba(sl, self.overlay_lut, self.outline)
        self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(self._rect(sl.shape))
        self._refresh_draft()
        self._refresh_extra()
        self._refresh_heat()

    def _refresh_extra(self) -> None:
        if self.extra is None or self.extra_lut is None or self.volume is None:
            self.extra_item.clear()
            return
        sl = take_slice(self.extra, self.plane, self.index)
        self.extra_item.setImage(label_rgba(sl, self.extra_lut), autoLevels=False,
                                 levels=(0, 255))
        self.extra_item.setRect(self._rect(sl.shape))

    def _refresh_heat(self) -> None:
        if self.heat is None or self.volume is None:
            self.heat_item.clear()
            return
        # full colour from HEAT_FULL up: a model is rarely more unsure than that anywhere
        sl = np.clip(take_slice(self.heat, self.plane, self.index) / HEAT_FULL, 0.0, 1.0)
        rgba = np.zeros(sl.shape + (4,), np.uint8)
        rgba[..., 0] = 255
        rgba[..., 1] = (255 * (1.0 - sl)).astype(np.uint8)
        rgba[..., 3] = (230 * np.sqrt(sl)).astype(np.uint8)
        self.heat_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.heat_item.setRect(self._rect(sl.shape))

    def _refresh_draft(self) -> None:
        if self.draft is None or self.draft_lut is None or self.volume is None:
            self.draft_item.clear()
            return
        sl = take_slice(self.draft, self.plane, self.index)
        self.draft_item.setImage(label_rgba(sl, self.draft_lut, outline=True), autoLevels=False,
                                 levels=(0, 255))
        self.draft_item.setRect(self._rect(sl.shape))

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

    def _show_brush(self, voxel: tuple[int, int, int] | None) -> None:
        if voxel is None or self._brush_radius is None or not self.paint_enabled:
            self.brush_item.setVisible(False)
            return
        _axis, h, v = PLANES[self.plane]
        sx, sy = self._scale
        rx, ry = self._brush_radius
        cx, cy = (voxel[h] + 0.5) * sx, (voxel[v] + 0.5) * sy
        self.brush_item.setRect(cx - rx - sx / 2, cy - ry - sy / 2, 2 * rx + sx, 2 * ry + sy)
        self.brush_item.setVisible(True)

    def _wheel(self, event) -> bool:  # type: ignore[no-untyped-def]
        """Shift+wheel sizes the brush; with `wheel_scrolls_slices` the plain wheel walks slices
        (Ctrl+wheel zooms). True when the event was used here."""
        mods = event.modifiers()
        dy = event.angleDelta().y() or event.angleDelta().x()
        step = (dy > 0) - (dy < 0)
        if not step:
            return False
        if mods & Qt.KeyboardModifier.ShiftModifier:
            self.wheel_brush.emit(step)
            return True
        if self.wheel_scrolls_slices and not mods & Qt.KeyboardModifier.ControlModifier:
            self.slider.setValue(self.slider.value() + step)
            return True
        return False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        """Ctrl+click picks a label; Shift+wheel sizes the brush; in paint mode, left-button
        press/drag/release on the viewport become strokes."""
        kind = event.type()
        if kind == QEvent.Type.Wheel and self.volume is not None and self._wheel(event):
            return True
        if (kind == QEvent.Type.MouseButtonPress and self.volume is not None
                and event.button() == Qt.MouseButton.LeftButton  # type: ignore[attr-defined]
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):  # type: ignore
            voxel = self._voxel_at(self.graphics.mapToScene(event.position().toPoint()))
            if voxel is not None:
                self.picked.emit(voxel)
            return True
        if not self.paint_enabled or self.volume is None:
            return super().eventFilter(obj, event)
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                        QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick):
            return super().eventFilter(obj, event)
        voxel = self._voxel_at(self.graphics.mapToScene(event.position().toPoint()))
        left = event.button() == Qt.MouseButton.LeftButton  # type: ignore[attr-defined]
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick) and left:
            if voxel is not None:
                self._stroking = True
                self._last_voxel = voxel
                self.stroke_started.emit(voxel)
            return True
        if kind == QEvent.Type.MouseMove:
            self._show_brush(voxel)
            self.hovered.emit(voxel)
            if self._stroking and voxel is not None and voxel != self._last_voxel:
                self._last_voxel = voxel
                self.stroke_moved.emit(voxel)
            return self._stroking
        if kind == QEvent.Type.MouseButtonRelease and left and self._stroking:
            self._stroking = False
            self.stroke_finished.emit()
            return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        step = {Qt.Key.Key_PageUp: 1, Qt.Key.Key_Up: 1, Qt.Key.Key_PageDown: -1,
                Qt.Key.Key_Down: -1}.get(event.key())
        if step is None:
            super().keyPressEvent(event)
            return
        self.slider.setValue(self.slider.value() + step)
