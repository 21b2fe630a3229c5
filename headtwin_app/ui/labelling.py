"""The labelling workspace: three-stage annotation (manual → reviewed proposals → automatic).

The widget is thin: strokes, tools, undo and review go to `core.edit.session.LabellingSession`;
cases on disk to `core.project.Project`; long jobs (proposal, auto-labelling, retraining) run in
superqt workers with progress and Cancel. Only the current slice's overlay is redrawn while a
stroke is painted; the other views catch up when the mouse is released.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.case import Case
from headtwin_app.core.edit.diff import LabelDiff
from headtwin_app.core.edit.rules import OverwriteRule
from headtwin_app.core.edit.session import LabellingSession
from headtwin_app.core.labels import default_label_table
from headtwin_app.core.project import (
    AutoLabelProgress,
    CaseRecord,
    Predictor,
    Project,
    auto_label,
    check_labels,
    read_labels,
)
from headtwin_app.core.segfile import LABEL_FILE_FILTER, save_label_file
from headtwin_app.core.volume import Volume
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.ortho_view import OrthoViewer
from headtwin_app.ui.slice_view import PLANES
from headtwin_app.ui.state import AppState

AUTOSAVE_MS = 60_000
MAX_RADIUS = 40
TOOL_ACTIONS = (  # (tool, text, shortcut, tip)
    ("navigate", "Navigate", "N", "Click to move the crosshair, drag to pan, wheel to zoom"),
    ("brush2d", "Brush 2D", "B", "Paint a disc in the slice"),
    ("brush3d", "Brush 3D", "Shift+B", "Paint a sphere (spacing aware)"),
    ("eraser", "Eraser", "E", "Erase (only the 'over' label when the rule says so)"),
    ("fill", "Fill", "F", "Flood-fill the clicked region within the slice"),
    ("threshold", "Threshold paint", "T", "Paint only where the intensity is in [low, high]"),
)
SHORTCUTS = (  # shown in Help and docs/shortcuts-labelling.md
    ("N", "Navigate (click: crosshair, drag: pan, wheel: zoom)"),
    ("B / Shift+B", "Brush 2D (disc in the slice) / Brush 3D (sphere)"),
    ("E", "Eraser"),
    ("F", "Fill (flood fill within the slice)"),
    ("T", "Threshold paint (only where intensity is in [low, high])"),
    ("I", "Interpolate the active label between annotated slices"),
    ("L", "Remove islands of the active label"),
    ("1 … 9", "Active label = the 1st … 9th structure"),
    ("[ / ]", "Brush smaller / larger"),
    ("Page Up / Page Down", "Next / previous slice in the active view (also ↑ / ↓)"),
    ("O", "Outline mode on/off"),
    ("V", "Label overlay on/off"),
    ("P", "Proposal (draft) overlay on/off"),
    ("Ctrl+Z", "Undo (a whole stroke at a time)"),
    ("Ctrl+Y / Ctrl+Shift+Z", "Redo"),
    ("Ctrl+S", "Save the case (atomic); autosave runs every 60 s and on case switch"),
    ("H", "This help"),
    ("Mouse", "Wheel: zoom · right-drag: zoom · middle-drag: pan (also while painting)"),
)


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
    return f"<h3>Labelling shortcuts</h3><table cellspacing='4'>{rows}</table>"


def _swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(*rgb))
    return QIcon(pix)


def default_predictor() -> tuple[Predictor | None, str]:
    """The segmentation engine's proposal model when one is installed, else (None, reason)."""
    try:
        seg = importlib.import_module("headtwin_app.core.seg")
        backend = seg.get_backend("builtin")
        return backend.predict, f"{getattr(backend, 'name', 'builtin')} model"
    except Exception as exc:  # no engine, no weights, no torch: say why, do not crash
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"no segmentation backend installed ({reason[:120]})"


def stepwise(predictor: Predictor) -> Callable[[Volume], Iterator[Any]] | None:
    """The generator form of a backend's `predict` (its `iter_predict`: progress objects, then
    the label Volume) when the predictor is one, else None."""
    owner = getattr(predictor, "__self__", None)
    if getattr(predictor, "__name__", "") != "predict" or owner is None:
        return None
    steps = getattr(owner, "iter_predict", None)
    return steps if callable(steps) else None


def default_retrainer() -> Callable[[Project], Iterator[Any]] | None:
    """`headtwin_app.core.seg.retrain.retrain_project(project)` once the engine provides it: a
    generator over the project's accepted cases that yields progress (an object with a
    `message`, or text) and returns the new predictor (or installs it where `default_predictor`
    finds it)."""
    try:
        module = importlib.import_module("headtwin_app.core.seg.retrain")
    except ImportError:
        return None
    return getattr(module, "retrain_project", None)


