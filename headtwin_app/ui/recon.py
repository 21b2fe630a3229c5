"""The reconstruction workspace: zero-filled, compressed-sensing and cascade-CNN images of the
designer's undersampled k-space, side by side with error maps and a metrics table.

All computation is in `headtwin_app.core.recon` (`job.recon_job`, `train.train_iter`); this
module collects parameters, runs the reconstruction on the window's job runner (progress per
slice, Cancel at every yield), shows the results and adds each full-volume reconstruction to
the app model as a "recon" layer (the layer panel below the buttons acts on them).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from headtwin_app.core.app_model import Layer
from headtwin_app.core.masks import FAMILY_NAMES
from headtwin_app.core.recon.cascade import CascadeConfig
from headtwin_app.core.recon.data import recon_mask
from headtwin_app.core.recon.job import ReconResult, case_slices, recon_job, slices_to_volume
from headtwin_app.core.recon.predict import DEFAULT_MODEL, checkpoint_config, resolve_device
from headtwin_app.ui.cine_panel import SHORTCUT as CINE_SHORTCUT
from headtwin_app.ui.cine_panel import open_cine_dialog
from headtwin_app.ui.enhance_panel import SHORTCUT as ENHANCE_SHORTCUT
from headtwin_app.ui.enhance_panel import open_enhance_dialog
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.layer_panel import LayerPanel
from headtwin_app.ui.state import AppState

METHOD_TITLES = {"zf": "zero-filled", "cs": "compressed sensing", "cascade": "cascade CNN"}
METHOD_SHORT = {"zf": "ZF", "cs": "CS", "cascade": "cascade"}
METRIC_COLUMNS = ("PSNR (dB)", "SSIM", "NMSE", "seconds", "device")
JOB = "reconstruction"
PANEL_TITLES = {"gt": "ground truth", "zf": "zero-filled", "cs": "compressed sensing",
                "cascade": "cascade CNN", "mask": "mask (ky, kx)",
                "err_zf": "|error| zero-filled", "err_cs": "|error| CS",
                "err_cascade": "|error| cascade"}
PANEL_PLACES = {"gt": (0, 0), "zf": (0, 1), "cs": (0, 2), "cascade": (0, 3),
                "mask": (1, 0), "err_zf": (1, 1), "err_cs": (1, 2), "err_cascade": (1, 3)}


class _ImagePanel:
    """A titled view box holding one image (encoding layout, anterior up)."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, row: int, col: int, title: str,
                 cmap: str | None = None) -> None:
        self.label = glw.addLabel(title, row=2 * row, col=col, size="9pt")
        self.view = glw.addViewBox(row=2 * row + 1, col=col, lockAspect=True, enableMenu=False,
                                   border=pg.mkPen("#3a3a3a"))
        self.label.setMinimumWidth(10)
        self.label.setMaximumWidth(10000)
        self.item = pg.ImageItem(axisOrder="row-major")
        if cmap:
            self.item.setColorMap(pg.colormap.get(cmap))
        self.view.addItem(self.item)
        self._shape: tuple[int, ...] | None = None

    def show(self, arr: np.ndarray | None, levels: tuple[float, float], title: str) -> None:
        self.label.setText(title, size="9pt")
        if arr is None:
            self.item.clear()
            return
        self.item.setImage(arr, levels=levels, autoLevels=False)
        if arr.shape != self._shape:
            self._shape = arr.shape
            self.view.setAspectLocked(True, 1.0)
            self.view.autoRange(padding=0.02)


