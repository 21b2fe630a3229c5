"""The Cardiac twin workspace (issue 17, the HDL paper): generate a synthetic subject or open a
case, play its cine with the LV mask, interpolate temporally down-sampled frames, synthesise the
phase (velocity) images and compare the myocardial velocity curves with the truth.

All computation is in `headtwin_app.core.cardiac` (`phantom.make_case`, `store`, `loaders`,
`velocity.assess_case`, `interp`, `phase_net`); every long step runs on the window's job runner
with progress and Cancel. Parts of the core that are not installed leave their button disabled,
with a tooltip naming what is missing. Every generated subject is synthetic, and the status
line says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.cardiac.phantom import CardiacCase, make_case
from headtwin_app.core.cardiac.store import load_case, save_case
from headtwin_app.core.cardiac.velocity import DIRECTIONS
from headtwin_app.ui.cardiac_views import BLOOD_PEN, MYO_PEN, PRED_PEN, ImagePanel, VelocityPlots
from headtwin_app.ui.job_panel import JobPanelMixin
from headtwin_app.ui.state import AppState

KEY = "cardiac/"  # QSettings prefix
PHASE_COMPONENTS = (("x", "in-plane x"), ("y", "in-plane y"), ("z", "through-plane"))
METHODS = (("net", "R2U-Net (paper)"), ("linear", "linear"), ("hs", "Horn–Schunck flow"))
SCHEMES = (("fgbg", "foreground/background (paper)"), ("vanilla", "vanilla pix2pix"))
PEAK_COLUMNS = (("psv", "PSV"), ("tpsv", "TPSV"), ("pdv", "PDV"), ("tpdv", "TPDV"),
                ("mean", "mean"))
PEAK_TIPS = {"psv": "peak systolic velocity, mm/s", "tpsv": "its time, frames",
             "pdv": "peak diastolic velocity, mm/s", "tpdv": "its time, frames",
             "mean": "cycle mean of |v|, mm/s"}
PHASE_WINDOW = float(np.pi) / 2  # phase panels show ±π/2 rad (myocardial velocities are small)
SOURCE_TITLES = {"truth": "truth", "case": "case phase", "synth": "synthesised"}
METRIC_TITLES = (("dice", "Dice myo", ".3f", ""), ("dice_lv", "Dice LV", ".3f", ""),
                 ("ssim", "SSIM", ".3f", ""), ("psnr", "PSNR", ".1f", " dB"),
                 ("msew1", "MSE ω1", ".2e", ""), ("msew2", "MSE ω2", ".2e", ""),
                 ("seconds", "in", ".1f", " s"))
# core parts that land separately: (module, function names, generator variants)
CORE = {
    "assess": ("headtwin_app.core.cardiac.velocity", ("assess_case",), ()),
    "interp": ("headtwin_app.core.cardiac.interp_net", ("interpolate_case",),
               ("interpolate_steps",)),
    "synth": ("headtwin_app.core.cardiac.phase_net", ("synthesize_case",), ("synthesize_steps",)),
    "synth_metrics": ("headtwin_app.core.cardiac.phase_net", ("phase_metrics",), ()),
    "agreement": ("headtwin_app.core.cardiac.phase_net", ("curve_agreement",), ()),
    "loaders": ("headtwin_app.core.cardiac.loaders", ("load_cardiac",), ()),
    "subject": ("headtwin_app.core.cardiac.phantom", ("make_case",),
                ("make_case_steps", "make_case_iter")),
}
MISSING = {"assess": "velocity assessment (core.cardiac.velocity.assess_case) is not installed",
           "interp": "temporal interpolation (core.cardiac.interp_net.interpolate_case) is not "
                     "installed yet",
           "synth": "phase synthesis (core.cardiac.phase_net.synthesize_case) is not installed yet",
           "loaders": "opening .npz/.h5/DICOM needs core.cardiac.loaders (not installed yet): "
                      "only case folders written by `headtwin cardiac-phantom` open"}


def core_available(part: str) -> bool:
    """Whether the core function of `part` is there: checked exactly once its module is
    imported, else by finding the module without importing it (torch takes seconds)."""
    module = CORE[part][0]
    if module in sys.modules:
        return core_function(part) is not None
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def core_function(part: str, generator: bool = False) -> Callable[..., Any] | None:
    """The core function of `part` (its generator variant when asked and present), or None."""
    module, names, steps = CORE[part]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    for name in (steps if generator else ()) + names:
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    return None


def open_cardiac(path: str | Path) -> CardiacCase:
    """A case folder (`store.load_case`) or, through `core.cardiac.loaders`, the user's file."""
    p = Path(path)
    loader = core_function("loaders")
    if loader is not None:
        return loader(p)
    if p.is_dir():
        return load_case(p)
    from headtwin_app.core.errors import UserError

    raise UserError(f"{p.name}: {MISSING['loaders']}")