class LabellingWorkspace(QWidget):
    """Tool bar, label list and tool options on the left, three linked views in the middle, the
    project / review / metrics panels on the right."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.table = default_label_table()
        self.structures = self.table.layer("twin")
        self.session: LabellingSession | None = None
        self.project: Project | None = None
        self.case_name: str | None = None
        self.record: CaseRecord | None = None
        self.predictor: Predictor | None = None
        self.predictor_name = ""
        self.retrainer: Callable[[Project], Iterator[Any]] | None = default_retrainer()
        self.last_report: tuple[Path, ...] = ()
        self._own_emit = False
        self._active_plane = "axial"
        self._clock = time.monotonic()
        self._proposal_worker: Any = None
        self._auto_worker: Any = None
        self._train_worker: Any = None
        self._window_filtered = False

        self.viewer = OrthoViewer(layout="row")
        self.toolbar = self._build_toolbar()
        left = self._build_tool_panel()
        right = self._build_side_tabs()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.viewer)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 900, 320])
        self.status_label = QLabel("No case: open an image, or a project (Project tab).")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.toolbar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)

        for plane, view in self.viewer.views.items():
            view.stroke_started.connect(lambda v, p=plane: self._stroke_start(p, v))
            view.stroke_moved.connect(lambda v, p=plane: self._stroke_move(p, v))
            view.stroke_finished.connect(self._stroke_end)
            view.hovered.connect(lambda _v, p=plane: self._set_active_plane(p))
        self.viewer.cursor.connect(self._show_cursor)
        self._build_shortcuts()

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()

        state.case_changed.connect(self._on_state_case)
        state.labels_changed.connect(self._on_state_labels)
        state.proposal_requested.connect(self.request_proposal)
        if state.case is not None:
            self._on_state_case(state.case)
        self.set_tool("navigate")

    # --- building -------------------------------------------------------------------------------
    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Labelling tools")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, key, tip in TOOL_ACTIONS:
            action = QAction(text, self)
            action.setCheckable(True)
            action.setToolTip(f"{tip} ({key})")
            action.triggered.connect(lambda _=False, t=tool: self.set_tool(t))
            self.tool_group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool] = action
        bar.addSeparator()
        self.interp_action = bar.addAction("Interpolate", self.interpolate)
        self.interp_action.setToolTip("Fill the active label between annotated slices along the "
                                      "last painted view's axis (I)")
        self.islands_action = bar.addAction("Islands", self.remove_islands)
        self.islands_action.setToolTip("Remove small islands of the active label (L)")
        bar.addSeparator()
        self.undo_action = bar.addAction("Undo", self.undo)
        self.undo_action.setToolTip("Undo (Ctrl+Z)")
        self.redo_action = bar.addAction("Redo", self.redo)
        self.redo_action.setToolTip("Redo (Ctrl+Y / Ctrl+Shift+Z)")
        self.save_action = bar.addAction("Save", self.save)
        self.save_action.setToolTip("Save the case atomically (Ctrl+S)")
        bar.addSeparator()
        bar.addAction("Help", self.show_help).setToolTip("Keyboard shortcuts (H)")
        return bar

    def _build_tool_panel(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(250)
        col = QVBoxLayout(panel)
        col.setContentsMargins(2, 2, 2, 2)
        col.addWidget(QLabel("<b>Active label</b> (1–9; tick = visible)"))
        self.label_list = QListWidget()
        for n, lab in enumerate(self.structures, 1):
            item = QListWidgetItem(_swatch(lab.rgb), f"{n}  {lab.title}")
            item.setData(Qt.ItemDataRole.UserRole, lab.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.label_list.addItem(item)
        self.label_list.currentRowChanged.connect(self._on_label_row)
        self.label_list.itemChanged.connect(self._on_visibility)
        col.addWidget(self.label_list, 1)

        brush = QGroupBox("Brush")
        form = QFormLayout(brush)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.radius_slider = QSlider(Qt.Orientation.Horizontal)
        self.radius_slider.setRange(0, MAX_RADIUS)
        self.radius_slider.setValue(3)
        self.radius_slider.setToolTip("Brush radius in voxels ([ / ])")
        self.radius_slider.valueChanged.connect(self._on_radius)
        self.radius_label = QLabel()
        form.addRow(self.radius_label, self.radius_slider)
        self.rule_combo = QComboBox()
        self.rule_combo.addItems(["Paint over all labels", "Paint over background only",
                                  "Paint over one label only"])
        self.rule_combo.currentIndexChanged.connect(self._on_rule)
        form.addRow("Overwrite", self.rule_combo)
        self.over_combo = QComboBox()
        for lab in self.structures:
            self.over_combo.addItem(_swatch(lab.rgb), lab.title, lab.id)
        self.over_combo.setEnabled(False)
        self.over_combo.currentIndexChanged.connect(self._on_rule)
        form.addRow("Over label", self.over_combo)
        col.addWidget(brush)

        thr = QGroupBox("Threshold paint / fill range")
        form = QFormLayout(thr)
        self.thr_low, self.thr_high = QDoubleSpinBox(), QDoubleSpinBox()
        for box in (self.thr_low, self.thr_high):
            box.setRange(-1e9, 1e9)
            box.setDecimals(1)
            box.valueChanged.connect(self._on_threshold)
        form.addRow("Low", self.thr_low)
        form.addRow("High", self.thr_high)
        self.fill_threshold = QCheckBox("Fill uses the range too")
        self.fill_threshold.toggled.connect(self._on_threshold)
        form.addRow(self.fill_threshold)
        col.addWidget(thr)

        tools = QGroupBox("Interpolate / islands")
        form = QFormLayout(tools)
        self.interp_plane = QComboBox()
        self.interp_plane.addItems(list(PLANES))
        self.interp_plane.setToolTip("Interpolate across slices of this view")
        form.addRow("Along", self.interp_plane)
        self.island_min = QSpinBox()
        self.island_min.setRange(1, 10_000_000)
        self.island_min.setValue(50)
        self.island_min.setSuffix(" vox")
        form.addRow("Remove <", self.island_min)
        self.keep_largest = QCheckBox("Keep only the largest piece")
        form.addRow(self.keep_largest)
        col.addWidget(tools)

        display = QGroupBox("Display")
        row = QVBoxLayout(display)
        self.outline_box = QCheckBox("Outline mode (O)")
        self.outline_box.toggled.connect(self.viewer.set_outline)
        self.overlay_box = QCheckBox("Show labels (V)")
        self.overlay_box.setChecked(True)
        self.overlay_box.toggled.connect(self._apply_visibility)
        self.draft_box = QCheckBox("Show proposal outlines (P)")
        self.draft_box.setChecked(True)
        self.draft_box.toggled.connect(self._show_draft)
        for box in (self.outline_box, self.overlay_box, self.draft_box):
            row.addWidget(box)
        col.addWidget(display)
        self._on_radius(self.radius_slider.value())
        return panel

    def _build_side_tabs(self) -> QTabWidget:
        tabs = QTabWidget()
        tabs.setMinimumWidth(300)
        tabs.addTab(self._build_project_tab(), "Project")
        tabs.addTab(self._build_review_tab(), "Review")
        tabs.addTab(self._build_metrics_tab(), "Metrics")
        self.side_tabs = tabs
        tabs.currentChanged.connect(lambda i: self._fill_review() if i == 1 else None)
        return tabs

    def _build_project_tab(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        row = QHBoxLayout()
        for text, slot in (("New…", self.new_project_dialog), ("Open…", self.open_project_dialog),
                           ("Import…", self.import_dialog), ("Export…", self.export_dialog)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        col.addLayout(row)
        self.project_label = QLabel("No project open")
        self.project_label.setWordWrap(True)
        col.addWidget(self.project_label)
        self.case_table = QTableWidget(0, 4)
        self.case_table.setHorizontalHeaderLabels(["Case", "Stage", "Review", "Labels"])
        self.case_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.case_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.case_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.case_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.case_table.horizontalHeader().setStretchLastSection(True)
        self.case_table.verticalHeader().hide()
        self.case_table.cellActivated.connect(  # double click or Enter
            lambda r, _c: self.open_case(self.case_table.item(r, 0).text()))
        col.addWidget(self.case_table, 1)
        row = QHBoxLayout()
        load = QPushButton("Load labels…")
        load.setToolTip("Replace the labels with a label file (undoable)")
        load.clicked.connect(self.load_labels_dialog)
        row.addWidget(load)
        save = QPushButton("Save (Ctrl+S)")
        save.clicked.connect(self.save)
        row.addWidget(save)
        col.addLayout(row)

        auto = QGroupBox("Stage 3 — automatic labelling")
        acol = QVBoxLayout(auto)
        row = QHBoxLayout()
        self.auto_button = QPushButton("Auto-label all")
        self.auto_button.setToolTip("Run the model over every unlabelled case (resumable) and "
                                    "write a QC report")
        self.auto_button.clicked.connect(self.auto_label_all)
        self.auto_cancel = QPushButton("Cancel")
        self.auto_cancel.setEnabled(False)
        self.auto_cancel.clicked.connect(self.cancel_auto)
        row.addWidget(self.auto_button)
        row.addWidget(self.auto_cancel)
        acol.addLayout(row)
        self.auto_progress = QProgressBar()
        self.auto_progress.setRange(0, 1)
        self.auto_progress.setValue(0)
        acol.addWidget(self.auto_progress)
        self.report_label = QLabel("")
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        acol.addWidget(self.report_label)
        self.retrain_button = QPushButton("Retrain on accepted cases")
        self.retrain_button.clicked.connect(self.retrain)
        acol.addWidget(self.retrain_button)
        col.addWidget(auto)
        return w

    def _build_review_tab(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        intro = QLabel("<b>Stage 2</b> — request a model proposal, then accept, edit or "
                       "reject it structure by structure.")
        intro.setWordWrap(True)
        col.addWidget(intro)
        row = QHBoxLayout()
        self.proposal_button = QPushButton("Request proposal")
        self.proposal_button.clicked.connect(self.request_proposal)
        self.proposal_cancel = QPushButton("Cancel")
        self.proposal_cancel.setEnabled(False)
        self.proposal_cancel.clicked.connect(self.cancel_proposal)
        row.addWidget(self.proposal_button)
        row.addWidget(self.proposal_cancel)
        col.addLayout(row)
        self.proposal_progress = QProgressBar()
        self.proposal_progress.setRange(0, 1)
        self.proposal_progress.setValue(0)
        col.addWidget(self.proposal_progress)
        self.model_label = QLabel("Model: chosen when a proposal is requested")
        self.model_label.setWordWrap(True)
        col.addWidget(self.model_label)
        self.review_table = QTableWidget(0, 6)
        self.review_table.setHorizontalHeaderLabels(["Structure", "Status", "+vox", "−vox",
                                                     "", ""])
        self.review_table.verticalHeader().hide()
        self.review_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.review_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        col.addWidget(self.review_table, 1)
        row = QHBoxLayout()
        accept_all = QPushButton("Accept all pending")
        accept_all.clicked.connect(self.accept_all)
        refresh = QPushButton("Update changes")
        refresh.clicked.connect(self._fill_review)
        row.addWidget(accept_all)
        row.addWidget(refresh)
        col.addLayout(row)
        return w

    def _build_metrics_tab(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        row = QHBoxLayout()
        self.metrics_against = QComboBox()
        self.metrics_against.addItems(["reference", "proposal"])
        compute = QPushButton("Compute Dice")
        compute.clicked.connect(self.compute_metrics)
        row.addWidget(QLabel("Current labels vs"))
        row.addWidget(self.metrics_against)
        row.addWidget(compute)
        col.addLayout(row)
        self.metrics_table = QTableWidget(0, 2)
        self.metrics_table.setHorizontalHeaderLabels(["Structure", "Dice"])
        self.metrics_table.verticalHeader().hide()
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        col.addWidget(self.metrics_table, 1)
        self.metrics_mean = QLabel("")
        col.addWidget(self.metrics_mean)
        return w

    def _build_shortcuts(self) -> None:
        def key(seq: str | QKeySequence, slot: Callable[[], Any]) -> QShortcut:
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            return sc

        for tool, _text, shortcut, _tip in TOOL_ACTIONS:
            key(shortcut, lambda t=tool: self.set_tool(t))
        for n in range(1, 10):
            key(str(n), lambda n=n: self.choose_label_index(n - 1))
        key("[", lambda: self.radius_slider.setValue(self.radius_slider.value() - 1))
        key("]", lambda: self.radius_slider.setValue(self.radius_slider.value() + 1))
        key("O", self.outline_box.toggle)
        key("V", self.overlay_box.toggle)
        key("P", self.draft_box.toggle)
        key("I", self.interpolate)
        key("L", self.remove_islands)
        key("H", self.show_help)
        key(Qt.Key.Key_PageUp, lambda: self.step_slice(1))
        key(Qt.Key.Key_PageDown, lambda: self.step_slice(-1))
        key(QKeySequence.StandardKey.Undo, self.undo)
        key("Ctrl+Y", self.redo)
        key("Ctrl+Shift+Z", self.redo)
        key("Ctrl+S", self.save)

    # --- messages -------------------------------------------------------------------------------
    def tell(self, message: str) -> None:
        """A one-line status message (workspace status line and the window's status bar)."""
        self.status_label.setText(message)
        self.state.status.emit(message)

    def warn(self, title: str, message: str) -> None:
        self.tell(message)
        QMessageBox.warning(self, title, message)

    def show_help(self) -> None:
        QMessageBox.information(self, "Labelling shortcuts", shortcuts_html())

    # --- tools ----------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in self.tool_actions:
            raise ValueError(f"unknown tool '{tool}'")
        self.tool_actions[tool].setChecked(True)
        if self.session is not None:
            self.session.settings.tool = tool
        self._tool = tool
        painting = tool != "navigate"
        for view in self.viewer.views.values():
            view.set_paint_mode(painting)
        self._update_brush_cursor()

    @property
    def tool(self) -> str:
        return self._tool

    def choose_label_index(self, row: int) -> None:
        if 0 <= row < self.label_list.count():
            self.label_list.setCurrentRow(row)

    def choose_label(self, label_id: int) -> None:
        for row in range(self.label_list.count()):
            if self.label_list.item(row).data(Qt.ItemDataRole.UserRole) == label_id:
                self.label_list.setCurrentRow(row)
                return
        raise ValueError(f"label {label_id} is not one of the project's structures")

    @property
    def active_label(self) -> int:
        item = self.label_list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole)) if item else self.structures.ids()[0]

    def _on_label_row(self, _row: int) -> None:
        if self.session is not None:
            self.session.settings.label = self.active_label

    def _on_radius(self, value: int) -> None:
        mm = value * min(self.session.spacing) if self.session else float(value)
        self.radius_label.setText(f"Radius {value} ({mm:.1f} mm)")
        if self.session is not None:
            self.session.settings.radius = float(value)
        self._update_brush_cursor()

    def _update_brush_cursor(self) -> None:
        show = self.session is not None and getattr(self, "_tool", "navigate") in (
            "brush2d", "brush3d", "eraser", "threshold")
        mm = (self.radius_slider.value() * min(self.session.spacing)) if show else None
        for view in self.viewer.views.values():
            view.set_brush_radius(mm)

    def _on_rule(self, _index: int = 0) -> None:
        mode = ("all", "background", "label")[self.rule_combo.currentIndex()]
        self.over_combo.setEnabled(mode == "label")
        if self.session is not None:
            self.session.settings.rule = OverwriteRule(mode, int(self.over_combo.currentData()))

    def set_rule(self, mode: str, only: int = 0) -> None:
        """Choose the overwrite rule ("all", "background" or "label" with `only`)."""
        self.rule_combo.setCurrentIndex(("all", "background", "label").index(mode))
        if only:
            self.over_combo.setCurrentIndex(self.over_combo.findData(only))
        self._on_rule()

    def _on_threshold(self, *_: Any) -> None:
        if self.session is not None:
            self.session.settings.threshold = (self.thr_low.value(), self.thr_high.value())
            self.session.settings.fill_threshold = self.fill_threshold.isChecked()

    def _on_visibility(self, _item: QListWidgetItem | None = None) -> None:
        self._apply_visibility()

    def _apply_visibility(self, *_: Any) -> None:
        if not self.overlay_box.isChecked():
            visible: set[int] = set()
        else:
            visible = {int(self.label_list.item(r).data(Qt.ItemDataRole.UserRole))
                       for r in range(self.label_list.count())
                       if self.label_list.item(r).checkState() == Qt.CheckState.Checked}
            visible |= {i for i in self.table.ids() if i not in self.structures}
        self.viewer.set_visible_labels(visible)

    def _set_active_plane(self, plane: str) -> None:
        self._active_plane = plane

    def step_slice(self, step: int) -> None:
        view = self.viewer.views[self._active_plane]
        view.set_index(view.index + step)

    def _show_cursor(self, voxel: Any, value: Any) -> None:
        if voxel is None or self.session is None:
            return
        name = self.table.name_of(int(self.session.labels[voxel])) if self.session.labels[
            voxel] else "background"
        self.status_label.setText(f"voxel {tuple(voxel)}  value {value:.4g}  label {name}")

    # --- strokes --------------------------------------------------------------------------------
    def _stroke_start(self, plane: str, voxel: tuple[int, int, int]) -> None:
        if self.session is None or self.tool == "navigate":
            return
        self._active_plane = plane
        self.interp_plane.setCurrentText(plane)
        self._sync_settings()
        diff = self.session.begin_stroke(voxel, PLANES[plane][0])
        if self.tool == "fill":
            self._after_edit(diff)
        elif len(diff):
            self.viewer.views[plane].refresh_overlay(self._region(plane, diff))

    def _stroke_move(self, plane: str, voxel: tuple[int, int, int]) -> None:
        if self.session is None or not self.session.history.in_stroke:
            return
        diff = self.session.continue_stroke(voxel)
        if len(diff):  # only the touched box of this view's slice while painting
            self.viewer.views[plane].refresh_overlay(self._region(plane, diff))

    def _region(self, plane: str, diff: LabelDiff) -> tuple[int, int, int, int]:
        """The box (h0, h1, v0, v1) of `plane`'s slice that a dab changed."""
        assert self.session is not None
        coords = np.unravel_index(diff.indices, self.session.labels.shape)
        _axis, h, v = PLANES[plane]
        return (int(coords[h].min()), int(coords[h].max()) + 1, int(coords[v].min()),
                int(coords[v].max()) + 1)

    def _stroke_end(self) -> None:
        if self.session is None:
            return
        self._after_edit(self.session.end_stroke())

    def _sync_settings(self) -> None:
        s = self.session
        assert s is not None
        s.settings.tool = self.tool
        s.settings.label = self.active_label
        s.settings.radius = float(self.radius_slider.value())
        self._on_rule()
        self._on_threshold()

    def _after_edit(self, diff: LabelDiff, count: bool = True) -> None:
        """Redraw every view, log the edit in the case record, tell the other workspaces."""
        if not len(diff):
            return
        self.viewer.refresh_overlays()
        if count and self.record is not None:
            self.record.count_edit([self.table.name_of(i) for i in sorted(diff.labels_touched())])
        self._refresh_dirty()
        self._emit_labels()

    def _emit_labels(self) -> None:
        if self.session is None:
            return
        self._own_emit = True
        try:
            self.state.set_labels(self.session.volume)
        finally:
            self._own_emit = False

    def _refresh_dirty(self) -> None:
        s = self.session
        self.undo_action.setEnabled(bool(s and s.history.can_undo))
        self.redo_action.setEnabled(bool(s and s.history.can_redo))
        name = self.case_name or (self.state.case.name if self.state.case else "")
        mark = " ● unsaved" if s is not None and s.dirty else ""
        where = (f" — project {self.project.name}" if self.project and self.case_name
                 else " — not in a project (Save asks for a file)")
        self.project_label.setText(f"<b>{name}</b>{where}{mark}" if name else "No case open")

    # --- one-shot tools and undo ----------------------------------------------------------------
    def interpolate(self) -> None:
        if self.session is None:
            return
        self._sync_settings()
        axis = PLANES[self.interp_plane.currentText()][0]
        try:
            diff = self.session.interpolate(axis)
        except ValueError as exc:
            self.warn("Cannot interpolate", str(exc))
            return
        self._after_edit(diff)
        self.tell(f"interpolated {self.table.name_of(self.active_label)}: {len(diff)} voxels")

    def remove_islands(self) -> None:
        if self.session is None:
            return
        keep = self.keep_largest.isChecked()
        diff = self.session.remove_islands(None if keep else self.island_min.value(), keep,
                                           self.active_label)
        self._after_edit(diff)
        self.tell(f"removed {len(diff)} island voxels of {self.table.name_of(self.active_label)}")

    def undo(self) -> None:
        if self.session is None:
            return
        step = self.session.undo()
        if step is not None:
            self._after_edit(step.diff, count=False)
            self.tell(f"undid {step.what}")

    def redo(self) -> None:
        if self.session is None:
            return
        step = self.session.redo()
        if step is not None:
            self._after_edit(step.diff, count=False)
            self.tell(f"redid {step.what}")

    # --- cases ----------------------------------------------------------------------------------
    def _on_state_case(self, case: Case) -> None:
        """Another part of the app opened a case: label it here (outside any project)."""
        if self._own_emit:
            return
        self.autosave_now()
        labels = None
        if case.labels is not None:
            try:
                labels = check_labels(case.labels.data, case.image.shape, self.table, case.name)
            except ValueError as exc:
                self.warn("Labels not used", str(exc))
        self.case_name = None
        self._start_session(LabellingSession(case.image, labels, self.table),
                            CaseRecord(case.name))

    def _on_state_labels(self, labels: Any) -> None:
        if self._own_emit or self.session is None or labels is None:
            return
        data = labels.data if isinstance(labels, Volume) else labels
        if data is self.session.labels:
            return
        try:
            data = check_labels(data, self.session.image.shape, self.table, "new labels")
        except ValueError as exc:
            self.warn("Labels not used", str(exc))
            return
        self._after_edit(self.session.replace_labels(data, "labels from another workspace"))

    def _start_session(self, session: LabellingSession, record: CaseRecord) -> None:
        self.session = session
        self.record = record
        self._clock = time.monotonic()
        self.viewer.set_volume(session.image)
        self.viewer.set_labels(session.labels)
        low, high = self.viewer.levels()
        for box, value in ((self.thr_low, low), (self.thr_high, high)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._sync_settings()
        self._on_radius(self.radius_slider.value())
        self._show_draft()
        self._fill_review()
        self.metrics_table.setRowCount(0)
        self.metrics_mean.setText("")
        self._refresh_dirty()
        x, y, z = session.image.shape
        self.status_label.setText(f"{record.name}: {x}×{y}×{z}, {len(session.history)} edits")

    def _show_draft(self, *_: Any) -> None:
        proposal = self.session.proposal if self.session is not None else None
        self.viewer.set_draft(proposal if self.draft_box.isChecked() else None)

    def _take_seconds(self) -> float:
        now = time.monotonic()
        seconds, self._clock = now - self._clock, now
        return seconds

    # --- project --------------------------------------------------------------------------------
    def new_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the new project")
        if folder:
            self.create_project(folder)

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a labelling project")
        if folder:
            self.open_project(folder)

    def create_project(self, folder: str | Path) -> None:
        try:
            self.set_project(Project.create(folder))
        except (ValueError, OSError) as exc:
            self.warn("Cannot create the project", str(exc))

    def open_project(self, folder: str | Path) -> None:
        try:
            self.set_project(Project.open(folder))
        except (ValueError, OSError) as exc:
            self.warn("Cannot open the project", str(exc))

    def set_project(self, project: Project) -> None:
        self.autosave_now()
        self.project = project
        self.refresh_cases()
        self.tell(f"project {project.name}: {len(project.case_names())} cases")

    def refresh_cases(self) -> None:
        self.case_table.setRowCount(0)
        if self.project is None:
            return
        for name in self.project.case_names():
            try:
                rec = self.record if (name == self.case_name and self.record) else \
                    self.project.record(name)
            except ValueError:
                rec = CaseRecord(name)
            states = list(rec.review.values())
            done = sum(s in ("accepted", "edited") for s in states)
            review = f"{done}/{len(states)} ok" if states else "—"
            if any(s == "rejected" for s in states):
                review += ", rejected"
            row = self.case_table.rowCount()
            self.case_table.insertRow(row)
            has = "yes" if self.project.has_labels(name) else ""
            for col, text in enumerate((name, rec.stage, review, has)):
                self.case_table.setItem(row, col, QTableWidgetItem(text))
            if name == self.case_name:
                self.case_table.selectRow(row)

    def import_dialog(self) -> None:
        if self.project is None:
            self.warn("No project", "open or create a project before importing images")
            return
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images")
        if folder:
            self.import_folder(folder)

    def import_folder(self, folder: str | Path) -> list[str]:
        if self.project is None:
            return []
        try:
            added = self.project.import_folder(folder)
        except (ValueError, OSError) as exc:
            self.warn("Import failed", str(exc))
            return []
        self.refresh_cases()
        self.tell(f"imported {len(added)} cases")
        return added

    def export_dialog(self) -> None:
        if self.project is None:
            self.warn("No project", "open a project to export it")
            return
        folder = QFileDialog.getExistingDirectory(self, "nnU-Net raw folder (nnUNet_raw)")
        if not folder:
            return
        number, ok = QInputDialog.getInt(self, "nnU-Net dataset", "Dataset id", 1, 1, 999)
        if ok:
            self.export_nnunet(folder, number)

    def export_nnunet(self, folder: str | Path, dataset_id: int = 1) -> Path | None:
        if self.project is None:
            return None
        self.save_if_dirty()
        try:
            out = self.project.export_nnunet(folder, dataset_id)
        except (ValueError, OSError) as exc:
            self.warn("Export failed", str(exc))
            return None
        self.tell(f"exported nnU-Net dataset {out}")
        return out

    def open_case(self, name: str) -> bool:
        """Open a project case (autosaving the current one first). On a bad label file the
        current case stays open and a message says what is wrong."""
        if self.project is None:
            return False
        self.autosave_now()
        try:
            opened = self.project.open_case(name)
        except (ValueError, OSError) as exc:
            self.warn("Cannot open the case", str(exc))
            return False
        session = LabellingSession(opened.image, opened.labels.data, self.table,
                                   None if opened.proposal is None else opened.proposal.data,
                                   None if opened.reference is None else opened.reference.data)
        if opened.restored_autosave:
            session.dirty = True
        self.case_name = name
        self._start_session(session, opened.record)
        self._own_emit = True
        try:
            self.state.set_case(Case(opened.image, name, session.volume,
                                     source=self.project.case_dir(name)))
        finally:
            self._own_emit = False
        self.refresh_cases()
        self.tell(" · ".join(opened.messages) or f"opened {name}")
        return True

    def save(self) -> bool:
        """Save the labels atomically (project case) or ask where (a case outside a project).
        Failures leave the labels in memory and say why."""
        if self.session is None:
            return False
        if self.project is None or self.case_name is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save labels", "labels.nii.gz",
                                                  LABEL_FILE_FILTER)
            return self.save_labels_as(path) if path else False
        try:
            self.record = self.project.save_labels(
                self.case_name, self.session.labels, self.record, self.session.proposal,
                self._take_seconds())
        except (ValueError, OSError) as exc:
            self.warn("Not saved — your labels are still here", str(exc))
            return False
        self.session.dirty = False
        self.session.unsaved_since_autosave = False
        self._refresh_dirty()
        self.refresh_cases()
        self._fill_review()
        self.tell(f"saved {self.case_name}")
        return True

    def save_labels_as(self, path: str | Path) -> bool:
        """NIfTI/NRRD/MHA, a 3D Slicer `.seg.nrrd` or a DICOM-SEG (`.dcm`, for a case opened
        from a DICOM series), by the suffix; names and colours travel with the last two."""
        if self.session is None:
            return False
        source = self.state.case.source if self.state.case is not None else None
        try:
            save_label_file(self.session.volume, path, source, self.table)
        except (OSError, ValueError) as exc:
            self.warn("Not saved — your labels are still here", error_text(exc))
            return False
        self.session.dirty = False
        self._refresh_dirty()
        self.tell(f"saved {path}")
        return True

    def save_if_dirty(self) -> None:
        if self.session is not None and self.session.dirty and self.case_name:
            self.save()

    def autosave_now(self) -> bool:
        """Write the unsaved labels of a project case to its autosave file (quietly)."""
        s = self.session
        if s is None or self.project is None or self.case_name is None:
            return False
        if not s.unsaved_since_autosave:
            return False
        try:
            self.project.autosave(self.case_name, s.labels, self.record, self._take_seconds())
        except OSError as exc:
            self.tell(f"autosave failed: {exc}")
            return False
        s.unsaved_since_autosave = False
        self.tell(f"autosaved {self.case_name} at {time.strftime('%H:%M:%S')}")
        return True

    def load_labels_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load labels", "", "Label maps (*.nii.gz *.nii *.mha *.nrrd *.seg.nrrd *.dcm)")
        if path:
            self.load_labels_file(path)

    def load_labels_file(self, path: str | Path) -> bool:
        """Replace the labels with a file's (one undo step); a bad file changes nothing."""
        if self.session is None:
            return False
        try:
            vol = read_labels(path, self.session.image, self.table)
        except (ValueError, OSError) as exc:
            self.warn("Labels not loaded — nothing changed", str(exc))
            return False
        self._after_edit(self.session.replace_labels(vol.data, f"load {Path(path).name}"))
        return True

    # --- stage 2: proposals ---------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None, name: str = "custom model") -> None:
        """Use `predictor` (image Volume → label Volume) for proposals and auto-labelling."""
        self.predictor = predictor
        self.predictor_name = name if predictor is not None else ""
        self.model_label.setText(f"Model: {name}" if predictor else "Model: none")

    def _get_predictor(self) -> Predictor | None:
        if self.predictor is None:
            predictor, name = default_predictor()
            if predictor is None:
                self.warn("No model", f"Cannot make a proposal: {name}.")
                return None
            self.set_predictor(predictor, name)
        return self.predictor

    def request_proposal(self) -> None:
        if self.session is None or self._proposal_worker is not None:
            return
        predictor = self._get_predictor()
        if predictor is None:
            return
        image = self.session.image

        steps = stepwise(predictor)

        def job() -> Iterator[Any]:
            yield "predicting"
            if steps is None:
                return predictor(image)
            result = None
            for item in steps(image):  # progress per step; Cancel takes effect between steps
                if hasattr(item, "fraction"):
                    yield item
                else:
                    result = item
            return result

        # on the window's job runner: its failures are shown by the window (status + dialog)
        if not self.state.jobs.start("proposal", job, on_result=self._proposal_arrived,
                                     on_progress=self._proposal_step, on_error=self.tell,
                                     on_finished=self._proposal_finished):
            return
        self._proposal_worker = self.state.jobs.worker
        self.proposal_button.setEnabled(False)
        self.proposal_cancel.setEnabled(True)
        self.proposal_progress.setRange(0, 0)
        self.tell(f"requesting a proposal from {self.predictor_name}…")

    def _proposal_step(self, step: Any) -> tuple[str, float] | None:
        if not hasattr(step, "fraction"):
            return None
        self.proposal_progress.setRange(0, 100)
        self.proposal_progress.setValue(int(100 * step.fraction))
        self.proposal_progress.setFormat(f"{step.message} (%p%)")
        return f"proposal: {step.message}", float(step.fraction)

    def cancel_proposal(self) -> None:
        if self._proposal_worker is not None:
            self.state.jobs.cancel()
            self.tell("proposal cancelled")

    def _proposal_finished(self) -> None:
        self._proposal_worker = None
        self.proposal_button.setEnabled(True)
        self.proposal_cancel.setEnabled(False)
        self.proposal_progress.setRange(0, 1)
        self.proposal_progress.setValue(1)
        self.proposal_progress.setFormat("%p%")

    def _proposal_arrived(self, result: Any) -> None:
        s = self.session
        if s is None or result is None:
            return
        data = result.data if isinstance(result, Volume) else np.asarray(result)
        try:
            data = check_labels(data, s.image.shape, self.table, "the proposal")
            s.set_proposal(data)
            if self.project is not None and self.case_name is not None:
                self.record = self.project.save_proposal(
                    self.case_name, s.image.with_data(data), self.predictor_name, self.record)
            elif self.record is not None:
                self.record.stage = "semi" if self.record.stage == "manual" else self.record.stage
                for i in s.proposal_structures():
                    self.record.review[self.table.name_of(i)] = "pending"
                self.record.note("proposal", source=self.predictor_name)
        except (ValueError, OSError) as exc:
            self.warn("Proposal not used", str(exc))
            return
        self.draft_box.setChecked(True)
        self._show_draft()
        self._fill_review()
        self.refresh_cases()
        self.side_tabs.setCurrentIndex(1)
        self.tell(f"proposal with {len(s.proposal_structures())} structures: review it in the "
                  "Review tab")

    def _fill_review(self) -> None:
        table = self.review_table
        table.setRowCount(0)
        s, rec = self.session, self.record
        if s is None or rec is None or s.proposal is None:
            return
        # counting changes scans the volume: only while the Review tab is shown
        changes = s.changes() if self.side_tabs.currentIndex() == 1 else {}
        named = {lab.name: lab.id for lab in self.table}
        ids = sorted(set(s.proposal_structures()) | {named[n] for n in rec.review if n in named})
        for lab_id in ids:
            name = self.table.name_of(lab_id)
            row = table.rowCount()
            table.insertRow(row)
            item = QTableWidgetItem(self.table[lab_id].title)
            item.setIcon(_swatch(self.table[lab_id].rgb))
            table.setItem(row, 0, item)
            table.setItem(row, 1, QTableWidgetItem(rec.review.get(name, "pending")))
            c = changes.get(lab_id)
            table.setItem(row, 2, QTableWidgetItem(str(c["added"]) if c else "·"))
            table.setItem(row, 3, QTableWidgetItem(str(c["removed"]) if c else "·"))
            for col, (text, tip, slot) in enumerate(
                    (("✔", "Accept the proposal for this structure", self.accept_structure),
                     ("✘", "Reject the proposal for this structure", self.reject_structure)), 4):
                button = QPushButton(text)
                button.setToolTip(tip)
                button.setFixedWidth(28)
                button.clicked.connect(lambda _=False, i=lab_id, f=slot: f(i))
                table.setCellWidget(row, col, button)
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def accept_structure(self, label_id: int) -> None:
        self._review(label_id, "accepted")

    def reject_structure(self, label_id: int) -> None:
        self._review(label_id, "rejected")

    def accept_all(self) -> None:
        if self.session is None or self.record is None:
            return
        for lab_id in self.session.proposal_structures():
            if self.record.review.get(self.table.name_of(lab_id), "pending") == "pending":
                self._review(lab_id, "accepted", refresh=False)
        self._fill_review()

    def _review(self, label_id: int, state: str, refresh: bool = True) -> None:
        s, rec = self.session, self.record
        if s is None or rec is None or s.proposal is None:
            return
        diff = s.accept(label_id) if state == "accepted" else s.reject(label_id)
        self._after_edit(diff, count=False)
        rec.set_review(self.table.name_of(label_id), state)
        s.dirty = True
        s.unsaved_since_autosave = True
        self._refresh_dirty()
        if refresh:
            self._fill_review()
            self.refresh_cases()

    # --- stage 3: automatic labelling -----------------------------------------------------------
    def auto_label_all(self) -> None:
        if self.project is None:
            self.warn("No project", "auto-labelling runs over a project's cases: open one first")
            return
        if self._auto_worker is not None:
            return
        predictor = self._get_predictor()
        if predictor is None:
            return
        self.save_if_dirty()
        self._auto_labelled: list[str] = []
        # on the window's job runner: progress and Cancel in the status bar too, errors shown once
        if not self.state.jobs.start("auto-labelling", auto_label, self.project, predictor,
                                     source=self.predictor_name, on_progress=self._auto_progress,
                                     on_error=self.tell, on_finished=self._auto_finished):
            return
        self.state.jobs.cancelled.connect(self._auto_cancelled)
        self._auto_worker = self.state.jobs.worker
        self.auto_button.setEnabled(False)
        self.auto_cancel.setEnabled(True)
        self.auto_progress.setRange(0, max(1, len(self.project.case_names())))
        self.auto_progress.setValue(0)

    def cancel_auto(self) -> None:
        if self._auto_worker is not None:
            self.state.jobs.cancel()

    def _auto_cancelled(self, name: str) -> None:
        if name == "auto-labelling":
            self.tell("auto-labelling cancelled; run it again to resume")

    def _auto_progress(self, step: AutoLabelProgress) -> tuple[str, float]:
        self.auto_progress.setRange(0, max(1, step.total))
        self.auto_progress.setValue(step.done)
        if step.status == "report":
            self.last_report = step.report
            self.report_label.setText("QC report: " + " · ".join(str(p) for p in step.report))
            self.tell(step.message)
            return step.message, 1.0
        if step.status == "labelled":
            self._auto_labelled.append(step.case)
        extra = f": {step.message}" if step.message else ""
        text = f"auto-label {step.done}/{step.total} {step.case} {step.status}{extra}"
        self.tell(text)
        return text, step.fraction

    def _auto_finished(self) -> None:
        self._auto_worker = None
        try:
            self.state.jobs.cancelled.disconnect(self._auto_cancelled)
        except (RuntimeError, TypeError):
            pass
        self.auto_button.setEnabled(True)
        self.auto_cancel.setEnabled(False)
        s = self.session
        if (self.case_name in self._auto_labelled and s is not None and not s.dirty):
            self.open_case(self.case_name)  # show the new labels of the open case
        self.refresh_cases()

    def retrain(self) -> None:
        if self.retrainer is None:
            QMessageBox.information(
                self, "Retrain",
                "No trainable backend installed: the segmentation engine provides "
                "headtwin_app.core.seg.retrain.retrain_project(project) — until it does, "
                "proposals come from the installed model as it is.")
            self.tell("no trainable backend installed")
            return
        if self.project is None:
            self.warn("No project", "retraining uses a project's accepted cases: open one first")
            return
        if self._train_worker is not None:
            return
        self.save_if_dirty()
        if not self.state.jobs.start("retraining", self.retrainer, self.project,
                                     on_progress=self._retrain_step, on_result=self._trained,
                                     on_error=self.tell, on_finished=self._train_finished):
            return
        self._train_worker = self.state.jobs.worker
        self.retrain_button.setEnabled(False)

    def _retrain_step(self, p: Any) -> tuple[str, float]:
        text = f"retraining: {getattr(p, 'message', p)}"
        self.tell(text)
        return text, float(getattr(p, "fraction", -1.0))

    def _trained(self, result: Any) -> None:
        """The retrainer may return the new predictor; otherwise the next proposal asks the
        engine again (which then finds the newly trained model)."""
        if callable(result) or callable(getattr(result, "predict", None)):
            self.set_predictor(getattr(result, "predict", result), "retrained model")
        else:
            self.predictor = None
        self.tell("retraining finished: the next proposal uses the new model")

    def _train_finished(self) -> None:
        self._train_worker = None
        self.retrain_button.setEnabled(True)

    # --- metrics --------------------------------------------------------------------------------
    def compute_metrics(self) -> dict[int, float]:
        if self.session is None:
            return {}
        against = self.metrics_against.currentText()
        try:
            scores, mean = self.session.dice(against)
        except ValueError as exc:
            self.warn("No Dice", str(exc))
            return {}
        self.metrics_table.setRowCount(0)
        for lab_id, value in scores.items():
            row = self.metrics_table.rowCount()
            self.metrics_table.insertRow(row)
            lab = self.table[lab_id] if lab_id in self.table else None
            item = QTableWidgetItem(lab.title if lab else f"label {lab_id}")
            if lab:
                item.setIcon(_swatch(lab.rgb))
            self.metrics_table.setItem(row, 0, item)
            self.metrics_table.setItem(row, 1, QTableWidgetItem(
                "—" if math.isnan(value) else f"{value:.3f}"))
        self.metrics_mean.setText(f"Mean Dice over the structures in the {against}: "
                                  f"{mean:.3f}" if not math.isnan(mean) else f"The {against} is "
                                  "empty")
        return scores

    # --- autosave on close ----------------------------------------------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._window_filtered:
            self.window().installEventFilter(self)
            self._window_filtered = True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if obj is self.window() and event.type() == QEvent.Type.Close:
            self.autosave_now()
        return super().eventFilter(obj, event)
