"""The Cardiac twin workspace's views: titled image panels (cine, interpolation, phase and their
error maps, with the LV mask as outlines) and the three velocity-curve plots.

Display only: arrays come from `headtwin_app.core.cardiac` and are shown as they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

DIRECTION_TITLES = {"radial": "radial", "circumferential": "circumferential",
                    "longitudinal": "longitudinal"}
# one line style per source of a curve: the analytic truth, the case's own phase, synthesised
SOURCE_STYLES = {
    "truth": {"pen": pg.mkPen("#e8e8e8", width=2), "title": "truth (analytic)"},
    "case": {"pen": pg.mkPen("#5bc0de", width=1.5, style=Qt.PenStyle.DashLine),
             "title": "from the case's phase"},
    "synth": {"pen": pg.mkPen("#f0ad4e", width=2), "symbol": "o", "symbolSize": 4,
              "symbolBrush": "#f0ad4e", "symbolPen": None, "title": "from synthesised phase"},
}
MYO_PEN = pg.mkPen("#ff9f43", width=1.5)  # myocardium outline (truth)
BLOOD_PEN = pg.mkPen("#ff5e57", width=1)  # blood-pool outline (truth)
PRED_PEN = pg.mkPen("#7bed9f", width=1.5)  # predicted myocardium outline (interpolation)


class ImagePanel:
    """A titled view box with one image of an (x, y) array, x across, y down, and optional
    outlines of label maps (iso-curves at the label boundaries)."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, row: int, col: int, title: str,
                 cmap: str | None = None) -> None:
        self.label = glw.addLabel(title, row=2 * row, col=col, size="9pt")
        self.label.setMinimumWidth(10)
        self.label.setMaximumWidth(10000)
        self.view = glw.addViewBox(row=2 * row + 1, col=col, lockAspect=True, enableMenu=False,
                                   border=pg.mkPen("#3a3a3a"))
        self.view.invertY(True)
        self.item = pg.ImageItem(axisOrder="row-major")
        if cmap:
            self.item.setColorMap(pg.colormap.get(cmap))
        self.view.addItem(self.item)
        self.curves: list[pg.IsocurveItem] = []
        self._shape: tuple[int, ...] | None = None
        self.title = title

    def show(self, arr: np.ndarray | None, levels: tuple[float, float], title: str) -> None:
        """Show the (x, y) array `arr` (None: an empty panel under `title`)."""
        self.title = title
        self.label.setText(title, size="9pt")
        if arr is None:
            self.item.clear()
            self.outline([])
            self._shape = None
            return
        image = np.ascontiguousarray(np.asarray(arr, dtype=np.float32).T)  # rows = y
        self.item.setImage(image, levels=levels, autoLevels=False)
        if image.shape != self._shape:
            self._shape = image.shape
            self.view.autoRange(padding=0.02)

    def outline(self, layers: Sequence[tuple[np.ndarray, float, object]]) -> None:
        """Iso-curves over the image: (label array (x, y), level, pen) each."""
        while len(self.curves) < len(layers):
            curve = pg.IsocurveItem(axisOrder="row-major")
            curve.setParentItem(self.item)
            self.curves.append(curve)
        for i, curve in enumerate(self.curves):
            if i < len(layers):
                data, level, pen = layers[i]
                curve.setData(np.ascontiguousarray(np.asarray(data, dtype=np.float32).T), level)
                curve.setPen(pen)
                curve.show()
            else:
                curve.hide()

    def has_image(self) -> bool:
        return self.item.image is not None


class VelocityPlots:
    """Radial, circumferential and longitudinal global velocity curves side by side (mm/s per
    frame), one line per source, a cursor at the shown frame."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, directions: Sequence[str]) -> None:
        self.directions = tuple(directions)
        self.plots: dict[str, pg.PlotItem] = {}
        self.lines: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.cursors: dict[str, pg.InfiniteLine] = {}
        # the legend is a line above the plots: inside one it would cover some curve
        self.legend = glw.addLabel("", row=0, col=0, colspan=len(self.directions), size="8pt")
        for col, d in enumerate(self.directions):
            plot = glw.addPlot(row=1, col=col, title=DIRECTION_TITLES.get(d, d))
            plot.setLabel("bottom", "frame")
            if col == 0:
                plot.setLabel("left", "velocity", units="mm/s")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLine(y=0, pen=pg.mkPen("#555555"))
            cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine))
            plot.addItem(cursor)
            self.cursors[d] = cursor
            self.plots[d] = plot

    def _update_legend(self) -> None:
        shown = self.sources()
        parts = []
        for source, style in SOURCE_STYLES.items():
            if source in shown:
                pen = style["pen"]
                dash = "- - -" if pen.style() == Qt.PenStyle.DashLine else "——"
                if "symbol" in style:
                    dash = "—o—"
                parts.append(f'<span style="color:{pen.color().name()}">{dash}</span> '
                             f'{style["title"]}')
        self.legend.setText("&nbsp;&nbsp;&nbsp;&nbsp;".join(parts), size="8pt")

    def set_curves(self, source: str, curves: Mapping[str, Sequence[float]] | None) -> None:
        """Show (or, with None, remove) one source's curve in every direction's plot."""
        style = dict(SOURCE_STYLES[source])
        style.pop("title")
        for d in self.directions:
            key = (d, source)
            old = self.lines.pop(key, None)
            if old is not None:
                self.plots[d].removeItem(old)
            if curves is None or d not in curves:
                continue
            ys = np.asarray(curves[d], dtype=float)
            kw = dict(style)
            self.lines[key] = self.plots[d].plot(np.arange(len(ys)), ys, **kw)
        self._update_legend()

    def clear(self) -> None:
        for source in SOURCE_STYLES:
            self.set_curves(source, None)

    def set_frame(self, frame: int) -> None:
        for cursor in self.cursors.values():
            cursor.setValue(frame)

    def sources(self) -> set[str]:
        return {source for (_d, source) in self.lines}

    def curve(self, direction: str, source: str) -> np.ndarray | None:
        item = self.lines.get((direction, source))
        if item is None:
            return None
        return np.asarray(item.yData)