def _settings() -> QSettings:
    return QSettings()


class CardiacWorkspace(QWidget, JobPanelMixin):
    """Generate or open a cardiac cine, play it, interpolate frames, synthesise the phase and
    compare the velocity curves with the truth."""

    case_shown = Signal(object)  # CardiacCase, after the views are updated
    interpolation_shown = Signal(object)  # metrics dict
    synthesis_shown = Signal(object)  # the synthesised phase (x, y, slice, frame, 3)
    velocity_shown = Signal(str)  # source ("case" or "synth") whose assessment was drawn
    frame_changed = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.case: CardiacCase | None = None
        self.case_name = ""
        self.interp: dict[str, Any] | None = None  # k, method, magnitude, lv_mask, metrics
        self.synth: dict[str, Any] | None = None  # scheme, phase
        self.assessed: dict[str, dict[str, Any]] = {}  # source -> assess_case result
        self._running = ""  # the job this workspace started, while it runs
        self._levels = (0.0, 1.0)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._build()
        self._build_shortcuts()
        self._restore()
        self._last_job = ""
        state.jobs.busy_changed.connect(self._set_busy)
        state.jobs.cancelled.connect(self._on_cancelled)
        self._set_busy(state.jobs.is_busy)
        self._show_frame()

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        controls = QWidget()
        col = QVBoxLayout(controls)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self._build_subject_box())
        col.addWidget(self._build_cine_box())
        col.addWidget(self._build_interp_box())
        col.addWidget(self._build_synth_box())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running job at its next step")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress_label = QLabel("ready: generate a subject or open a case")
        self.progress_label.setWordWrap(True)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        left = QWidget()  # the job's progress, Cancel and errors stay in view below the scroll
        left.setMinimumWidth(300)
        left.setMaximumWidth(340)
        lcol = QVBoxLayout(left)
        lcol.setContentsMargins(0, 0, 0, 0)
        lcol.addWidget(scroll, 1)
        for widget in (self.progress, self.progress_label, self.cancel_button, self.error_label):
            lcol.addWidget(widget)

        self.images = pg.GraphicsLayoutWidget()
        self.images.ci.setSpacing(2)
        self.panels = {
            "cine": ImagePanel(self.images, 0, 0, "cine (magnitude)", None),
            "interp": ImagePanel(self.images, 0, 1, "interpolated", None),
            "interp_err": ImagePanel(self.images, 0, 2, "|error| interpolated", "inferno"),
            "phase": ImagePanel(self.images, 1, 0, "true phase", "CET-D4"),
            "synth": ImagePanel(self.images, 1, 1, "synthesised phase", "CET-D4"),
            "synth_err": ImagePanel(self.images, 1, 2, "|error| phase", "inferno"),
        }
        self.curves_view = pg.GraphicsLayoutWidget()
        self.curves = VelocityPlots(self.curves_view, DIRECTIONS)
        self.table = QTableWidget(0, 2 + len(PEAK_COLUMNS))
        self.table.setHorizontalHeaderLabels(
            ["direction", "source"] + [title for _k, title in PEAK_COLUMNS])
        for c, (key, _title) in enumerate(PEAK_COLUMNS, 2):
            self.table.horizontalHeaderItem(c).setToolTip(PEAK_TIPS[key])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for c in (0, 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(430)
        self.table_note = QLabel("velocities in mm/s, times in frames (0 = R wave); "
                                 "truth: the phantom's analytic curves")
        self.table_note.setWordWrap(True)
        self.table_note.setStyleSheet("color: gray; font-size: 9pt;")
        table_box = QWidget()
        tcol = QVBoxLayout(table_box)
        tcol.setContentsMargins(0, 0, 0, 0)
        tcol.addWidget(self.table, 1)
        tcol.addWidget(self.table_note)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.curves_view)
        bottom.addWidget(table_box)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.images)
        views.addWidget(bottom)
        views.setStretchFactor(0, 3)
        views.setStretchFactor(1, 2)

        self.synthetic_label = QLabel("")
        self.synthetic_label.setObjectName("cardiac-synthetic")
        self.synthetic_label.setWordWrap(True)
        self.synthetic_label.setStyleSheet("color: #f0ad4e;")
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(views, 1)
        right.addWidget(self.synthetic_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(left)
        layout.addLayout(right, 1)
        self._say_synthetic()

    def _build_subject_box(self) -> QGroupBox:
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        self.seed.setToolTip("each seed is a different subject (size, wall, heart rate, torsion)")
        self.snr = QDoubleSpinBox()
        self.snr.setRange(-1.0, 200.0)
        self.snr.setDecimals(1)
        self.snr.setSingleStep(5.0)
        self.snr.setSpecialValueText("the subject's own")
        self.snr.setToolTip("myocardium signal / noise σ; 0 = noise-free; lowest value: the SNR "
                            "drawn with the subject (15–30)")
        self.frames = QSpinBox()
        self.frames.setRange(8, 100)
        self.frames.setToolTip("frames per R-R interval (the paper: 50)")
        self.slices = QSpinBox()
        self.slices.setRange(1, 9)
        self.slices.setToolTip("short-axis slices, base to apex")
        self.size = QSpinBox()
        self.size.setRange(48, 256)
        self.size.setSingleStep(16)
        self.size.setSuffix(" px")
        self.size.setToolTip("in-plane matrix (1.5 mm pixels)")
        self.generate_button = QPushButton("Generate subject")
        self.generate_button.setToolTip("a synthetic short-axis cine with exact velocities")
        self.generate_button.clicked.connect(self.generate)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("your own cine: a case folder, a phase-contrast DICOM "
                                    "folder, or a .npz / .h5 file")
        menu = QMenu(self.open_button)
        menu.addAction("Case or DICOM folder…", lambda: self.open_dialog(folder=True))
        self.open_file_action = menu.addAction("File (.npz, .h5)…",
                                               lambda: self.open_dialog(folder=False))
        self.open_file_action.setEnabled(core_available("loaders"))
        self.open_button.setMenu(menu)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("write the case as a folder (NIfTI maps and case.json)")
        self.save_button.clicked.connect(self.save_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.open_button, 1)
        buttons.addWidget(self.save_button, 1)
        box = QGroupBox("Subject")
        form = QFormLayout(box)
        form.addRow("seed", self.seed)
        form.addRow("SNR", self.snr)
        sizes = QHBoxLayout()
        sizes.addWidget(self.frames)
        sizes.addWidget(QLabel("slices"))
        sizes.addWidget(self.slices)
        form.addRow("frames", sizes)
        form.addRow("size", self.size)
        form.addRow(buttons)
        self.case_label = QLabel("no case")
        self.case_label.setWordWrap(True)
        self.case_label.setStyleSheet("color: gray; font-size: 9pt;")
        form.addRow(self.case_label)
        return box

    def _build_cine_box(self) -> QGroupBox:
        self.slice = QSpinBox()
        self.slice.setRange(0, 0)
        self.slice.setToolTip("short-axis slice (0 = base)  [ / ]")
        self.slice.valueChanged.connect(lambda _v: self._show_frame())
        self.frame = QSlider(Qt.Orientation.Horizontal)
        self.frame.setRange(0, 0)
        self.frame.setToolTip("cardiac phase  ← / →; ticks mark the frames kept for "
                              "interpolation")
        self.frame.valueChanged.connect(self._on_frame)
        self.frame_label = QLabel("frame –")
        self.frame_label.setMinimumWidth(110)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("play / pause the cine  (Space)")
        self.play_button.toggled.connect(self._on_play)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("playback speed, frames per second")
        self.fps.valueChanged.connect(self._on_fps)
        self.mask_box = QCheckBox("LV mask outline")
        self.mask_box.setChecked(True)
        self.mask_box.toggled.connect(lambda _v: self._show_frame())
        box = QGroupBox("Cine")
        form = QFormLayout(box)
        form.addRow("slice", self.slice)
        frame_row = QHBoxLayout()
        frame_row.addWidget(self.frame, 1)
        frame_row.addWidget(self.frame_label)
        form.addRow(frame_row)
        play_row = QHBoxLayout()
        play_row.addWidget(self.play_button)
        play_row.addWidget(self.fps)
        form.addRow(play_row)
        form.addRow(self.mask_box)
        return box

    def _build_interp_box(self) -> QGroupBox:
        self.k = QSpinBox()
        self.k.setRange(1, 9)
        self.k.setToolTip("down-sampling factor: every (K+1)-th frame is kept, the K between "
                          "are predicted")
        self.k.valueChanged.connect(lambda _v: self._mark_kept())
        self.method = QComboBox()
        for key, title in METHODS:
            self.method.addItem(title, key)
        self.interp_model = self._model_field("the shipped interpolation model (method R2U-Net)")
        self.interp_button = QPushButton("Interpolate")
        self.interp_button.clicked.connect(self.interpolate)
        self.interp_metrics = QLabel("")
        self.interp_metrics.setWordWrap(True)
        self.interp_metrics.setStyleSheet("font-size: 9pt;")
        box = QGroupBox("Temporal interpolation")
        form = QFormLayout(box)
        form.addRow("K", self.k)
        form.addRow("method", self.method)
        form.addRow("model", self.interp_model)
        form.addRow(self.interp_button)
        form.addRow(self.interp_metrics)
        return box

    def _build_synth_box(self) -> QGroupBox:
        self.scheme = QComboBox()
        for key, title in SCHEMES:
            self.scheme.addItem(title, key)
        self.direction = QComboBox()
        for i, (_key, title) in enumerate(PHASE_COMPONENTS):
            self.direction.addItem(title, i)
        self.direction.setToolTip("velocity-encoding direction shown in the phase panels")
        self.direction.currentIndexChanged.connect(lambda _i: self._show_frame())
        self.synth_model = self._model_field("the shipped phase model of the scheme")
        self.synth_button = QPushButton("Synthesise phase")
        self.synth_button.clicked.connect(self.synthesize)
        self.synth_metrics = QLabel("")
        self.synth_metrics.setWordWrap(True)
        self.synth_metrics.setStyleSheet("font-size: 9pt;")
        box = QGroupBox("Phase synthesis")
        form = QFormLayout(box)
        form.addRow("scheme", self.scheme)
        self.from_interp = QCheckBox("from the interpolated cine")
        self.from_interp.setToolTip("synthesise from the interpolated magnitude (the paper's "
                                    "K > 0 pipeline) instead of the full cine")
        form.addRow("model", self.synth_model)
        form.addRow(self.from_interp)
        form.addRow("show", self.direction)
        form.addRow(self.synth_button)
        form.addRow(self.synth_metrics)
        return box

    def _model_field(self, default: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText("shipped model")
        edit.setToolTip(f"a .pt checkpoint; empty: {default}")
        browse = edit.addAction(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DirOpenIcon), QLineEdit.ActionPosition.TrailingPosition)
        browse.setToolTip("choose a checkpoint…")
        browse.triggered.connect(lambda: self._browse_model(edit))
        return edit

    def _browse_model(self, edit: QLineEdit) -> None:
        start = edit.text() or str(Path.cwd() / "models")
        path, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", start,
                                              "PyTorch checkpoint (*.pt);;All files (*)")
        if path:
            edit.setText(path)

    @staticmethod
    def _model_path(edit: QLineEdit) -> Path | None:
        text = edit.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"model file not found: {path}")
        return path

    def _build_shortcuts(self) -> None:
        def key(seq: str | QKeySequence | Qt.Key, slot: Callable[[], Any]) -> QShortcut:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            return sc

        key(Qt.Key.Key_Space, self.play_button.toggle)
        key(Qt.Key.Key_Right, lambda: self.step_frame(1))
        key(Qt.Key.Key_Left, lambda: self.step_frame(-1))
        key(".", lambda: self.step_frame(1))
        key(",", lambda: self.step_frame(-1))
        key(Qt.Key.Key_Home, lambda: self.frame.setValue(0))
        key(Qt.Key.Key_End, lambda: self.frame.setValue(self.frame.maximum()))
        key("]", lambda: self.slice.setValue(self.slice.value() + 1))
        key("[", lambda: self.slice.setValue(self.slice.value() - 1))

    # ----------------------------------------------------------------------------- settings
    _REMEMBERED = ("seed", "snr", "frames", "slices", "size", "fps", "k")
    _CHOICES = ("method", "scheme", "direction")

    def _restore(self) -> None:
        s = _settings()
        defaults = {"seed": 1, "snr": -1.0, "frames": 50, "slices": 3, "size": 128, "fps": 20,
                    "k": 3}
        for name in self._REMEMBERED:
            box = getattr(self, name)
            kind = float if isinstance(box, QDoubleSpinBox) else int
            try:
                box.setValue(kind(s.value(KEY + name, defaults[name])))
            except (TypeError, ValueError):
                box.setValue(defaults[name])
            box.valueChanged.connect(lambda v, n=name: _settings().setValue(KEY + n, v))
        for name in self._CHOICES:
            combo: QComboBox = getattr(self, name)
            i = combo.findData(s.value(KEY + name, combo.itemData(0)))
            if i < 0:
                i = combo.findData(int(s.value(KEY + name, 0))) if name == "direction" else 0
            combo.setCurrentIndex(max(i, 0))
            combo.currentIndexChanged.connect(
                lambda _i, n=name, c=combo: _settings().setValue(KEY + n, c.currentData()))
        for name in ("interp_model", "synth_model"):
            edit: QLineEdit = getattr(self, name)
            edit.setText(str(s.value(KEY + name, "")))
            edit.editingFinished.connect(
                lambda n=name, e=edit: _settings().setValue(KEY + n, e.text().strip()))
        self.mask_box.setChecked(s.value(KEY + "mask_outline", True) in (True, "true"))
        self.mask_box.toggled.connect(lambda v: _settings().setValue(KEY + "mask_outline", v))

    # ----------------------------------------------------------------------------- jobs
    def is_busy(self) -> bool:
        return bool(self._running)

    def _set_busy(self, busy: bool) -> None:
        mine = bool(self._running)
        self.cancel_button.setEnabled(busy and mine)
        has_case = self.case is not None
        for button in (self.generate_button, self.open_button):
            button.setEnabled(not busy)
        self.save_button.setEnabled(not busy and has_case)
        self._enable_core_button(self.interp_button, "interp", busy, has_case)
        self._enable_core_button(self.synth_button, "synth", busy, has_case)

    def _enable_core_button(self, button: QPushButton, part: str, busy: bool,
                            has_case: bool) -> None:
        if not core_available(part):
            button.setEnabled(False)
            button.setToolTip(MISSING[part])
            return
        button.setEnabled(not busy and has_case)
        button.setToolTip("" if has_case else "generate a subject or open a case first")

    def _on_progress(self, item: Any) -> tuple[str, float] | None:
        """The mixin's, with the job runner's `default_progress` ((done, total) counts too)."""
        from headtwin_app.ui.jobs import default_progress

        shown = default_progress(item)
        if shown is None:
            return None
        text, fraction = shown
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(1000 * min(fraction, 1.0))))
        self.progress_label.setText(f"{self._running}: {text}" if text else self._running)
        return f"{self._running}: {text}", fraction

    def _on_cancelled(self, name: str) -> None:
        """A job of this panel stopped by Cancel (here or in the window's status bar); unlike the
        mixin's, an unnamed job matches before any job of this panel finished."""
        if name == self._last_job:
            self.progress_label.setText(f"{name}: cancelled")
            self.progress.setValue(0)

    # ----------------------------------------------------------------------------- subject
    def subject_params(self) -> dict[str, Any]:
        snr = self.snr.value()
        return {"seed": self.seed.value(), "frames": self.frames.value(),
                "slices": self.slices.value(), "size": self.size.value(),
                "snr": None if snr < 0 else snr}

    def generate(self) -> bool:
        """Generate the subject the Subject box describes (a job)."""
        p = self.subject_params()
        steps = core_function("subject", generator=True)
        fn = steps if steps is not None else make_case
        snr = "its own SNR" if p["snr"] is None else f"SNR {p['snr']:g}"
        name = f"synthetic subject {p['seed']}"
        self._pending_name = f"{name} ({snr})"
        return self._start(f"generating {name}", fn, p["seed"], frames=p["frames"],
                           slices=p["slices"], size=p["size"], snr=p["snr"],
                           on_result=lambda case: self.set_case(case, self._pending_name))

    def open_dialog(self, folder: bool = True) -> None:
        start = str(_settings().value(KEY + "last_dir", str(Path.home())))
        if folder:
            path = QFileDialog.getExistingDirectory(
                self, "Open a cardiac case or phase-contrast DICOM folder", start)
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open a cardiac cine", start,
                "Cardiac cine (*.npz *.h5 *.hdf5);;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a case folder or file (a job); errors show as one line."""
        p = Path(path)
        _settings().setValue(KEY + "last_dir", str(p.parent if p.is_file() else p))
        return self._start(f"opening {p.name}", open_cardiac, p,
                           on_result=lambda case: self.set_case(case, p.name))

    def save_dialog(self) -> None:
        if self.case is None:
            return
        start = str(_settings().value(KEY + "last_dir", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self, "Save the case into a folder", start)
        if path:
            self.save_to(path)

    def save_to(self, folder: str | Path) -> bool:
        if self.case is None:
            return False
        out = Path(folder)
        return self._start(f"saving {out.name}", save_case, self.case, out,
                           on_result=lambda _paths: self._done(f"saved to {out}"))

    def set_case(self, case: CardiacCase, name: str = "case") -> None:
        """Show `case`: cine, truth curves; then measure velocities from its phase (a job)."""
        self.play_button.setChecked(False)
        self.case = case
        self.case_name = name
        self.interp = None
        self.synth = None
        self.assessed = {}
        nx, ny, ns, nf = case.magnitude.shape
        top = float(np.percentile(case.magnitude, 99.5)) or 1.0
        self._levels = (0.0, top)
        self.slice.blockSignals(True)
        self.slice.setRange(0, ns - 1)
        self.slice.setValue(min(self.slice.value(), ns - 1))
        self.slice.blockSignals(False)
        self.frame.blockSignals(True)
        self.frame.setRange(0, nf - 1)
        self.frame.setValue(0)
        self.frame.blockSignals(False)
        info = case.info or {}
        hr = info.get("heart_rate_bpm")
        rr = f", {hr:.0f} bpm" if isinstance(hr, (int, float)) else ""
        self.case_label.setText(f"{name}: {nx}×{ny}, {ns} slice{'s' if ns > 1 else ''}, "
                                f"{nf} frames{rr}")
        self.interp_metrics.setText("")
        self.synth_metrics.setText("")
        self.curves.clear()
        truth = (info.get("truth") or {}).get("curves_mm_s")
        if truth:
            self.curves.set_curves("truth", truth)
        self._fill_table()
        self._mark_kept()
        self._say_synthetic()
        self._show_frame()
        self._done(f"{name}: ready")
        self._set_busy(self.state.jobs.is_busy)
        self.case_shown.emit(case)
        if case.lv_mask is None:
            self.progress_label.setText(f"{name}: no LV mask, so no velocity curves (give one "
                                        "with the file's lv_mask)")
        elif case.phase is not None or case.velocity is not None:
            self.assess("case")

    def _say_synthetic(self) -> None:
        info = (self.case.info or {}) if self.case is not None else {}
        if self.case is None:
            text = ("Subjects here are synthetic: HeadTwin's cardiac phantom with analytic "
                    "velocities. No real cardiac MR ships with the app; open your own case "
                    "to see real data.")
        elif info.get("synthetic"):
            snr = info.get("snr")
            snr_text = ("noise-free" if snr == 0 else f"SNR {snr:.1f}"
                        if isinstance(snr, (int, float)) else "")
            text = (f"Synthetic subject (HeadTwin cardiac phantom, seed {info.get('seed')}, "
                    f"{snr_text}): not a real heart. The truth curves are the phantom's "
                    "analytic velocities.")
        else:
            text = f"{self.case_name}: your data (no ground truth: curves are measured only)."
        self.synthetic_label.setText(text)

    # ----------------------------------------------------------------------------- cine
    def step_frame(self, delta: int) -> None:
        n = self.frame.maximum() + 1
        self.frame.setValue((self.frame.value() + delta) % n)

    def _on_frame(self, value: int) -> None:
        self._show_frame()
        self.frame_changed.emit(value)

    def _on_play(self, playing: bool) -> None:
        if playing and self.case is None:
            self.play_button.setChecked(False)
            return
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.timer.start(int(round(1000 / self.fps.value())))
        else:
            self.timer.stop()

    def hideEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        """Another tab is shown: the cine pauses."""
        self.play_button.setChecked(False)
        super().hideEvent(event)

    def _on_fps(self, fps: int) -> None:
        if self.timer.isActive():
            self.timer.setInterval(int(round(1000 / fps)))

    def _tick(self) -> None:
        self.step_frame(1)

    def is_playing(self) -> bool:
        return self.timer.isActive()

    def kept_frames(self) -> list[int]:
        """The frames an interpolation keeps (from its metrics, else every (K+1)-th)."""
        if self.interp is not None:
            kept = self.interp["metrics"].get("kept_frames")
            if kept is not None:
                return [int(f) for f in kept]
            step = self.interp["k"] + 1
        else:
            step = self.k.value() + 1
        return list(range(0, self.frame.maximum() + 1, step))

    def _mark_kept(self) -> None:
        k = self.interp["k"] if self.interp is not None else self.k.value()
        self.frame.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.frame.setTickInterval(k + 1)
        self._show_frame()

    def _show_frame(self) -> None:
        case = self.case
        if case is None:
            self.frame_label.setText("frame –")
            for key, panel in self.panels.items():
                panel.show(None, (0, 1), panel.title if key != "cine" else "cine (magnitude)")
            return
        s, f = self.slice.value(), self.frame.value()
        nf = case.magnitude.shape[3]
        kept = f in self.kept_frames()
        mark = (" · kept" if kept else " · predicted") if self.interp is not None else ""
        self.frame_label.setText(f"frame {f} of {nf}{mark}")
        self.curves.set_frame(f)
        lo, hi = self._levels
        truth = case.magnitude[:, :, s, f]
        mask = case.lv_mask[:, :, s, f] if case.lv_mask is not None else None
        self.panels["cine"].show(truth, (lo, hi), f"cine: slice {s}, frame {f}")
        outlines: list[tuple[np.ndarray, float, object]] = []
        if mask is not None and self.mask_box.isChecked():
            outlines = [(mask, 0.5, MYO_PEN), (mask, 1.5, BLOOD_PEN)]
        self.panels["cine"].outline(outlines)
        self._show_interp(truth, mask, s, f, kept, (lo, hi))
        self._show_phase(s, f)

    def _show_interp(self, truth: np.ndarray, mask: np.ndarray | None, s: int, f: int,
                     kept: bool, levels: tuple[float, float]) -> None:
        interp, err = self.panels["interp"], self.panels["interp_err"]
        if self.interp is None:
            interp.show(None, levels, "interpolated (run Interpolate)")
            interp.outline([])
            err.show(None, levels, "|error| interpolated")
            return
        pred = self.interp["magnitude"][:, :, s, f]
        what = "kept frame (input)" if kept else "predicted"
        interp.show(pred, levels, f"{self.interp['title']}: {what}")
        outlines: list[tuple[np.ndarray, float, object]] = []
        if self.mask_box.isChecked():
            if self.interp.get("lv_mask") is not None:
                outlines.append((self.interp["lv_mask"][:, :, s, f], 0.5, PRED_PEN))
            if mask is not None:
                outlines.append((mask, 0.5, MYO_PEN))
        interp.outline(outlines)
        err.show(np.abs(pred - truth), (0.0, 0.25 * levels[1]),
                 "|error| interpolated" + (" (kept: 0)" if kept else ""))

    def _show_phase(self, s: int, f: int) -> None:
        case = self.case
        assert case is not None
        c = int(self.direction.currentData() or 0)
        name = PHASE_COMPONENTS[c][1]
        levels = (-PHASE_WINDOW, PHASE_WINDOW)
        true = case.phase[:, :, s, f, c] if case.phase is not None else None
        self.panels["phase"].show(true, levels, f"true phase: {name} (±π/2 rad)"
                                  if true is not None else "true phase: none in this case")
        if self.synth is None:
            self.panels["synth"].show(None, levels, "synthesised phase (run Synthesise)")
            self.panels["synth_err"].show(None, levels, "|error| phase")
            return
        pred = self.synth["phase"][:, :, s, f, c]
        self.panels["synth"].show(pred, levels, f"synthesised: {name} ({self.synth['scheme']})")
        if true is None:
            self.panels["synth_err"].show(None, levels, "|error| phase: no true phase")
        else:
            self.panels["synth_err"].show(np.abs(pred - true), (0.0, float(np.pi)),
                                          "|error| phase (rad)")

    # ----------------------------------------------------------------------------- interpolation
    def interpolate(self) -> bool:
        """Keep every (K+1)-th frame and predict the others with the chosen method (a job)."""
        if self.case is None:
            self.show_error("generate a subject or open a case first")
            return False
        k, method = self.k.value(), str(self.method.currentData())
        fn = core_function("interp", generator=True)
        if fn is None:
            self.show_error(MISSING["interp"])
            self._set_busy(self.state.jobs.is_busy)
            return False
        try:
            model = self._model_path(self.interp_model) if method == "net" else None
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        title = f"{self.method.currentText().split(' (')[0]}, K = {k}"
        return self._start(f"interpolation ({title})", fn, self.case, k, method=method,
                           model_path=model,
                           on_result=lambda r: self._on_interp(r, k, method, title))

    def _on_interp(self, result: Any, k: int, method: str, title: str) -> None:
        magnitude, lv_mask, metrics = result
        self.interp = {"k": k, "method": method, "title": title, "magnitude": magnitude,
                       "lv_mask": lv_mask, "metrics": dict(metrics or {})}
        self.interp_metrics.setText(self._metrics_text(self.interp["metrics"]))
        self._mark_kept()
        self._done(f"interpolation ({title}): done")
        self.interpolation_shown.emit(self.interp["metrics"])

    @staticmethod
    def _metrics_text(metrics: dict[str, Any]) -> str:
        """The core's metrics in one line: Dice, SSIM, PSNR and the ω-weighted MSEs."""
        parts = []
        for key, title, fmt, unit in METRIC_TITLES:
            value = metrics.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append(f"{title} {value:{fmt}}{unit}")
        return " · ".join(parts)

    # ----------------------------------------------------------------------------- synthesis
    def synthesize(self) -> bool:
        """Synthesise the three phase images from the magnitude cine (a job), then score them
        against the case's phase and measure the velocities from them (two more jobs)."""
        if self.case is None:
            self.show_error("generate a subject or open a case first")
            return False
        fn = core_function("synth", generator=True)
        if fn is None:
            self.show_error(MISSING["synth"])
            self._set_busy(self.state.jobs.is_busy)
            return False
        scheme = str(self.scheme.currentData())
        try:
            model = self._model_path(self.synth_model)
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        from_interp = self.from_interp.isChecked() and self.interp is not None
        magnitude = self.interp["magnitude"] if from_interp and self.interp else None
        what = f"{scheme}, from the K = {self.interp['k']} cine" if from_interp and \
            self.interp else scheme
        case = self.case
        return self._start(f"phase synthesis ({what})", fn, case, scheme=scheme,
                           model_path=model, magnitude=magnitude,
                           on_result=lambda phase: self._on_synth(phase, what, case,
                                                                  from_interp))

    def _on_synth(self, phase: Any, what: str, case: CardiacCase, from_interp: bool) -> None:
        if case is not self.case:
            return
        mask = self.interp["lv_mask"] if from_interp and self.interp else None
        self.synth = {"scheme": what, "phase": np.asarray(phase), "metrics": {},
                      "lv_mask": mask}
        self.synth_metrics.setText("")
        self._show_frame()
        self._done(f"phase synthesis ({what}): done")
        self.synthesis_shown.emit(self.synth["phase"])
        self._score_synth()

    def _score_synth(self) -> bool:
        """Table I metrics of the synthesised phase against the case's (a job)."""
        case, synth = self.case, self.synth
        score = core_function("synth_metrics")
        if case is None or synth is None or case.phase is None or case.lv_mask is None \
                or score is None:
            return self.assess("synth")

        def shown(metrics: dict[str, Any]) -> None:
            if synth is self.synth:
                synth["metrics"] = dict(metrics)
                self.synth_metrics.setText(self._metrics_text(synth["metrics"]))
            self.assess("synth")

        return self._start("phase metrics", score, case.phase, synth["phase"], case.magnitude,
                           case.lv_mask, on_result=shown)

    # ----------------------------------------------------------------------------- velocities
    def assess(self, source: str) -> bool:
        """Measure the global velocity curves and peaks from the case's phase ("case") or the
        synthesised one ("synth", with the curves' agreement with the truth) — a job."""
        case = self.case
        if case is None:
            return False
        if source == "synth":
            if self.synth is None:
                return False
            agree = core_function("agreement")
            if agree is not None:
                return self._start("velocity assessment (synthesised)", agree, case,
                                   self.synth["phase"], lv_mask=self.synth.get("lv_mask"),
                                   on_result=lambda r: self._on_agreement(r, case))
        fn = core_function("assess")
        if fn is None:
            self.progress_label.setText(MISSING["assess"])
            return False
        phase = case.phase if source == "case" else self.synth["phase"] if self.synth else None
        return self._start(f"velocity assessment ({SOURCE_TITLES[source]})", fn, case,
                           phase=phase,
                           on_result=lambda r: self._on_assessed(r, source, case))

    def _on_agreement(self, result: dict[str, Any], case: CardiacCase) -> None:
        """`phase_net.curve_agreement`: the synthesised curves, their peaks and r values."""
        r = result.get("r_vs_true_phase") or result.get("r_vs_analytic") or {}
        against = "true phase" if "r_vs_true_phase" in result else "truth"
        if r and self.synth is not None:
            text = " · ".join(f"{d[:4]} {v:.2f}" for d, v in r.items())
            metrics = self._metrics_text(self.synth["metrics"])
            self.synth_metrics.setText((metrics + "\n" if metrics else "")
                                       + f"r vs {against}: {text}")
        self._on_assessed({"curves_mm_s": result.get("synth_curves_mm_s"),
                           "peaks": result.get("synth_peaks"), "agreement": result},
                          "synth", case)

    def _on_assessed(self, result: dict[str, Any], source: str, case: CardiacCase) -> None:
        if case is not self.case:
            return  # a newer case replaced the one measured
        self.assessed[source] = result
        self.curves.set_curves(source, result.get("curves_mm_s"))
        self._fill_table()
        self._done(f"velocities measured ({SOURCE_TITLES[source]})")
        self.velocity_shown.emit(source)

    def _peaks(self) -> dict[str, dict[str, dict[str, float]]]:
        """source -> direction -> PSV/TPSV/PDV/TPDV/mean, for every source at hand."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        info = (self.case.info or {}) if self.case is not None else {}
        truth = (info.get("truth") or {}).get("peaks")
        if truth:
            out["truth"] = truth
        for source in ("case", "synth"):
            if source in self.assessed and self.assessed[source].get("peaks"):
                out[source] = self.assessed[source]["peaks"]
        return out

    def _fill_table(self) -> None:
        peaks = self._peaks()
        rows = [(d, src) for d in DIRECTIONS for src in ("truth", "case", "synth")
                if d in peaks.get(src, {})]
        self.table.setRowCount(len(rows))
        for r, (d, src) in enumerate(rows):
            values = peaks[src][d]
            self.table.setItem(r, 0, QTableWidgetItem(d))
            title = SOURCE_TITLES[src]
            if src == "case" and self.assessed["case"].get("source") == "velocity":
                title = "case velocity"
            self.table.setItem(r, 1, QTableWidgetItem(title))
            for c, (key, _title) in enumerate(PEAK_COLUMNS, 2):
                v = values.get(key)
                text = "" if v is None else f"{v:.2f}" if key.startswith("t") else f"{v:.1f}"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()

    def table_rows(self) -> Iterator[tuple[str, str, list[str]]]:
        """(direction, source, cells) per table row — what the table shows."""
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c).text() for c in range(2, self.table.columnCount())]
            yield self.table.item(r, 0).text(), self.table.item(r, 1).text(), cells
