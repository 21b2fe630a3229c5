"""The k-space designer workspace: pick or paint a mask, see aliasing, PSNR/SSIM and scan time.

A thin widget over `core.mask_designer.MaskDesigner`: controls build a `DesignerParams`, a
zero-interval single-shot timer coalesces changes so only the latest is computed (on a worker
thread, at most one at a time: a few ms in 2D, so the panels follow a dragged slider), and each
frame is shown in six pyqtgraph panels and pushed to `AppState.set_mask` for the
reconstruction workspace.

When the open case is the built-in sample head, a Contrast combo shows the same head as PD, T1,
T2 or FLAIR (`core.phantom.sample_case_dir(contrast)`, loaded by the window's job runner): the
mask, slice and settings stay, and the choice is remembered in the settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from headtwin_app.core.mask_designer import (
    DesignerFrame,
    DesignerParams,
    MaskDesigner,
    export_frame,
    paint_disc,
    paint_stroke,
    save_mask,
)
from headtwin_app.core.masks import FAMILIES, FAMILY_NAMES
from headtwin_app.core.scantime import DEFAULT_TR_S
from headtwin_app.core.sweep_report import PAPER_TABLE2, table2_rows, write_csv, write_plot
from headtwin_app.ui.cine_panel import SHORTCUT as CINE_SHORTCUT
from headtwin_app.ui.cine_panel import open_cine_dialog
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.state import AppState

R_MIN, R_STEP, R_STEPS = 1.0, 0.25, 60  # slider: R = 1 … 16 in steps of 0.25
FAMILY_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
CONTRAST_KEY = "designer/sample_contrast"  # the sample head's contrast, kept between runs
CONTRAST_ORDER = ("pd", "t1", "t2", "flair")
METRIC_NOTE = ("vs the fully sampled magnitude; data range = max(image); "
               "SSIM 7×7 window (7×7×7 over the volume in 3D)")


def remembered_contrast() -> str:
    """The sample head's contrast chosen last time (pd when none or not a known one)."""
    value = str(QSettings().value(CONTRAST_KEY, "pd")).lower()
    return value if value in CONTRAST_ORDER else "pd"


def remember_contrast(contrast: str) -> None:
    QSettings().setValue(CONTRAST_KEY, contrast)


def load_sample_case(contrast: str):  # type: ignore[no-untyped-def]
    """Job: the sample head in `contrast` as a Case, saying when it is generated first."""
    from headtwin_app.core.case import load_case
    from headtwin_app.core.phantom.storage import sample_case_dir, sample_is_cached

    name = contrast.upper()
    if not sample_is_cached(contrast):
        yield f"generating the {name} sample head (first time only, up to a minute)…"
    folder = sample_case_dir(contrast)
    yield f"reading the {name} sample head…"
    return load_case(folder)


def slider_to_accel(value: int) -> float:
    return R_MIN + R_STEP * value


def accel_to_slider(accel: float) -> int:
    return int(round((accel - R_MIN) / R_STEP))


class MaskImageItem(pg.ImageItem):
    """The mask panel's image: with the brush on, mouse clicks and drags paint or erase."""

    stroke_started = Signal()
    painted = Signal(float, float)  # (row, col) in mask pixels
    stroke_finished = Signal()

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.brush_enabled = False

    def _emit(self, pos: Any) -> None:
        # item coordinates put pixel (r, c) on [c, c+1) × [r, r+1): report pixel centres
        self.painted.emit(float(pos.y()) - 0.5, float(pos.x()) - 0.5)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        if not self.brush_enabled or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self.stroke_started.emit()
        self._emit(ev.pos())
        self.stroke_finished.emit()

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        if not self.brush_enabled or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self.stroke_started.emit()
            self._emit(ev.buttonDownPos())
        self._emit(ev.pos())
        if ev.isFinish():
            self.stroke_finished.emit()


