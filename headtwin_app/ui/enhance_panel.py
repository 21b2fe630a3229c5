"""The All-in-one enhancement panel, opened from the reconstruction workspace: open a DICOM file,
a DICOM series folder or another image (or take the current case image), see the sampling
context read from its tags (field, value, where it came from; values can be overridden), choose
the noise reduction factor (NRF) and the model, enhance with progress and Cancel, and get a
derived DICOM series (DICOM in) or an image on the input's grid (anything else) — shown beside
the input with the job's report.

All computation is in the core: `core.enhance.job` (the one job of CLI and GUI),
`core.enhance.dicom_io` (reading, context from tags) and `core.io` (other formats). Reading the
source, writing the case image and the enhancement run on the window's job runner.
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.ui.job_panel import JobPanelMixin
from headtwin_app.ui.state import AppState

KEY = "enhance/"  # QSettings prefix
TITLE = "All-in-one enhancement"
SHORTCUT = "Ctrl+Shift+E"  # opens the panel from the reconstruction workspace
NRF_MIN, NRF_MAX, NRF_DEFAULT = 1.0, 4.0, 2.0  # the slider moves in steps of 0.1
CONTEXT_FIELDS = ("nrf", "phase_kmax", "freq_kmax", "slice_kmax", "phase_pf", "slice_pf",
                  "uniform_r", "random_r", "elliptical", "is_3d")
IMAGE_FILTER = ("Images (*.nii *.nii.gz *.mha *.mhd *.nrrd *.h5 *.npy);;All files (*)")
SAVE_FILTER = "NIfTI (*.nii.gz *.nii);;MetaImage (*.mha);;NRRD (*.nrrd);;All files (*)"
DICOM_FILTER = "DICOM (*.dcm *.DCM *.ima *.IMA);;All files (*)"
JOB_ENHANCE = "all-in-one enhancement"
EDITED = "edited by you"
CONTEXT_NOTE = "double-click a value to override it; the NRF follows the slider"


def _settings() -> QSettings:
    return QSettings()


def _number(value: float) -> str:
    """0.369, 1, 0.75: three decimals at most, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------- jobs