class ReconWorkspace(QWidget):
    """Reconstruct the case under the designer's mask (or this panel's own) and compare."""

    result_shown = Signal(object)  # ReconResult, after the panels and the table are updated

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.result: ReconResult | None = None
        self._running = False
        self._own_params: tuple[str, float, int] | None = None  # while the designer's is shown
        self._build()
        state.case_changed.connect(self._on_case)
        state.mask_changed.connect(self._on_mask)
        state.jobs.busy_changed.connect(self._set_busy)
        if state.case is not None:
            self._on_case(state.case)
        self._update_mask_label()

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.mask_source = QComboBox()
        self.mask_source.addItem("designer's mask", "designer")
        self.mask_source.addItem("this panel's mask", "own")
        self.family = QComboBox()
        self.family.addItems(FAMILY_NAMES)
        self.family.setCurrentText("cartesian")
        self.accel = QDoubleSpinBox()
        self.accel.setRange(1.0, 32.0)
        self.accel.setSingleStep(0.5)
        self.accel.setValue(4.0)
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        self.mask_label = QLabel()
        self.mask_label.setWordWrap(True)
        mask_box = QGroupBox("Mask")
        mform = QFormLayout(mask_box)
        mform.addRow("source", self.mask_source)
        mform.addRow("family", self.family)
        mform.addRow("R", self.accel)
        mform.addRow("seed", self.seed)
        mform.addRow(self.mask_label)

        self.slice = QSpinBox()
        self.slice.setToolTip("axial slice shown (and reconstructed, in 'this slice' scope)")
        self.slice_title = QLabel("slice")
        self.scope_note = QLabel("")
        self.scope_note.setWordWrap(True)
        self.scope_note.setStyleSheet("color: gray; font-size: 9pt;")
        self.scope = QComboBox()
        self.scope.addItem("this slice", "slice")
        self.scope.addItem("every slice (volume)", "volume")
        self.use = {m: QCheckBox(METHOD_SHORT[m]) for m in ("zf", "cs", "cascade")}
        for m, box in self.use.items():
            box.setToolTip(METHOD_TITLES[m])
        for box in self.use.values():
            box.setChecked(True)
        self.use["zf"].setEnabled(False)  # the reference every method is compared with
        methods = QHBoxLayout()
        for box in self.use.values():
            methods.addWidget(box)
        self.model_path = QLineEdit(str(DEFAULT_MODEL))
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_path, 1)
        model_row.addWidget(browse)
        self.cascades = QSpinBox()
        self.cascades.setRange(0, 5)
        self.cascades.setValue(5)
        self.cascades.setSpecialValueText("0 (zero-filled + DC)")
        self.cascades.setToolTip("run only the first n cascades of the model (ablation)")
        self.device = QComboBox()
        self.device.addItem("auto (GPU if available)", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA", "cuda")
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(4)
        run_box = QGroupBox("Reconstruction")
        rform = QFormLayout(run_box)
        rform.addRow(self.slice_title, self.slice)
        rform.addRow("scope", self.scope)
        rform.addRow(self.scope_note)
        rform.addRow("methods", methods)
        rform.addRow("model", model_row)
        rform.addRow("cascades", self.cascades)
        rform.addRow("device", self.device)
        rform.addRow("batch", self.batch)

        self.run_button = QPushButton("Reconstruct")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.train_button = QPushButton("Train a model…")
        self.train_button.clicked.connect(self.open_training)
        self.cine_button = QPushButton("Cine (k-t)…")
        self.cine_button.setToolTip("open a cine, apply k-t masks and reconstruct it "
                                    f"({CINE_SHORTCUT})")
        self.cine_button.clicked.connect(self.open_cine)
        cine_key = QShortcut(QKeySequence(CINE_SHORTCUT), self)
        cine_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cine_key.activated.connect(self.open_cine)
        self.enhance_button = QPushButton("All-in-one…")
        self.enhance_button.setToolTip("all-in-one enhancement with a noise reduction factor: "
                                       f"DICOM in, DICOM out ({ENHANCE_SHORTCUT})")
        self.enhance_button.clicked.connect(self.open_enhance)
        enhance_key = QShortcut(QKeySequence(ENHANCE_SHORTCUT), self)
        enhance_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        enhance_key.activated.connect(self.open_enhance)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.progress_label = QLabel(
            f"ready: press Reconstruct (the CNN runs on {resolve_device('auto')})")
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")

        self.table = QTableWidget(3, len(METRIC_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(METRIC_COLUMNS))
        self.table.setVerticalHeaderLabels([METHOD_TITLES[m] for m in ("zf", "cs", "cascade")])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header_h = self.table.horizontalHeader().sizeHint().height()
        row_h = self.table.verticalHeader().defaultSectionSize()
        self.table.setFixedHeight(header_h + 3 * row_h + 2 * self.table.frameWidth() + 2)
        self.metrics_note = QLabel("magnitude images; PSNR/SSIM with data range = max(ground "
                                   "truth), SSIM 7×7 (scikit-image)")
        self.metrics_note.setWordWrap(True)
        self.metrics_note.setStyleSheet("color: gray; font-size: 9pt;")

        side = QVBoxLayout()
        side.addWidget(mask_box)
        side.addWidget(run_box)
        side.addLayout(buttons)
        side.addWidget(self.progress)
        side.addWidget(self.progress_label)
        side.addWidget(self.train_button)
        side.addWidget(self.cine_button)
        side.addWidget(self.enhance_button)
        side.addWidget(self.error_label)
        self.layer_panel = LayerPanel(self.state)
        side.addWidget(self.layer_panel, 1)
        side_w = QWidget()
        side_w.setLayout(side)
        side_w.setFixedWidth(330)

        self.glw = pg.GraphicsLayoutWidget()
        self.panels = {key: _ImagePanel(self.glw, row, col, PANEL_TITLES[key],
                                        "inferno" if key.startswith("err_") else None)
                       for key, (row, col) in PANEL_PLACES.items()}
        for col in range(4):  # equal columns whatever the titles' lengths
            self.glw.ci.layout.setColumnStretchFactor(col, 1)
            self.glw.ci.layout.setColumnPreferredWidth(col, 200)
        right = QVBoxLayout()
        right.addWidget(self.glw, 1)
        right.addWidget(self.table)
        right.addWidget(self.metrics_note)
        layout = QHBoxLayout(self)
        layout.addWidget(side_w)
        layout.addLayout(right, 1)

        self.mask_source.currentIndexChanged.connect(self._update_mask_label)
        self.scope.currentIndexChanged.connect(self._update_scope)
        for w in (self.family, self.accel, self.seed):
            sig = w.currentIndexChanged if isinstance(w, QComboBox) else w.valueChanged
            sig.connect(self._update_mask_label)
        self.slice.valueChanged.connect(self._show_result)
        self.model_path.textChanged.connect(self._on_model_path)
        self._on_model_path()
        self._set_busy(False)

    # ----------------------------------------------------------------------------- state
    def _on_case(self, case: Any) -> None:
        """A new case: the comparison shown belonged to the old image, so it goes."""
        self.cancel()
        self.result = None
        self.table.clearContents()
        self.progress.setValue(0)
        self.progress_label.setText(
            f"ready: press Reconstruct (the CNN runs on {resolve_device('auto')})")
        self._update_scope()
        self._show_result()
        self._update_mask_label()

    def _on_mask(self, record: dict[str, Any]) -> None:
        self._update_scope()
        if record and record.get("dims") == 2 and record.get("slice") is not None:
            self.slice.setValue(int(record["slice"]))
        self._update_mask_label()

    def _designer_mask(self) -> dict[str, Any] | None:
        rec = self.state.mask
        if self.mask_source.currentData() == "designer" and rec and rec.get("mask") is not None:
            return rec
        return None

    def _dims(self) -> int:
        """2: the mask acts on axial slices; 3: a (ky, kz) mask on sagittal planes."""
        rec = self._designer_mask()
        return int(rec.get("dims", 2)) if rec else 2

    def _update_scope(self, *_: Any) -> None:
        """'this slice' is an axial slice under a 2D mask and a sagittal plane (readout x)
        under a 3D one: the spin box and the note say which, and the scope run is the scope
        chosen."""
        case = self.state.case
        dims = self._dims()
        if case is not None:
            n = case.image.shape[0 if dims == 3 else 2]
            if self.slice.maximum() != n - 1 or getattr(self, "_slice_dims", None) != dims:
                self.slice.blockSignals(True)
                self.slice.setRange(0, n - 1)
                self.slice.setValue(n // 2)
                self.slice.blockSignals(False)
        self._slice_dims = dims
        self.slice_title.setText("plane (x)" if dims == 3 else "slice")
        one = self.scope.currentData() == "slice"
        if dims == 3:
            self.scope_note.setText(
                "3D mask: 'this slice' runs one sagittal plane (Y × Z at readout x = the plane "
                "above); 'every slice' runs all of them." if one else
                "3D mask: every sagittal plane is reconstructed (one per readout position).")
        else:
            self.scope_note.setText("" if one else "every axial slice is reconstructed.")
        self.scope_note.setVisible(bool(self.scope_note.text()))

    def _update_mask_label(self, *_: Any) -> None:
        """The greyed fields show the mask actually used: the designer's family, R and seed."""
        rec = self._designer_mask()
        own = rec is None
        widgets = (self.family, self.accel, self.seed)
        for w in widgets:
            w.setEnabled(own)
            w.blockSignals(True)
        if rec is not None:
            if self._own_params is None:
                self._own_params = (self.family.currentText(), self.accel.value(),
                                    self.seed.value())
            achieved = rec.get("accel_achieved")
            r_used = float(achieved if achieved is not None else rec.get("accel", math.nan))
            self._show_params(str(rec.get("family")), r_used, int(rec.get("seed") or 0))
            self.mask_label.setText(
                f"designer: {rec.get('family')} {rec.get('dims', 2)}D, R {rec.get('accel'):.2f}"
                f" (achieved {rec.get('accel_achieved', math.nan):.2f}), seed {rec.get('seed')}"
                + (", painted by hand" if rec.get("painted") else ""))
        else:
            if self._own_params is not None:
                self._show_params(*self._own_params)
                self._own_params = None
            if self.mask_source.currentData() == "designer":
                self.mask_label.setText("no mask from the designer yet: using this panel's")
            else:
                self.mask_label.setText("2D mask on (ky, kx) of each axial slice")
        for w in widgets:
            w.blockSignals(False)
        self._update_scope()

    def _show_params(self, family: str, accel: float, seed: int) -> None:
        for i in reversed(range(self.family.count())):  # a designer-only family shown before
            if self.family.itemText(i) not in FAMILY_NAMES:
                self.family.removeItem(i)
        if self.family.findText(family) < 0:  # e.g. a combined designer mask
            self.family.addItem(family)
        self.family.setCurrentText(family)
        self.accel.setValue(accel)
        self.seed.setValue(seed)

    def _on_model_path(self, *_: Any) -> None:
        cfg = checkpoint_config(Path(self.model_path.text()).expanduser())
        if cfg is None:
            self.model_info = "no valid checkpoint at this path"
        else:
            self.cascades.setMaximum(cfg.n_cascades)
            self.cascades.setValue(cfg.n_cascades)
            self.model_info = (f"{cfg.n_cascades} cascades × {cfg.n_convs} convs, "
                               f"width {cfg.width}")
        self.model_path.setToolTip(self.model_info)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Cascade weights", self.model_path.text(),
                                              "PyTorch checkpoint (*.pt)")
        if path:
            self.model_path.setText(path)

    # ----------------------------------------------------------------------------- running
    def is_busy(self) -> bool:
        """True while a reconstruction runs (the --screenshot option waits on it)."""
        return self._running

    def _set_busy(self, busy: bool) -> None:
        """The window's job runner runs one job at a time: no Reconstruct while any runs."""
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy and self._running)
        self.train_button.setEnabled(not busy)

    def _inputs(self) -> tuple[np.ndarray, np.ndarray, int, int | None]:
        case = self.state.case
        if case is None:
            raise ValueError("open a case first")
        rec = self._designer_mask()
        dims = self._dims()
        index = self.slice.value() if self.scope.currentData() == "slice" else None
        gt = case_slices(case.image.data, dims, index if dims == 2 else None)
        if dims == 3 and index is not None:
            gt = gt[index:index + 1]  # one sagittal plane: what 'this slice' asks for
        if rec is not None:
            mask = np.asarray(rec["mask"], bool)
            if mask.shape != gt.shape[-2:]:
                raise ValueError(f"the designer's mask {mask.shape} does not fit this case's "
                                 f"plane {gt.shape[-2:]}; redesign it or use this panel's mask")
        else:
            mask = recon_mask(self.family.currentText(), gt.shape[-2:], self.accel.value(),
                              self.seed.value())
        return gt, mask, dims, index

    def _model_file(self) -> Path:
        path = Path(self.model_path.text()).expanduser()
        if not path.is_file():
            raise ValueError(f"model file not found: {path}")
        return path

    def run(self) -> None:
        """Start a reconstruction on the job runner (no-op while a job runs)."""
        if self.state.jobs.is_busy:
            return
        try:
            gt, mask, dims, index = self._inputs()
            methods = [m for m, box in self.use.items() if box.isChecked()]
            dev = resolve_device(self.device.currentData())
            model = self._model_file() if "cascade" in methods else None
        except (ValueError, OSError) as exc:
            self.show_error(str(exc))
            return
        self.error_label.setText("")
        self._dims_run, self._index_run = dims, index
        self._methods = methods
        self._params = self._mask_params(mask)
        self.progress.setRange(0, len(gt) * len(methods))
        self.progress.setValue(0)
        self._running = True
        started = self.state.jobs.start(
            JOB, recon_job, gt, mask, methods, model, self.batch.value(), str(dev),
            self.cascades.value(), on_result=self._on_result, on_progress=self._on_progress,
            on_error=self.show_error, on_finished=self._on_finished)
        if not started:
            self._running = False
            return
        self._set_busy(True)
        self.progress_label.setText(f"running on {dev}…")

    def _mask_params(self, mask: np.ndarray) -> dict[str, Any]:
        rec = self._designer_mask()
        if rec is not None:
            return {"family": rec.get("family"), "accel": rec.get("accel_achieved"),
                    "seed": rec.get("seed"), "mask_source": "designer"}
        return {"family": self.family.currentText(), "accel": self.accel.value(),
                "seed": self.seed.value(), "mask_source": "panel"}

    def cancel(self) -> None:
        """Ask the reconstruction to stop at its next yield."""
        if self._running:
            self.state.jobs.cancel()
            self.progress_label.setText("cancelling…")

    def _on_progress(self, item: tuple[str, int, int]) -> tuple[str, float]:
        """'method i/m: slice d/n' — one bar over all methods, never a mixed count."""
        method, done, total = item
        i, m = self._methods.index(method), len(self._methods)
        self.progress.setMaximum(total * m)
        self.progress.setValue(i * total + done)
        unit = "plane" if self._dims_run == 3 else "slice"
        text = f"method {i + 1}/{m} ({METHOD_TITLES[method]}): {unit} {done}/{total}"
        self.progress_label.setText(text)
        return text, (i * total + done) / (total * m)

    def _on_finished(self) -> None:
        self._running = False
        if self.progress_label.text() == "cancelling…":
            self.progress_label.setText("cancelled")
        self._set_busy(self.state.jobs.is_busy)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.progress_label.setText("")
        self.state.status.emit(message)

    # ----------------------------------------------------------------------------- results
    def _on_result(self, result: ReconResult) -> None:
        self.result = result
        self.progress_label.setText("done")
        self._fill_table(result)
        self._show_result()
        self._add_layers(result)
        self.result_shown.emit(result)

    def _add_layers(self, result: ReconResult) -> None:
        """Every method's image as a "recon" layer on the case grid (full volumes only)."""
        case = self.state.case
        if case is None or self._index_run is not None:
            self.layer_panel.note("one slice reconstructed: choose scope 'every slice' to use, "
                                  "segment or save a reconstruction")
            return
        for method, images in result.images.items():
            volume = slices_to_volume(images, self._dims_run, case.image)
            meta = {"method": method, "case": case.name, "dims": self._dims_run,
                    **self._params, **result.metrics.get(method, {})}
            self.state.model.add_layer(Layer(f"{method} recon", "recon", volume, meta))
        self.layer_panel.note("")
        self.layer_panel.select(f"{self._methods[-1]} recon")

    def _fill_table(self, result: ReconResult) -> None:
        self.table.clearContents()
        for row, method in enumerate(("zf", "cs", "cascade")):
            m = result.metrics.get(method)
            if not m:
                continue
            values = (f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['nmse']:.5f}",
                      f"{m['seconds']:.2f}", m["device"])
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)

    def _show_result(self, *_: Any) -> None:
        res = self.result
        if res is None:
            for key, p in self.panels.items():
                p.show(None, (0, 1), PANEL_TITLES[key])
            return
        if len(res.gt) == 1:
            i = 0
        else:
            i = min(self.slice.value(), len(res.gt) - 1)
        gt = res.gt[i]
        top = float(np.percentile(gt, 99.5)) or 1.0
        err_top = 0.15 * float(gt.max() or 1.0)
        self.panels["gt"].show(gt, (0, top), "ground truth")
        self.panels["mask"].show(res.mask.astype(np.float32), (0, 1),
                                 f"mask, R {res.mask.size / max(1, res.mask.sum()):.2f}")
        for m in ("zf", "cs", "cascade"):
            img = res.images.get(m)
            met = res.metrics.get(m)
            title = METHOD_TITLES[m] + (f" — {met['psnr']:.2f} dB" if met else "")
            self.panels[m].show(None if img is None else img[i], (0, top), title)
            self.panels["err_" + m].show(None if img is None else np.abs(img[i] - gt),
                                         (0, err_top), f"|error| {m} (0–15 % of max)")

    def open_cine(self) -> None:
        """The Cine (k-t) panel: open or generate a cine, k-t masks, reconstruction."""
        self._cine_dialog = open_cine_dialog(self.state, self)

    def open_enhance(self) -> None:
        """The All-in-one enhancement panel: context from tags, NRF, DICOM in → DICOM out."""
        self._enhance_dialog = open_enhance_dialog(self.state, self)

    # ----------------------------------------------------------------------------- training
    def open_training(self) -> TrainDialog:
        dlg = TrainDialog(self, out=str(Path(self.model_path.text()).with_name("my_cascade.pt")))
        dlg.trained.connect(self.model_path.setText)
        dlg.show()
        self._train_dialog = dlg
        return dlg


