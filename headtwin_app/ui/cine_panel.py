"""The Cine (k-t) panel, opened from the k-space designer and the reconstruction workspace:
open a cine (NIfTI) or generate the phantom's, play it, choose a k-t mask (family, R, seed) and
see it as a ky × t image with its x-f point-spread function, then reconstruct the undersampled
cine (zero-filled, L+S or a cascade CNN) with progress and Cancel, and compare PSNR/SSIM/HFEN
with the zero-filled image.

All computation is in the core: `core.kt_masks` (masks, PSF, sidelobe), `core.recon.cine_data`
(phantom, NIfTI), `core.recon.cine_predict` (undersampling, reconstruction) and
`core.recon.cine_metrics`. Phantom generation, opening and reconstruction run on the window's
job runner; the mask preview runs on its own worker thread, changes coalesced, so it follows
the controls even while a reconstruction runs.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from headtwin_app.ui.cine_view import CinePlayer, KtMaskView
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.job_panel import JobPanelMixin
from headtwin_app.ui.state import AppState

KEY = "cine/"  # QSettings prefix
TITLE = "Cine (k-t)"
SHORTCUT = "Ctrl+Shift+K"  # opens the panel from the designer and the reconstruction workspace
FAMILY_TITLES = {
    "kt_vd_cartesian": "variable-density Cartesian (ky lines per frame)",
    "kt_lattice": "k-t lattice (sheared ky lines, k-t BLAST/SENSE)",
    "kt_random": "random ky lines per frame (k-t FOCUSS / CS)",
    "kt_golden_radial": "golden-angle radial spokes",
}
METHOD_TITLES = {"zf": "zero-filled", "lps": "L+S (low-rank + sparse)",
                 "cascade2d": "cascade CNN 2D (frame by frame)",
                 "cascade3d": "cascade CNN 3D (x-y-t)"}
METRICS = (("psnr", "PSNR", "{:.2f} dB"), ("ssim", "SSIM", "{:.4f}"), ("hfen", "HFEN", "{:.4f}"))
NIFTI_FILTER = "NIfTI cine (*.nii *.nii.gz);;All files (*)"
JOB_RECON = "cine reconstruction"


def _settings() -> QSettings:
    return QSettings()


def kt_family_names() -> tuple[str, ...]:
    from headtwin_app.core.kt_masks import KT_FAMILY_NAMES

    return tuple(KT_FAMILY_NAMES)


def cine_methods() -> tuple[str, ...]:
    from headtwin_app.core.recon.cine_predict import CINE_METHODS

    return tuple(CINE_METHODS)


class CinePanel(QWidget, JobPanelMixin):
    """Open or generate a cine, design its k-t mask, reconstruct and compare."""

    cine_shown = Signal(object)  # the (nt, ny, nx) cine now shown
    mask_shown = Signal(object)  # the mask-preview dict (mask, psf, sidelobe, achieved, ...)
    result_shown = Signal(object)  # the reconstruction's result dict

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.seq: np.ndarray | None = None
        self.seq_name = ""
        self.preview: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self._levels: tuple[float, float] | None = None  # the cine's, shared by every view
        self._running = ""  # the job this panel started, while it runs
        self._last_job = ""
        self._mask_worker: Any = None
        self._mask_dirty = False
        self._mask_timer = QTimer(self)
        self._mask_timer.setSingleShot(True)
        self._mask_timer.setInterval(0)
        self._mask_timer.timeout.connect(self._compute_mask)
        self._build()
        self._restore()
        state.jobs.busy_changed.connect(self._set_busy)
        state.jobs.cancelled.connect(self._on_cancelled)
        self._set_busy(state.jobs.is_busy)

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        controls = QWidget()
        col = QVBoxLayout(controls)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self._build_source_box())
        col.addWidget(self._build_mask_box())
        col.addWidget(self._build_recon_box())
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("ready: open a cine or generate the phantom's")
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running job at its next step")
        self.cancel_button.clicked.connect(self.cancel)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")
        left = QWidget()
        left.setMinimumWidth(320)
        left.setMaximumWidth(380)
        lcol = QVBoxLayout(left)
        lcol.setContentsMargins(0, 0, 0, 0)
        lcol.addWidget(scroll, 1)
        for w in (self.progress, self.progress_label, self.cancel_button, self.error_label):
            lcol.addWidget(w)

        self.mask_view = KtMaskView()
        self.player = CinePlayer(("cine", "zero-filled", "reconstruction"))
        self.player.frame_changed.connect(self.mask_view.show_frame)
        self.metrics_label = QLabel("")
        self.metrics_label.setTextFormat(Qt.TextFormat.RichText)
        self.metrics_label.setObjectName("cine-metrics")
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.mask_view)
        views.addWidget(self.player)
        views.setStretchFactor(0, 2)
        views.setStretchFactor(1, 3)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(views, 1)
        right.addWidget(self.metrics_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(left)
        layout.addLayout(right, 1)

    def _build_source_box(self) -> QGroupBox:
        self.open_button = QPushButton("Open cine…")
        self.open_button.setToolTip("a 3D NIfTI: frames × ny × nx (magnitude)")
        self.open_button.clicked.connect(self.open_dialog)
        self.slice_box = QSpinBox()
        self.slice_box.setRange(0, 4096)
        self.slice_box.setToolTip("the slice taken from a multi-slice cine (x, y, s, t), e.g. "
                                  "the cardiac phantom's magnitude.nii.gz; 0 for a one-slice "
                                  "cine")
        self.phantom_seed = QSpinBox()
        self.phantom_seed.setRange(0, 999999)
        self.phantom_seed.setToolTip("each seed is a different phantom cine")
        self.frames = QSpinBox()
        self.frames.setRange(4, 100)
        self.frames.setValue(20)
        self.frames.setToolTip("frames of the phantom cine")
        self.size = QSpinBox()
        self.size.setRange(32, 384)
        self.size.setSingleStep(32)
        self.size.setValue(192)
        self.size.setSuffix(" px")
        self.size.setToolTip("matrix of the phantom cine")
        self.phantom_button = QPushButton("Phantom cine")
        self.phantom_button.setToolTip("generate the phantom's cine (a synthetic beating "
                                       "heart) with this seed")
        self.phantom_button.clicked.connect(self.generate_phantom)
        box = QGroupBox("Cine")
        form = QFormLayout(box)
        opener = QHBoxLayout()
        opener.addWidget(self.open_button, 1)
        opener.addWidget(QLabel("slice"))
        opener.addWidget(self.slice_box)
        form.addRow(opener)
        sizes = QHBoxLayout()
        sizes.addWidget(self.frames)
        sizes.addWidget(QLabel("size"))
        sizes.addWidget(self.size)
        form.addRow("seed", self.phantom_seed)
        form.addRow("frames", sizes)
        form.addRow(self.phantom_button)
        self.cine_label = QLabel("no cine")
        self.cine_label.setWordWrap(True)
        self.cine_label.setStyleSheet("color: gray; font-size: 9pt;")
        form.addRow(self.cine_label)
        return box

    def _build_mask_box(self) -> QGroupBox:
        self.family = QComboBox()
        for name in kt_family_names():
            self.family.addItem(name, name)
            self.family.setItemData(self.family.count() - 1, FAMILY_TITLES.get(name, name),
                                    Qt.ItemDataRole.ToolTipRole)
        self.accel = QDoubleSpinBox()
        self.accel.setRange(1.0, 32.0)
        self.accel.setSingleStep(1.0)
        self.accel.setDecimals(1)
        self.accel.setValue(4.0)
        self.accel.setToolTip("acceleration R requested (the achieved R is shown under the "
                              "mask)")
        self.mask_seed = QSpinBox()
        self.mask_seed.setRange(0, 999999)
        self.mask_seed.setToolTip("the mask's random seed")
        box = QGroupBox("k-t mask")
        form = QFormLayout(box)
        form.addRow("family", self.family)
        form.addRow("R", self.accel)
        form.addRow("seed", self.mask_seed)
        self.family_note = QLabel("")
        self.family_note.setWordWrap(True)
        self.family_note.setStyleSheet("color: gray; font-size: 9pt;")
        form.addRow(self.family_note)
        self.family.currentIndexChanged.connect(self._on_mask_param)
        self.accel.valueChanged.connect(self._on_mask_param)
        self.mask_seed.valueChanged.connect(self._on_mask_param)
        return box

    def _build_recon_box(self) -> QGroupBox:
        self.method = QComboBox()
        for name in cine_methods():
            self.method.addItem(METHOD_TITLES.get(name, name), name)
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText("shipped model")
        self.model_path.setToolTip("a .pt checkpoint for the cascade methods; empty: the "
                                   "shipped model")
        browse = self.model_path.addAction(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DirOpenIcon), QLineEdit.ActionPosition.TrailingPosition)
        browse.setToolTip("choose a checkpoint…")
        browse.triggered.connect(self._browse_model)
        self.run_button = QPushButton("Reconstruct")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.reconstruct)
        box = QGroupBox("Reconstruction")
        form = QFormLayout(box)
        form.addRow("method", self.method)
        form.addRow("model", self.model_path)
        form.addRow(self.run_button)
        self.method.currentIndexChanged.connect(self._on_method)
        return box

    # ----------------------------------------------------------------------------- settings
    def _restore(self) -> None:
        s = _settings()
        i = self.family.findData(s.value(KEY + "family", "kt_vd_cartesian"))
        self.family.setCurrentIndex(max(i, 0))
        i = self.method.findData(s.value(KEY + "method", "zf"))
        self.method.setCurrentIndex(max(i, 0))
        for name, box, kind, default in (("accel", self.accel, float, 4.0),
                                         ("mask_seed", self.mask_seed, int, 0),
                                         ("phantom_seed", self.phantom_seed, int, 0),
                                         ("frames", self.frames, int, 20),
                                         ("size", self.size, int, 192),
                                         ("fps", self.player.fps, int, 10)):
            try:
                box.setValue(kind(s.value(KEY + name, default)))
            except (TypeError, ValueError):
                box.setValue(default)
            box.valueChanged.connect(lambda v, n=name: _settings().setValue(KEY + n, v))
        self.model_path.setText(str(s.value(KEY + "model", "")))
        self.model_path.editingFinished.connect(
            lambda: _settings().setValue(KEY + "model", self.model_path.text().strip()))
        self.family.currentIndexChanged.connect(
            lambda _i: _settings().setValue(KEY + "family", self.family.currentData()))
        self.method.currentIndexChanged.connect(
            lambda _i: _settings().setValue(KEY + "method", self.method.currentData()))
        self._on_method()
        self._on_mask_param()

    def _browse_model(self) -> None:
        start = self.model_path.text() or str(_settings().value(KEY + "last_dir", Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Cine cascade checkpoint", start,
                                              "PyTorch checkpoint (*.pt);;All files (*)")
        if path:
            self.model_path.setText(path)
            _settings().setValue(KEY + "model", path)

    def _on_method(self, *_: Any) -> None:
        self.model_path.setEnabled(str(self.method.currentData()).startswith("cascade"))

    # ----------------------------------------------------------------------------- jobs
    def is_busy(self) -> bool:
        """A job of this panel, or the mask preview, runs or is pending (tests wait on it)."""
        return bool(self._running) or self._mask_worker is not None or self._mask_dirty

    def _set_busy(self, busy: bool) -> None:
        mine = bool(self._running)
        self.cancel_button.setEnabled(busy and mine)
        for w in (self.open_button, self.phantom_button):
            w.setEnabled(not busy)
        self.run_button.setEnabled(not busy and self.seq is not None)
        self.run_button.setToolTip("" if self.seq is not None else
                                   "open a cine or generate the phantom's first")

    # ----------------------------------------------------------------------------- cine
    def generate_phantom(self) -> bool:
        """The phantom's cine with the seed, frames and size of the Cine box (a job)."""
        from headtwin_app.core.recon.cine_data import phantom_cine

        seed, frames, size = self.phantom_seed.value(), self.frames.value(), self.size.value()
        name = f"phantom cine {seed}"
        return self._start(f"generating {name}", phantom_cine, seed, frames=frames, size=size,
                           on_result=lambda seq: self.set_cine(seq, f"{name} (synthetic)"))

    def open_dialog(self) -> None:
        start = str(_settings().value(KEY + "last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open a cine", start, NIFTI_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a NIfTI cine (a job); a bad file shows as one line."""
        from headtwin_app.core.recon.cine_data import load_cine

        p = Path(path)
        _settings().setValue(KEY + "last_dir", str(p.parent))
        k = self.slice_box.value()
        name = f"{p.name}, slice {k}" if k else p.name
        return self._start(f"opening {name}", load_cine, p, slice_index=k,
                           on_result=lambda out: self.set_cine(out[0], name))

    def set_cine(self, seq: Any, name: str = "cine") -> bool:
        """Show `seq` (frames, ny, nx); a wrong shape shows as a message (False)."""
        try:
            from headtwin_app.core.recon.cine_job import check_cine

            arr = check_cine(seq)
        except ValueError as exc:
            self.show_error(f"{name}: {exc}")
            return False
        self.player.pause()
        self.seq = arr
        self.seq_name = name
        self.result = None
        self.metrics_label.setText("")
        nt, ny, nx = arr.shape
        self.cine_label.setText(f"{name}: {nt} frames × {ny} × {nx}")
        self.player.set_sequence(0, arr, "cine (fully sampled)")
        self._levels = self.player.levels(0)
        self.player.set_sequence(1, None, "zero-filled")
        self.player.set_sequence(2, None, "reconstruction")
        self.player.set_frame(0)
        self._done(f"{name}: ready")
        self._set_busy(self.state.jobs.is_busy)
        self._on_mask_param()
        self.cine_shown.emit(arr)
        return True

    # ----------------------------------------------------------------------------- mask
    def mask_shape(self) -> tuple[int, int, int]:
        """The cine's shape, or the phantom's while no cine is open."""
        if self.seq is not None:
            return tuple(int(n) for n in self.seq.shape)  # type: ignore[return-value]
        return (self.frames.value(), self.size.value(), self.size.value())

    def _on_mask_param(self, *_: Any) -> None:
        """Coalesce: changes within one event-loop turn (or during a computation) lead to
        one preview with the latest values."""
        self._mask_dirty = True
        if not self._mask_timer.isActive():
            self._mask_timer.start()

    def _compute_mask(self) -> None:
        if not self._mask_dirty or self._mask_worker is not None:
            return
        self._mask_dirty = False
        family = str(self.family.currentData())
        from headtwin_app.core.recon.cine_job import mask_preview

        worker = create_worker(mask_preview, family, self.mask_shape(), self.accel.value(),
                               self.mask_seed.value(), _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._show_mask)
        worker.errored.connect(lambda exc: self.show_error(f"k-t mask: {error_text(exc)}"))
        worker.finished.connect(self._mask_done)
        self._mask_worker = worker
        worker.start()

    def _mask_done(self) -> None:
        self._mask_worker = None
        if self._mask_dirty:
            self._mask_timer.start()

    def _show_mask(self, preview: dict[str, Any]) -> None:
        self.preview = preview
        self.family_note.setText(FAMILY_TITLES.get(preview["family"], ""))
        self.mask_view.set_mask(preview["mask"], preview["psf"], preview["sidelobe"],
                                preview["achieved"],
                                f"{preview['family']}, R {preview['accel']:g}")
        self.mask_view.show_frame(self.player.frame())
        if self.error_label.text().startswith("k-t mask:"):
            self.error_label.setText("")
        self.mask_shown.emit(preview)

    # ----------------------------------------------------------------------------- recon
    def _model(self) -> str | None:
        text = self.model_path.text().strip()
        if not text or not str(self.method.currentData()).startswith("cascade"):
            return None
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"model file not found: {path}")
        return str(path)

    def reconstruct(self) -> bool:
        """Undersample the cine with the k-t mask and reconstruct it (a job)."""
        if self.seq is None:
            self.show_error("open a cine or generate the phantom's first")
            return False
        try:
            model = self._model()
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        method = str(self.method.currentData())
        self.progress.setRange(0, 1000)
        from headtwin_app.core.recon.cine_job import cine_recon_steps

        return self._start(JOB_RECON, cine_recon_steps, self.seq,
                           str(self.family.currentData()), self.accel.value(),
                           self.mask_seed.value(), method, model, on_result=self._on_result)

    def _on_result(self, result: dict[str, Any]) -> None:
        self.result = result
        method = result["method"]
        self.player.set_sequence(1, result["zero_filled"], "zero-filled", self._levels)
        self.player.set_sequence(2, result["recon"], METHOD_TITLES.get(method, method),
                                 self._levels)
        self._fill_metrics(result)
        self._done(f"{JOB_RECON}: done ({METHOD_TITLES.get(method, method)})")
        self.result_shown.emit(result)

    def _fill_metrics(self, result: dict[str, Any]) -> None:
        method = result["method"]
        rows = [("zf", "zero-filled")]
        if method != "zf":
            rows.append((method, METHOD_TITLES.get(method, method)))
        head = "".join(f"<th align='right'>&nbsp;&nbsp;{title}</th>" for _k, title, _f in METRICS)
        body = ""
        for key, title in rows:
            m = result["metrics"].get(key, {})
            cells = "".join(
                f"<td align='right'>&nbsp;&nbsp;{fmt.format(m[k]) if k in m else '–'}</td>"
                for k, _t, fmt in METRICS)
            body += f"<tr><td>{title}</td>{cells}</tr>"
        gain = ""
        zf, rec = result["metrics"].get("zf", {}), result["metrics"].get(method, {})
        if method != "zf" and "psnr" in zf and "psnr" in rec:
            gain = (f"<br>{METHOD_TITLES.get(method, method)} vs zero-filled: "
                    f"<b>{rec['psnr'] - zf['psnr']:+.2f} dB</b> PSNR, "
                    f"SSIM {rec.get('ssim', 0) - zf.get('ssim', 0):+.4f}")
        self.metrics_label.setText(
            f"<table><tr><th></th>{head}</tr>{body}</table>{gain}"
            "<br><span style='color:gray; font-size:9pt'>whole sequence against the fully "
            "sampled cine (magnitudes); HFEN: lower is better</span>")


class CineDialog(QDialog):
    """The Cine (k-t) panel in its own window."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.panel = CinePanel(state, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        self.resize(1280, 820)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Closing stops this panel's job (the window's other jobs go on)."""
        self.panel.cancel()
        super().closeEvent(event)


_DIALOGS: weakref.WeakKeyDictionary[AppState, CineDialog] = weakref.WeakKeyDictionary()


def open_cine_dialog(state: AppState, parent: QWidget | None = None) -> CineDialog:
    """Show the window's one Cine (k-t) dialog (made on first use) and bring it to the front."""
    dlg = _DIALOGS.get(state)
    if dlg is None or not shiboken6.isValid(dlg):  # its parent window was closed
        dlg = CineDialog(state, parent.window() if parent is not None else None)
        _DIALOGS[state] = dlg
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