# Thin job bodies: each calls the core and hands back what the panel shows.
def read_source(path: str | Path, nrf: float) -> dict[str, Any]:
    """Read a DICOM file/folder or another image: its context (from tags for DICOM, defaults
    otherwise), where each value came from, and its middle slice for display."""
    from headtwin_app.core.enhance.context import Context
    from headtwin_app.core.enhance.job import is_dicom

    p = Path(path)
    if is_dicom(p):
        from headtwin_app.core.enhance.dicom_io import context_from_tags, read_dicom

        image = read_dicom(p)
        ctx, sources = context_from_tags(image, nrf)
        n = len(image.pixels)
        return {"path": str(p), "dicom": True, "context": ctx.to_dict(), "sources": sources,
                "slices": n, "shape": list(image.pixels.shape[1:]), "files": len(image.paths),
                "is_3d": bool(image.is_3d), "middle": np.asarray(image.pixels[n // 2])}
    from headtwin_app.core.io import load_volume

    vol = load_volume(p)
    data = np.asarray(vol.data, np.float32)  # (x, y, z): slices along z, as the job runs them
    nz = data.shape[2]
    return {"path": str(p), "dicom": False, "context": Context(nrf=nrf).to_dict(),
            "sources": {"all": "defaults: a non-DICOM image carries no sampling tags (edit "
                               "the values to describe its sampling)"},
            "slices": nz, "shape": [data.shape[1], data.shape[0]], "files": 1, "is_3d": False,
            "middle": np.ascontiguousarray(data[:, :, nz // 2].T)}


def case_source(volume: Any, folder: str, nrf: float) -> dict[str, Any]:
    """Write the case image to a NIfTI in `folder` (the job reads files) and read it back."""
    from headtwin_app.core.io import save_volume

    written = save_volume(volume, Path(folder) / "case_image.nii.gz")
    return read_source(written, nrf)


def enhance_and_read(path: str, nrf: float, out: str, context: Any, model: str | None
                     ) -> Generator[Any, None, dict[str, Any]]:
    """The core's enhancement job, then the output's middle slice for display."""
    from headtwin_app.core.enhance.job import enhance_steps

    report = yield from enhance_steps(path, nrf, out, context=context, model_path=model)
    yield "reading the output"
    shown = read_source(report["out"], nrf)
    return {"report": report, "middle": shown["middle"]}


# --------------------------------------------------------------------------------- panel
class _SliceView:
    """A titled view box with one image."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, col: int, title: str) -> None:
        self.label = glw.addLabel(title, row=0, col=col, size="9pt")
        self._title(title)
        self.view = glw.addViewBox(row=1, col=col, lockAspect=True, enableMenu=False,
                                   border=pg.mkPen("#3a3a3a"))
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)

    def _title(self, title: str) -> None:
        self.label.setText(title, size="9pt")
        for set_width in (self.label.setMinimumWidth, self.label.setPreferredWidth):
            set_width(10)  # setText sizes the label to its text: both columns stay equal

    def show(self, image: np.ndarray | None, title: str, levels: tuple[float, float],
             rows_down: bool) -> None:
        self._title(title)
        if image is None:
            self.item.clear()
            return
        self.view.invertY(rows_down)
        self.item.setImage(np.abs(np.asarray(image, np.float32)), levels=levels,
                           autoLevels=False)
        self.view.enableAutoRange()  # fits the image, also after the window is resized

    def has_image(self) -> bool:
        return self.item.image is not None


class EnhancePanel(QWidget, JobPanelMixin):
    """Open an image, see its context, choose the NRF and enhance it (DICOM in → DICOM out)."""

    source_shown = Signal(object)  # the read_source dict of the source now open
    result_shown = Signal(object)  # the job's report

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.source: dict[str, Any] | None = None
        self.report: dict[str, Any] | None = None
        self._levels: tuple[float, float] = (0.0, 1.0)
        self._edited = False
        self._filling = False
        self._running = ""
        self._last_job = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._build()
        self._restore()
        state.jobs.busy_changed.connect(self._set_busy)
        state.jobs.cancelled.connect(self._on_cancelled)
        state.case_changed.connect(lambda _c: self._set_busy(self.state.jobs.is_busy))
        self._set_busy(state.jobs.is_busy)
        self._show_model_note()

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        left = QWidget()
        left.setMinimumWidth(400)
        left.setMaximumWidth(470)
        col = QVBoxLayout(left)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self._build_source_box())
        col.addWidget(self._build_context_box(), 1)
        col.addWidget(self._build_run_box())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("ready: open a DICOM file or folder, or an image")
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running job at its next slice")
        self.cancel_button.clicked.connect(self.cancel)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")
        for w in (self.progress, self.progress_label, self.cancel_button, self.error_label):
            col.addWidget(w)

        self.glw = pg.GraphicsLayoutWidget()
        self.input_view = _SliceView(self.glw, 0, "input")
        self.output_view = _SliceView(self.glw, 1, "output")
        for c in (0, 1):
            self.glw.ci.layout.setColumnStretchFactor(c, 1)
        self.output_view.view.setXLink(self.input_view.view)  # zoom and pan together
        self.output_view.view.setYLink(self.input_view.view)
        self.report_label = QLabel("")
        self.report_label.setObjectName("enhance-report")
        self.report_label.setTextFormat(Qt.TextFormat.RichText)
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.glw, 1)
        right.addWidget(self.report_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(left)
        layout.addLayout(right, 1)

    def _build_source_box(self) -> QGroupBox:
        self.open_dicom_button = QPushButton("Open DICOM…")
        self.open_dicom_button.setToolTip("one DICOM file (single- or multi-frame)")
        self.open_dicom_button.clicked.connect(self.open_dicom_dialog)
        self.open_folder_button = QPushButton("Open DICOM folder…")
        self.open_folder_button.setToolTip("a folder holding one DICOM series")
        self.open_folder_button.clicked.connect(self.open_folder_dialog)
        self.open_image_button = QPushButton("Open image…")
        self.open_image_button.setToolTip("NIfTI, MetaImage, NRRD, …: the output keeps its grid")
        self.open_image_button.clicked.connect(self.open_image_dialog)
        self.case_button = QPushButton("Use the current case image")
        self.case_button.setToolTip("enhance the image of the case open in the window "
                                    "(written to a temporary NIfTI first)")
        self.case_button.clicked.connect(self.use_case_image)
        self.source_label = QLabel("no image")
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: gray; font-size: 9pt;")
        box = QGroupBox("Source")
        grid = QVBoxLayout(box)
        row = QHBoxLayout()
        for w in (self.open_dicom_button, self.open_folder_button, self.open_image_button):
            row.addWidget(w)
        grid.addLayout(row)
        grid.addWidget(self.case_button)
        grid.addWidget(self.source_label)
        return box

    def _build_context_box(self) -> QGroupBox:
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["field", "value", "source"])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.currentCellChanged.connect(self._on_current_row)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.table.itemChanged.connect(self._on_item_changed)
        self.context_note = QLabel(CONTEXT_NOTE)
        self.context_note.setStyleSheet("color: gray; font-size: 9pt;")
        self.context_note.setWordWrap(True)
        box = QGroupBox("Context (from the tags)")
        col = QVBoxLayout(box)
        col.addWidget(self.table, 1)
        col.addWidget(self.context_note)
        return box

    def _build_run_box(self) -> QGroupBox:
        self.nrf_slider = QSlider(Qt.Orientation.Horizontal)
        self.nrf_slider.setRange(round(NRF_MIN * 10), round(NRF_MAX * 10))
        self.nrf_slider.setSingleStep(1)
        self.nrf_slider.setPageStep(5)
        self.nrf_slider.setTickInterval(5)
        self.nrf_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.nrf_slider.setToolTip("noise reduction factor: input noise / output noise "
                                   "(1 = sharpen and fill k-space only, no denoising)")
        self.nrf_value = QLabel("")
        self.nrf_value.setMinimumWidth(36)
        self.nrf_slider.valueChanged.connect(self._on_nrf)
        self.model_path = QLineEdit()
        self.model_path.setToolTip("a .pt enhance checkpoint; empty: the shipped model")
        browse = self.model_path.addAction(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DirOpenIcon), QLineEdit.ActionPosition.TrailingPosition)
        browse.setToolTip("choose a model file…")
        browse.triggered.connect(self._browse_model)
        self.model_path.textChanged.connect(lambda _t: self._show_model_note())
        self.model_note = QLabel("")
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: gray; font-size: 9pt;")
        self.out_path = QLineEdit()
        self.out_path.setPlaceholderText("open an image first")
        self.out_path.setToolTip("DICOM in: a new or empty folder for the derived series; "
                                 "other images: the file to write")
        out_browse = self.out_path.addAction(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DirOpenIcon), QLineEdit.ActionPosition.TrailingPosition)
        out_browse.setToolTip("choose where to write…")
        out_browse.triggered.connect(self.choose_output)
        self.run_button = QPushButton("Enhance")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.enhance)
        nrf_row = QHBoxLayout()
        nrf_row.addWidget(self.nrf_slider, 1)
        nrf_row.addWidget(self.nrf_value)
        box = QGroupBox("Enhancement")
        form = QFormLayout(box)
        form.addRow("NRF", nrf_row)
        form.addRow("model", self.model_path)
        form.addRow(self.model_note)
        form.addRow("output", self.out_path)
        form.addRow(self.run_button)
        return box

    # ----------------------------------------------------------------------------- settings
    def _restore(self) -> None:
        s = _settings()
        try:
            nrf = float(s.value(KEY + "nrf", NRF_DEFAULT))
        except (TypeError, ValueError):
            nrf = NRF_DEFAULT
        self.nrf_slider.setValue(round(min(max(nrf, NRF_MIN), NRF_MAX) * 10))
        self._on_nrf(self.nrf_slider.value())
        self.nrf_slider.valueChanged.connect(
            lambda _v: _settings().setValue(KEY + "nrf", self.nrf()))
        self.model_path.setText(str(s.value(KEY + "model", "")))
        self.model_path.editingFinished.connect(
            lambda: _settings().setValue(KEY + "model", self.model_path.text().strip()))

    def _last_dir(self) -> str:
        return str(_settings().value(KEY + "last_dir", str(Path.home())))

    def _browse_model(self) -> None:
        start = self.model_path.text() or self._last_dir()
        path, _ = QFileDialog.getOpenFileName(self, "All-in-one model", start,
                                              "PyTorch checkpoint (*.pt);;All files (*)")
        if path:
            self.model_path.setText(path)
            _settings().setValue(KEY + "model", path)

    def nrf(self) -> float:
        return self.nrf_slider.value() / 10.0

    def _on_nrf(self, value: int) -> None:
        self.nrf_value.setText(f"{value / 10:.1f}")
        if self.table.rowCount():
            self._filling = True
            self.table.item(0, 1).setText(f"{value / 10:.1f}")
            self._filling = False

    # ----------------------------------------------------------------------------- model
    def _model(self) -> tuple[str | None, str]:
        """(the model to pass, '' ) or (None, why it cannot run)."""
        text = self.model_path.text().strip()
        if text:
            path = Path(text).expanduser()
            if not path.is_file():
                return None, f"model file not found: {path}"
            return str(path), ""
        from headtwin_app.core.enhance.job import choose_model

        default = choose_model(bool(self.source and self.source["is_3d"]), None)
        if not default.is_file():
            return None, (f"no all-in-one model yet: {default.name} is not shipped (it is being "
                          "trained); choose a model file (.pt) under model")
        return str(default), ""

    def _show_model_note(self) -> None:
        model, why = self._model()
        if model is None:
            self.model_note.setText(why)
            self.model_note.setStyleSheet("color: #d9534f; font-size: 9pt;")
        else:
            shipped = "" if self.model_path.text().strip() else " (shipped)"
            self.model_note.setText(f"{Path(model).name}{shipped}")
            self.model_note.setStyleSheet("color: gray; font-size: 9pt;")

    # ----------------------------------------------------------------------------- jobs
    def is_busy(self) -> bool:
        return bool(self._running)

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy and bool(self._running))
        for w in (self.open_dicom_button, self.open_folder_button, self.open_image_button):
            w.setEnabled(not busy)
        self.case_button.setEnabled(not busy and self.state.case is not None)
        self.case_button.setToolTip("" if self.state.case is not None else
                                    "no case is open in the window")
        self.run_button.setEnabled(not busy and self.source is not None)
        self.table.setEnabled(not busy)

    # ----------------------------------------------------------------------------- source
    def open_dicom_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a DICOM file", self._last_dir(),
                                              DICOM_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a DICOM series folder",
                                                self._last_dir())
        if path:
            self.open_path(path)

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self._last_dir(),
                                              IMAGE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Read a DICOM file/folder or an image and show its context (a job)."""
        p = Path(path)
        _settings().setValue(KEY + "last_dir", str(p if p.is_dir() else p.parent))
        return self._start(f"reading {p.name}", read_source, str(p), self.nrf(),
                           on_result=self.set_source)

    def use_case_image(self) -> bool:
        """The window's case image, written to a temporary NIfTI (a job), as the source."""
        case = self.state.case
        if case is None:
            self.show_error("no case is open in the window")
            return False
        self._tmp = tempfile.TemporaryDirectory(prefix="headtwin-enhance-")
        name = getattr(case, "name", "case")

        def shown(src: dict[str, Any]) -> None:
            self.set_source(src, f"case image of {name}")

        return self._start(f"preparing the image of {name}", case_source, case.image,
                           self._tmp.name, self.nrf(), on_result=shown)

    def set_source(self, src: dict[str, Any], name: str | None = None) -> None:
        """Show a read source: its description, context table, middle slice; suggest an output."""
        self.source = src
        self.report = None
        p = Path(src["path"])
        shown_name = name or p.name
        kind = (f"DICOM, {src['files']} file{'s' if src['files'] != 1 else ''}" if src["dicom"]
                else "image")
        rows, cols = src["shape"]
        self.source_label.setText(
            f"{shown_name}: {kind}; {src['slices']} slice{'s' if src['slices'] != 1 else ''} "
            f"of {rows} × {cols}; {'3D' if src['is_3d'] else '2D'} acquisition")
        self._fill_context(src["context"], src["sources"])
        middle = np.abs(np.asarray(src["middle"], np.float32))
        top = float(np.percentile(middle, 99.5)) if middle.size else 1.0
        self._levels = (0.0, top if top > 0 else 1.0)
        self.input_view.show(middle, f"input, slice {src['slices'] // 2 + 1}", self._levels,
                             src["dicom"])
        self.output_view.show(None, "output", self._levels, src["dicom"])
        self.report_label.setText("")
        self._suggest_output()
        self._show_model_note()
        self.progress.setValue(1000)
        self.progress_label.setText(f"{shown_name}: ready")
        self._set_busy(self.state.jobs.is_busy)
        self.source_shown.emit(src)

    def _fill_context(self, context: dict[str, float], sources: dict[str, str]) -> None:
        self._filling = True
        extra = [k for k in sources if k not in CONTEXT_FIELDS and k not in ("all", "network")]
        self.table.setRowCount(len(CONTEXT_FIELDS) + len(extra))
        common = sources.get("all", "")
        for r, name in enumerate(CONTEXT_FIELDS):
            value = context.get(name, 0.0)
            text = f"{self.nrf():.1f}" if name == "nrf" else _number(value)
            field = QTableWidgetItem(name)
            field.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item = QTableWidgetItem(text)
            if name == "nrf":
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip("set with the NRF slider")
            source = QTableWidgetItem(sources.get(name, common))
            source.setFlags(Qt.ItemFlag.ItemIsEnabled)
            source.setToolTip(sources.get(name, common))
            for c, it in enumerate((field, item, source)):
                self.table.setItem(r, c, it)
        for i, name in enumerate(extra):  # tags read but not a field: phase axis, …
            r = len(CONTEXT_FIELDS) + i
            for c, text in enumerate(("", "", f"{name}: {sources[name]}")):
                it = QTableWidgetItem(text)
                it.setFlags(Qt.ItemFlag.ItemIsEnabled)
                it.setForeground(Qt.GlobalColor.gray)
                it.setToolTip(text)
                self.table.setItem(r, c, it)
        self._edited = False
        self._filling = False
        self.context_note.setText(CONTEXT_NOTE)

    def _on_current_row(self, row: int, *_: int) -> None:
        """The selected row's whole source under the table (the column is cut short)."""
        item = self.table.item(row, 2) if row >= 0 else None
        self.context_note.setText(item.text() if item is not None and item.text()
                                  else CONTEXT_NOTE)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 1:
            return
        self._edited = True
        self._filling = True
        src = self.table.item(item.row(), 2)
        if src is not None:
            src.setText(EDITED)
            src.setToolTip(EDITED)
        self._filling = False

    def context_values(self) -> dict[str, float]:
        """The context table's values (the NRF from the slider); ValueError for a non-number."""
        values: dict[str, float] = {}
        for r, name in enumerate(CONTEXT_FIELDS):
            item = self.table.item(r, 1)
            text = item.text().strip() if item is not None else ""
            try:
                values[name] = float(text)
            except ValueError:
                raise ValueError(f"context {name}: {text!r} is not a number") from None
        values["nrf"] = self.nrf()
        return values

    def _free_output(self, base: Path, suffix: str) -> Path:
        candidate = base.with_name(base.name + suffix)
        n = 2
        while candidate.exists():
            candidate = base.with_name(f"{base.name}_{n}{suffix}")
            n += 1
        return candidate

    def _suggest_output(self) -> None:
        if self.source is None:
            return
        p = Path(self.source["path"])
        remembered = str(_settings().value(KEY + "out_dir", "") or "")
        in_tmp = self._tmp is not None and str(p).startswith(self._tmp.name)
        folder = Path(remembered) if remembered else p.parent
        if in_tmp and not remembered:
            folder = Path(self._last_dir())
        if self.source["dicom"]:
            stem = p.stem if p.is_file() else p.name
            out = self._free_output(folder / f"{stem}_aio", "")
        else:
            stem = p.name.removesuffix(".gz").removesuffix(".nii")
            stem = Path(stem).stem if "." in stem else stem
            out = self._free_output(folder / f"{stem}_aio", ".nii.gz")
        self.out_path.setText(str(out))

    def choose_output(self) -> None:
        """A new or empty folder for a DICOM source, a file name for the rest."""
        if self.source is None:
            self.show_error("open an image first")
            return
        start = self.out_path.text() or self._last_dir()
        if self.source["dicom"]:
            path = QFileDialog.getExistingDirectory(
                self, "Folder for the derived DICOM series (new or empty)", str(Path(start).parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Save the enhanced image", start,
                                                  SAVE_FILTER)
        if path:
            self.out_path.setText(path)
            _settings().setValue(KEY + "out_dir", str(Path(path).parent))

    # ----------------------------------------------------------------------------- enhance
    def enhance(self) -> bool:
        """Enhance the source at the slider's NRF into the output path (a job)."""
        if self.source is None:
            self.show_error("open a DICOM file or folder, or an image, first")
            return False
        model, why = self._model()
        if model is None:
            self.show_error(why)
            return False
        out = self.out_path.text().strip()
        if not out:
            self.show_error("choose where to write the output")
            return False
        context: Any = None
        if self._edited:
            try:
                from headtwin_app.core.enhance.context import Context

                context = Context.from_dict(self.context_values())
            except ValueError as exc:
                self.show_error(str(exc))
                return False
        explicit = model if self.model_path.text().strip() else None
        self.report = None
        self.progress.setRange(0, 1000)
        return self._start(JOB_ENHANCE, enhance_and_read, self.source["path"], self.nrf(),
                           str(Path(out).expanduser()), context, explicit,
                           on_result=self._on_result)

    def _on_result(self, result: dict[str, Any]) -> None:
        report = result["report"]
        self.report = report
        src = self.source or {"dicom": False, "slices": 1}
        self.output_view.show(result["middle"],
                              f"output, NRF {report['nrf']:.1f} ({report['network']} network)",
                              self._levels, bool(src["dicom"]))
        self.report_label.setText(self._report_html(report, src.get("shape")))
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.progress_label.setText(f"{JOB_ENHANCE}: done in {report['seconds']:.2f} s")
        _settings().setValue(KEY + "out_dir", str(Path(report["out"]).parent))
        self._suggest_output()  # the next run must not meet a non-empty folder
        self.result_shown.emit(report)

    @staticmethod
    def _report_html(report: dict[str, Any], shape: list[int] | None = None) -> str:
        if report.get("format") == "DICOM":
            n = int(report.get("files", 0))
            wrote = (f"wrote {n} derived DICOM file{'s' if n != 1 else ''} (new series) into "
                     f"<b>{report['out']}</b>")
        else:
            wrote = f"wrote <b>{report['out']}</b>"
        worked = list(report["shape"])
        rows, cols = shape or worked
        cropped = (f" (the network saw {worked[0]} × {worked[1]}: zero-padding cropped)"
                   if list(shape or worked) != worked else "")
        slices = int(report["slices"])
        note = report.get("context_sources", {}).get("network", "")
        mapped = (f" (network context NRF {report['context_nrf']:.2f}"
                  + (f", output mixed {report['mix']:.2f} with the input"
                     if report.get("mix", 1.0) < 1.0 else "")
                  + ")" if "context_nrf" in report else "")
        return (f"{wrote}<br>NRF {report['nrf']:.1f}{mapped}; {report['network']} network "
                f"({report.get('variant', '')}, {Path(report['model']).name}); {slices} "
                f"slice{'s' if slices != 1 else ''} of {rows} × {cols}{cropped}; "
                f"{report['seconds']:.2f} s"
                + (f"<br><span style='color:gray; font-size:9pt'>{note}</span>" if note else ""))

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        if self._tmp is not None and not self._running:
            self._tmp.cleanup()
            self._tmp = None
        super().closeEvent(event)


class EnhanceDialog(QDialog):
    """The All-in-one enhancement panel in its own window."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.panel = EnhancePanel(state, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        self.resize(1240, 780)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Closing stops this panel's job (the window's other jobs go on)."""
        self.panel.cancel()
        super().closeEvent(event)


_DIALOGS: weakref.WeakKeyDictionary[AppState, EnhanceDialog] = weakref.WeakKeyDictionary()


def open_enhance_dialog(state: AppState, parent: QWidget | None = None) -> EnhanceDialog:
    """Show the window's one All-in-one dialog (made on first use) and bring it to the front."""
    dlg = _DIALOGS.get(state)
    if dlg is None or not shiboken6.isValid(dlg):  # its parent window was closed
        dlg = EnhanceDialog(state, parent.window() if parent is not None else None)
        _DIALOGS[state] = dlg
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