class TrainDialog(QDialog):
    """Train a cascade with a live loss curve; Cancel stops at the next step."""

    trained = Signal(str)  # the saved checkpoint's path

    def __init__(self, parent: QWidget | None = None, out: str = "models/my_cascade.pt",
                 slices: np.ndarray | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a cascade CNN")
        self.slices = slices  # None: the MNI template + phantom heads (core.recon.data)
        self._worker: Any = None
        self.cascades = QSpinBox()
        self.cascades.setRange(0, 12)
        self.cascades.setValue(5)
        self.convs = QSpinBox()
        self.convs.setRange(2, 10)
        self.convs.setValue(5)
        self.width = QSpinBox()
        self.width.setRange(2, 128)
        self.width.setValue(16)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 600)
        self.minutes.setValue(10)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setValue(2000)
        self.edge = QDoubleSpinBox()
        self.edge.setRange(0, 10)
        self.edge.setSingleStep(0.05)
        self.edge.setValue(0.05)
        self.ssim = QDoubleSpinBox()
        self.ssim.setRange(0, 10)
        self.ssim.setSingleStep(0.1)
        self.ssim.setValue(1.0)
        self.ssim.setToolTip("weight of 1 − SSIM on the magnitude: keeps empty background empty")
        self.zoom_out = QDoubleSpinBox()
        self.zoom_out.setRange(0, 1)
        self.zoom_out.setSingleStep(0.1)
        self.zoom_out.setValue(0.5)
        self.zoom_out.setToolTip("share of crops shrunk into an empty canvas")
        self.bf16 = QCheckBox("bfloat16 (about 2× faster on CPUs with AVX512-BF16)")
        self.out = QLineEdit(out)
        form = QFormLayout()
        form.addRow("cascades", self.cascades)
        form.addRow("convolutions per block", self.convs)
        form.addRow("width (channels)", self.width)
        form.addRow("budget (minutes)", self.minutes)
        form.addRow("max steps", self.steps)
        form.addRow("Sobel edge-loss weight", self.edge)
        form.addRow("SSIM-loss weight", self.ssim)
        form.addRow("zoom-out augmentation", self.zoom_out)
        form.addRow("precision", self.bf16)
        form.addRow("save to", self.out)
        self.plot = pg.PlotWidget(labels={"bottom": "step", "left": "loss"})
        self.plot.setLogMode(y=True)
        self.plot.addLegend()
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen("#7fa7d9"), name="train")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen("#f0ad4e", width=2), symbol="o",
                                        symbolSize=6, name="validation")
        self.status = QLabel("")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(520, 560)
        self.steps_seen: list[int] = []
        self.train_losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []

    def config(self, **extra: Any) -> Any:
        from headtwin_app.core.recon.train import TrainConfig

        model = CascadeConfig(self.cascades.value(), self.convs.value(), self.width.value())
        return TrainConfig(model=model.to_dict(), steps=self.steps.value(),
                           max_minutes=self.minutes.value(), edge_weight=self.edge.value(),
                           ssim_weight=self.ssim.value(), zoom_out=self.zoom_out.value(),
                           bf16=self.bf16.isChecked(), **extra)

    def is_running(self) -> bool:
        return self._worker is not None

    def start(self, **extra: Any) -> None:
        from headtwin_app.core.atomic import check_writable
        from headtwin_app.core.recon.train import train_iter

        if self._worker is not None:
            return
        try:
            cfg = self.config(**extra)
            # an unwritable output must show now, not after the training
            check_writable(Path(self.out.text()).expanduser())
        except (OSError, ValueError) as exc:
            self.status.setText(error_text(exc))
            return
        self.steps_seen, self.train_losses, self.val_steps, self.val_losses = [], [], [], []
        self._cfg = cfg
        worker = create_worker(train_iter, cfg, self.slices, _start_thread=False,
                               _ignore_errors=True)
        worker.yielded.connect(self._on_step)
        worker.returned.connect(self._on_done)
        worker.errored.connect(lambda exc: self.status.setText(f"error: {error_text(exc)}"))
        worker.aborted.connect(lambda: self.status.setText("cancelled; nothing saved"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("loading training slices…")
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self.status.setText("cancelling…")

    def _on_step(self, s: Any) -> None:
        self.steps_seen.append(s.step)
        self.train_losses.append(max(s.train_loss, 1e-12))
        if s.val_loss is not None:
            self.val_steps.append(s.step)
            self.val_losses.append(max(s.val_loss, 1e-12))
            self.val_curve.setData(self.val_steps, self.val_losses)
        self.train_curve.setData(self.steps_seen, self.train_losses)
        self.status.setText(f"step {s.step}: train {s.train_loss:.5f}"
                            + (f", validation {s.val_loss:.5f}" if s.val_loss is not None else ""))

    def _on_done(self, value: Any) -> None:
        from dataclasses import asdict

        from headtwin_app.core.recon.predict import save_checkpoint
        from headtwin_app.core.recon.train import save_loss_curve

        model, hist = value
        out = Path(self.out.text()).expanduser()
        try:
            save_checkpoint(model, out, {"train_config": asdict(self._cfg),
                                         "steps": hist["steps"], "device": hist["device"],
                                         "seconds": round(hist["seconds"], 1)})
            save_loss_curve(hist, out.with_suffix(".loss.png"), out.name)
        except (OSError, ValueError) as exc:
            self.status.setText(f"not saved: {error_text(exc)}")
            return
        self.status.setText(f"saved {out} ({hist['steps']} steps, {hist['seconds']:.0f} s)")
        self.trained.emit(str(out))

    def _on_finished(self) -> None:
        self._worker = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.cancel()
        super().closeEvent(event)