class _Panel:
    """A titled view box holding one image."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, row: int, col: int, title: str,
                 kspace: bool, item: pg.ImageItem | None = None,
                 cmap: str | None = None) -> None:
        self.title = glw.addLabel(title, row=2 * row, col=col, size="9pt")
        self.view = glw.addViewBox(row=2 * row + 1, col=col, lockAspect=True,
                                   invertY=kspace, enableMenu=False)
        self.item = item or pg.ImageItem(axisOrder="row-major")
        if cmap:
            self.item.setColorMap(pg.colormap.get(cmap))
        self.view.addItem(self.item)
        self._shape: tuple[int, ...] | None = None

    def show(self, arr: np.ndarray, levels: tuple[float, float]) -> None:
        self.item.setImage(arr, levels=levels, autoLevels=False)
        if arr.shape != self._shape:
            self._shape = arr.shape
            self.view.autoRange(padding=0.02)


class SweepView(QWidget):
    """PSNR and SSIM against R for every family, and a table laid out like the paper's Table 2."""

    def __init__(self, workspace: DesignerWorkspace) -> None:
        super().__init__()
        self.ws = workspace
        self.rows: list[dict[str, Any]] = []
        self._worker: Any = None
        self.accels = QLineEdit("2,4,8")
        self.accels.setToolTip("comma-separated R values; the table reads 4× and 8×")
        self.run_button = QPushButton("Run sweep")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.export_plot_button = QPushButton("Export plot (PNG)…")
        self.export_plot_button.clicked.connect(lambda: self.export_plot())
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.clicked.connect(lambda: self.export_csv())
        self.info = QLabel("All ten families at each R, in the designer's current mode "
                           "(2D slice or 3D volume), seed, noise and fractions. "
                           "Families with a ceiling (upper_half, partial_fourier) are combined "
                           "with random_line / equispaced beyond R = 2.")
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("R values"))
        top.addWidget(self.accels, 1)
        for w in (self.run_button, self.cancel_button, self.progress,
                  self.export_plot_button, self.export_csv_button):
            top.addWidget(w)
        self.psnr_plot = pg.PlotWidget(title="PSNR (dB) vs R")
        self.ssim_plot = pg.PlotWidget(title="SSIM vs R")
        for plot in (self.psnr_plot, self.ssim_plot):
            plot.setLogMode(x=True, y=False)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", "acceleration R")
        self.legend = self.ssim_plot.addLegend(offset=(-5, 5), labelTextSize="8pt",
                                               brush=pg.mkBrush(16, 20, 24, 200))
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["mask", "PSNR 4×", "PSNR 8×", "SSIM 4×",
                                              "SSIM 8×"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setToolTip("Our zero-filled figures; hover a cell for the paper's value")
        plots = QHBoxLayout()
        plots.addWidget(self.psnr_plot)
        plots.addWidget(self.ssim_plot)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addLayout(plots, 3)
        caption = QLabel("Table 2 layout (paper's values in tooltips; paper: 3D PDw head, "
                         "ours: this image, " + METRIC_NOTE + ")")
        caption.setWordWrap(True)  # a long one-line label would set the window's minimum width
        lay.addWidget(caption)
        lay.addWidget(self.table, 2)

    def parse_accels(self) -> list[float]:
        try:
            values = [float(t) for t in self.accels.text().split(",") if t.strip()]
        except ValueError:
            values = []
        if not values or any(not v >= 1 for v in values):
            raise ValueError("R values must be numbers >= 1, e.g. 2,4,8")
        return values

    def start(self) -> None:
        if self._worker is not None or self.ws.designer is None:
            return
        try:
            accels = self.parse_accels()
        except ValueError as exc:
            self.ws.show_error(str(exc))
            return
        self.rows = []
        self._redraw()
        params = self.ws.params()
        total = len(FAMILY_NAMES) * len(accels)
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        worker = create_worker(self.ws.designer.sweep, params, accels, _start_thread=False,
                               _ignore_errors=True)
        worker.yielded.connect(self._on_row)
        worker.errored.connect(lambda exc: self.ws.show_error(f"sweep failed: {error_text(exc)}"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()

    def is_running(self) -> bool:
        return self._worker is not None

    def _on_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.progress.setValue(len(self.rows))
        self._redraw()

    def _on_finished(self) -> None:
        self._worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.ws.state.status.emit(f"sweep: {len(self.rows)} (mask, R) rows")

    def _redraw(self) -> None:
        for plot in (self.psnr_plot, self.ssim_plot):
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
        self.legend.clear()
        for i, fam in enumerate(FAMILY_NAMES):
            pts = sorted((r["accel_requested"], r["psnr"], r["ssim"]) for r in self.rows
                         if r["mask"] == fam and r.get("psnr") is not None)
            if not pts:
                continue
            pen = pg.mkPen(FAMILY_COLOURS[i % len(FAMILY_COLOURS)], width=2)
            xs = [p[0] for p in pts]
            kw = {"pen": pen, "symbol": "o", "symbolSize": 6,
                  "symbolBrush": FAMILY_COLOURS[i % len(FAMILY_COLOURS)]}
            self.psnr_plot.plot(xs, [p[1] for p in pts], **kw)
            self.ssim_plot.plot(xs, [p[2] for p in pts], name=fam, **kw)
        entries = table2_rows(self.rows) if self.rows else []
        self.table.setRowCount(len(entries))
        for r, e in enumerate(entries):
            fills = sorted({str(row["combined_with"]) for row in self.rows
                            if row["mask"] == e["mask"] and row.get("combined_with")})
            label = e["mask"] + (f" (× {', '.join(fills)} beyond R = 2)" if fills else "")
            self.table.setItem(r, 0, QTableWidgetItem(label))
            paper = PAPER_TABLE2.get(e["mask"])
            for c, key in enumerate(("psnr_4x", "psnr_8x", "ssim_4x", "ssim_8x")):
                v = e[key]
                text = "–" if v is None else (f"{v:.2f}" if key.startswith("psnr")
                                              else f"{v:.4f}")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(f"paper: {paper[c]}" if paper else "not in the paper's Table 2")
                self.table.setItem(r, c + 1, item)

    def export_plot(self, path: str | None = None) -> Path | None:
        if not self.rows:
            self.ws.show_error("run a sweep first")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export sweep plot", "sweep.png",
                                                  "PNG (*.png)")
            if not path:
                return None
        return write_plot(self.rows, path)

    def export_csv(self, path: str | None = None) -> Path | None:
        if not self.rows:
            self.ws.show_error("run a sweep first")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export sweep table", "sweep.csv",
                                                  "CSV (*.csv)")
            if not path:
                return None
        return write_csv(self.rows, path)


class DesignerWorkspace(QWidget):
    """Design undersampling masks and see aliasing, PSNR/SSIM and scan time live."""

    frame_shown = Signal(object)  # DesignerFrame, after the panels and labels are updated

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.designer: MaskDesigner | None = None
        self.frame: DesignerFrame | None = None
        self.painted: np.ndarray | None = None
        self._keep_painted = False  # the user chose to keep the painting over new parameters
        self._undo: deque[np.ndarray | None] = deque(maxlen=30)
        self._last_point: tuple[float, float] | None = None
        self._dirty = False
        self._busy = False
        self._worker: Any = None
        self._contrast_loading = False
        self._keep_design = False  # the next case is the same head in another contrast
        self._contrast_tips = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._compute)
        self._build()
        state.case_changed.connect(self._on_case)
        if state.case is not None:
            self._on_case(state.case)
        else:
            self._set_enabled(False)

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.family = QComboBox()
        for name in FAMILY_NAMES:
            self.family.addItem(name)
            self.family.setItemData(self.family.count() - 1, FAMILIES[name].description,
                                    Qt.ItemDataRole.ToolTipRole)
        self.family.setCurrentText("cartesian")
        self.r_slider = QSlider(Qt.Orientation.Horizontal)
        self.r_slider.setRange(0, R_STEPS)
        self.r_slider.setSingleStep(1)
        self.r_slider.setPageStep(4)
        self.r_slider.setValue(accel_to_slider(4.0))
        self.r_slider.setToolTip("acceleration R (arrow keys: ±0.25, Page Up/Down: ±1)")
        self.r_label = QLabel()
        self.r_label.setMinimumWidth(64)
        self.center = QDoubleSpinBox()
        self.center.setRange(-0.01, 0.5)
        self.center.setSingleStep(0.01)
        self.center.setDecimals(2)
        self.center.setSpecialValueText("family default")
        self.center.setValue(-0.01)
        self.center.setToolTip("fully sampled centre fraction of ky lines (line families) or "
                               "of the plane (random_points)")
        self.pf = QDoubleSpinBox()
        self.pf.setRange(0.5, 1.0)
        self.pf.setSingleStep(0.025)
        self.pf.setDecimals(3)
        self.pf.setValue(1.0)
        self.pf.setToolTip("partial-Fourier fraction of ky lines the mask may use (1 = off); "
                           "for partial_fourier itself the fraction is 1/R")
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, 0.2)
        self.noise.setSingleStep(0.005)
        self.noise.setDecimals(3)
        self.noise.setToolTip("complex Gaussian k-space noise, std as a fraction of the image "
                              "maximum (= image noise std at full sampling)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        self.dims = QComboBox()
        self.dims.addItem("2D: mask on (ky, kx) of one slice", 2)
        self.dims.addItem("3D: mask on (ky, kz), kx readout full", 3)
        self.slice = QSpinBox()
        self.slice.setToolTip("axial slice (2D: simulated; 3D: displayed)")
        self.tr = QDoubleSpinBox()
        self.tr.setRange(0.1, 10000.0)
        self.tr.setDecimals(1)
        self.tr.setSuffix(" ms")
        self.tr.setValue(DEFAULT_TR_S[2] * 1e3)
        self.tr.setToolTip("repetition time of the scan-time model")

        self.contrast = QComboBox()
        self.contrast.setObjectName("sample-contrast")
        for c in CONTRAST_ORDER:
            self.contrast.addItem(c.upper(), c)
        self.contrast_progress = QProgressBar()
        self.contrast_progress.setRange(0, 0)
        self.contrast_progress.setMaximumWidth(90)
        self.contrast_progress.setTextVisible(False)
        self.contrast_progress.hide()
        self.contrast_status = QLabel("the same labelled head, imaged with another sequence")
        self.contrast_status.setWordWrap(True)
        self.contrast_status.setStyleSheet("color: #666; font-size: 11px;")
        c_row = QHBoxLayout()
        c_row.addWidget(self.contrast, 1)
        c_row.addWidget(self.contrast_progress)
        self.sample_box = QGroupBox("Sample head")
        cform = QFormLayout(self.sample_box)
        cform.addRow("contrast", c_row)
        cform.addRow(self.contrast_status)
        self.sample_box.hide()

        r_row = QHBoxLayout()
        r_row.addWidget(self.r_slider, 1)
        r_row.addWidget(self.r_label)
        mask_box = QGroupBox("Mask")
        form = QFormLayout(mask_box)
        form.addRow("family", self.family)
        form.addRow("R", r_row)
        form.addRow("centre fraction", self.center)
        form.addRow("partial Fourier", self.pf)
        form.addRow("noise σ", self.noise)
        form.addRow("seed", self.seed)
        form.addRow("mode", self.dims)
        form.addRow("slice", self.slice)
        form.addRow("TR", self.tr)

        self.brush = QCheckBox("paint on the mask panel")
        self.brush_mode = QComboBox()
        self.brush_mode.addItems(["paint", "erase"])
        self.brush_radius = QSpinBox()
        self.brush_radius.setRange(0, 30)
        self.brush_radius.setValue(2)
        self.brush_radius.setSuffix(" px")
        self.undo_button = QPushButton("Undo stroke")
        self.reset_button = QPushButton("Back to family mask")
        brush_box = QGroupBox("Brush")
        bform = QFormLayout(brush_box)
        bform.addRow(self.brush)
        bform.addRow("mode", self.brush_mode)
        bform.addRow("radius", self.brush_radius)
        brow = QHBoxLayout()
        brow.addWidget(self.undo_button)
        brow.addWidget(self.reset_button)
        bform.addRow(brow)

        self.metrics_label = QLabel("—")
        self.metrics_label.setTextFormat(Qt.TextFormat.RichText)
        self.metrics_label.setStyleSheet("font-size: 13px;")
        self.accel_label = QLabel("—")
        self.accel_label.setWordWrap(True)
        self.scan_label = QLabel("—")
        self.scan_label.setWordWrap(True)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #666; font-size: 11px;")
        self.note_label = QLabel("PSNR/SSIM/NMSE " + METRIC_NOTE)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #666; font-size: 11px;")
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        res_box = QGroupBox("Result")
        rl = QVBoxLayout(res_box)
        for w in (self.metrics_label, self.accel_label, self.scan_label, self.model_label,
                  self.note_label, self.error_label):
            rl.addWidget(w)

        self.export_mask_button = QPushButton("Export mask…")
        self.export_images_button = QPushButton("Export images…")
        ex = QHBoxLayout()
        ex.addWidget(self.export_mask_button)
        ex.addWidget(self.export_images_button)
        self.cine_button = QPushButton("Cine (k-t)…")
        self.cine_button.setToolTip("k-t masks of a cine, their x-f PSF and reconstruction "
                                    f"({CINE_SHORTCUT})")
        self.cine_button.clicked.connect(self.open_cine)
        cine_key = QShortcut(QKeySequence(CINE_SHORTCUT), self)
        cine_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cine_key.activated.connect(self.open_cine)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.addWidget(self.sample_box)
        sl.addWidget(mask_box)
        sl.addWidget(brush_box)
        sl.addWidget(res_box)
        sl.addLayout(ex)
        sl.addWidget(self.cine_button)
        sl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(400)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("#101418")
        self.mask_item = MaskImageItem()
        self.panels = {
            "image": _Panel(self.glw, 0, 0, "image (fully sampled)", False),
            "kspace_full": _Panel(self.glw, 0, 1, "k-space log|k|", True, cmap="viridis"),
            "mask": _Panel(self.glw, 0, 2, "mask (white = sampled)", True, self.mask_item),
            "zero_filled": _Panel(self.glw, 1, 0, "zero-filled reconstruction", False),
            "difference": _Panel(self.glw, 1, 1, "difference (zero-filled − image)", False,
                                 cmap="CET-D1"),
            "kspace_log": _Panel(self.glw, 1, 2, "acquired k-space", True, cmap="viridis"),
        }
        self.sweep_view = SweepView(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.glw, "Designer")
        self.tabs.addTab(self.sweep_view, "Sweep (PSNR/SSIM vs R, Table 2)")
        split = QSplitter()
        split.addWidget(scroll)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 1100])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)

        for sig in (self.family.currentIndexChanged, self.r_slider.valueChanged,
                    self.center.valueChanged, self.pf.valueChanged, self.seed.valueChanged):
            sig.connect(self._on_mask_param)
        self.slice.valueChanged.connect(self._schedule)  # a painted mask fits every slice
        self.noise.valueChanged.connect(self._schedule)
        self.tr.valueChanged.connect(self._schedule)
        self.dims.currentIndexChanged.connect(self._on_dims)
        self.contrast.currentIndexChanged.connect(self._on_contrast)
        self.brush.toggled.connect(self._on_brush)
        self.undo_button.clicked.connect(self.undo_stroke)
        self.reset_button.clicked.connect(self.reset_painting)
        self.mask_item.stroke_started.connect(self._stroke_start)
        self.mask_item.painted.connect(self._paint_at)
        self.mask_item.stroke_finished.connect(self._schedule)
        self.export_mask_button.clicked.connect(lambda: self.export_mask())
        self.export_images_button.clicked.connect(lambda: self.export_images())
        self._update_r_label()

    def open_cine(self) -> None:
        """The Cine (k-t) panel: masks in k-t, their x-f PSF, cine reconstruction."""
        self._cine_dialog = open_cine_dialog(self.state, self)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.family, self.r_slider, self.center, self.pf, self.noise, self.seed,
                  self.dims, self.slice, self.tr, self.brush, self.export_mask_button,
                  self.export_images_button, self.sweep_view.run_button):
            w.setEnabled(on)
        if not on:
            self.metrics_label.setText("Open an image or the sample head to design masks.")
            self.sample_box.hide()

    # ----------------------------------------------------------------------------- state
    def params(self) -> DesignerParams:
        """The current controls as designer parameters."""
        cf = self.center.value()
        pf = self.pf.value()
        return DesignerParams(
            family=self.family.currentText(),
            accel=slider_to_accel(self.r_slider.value()),
            seed=self.seed.value(),
            dims=int(self.dims.currentData()),
            slice_index=self.slice.value(),
            center_fraction=None if cf < 0 else cf,
            pf_fraction=None if pf >= 1.0 or self.family.currentText() == "partial_fourier"
            else pf,
            noise=self.noise.value(),
            tr_s=self.tr.value() / 1e3,
        )

    def _on_case(self, case: Any) -> None:
        old = self.designer
        keep = (self._keep_design and old is not None
                and old.data.shape == case.image.data.shape)
        self._keep_design = False
        try:
            self.designer = MaskDesigner(case.image.data)
        except ValueError as exc:
            self.designer = None
            self._set_enabled(False)
            self.show_error(str(exc))
            return
        self._sync_contrast(case)
        self.frame = None
        if keep:  # the same head in another contrast: mask, painting, slice and mode stay
            self._set_enabled(True)
            self._schedule()
            return
        self.painted = None
        self._keep_painted = False
        self._undo.clear()
        for p in self.panels.values():
            p._shape = None
        self._set_enabled(True)
        self.slice.blockSignals(True)
        self.slice.setRange(0, self.designer.n_slices - 1)
        self.slice.setValue(self.designer.middle())
        self.slice.blockSignals(False)
        three = self.dims.model().item(1)
        if three is not None:
            three.setEnabled(self.designer.can_3d)
        if not self.designer.can_3d and self.dims.currentIndex() == 1:
            self.dims.setCurrentIndex(0)
        self._schedule()

    # ----------------------------------------------------------------------------- contrast
    def _sync_contrast(self, case: Any) -> None:
        """Show the Contrast combo when `case` is the sample head, set to its contrast."""
        from headtwin_app.core.phantom.sequences import sequence_summary
        from headtwin_app.core.phantom.storage import sample_contrast

        contrast = None if case is None else sample_contrast(getattr(case, "source", None))
        self.sample_box.setVisible(contrast is not None)
        if contrast is None:
            return
        if not self._contrast_tips:
            for i in range(self.contrast.count()):
                self.contrast.setItemData(i, sequence_summary(self.contrast.itemData(i)),
                                          Qt.ItemDataRole.ToolTipRole)
            self._contrast_tips = True
        self.contrast.blockSignals(True)
        self.contrast.setCurrentIndex(self.contrast.findData(contrast))
        self.contrast.blockSignals(False)
        self.contrast.setToolTip(sequence_summary(contrast))
        self.contrast_status.setText(sequence_summary(contrast))

    def sample_contrast(self) -> str | None:
        """The contrast of the sample head shown (None: the image is not the sample head)."""
        from headtwin_app.core.phantom.storage import sample_contrast

        case = self.state.case
        return None if case is None else sample_contrast(case.source)

    def _on_contrast(self, index: int) -> None:
        contrast = self.contrast.itemData(index)
        current = self.sample_contrast()
        if current is None or contrast is None or contrast == current:
            return
        self.load_contrast(str(contrast))

    def load_contrast(self, contrast: str) -> bool:
        """Load the sample head in `contrast` on the job runner; the current head stays until
        it is there. False when the runner is busy with another job."""
        name = contrast.upper()

        def failed(message: str) -> None:
            self.show_error(f"the {name} sample head was not loaded: {message}")

        started = self.state.jobs.start(
            f"loading the {name} sample head", load_sample_case, contrast,
            on_result=lambda case: self._contrast_loaded(contrast, case),
            on_progress=self._contrast_progress, on_error=failed,
            on_finished=self._contrast_finished)
        if not started:
            self._sync_contrast(self.state.case)
            return False
        self._contrast_loading = True
        self.contrast.setEnabled(False)
        self.contrast_progress.show()
        self.contrast_status.setText(f"loading the {name} sample head…")
        return True

    def _contrast_progress(self, item: Any) -> tuple[str, float] | None:
        if isinstance(item, str):
            self.contrast_status.setText(item)
            return item, -1.0
        return None

    def _contrast_finished(self) -> None:
        self._contrast_loading = False
        self.contrast.setEnabled(True)
        self.contrast_progress.hide()
        self._sync_contrast(self.state.case)  # back to the shown head's unless a result follows

    def _contrast_loaded(self, contrast: str, case: Any) -> None:
        from headtwin_app.core.phantom.sequences import sequence_summary

        old = self.state.case
        if old is None or self.sample_contrast() is None:
            return  # the sample head was closed meanwhile
        if old.labels is not None and old.labels.shape == case.image.shape:
            case = dataclasses.replace(case, labels=old.labels)  # same anatomy: edits stay
        self._keep_design = True
        self.state.set_case(case)
        remember_contrast(contrast)
        summary = sequence_summary(contrast)
        self.state.status.emit(f"sample head shown as {summary}")

    def _on_mask_param(self, *_: Any) -> None:
        """A new family mask replaces hand edits only when the user says so."""
        self._update_r_label()
        if self.painted is not None and not self._keep_painted:
            if self.ask_keep_painting():
                self._keep_painted = True
                self.state.status.emit("painted mask kept: the new parameters change "
                                       "everything but the mask (Reset painting to drop it)")
            else:
                self.reset_painting()
        self._schedule()

    def ask_keep_painting(self) -> bool:
        """Keep painted / Discard, asked once per painting."""
        box = QMessageBox(QMessageBox.Icon.Question, "Painted mask",
                          "The mask has hand-painted edits. Keep them (the new parameters then "
                          "change everything but the mask), or discard them for the new "
                          "family mask?", parent=self)
        keep = box.addButton("Keep painted", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(keep)
        box.setObjectName("keep-painted-question")
        box.exec()
        return box.clickedButton() is keep

    def _on_dims(self, *_: Any) -> None:
        dims = int(self.dims.currentData())
        self.tr.blockSignals(True)
        self.tr.setValue(DEFAULT_TR_S[dims] * 1e3)
        self.tr.blockSignals(False)
        for p in self.panels.values():
            p._shape = None
        self.panels["kspace_full"].title.setText(
            "k-space log|k| (ky × kx)" if dims == 2 else "k-space log|k| (ky × kz at kx = 0)")
        if self.painted is not None:  # a (ky, kx) painting does not fit a (ky, kz) plane
            self.reset_painting()
            self.state.status.emit("painted edits discarded: the 2D and 3D masks have "
                                   "different planes")
        self._on_mask_param()

    def _update_r_label(self) -> None:
        self.r_label.setText(f"R {slider_to_accel(self.r_slider.value()):.2f}")

    # ----------------------------------------------------------------------------- compute
    def _schedule(self, *_: Any) -> None:
        """Coalesce: many changes within one event-loop turn (or during a 3D computation)
        lead to one computation with the latest values."""
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _compute(self) -> None:
        if not self._dirty or self._busy or self.designer is None:
            return
        self._dirty = False
        params = self.params()
        painted = None if self.painted is None else self.painted.copy()
        # Always off the GUI thread: a 2D update takes a few ms, but the first use of a
        # spiral/radial seed or a 3D volume takes seconds. One worker at a time; changes made
        # meanwhile are coalesced into the next run.
        self._busy = True
        if not self.designer.is_prepared(params.dims, params.slice_index):
            self.error_label.setText("preparing the k-space…")
        worker = create_worker(self.designer.update, params, painted, _start_thread=False,
                               _ignore_errors=True)
        worker.returned.connect(self._show)
        worker.errored.connect(lambda exc: self.show_error(error_text(exc)))
        worker.finished.connect(self._worker_done)
        self._worker = worker
        worker.start()

    def _worker_done(self) -> None:
        self._busy = False
        self._worker = None
        if self._dirty:
            self._timer.start()

    def is_idle(self) -> bool:
        """No computation running or pending (tests wait on this)."""
        return not (self._busy or self._dirty or self._timer.isActive()
                    or self._contrast_loading)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.state.status.emit(message)

    def _show(self, frame: DesignerFrame) -> None:
        self.frame = frame
        for name, panel in self.panels.items():
            arr = frame.mask.astype(np.float32) if name == "mask" and self.painted is None \
                else (self.painted.astype(np.float32) if name == "mask"
                      else frame.display[name])
            panel.show(arr, frame.levels[name])
        m = frame.metrics
        psnr = m.get("psnr", math.nan)
        psnr_text = "∞" if math.isinf(psnr) else f"{psnr:.2f}"
        self.metrics_label.setText(
            f"<b>PSNR</b> {psnr_text} dB &nbsp; <b>SSIM</b> {m.get('ssim', math.nan):.4f}"
            f" &nbsp; <b>NMSE</b> {m.get('nmse', math.nan):.4f}")
        self.accel_label.setText(
            f"{frame.family_label}: R requested {frame.params.accel:.2f}, "
            f"achieved {frame.result.accel_achieved:.3f}"
            + ("" if frame.extra.get("painted") else
               f" ({100 * (frame.result.accel_achieved / frame.params.accel - 1):+.1f} %)"))
        s = frame.scan
        saved = 100.0 * (1 - s.seconds / s.full_seconds) if s.full_seconds else 0.0
        self.scan_label.setText(
            f"<b>Scan time</b> {_fmt_time(s.seconds)} of {_fmt_time(s.full_seconds)} "
            f"({s.readouts} of {s.full_readouts} readouts; {saved:.0f} % saved)")
        self.model_label.setText("Scan-time model — " + frame.scan.model)
        self.error_label.setText("")
        self.state.set_mask(frame.mask_record())
        self.frame_shown.emit(frame)

    # ----------------------------------------------------------------------------- brush
    def _on_brush(self, on: bool) -> None:
        self.mask_item.brush_enabled = on
        self.panels["mask"].view.setMouseEnabled(not on, not on)

    def _stroke_start(self) -> None:
        if self.frame is None:
            return
        self._last_point = None
        self._undo.append(None if self.painted is None else self.painted.copy())
        if self.painted is None:
            self.painted = self.frame.mask.copy()

    def _paint_at(self, row: float, col: float) -> None:
        if self.painted is None:
            self._stroke_start()
            if self.painted is None:
                return
        value = self.brush_mode.currentText() == "paint"
        radius = self.brush_radius.value()
        if self._last_point is None:
            self.painted = paint_disc(self.painted, row, col, radius, value)
        else:
            self.painted = paint_stroke(self.painted, self._last_point, (row, col), radius, value)
        self._last_point = (row, col)
        self.panels["mask"].show(self.painted.astype(np.float32), (0.0, 1.0))
        self._schedule()

    def undo_stroke(self) -> None:
        if self._undo:
            self.painted = self._undo.pop()
            self._schedule()

    def reset_painting(self) -> None:
        self.painted = None
        self._keep_painted = False
        self._undo.clear()
        self._schedule()

    # ----------------------------------------------------------------------------- export
    def _affine(self) -> np.ndarray | None:
        case = self.state.case
        return None if case is None else case.image.affine

    def export_mask(self, path: str | None = None) -> Path | None:
        """Mask as NIfTI (on the image grid, readout filled in 3D) or PNG (the plane)."""
        if self.frame is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export mask", "mask.nii.gz",
                                                  "NIfTI (*.nii.gz *.nii);;PNG (*.png)")
            if not path:
                return None
        return save_mask(path, self.frame, self._affine())

    def export_images(self, folder: str | None = None) -> dict[str, str] | None:
        """mask / zero-filled / difference NIfTI, PNGs of every panel and of the whole view."""
        if self.frame is None:
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export images to folder")
            if not folder:
                return None
        paths = export_frame(folder, self.frame, self._affine())
        shot = Path(folder) / "designer.png"
        self.glw.grab().save(str(shot))
        paths["designer_png"] = str(shot)
        self.state.status.emit(f"exported {len(paths)} files to {folder}")
        return paths


def _fmt_time(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
