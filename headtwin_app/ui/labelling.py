"""The labelling workspace: three-stage annotation (manual → reviewed proposals → automatic).

The widget is thin: the case logic is `core.edit.case_editor.CaseEditor` (strokes, tools and undo
in its `LabellingSession`); the Project and Review tabs and the Grow box are mixins in
`labelling_project`, `labelling_review` and `grow_panel`; long jobs (proposal, import,
auto-labelling, retraining) run on the window's job runner with progress and Cancel. Only the
current slice's overlay is redrawn while a stroke is painted; the other views catch up when the
mouse is released.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
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
from headtwin_app.core.edit.case_editor import CaseEditor, NeedsPath
from headtwin_app.core.edit.diff import LabelDiff
from headtwin_app.core.edit.rules import OverwriteRule
from headtwin_app.core.edit.session import LabellingSession
from headtwin_app.core.labels import default_label_table
from headtwin_app.core.project import CaseRecord, Project
from headtwin_app.core.segfile import LABEL_FILE_FILTER
from headtwin_app.core.volume import Volume
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.grow_panel import GrowMixin
from headtwin_app.ui.labelling_project import ProjectMixin
from headtwin_app.ui.labelling_review import ReviewMixin
from headtwin_app.ui.ortho_view import OrthoViewer
from headtwin_app.ui.slice_view import PLANES
from headtwin_app.ui.state import AppState
from headtwin_app.ui.swatch import swatch as _swatch

AUTOSAVE_MS = 60_000
MAX_RADIUS = 40
TOOL_ACTIONS = (  # (tool, text, shortcut, tip)
    ("navigate", "Navigate", "N", "Click to move the crosshair, drag to pan, wheel to zoom"),
    ("brush2d", "Brush 2D", "B", "Paint a disc in the slice"),
    ("brush3d", "Brush 3D", "Shift+B", "Paint a sphere (spacing aware)"),
    ("eraser", "Eraser", "E", "Erase (only the 'over' label when the rule says so)"),
    ("fill", "Fill", "F", "Flood-fill the clicked region within the slice"),
    ("threshold", "Threshold paint", "T", "Paint only where the intensity is in [low, high]"),
    ("seed", "Seeds", "S", "Scribble seeds for Grow from seeds (Background: tick the box)"),
)
SHORTCUTS = (  # shown in Help and docs/shortcuts-labelling.md
    ("N", "Navigate (click: crosshair, drag: pan, wheel: zoom)"),
    ("B / Shift+B", "Brush 2D (disc in the slice) / Brush 3D (sphere)"),
    ("E", "Eraser"),
    ("F", "Fill (flood fill within the slice)"),
    ("T", "Threshold paint (only where intensity is in [low, high])"),
    ("S", "Seeds for Grow from seeds (the active label; background seeds: tick 'Background')"),
    ("G / Enter / Esc", "Grow from the seeds (preview) / accept the preview / cancel it"),
    ("I", "Interpolate the active label between annotated slices"),
    ("L", "Remove islands of the active label"),
    ("1 … 9", "Active label = the 1st … 9th structure"),
    (", / .", "Previous / next label"),
    ("Ctrl+click", "Pick the label under the cursor as the active label"),
    ("[ / ] or Shift+wheel", "Brush smaller / larger"),
    ("Page Up / Page Down", "Next / previous slice in the active view (also ↑ / ↓)"),
    ("Alt+1 / Alt+2 / Alt+3", "One view (the one under the mouse) / 2×2 / 1×3 layout"),
    ("O", "Outline mode on/off"),
    ("V", "Label overlay on/off"),
    ("P", "Proposal (draft) overlay on/off"),
    ("U", "Model uncertainty overlay on/off"),
    ("Ctrl+Z", "Undo (a whole stroke at a time)"),
    ("Ctrl+Y / Ctrl+Shift+Z", "Redo"),
    ("Ctrl+S", "Save the case (atomic); autosave runs every 60 s and on case switch"),
    ("H", "This help"),
    ("Mouse", "Wheel: zoom · right-drag: zoom · middle-drag: pan (also while painting)"),
)
SLICER_SHORTCUTS = (  # the "3D Slicer" set (Settings: Shortcuts), on top of the keys above
    ("← / →", "Previous / next slice"),
    ("Wheel / Ctrl+wheel", "Next or previous slice / zoom"),
    ("Esc", "Leave the editing tool (navigate)"),
    (", / .", "Previous / next segment (label)"),
)
PROFILES = ("HeadTwin", "3D Slicer")


def shortcuts_html(profile: str = "HeadTwin") -> str:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
    extra = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SLICER_SHORTCUTS)
    slicer = (f"<h4>3D Slicer set (on)</h4><table cellspacing='4'>{extra}</table>"
              if profile == "3D Slicer" else "<p>A shortcut set like 3D Slicer's Segment Editor "
              "can be chosen in the Display box.</p>")
    return f"<h3>Labelling shortcuts</h3><table cellspacing='4'>{rows}</table>{slicer}"


class LabellingWorkspace(ProjectMixin, ReviewMixin, GrowMixin, QWidget):
    """Tool bar, label list and tool options on the left, linked views in the middle, the
    project / review / metrics panels on the right. The case logic is `self.editor`
    (`core.edit.case_editor.CaseEditor`); this widget turns events into its calls."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.table = default_label_table()
        self.structures = self.table.layer("twin")
        self.editor = CaseEditor(self.table)
        self.retrainer: Callable[[Project], Iterator[Any]] | None = None  # None: the editor's
        self.last_report: tuple[Path, ...] = ()
        self._own_emit = False
        self._active_plane = "axial"
        self._proposal_worker: Any = None
        self._auto_worker: Any = None
        self._train_worker: Any = None
        self._import_worker: Any = None
        self._window_filtered = False
        self._tool = "navigate"
        self.settings = QSettings()

        self.viewer = OrthoViewer(layout="row")
        self.toolbar = self._build_toolbar()
        left = self._build_tool_panel()
        right = self._build_side_tabs()
        scroll = QScrollArea()  # the tool panel scrolls on short screens
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(left.minimumWidth() + 16)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.viewer)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([270, 900, 400])
        self.status_label = QLabel("No case: open an image, or a project (Project tab).")
        # a long message must not widen the window: the label may shrink, its tooltip keeps all
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
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
            view.picked.connect(self.pick_label_at)
            view.wheel_brush.connect(self.step_radius)
        self.viewer.cursor.connect(self._show_cursor)
        self._build_shortcuts()
        QApplication.instance().focusChanged.connect(self._keep_focus)  # type: ignore[union-attr]

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
        self.set_layout(str(self.settings.value("labelling/layout", "row")))
        self.profile_combo.setCurrentText(str(self.settings.value("labelling/shortcuts",
                                                                  PROFILES[0])))

    # --- the editor's state, as the widget's tests and other workspaces read it -----------------
    @property
    def session(self) -> LabellingSession | None:
        return self.editor.session

    @property
    def record(self) -> CaseRecord | None:
        return self.editor.record

    @property
    def case_name(self) -> str | None:
        return self.editor.case_name

    @property
    def project(self) -> Project | None:
        return self.editor.project

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
        bar.addWidget(QLabel(" Layout "))
        self.layout_combo = QComboBox()
        for text, kind in (("1×3", "row"), ("2×2", "grid"), ("1-up", "single")):
            self.layout_combo.addItem(text, kind)
        self.layout_combo.setToolTip("Views: 1×3 (Alt+3), 2×2 (Alt+2), one view (Alt+1: the "
                                     "one under the mouse)")
        self.layout_combo.activated.connect(
            lambda i: self.set_layout(self.layout_combo.itemData(i)))
        bar.addWidget(self.layout_combo)
        bar.addSeparator()
        bar.addAction("Help", self.show_help).setToolTip("Keyboard shortcuts (H)")
        for button in bar.findChildren(QWidget):  # clicks leave the keyboard with the views
            if button is not self.layout_combo:
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return bar

    def _build_tool_panel(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(250)
        col = QVBoxLayout(panel)
        col.setContentsMargins(2, 2, 2, 2)
        col.addWidget(QLabel("<b>Active label</b> (1–9, , / .; tick = visible)"))
        self.label_list = QListWidget()
        for n, lab in enumerate(self.structures, 1):
            item = QListWidgetItem(_swatch(lab.rgb), f"{n}  {lab.title}")
            item.setData(Qt.ItemDataRole.UserRole, lab.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.label_list.addItem(item)
        self.label_list.setMinimumHeight(230)
        self.label_list.currentRowChanged.connect(self._on_label_row)
        self.label_list.itemChanged.connect(self._on_visibility)
        col.addWidget(self.label_list, 1)

        brush = QGroupBox("Brush")
        form = QFormLayout(brush)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.radius_slider = QSlider(Qt.Orientation.Horizontal)
        self.radius_slider.setRange(0, MAX_RADIUS)
        self.radius_slider.setValue(3)
        self.radius_slider.setToolTip("Brush radius in voxels ([ / ], Shift+wheel)")
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

        col.addWidget(self._build_grow_box())

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
        self.heat_box = QCheckBox("Show model uncertainty (U)")
        self.heat_box.setToolTip("Where the model's test-time-augmented predictions disagree "
                                 "(after a proposal with uncertainty)")
        self.heat_box.toggled.connect(self._show_heat)
        for box in (self.outline_box, self.overlay_box, self.draft_box, self.heat_box):
            row.addWidget(box)
        prof = QHBoxLayout()
        prof.addWidget(QLabel("Shortcuts"))
        self.profile_combo = QComboBox()
        self.profile_combo.addItems(list(PROFILES))
        self.profile_combo.setToolTip("'3D Slicer': the wheel walks slices (Ctrl+wheel zooms), "
                                      "←/→ slices, Esc leaves the tool — as in Slicer's Segment "
                                      "Editor")
        self.profile_combo.currentTextChanged.connect(self.set_shortcut_profile)
        prof.addWidget(self.profile_combo, 1)
        row.addLayout(prof)
        col.addWidget(display)
        self._on_radius(self.radius_slider.value())
        return panel

    def _build_side_tabs(self) -> QTabWidget:
        tabs = QTabWidget()
        tabs.setMinimumWidth(390)
        tabs.addTab(self._build_project_tab(), "Project")
        tabs.addTab(self._build_review_tab(), "Review")
        tabs.addTab(self._build_metrics_tab(), "Metrics")
        self.side_tabs = tabs
        tabs.currentChanged.connect(lambda i: self._fill_review() if i == 1 else None)
        return tabs

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
        key(",", lambda: self.step_label(-1))
        key(".", lambda: self.step_label(1))
        key("[", lambda: self.step_radius(-1))
        key("]", lambda: self.step_radius(1))
        key("O", self.outline_box.toggle)
        key("V", self.overlay_box.toggle)
        key("P", self.draft_box.toggle)
        key("U", self.heat_box.toggle)
        key("I", self.interpolate)
        key("L", self.remove_islands)
        key("H", self.show_help)
        key("G", self.grow)
        key(Qt.Key.Key_Return, self.accept_preview)
        key(Qt.Key.Key_Enter, self.accept_preview)
        key(Qt.Key.Key_PageUp, lambda: self.step_slice(1))
        key(Qt.Key.Key_PageDown, lambda: self.step_slice(-1))
        key("Alt+1", lambda: self.set_layout("single", self._active_plane))
        key("Alt+2", lambda: self.set_layout("grid"))
        key("Alt+3", lambda: self.set_layout("row"))
        key(QKeySequence.StandardKey.Undo, self.undo)
        key("Ctrl+Y", self.redo)
        key("Ctrl+Shift+Z", self.redo)
        key("Ctrl+S", self.save)
        # the 3D Slicer set: on only with that profile
        self.slicer_keys = [key(Qt.Key.Key_Left, lambda: self.step_slice(-1)),
                            key(Qt.Key.Key_Right, lambda: self.step_slice(1))]
        self.escape_key = key(Qt.Key.Key_Escape, self.escape)

    def _keep_focus(self, old: QWidget | None, new: QWidget | None) -> None:
        """A click on a button that then goes away (a review ✔) leaves no focus widget, and
        the workspace's shortcuts would stop: give the keyboard back to the views."""
        if new is None and self.isVisible() and old is not None:
            QTimer.singleShot(0, self._refocus)

    def _refocus(self) -> None:
        if (QApplication.focusWidget() is None and self.isVisible()
                and self.window().isActiveWindow()):
            self.viewer.views[self._active_plane].graphics.setFocus()

    # --- messages -------------------------------------------------------------------------------
    def tell(self, message: str) -> None:
        """A one-line status message (workspace status line and the window's status bar)."""
        self.status_label.setText(message)
        self.status_label.setToolTip(message)
        self.state.status.emit(message)

    def warn(self, title: str, message: str) -> None:
        self.tell(message)
        QMessageBox.warning(self, title, message)

    def show_help(self) -> None:
        QMessageBox.information(self, "Labelling shortcuts",
                                shortcuts_html(self.profile_combo.currentText()))

    # --- layout and habits ----------------------------------------------------------------------
    def set_layout(self, kind: str, plane: str | None = None) -> None:
        """1×3 ("row"), 2×2 ("grid") or one view ("single", `plane`); remembered."""
        if kind not in ("row", "grid", "single"):
            kind = "row"
        self.viewer.set_layout(kind, plane)
        self.layout_combo.setCurrentIndex(self.layout_combo.findData(kind))
        self.settings.setValue("labelling/layout", kind)

    def set_shortcut_profile(self, profile: str) -> None:
        """"HeadTwin" or "3D Slicer" (wheel walks slices, ←/→ slices, Esc leaves the tool)."""
        slicer = profile == "3D Slicer"
        for sc in self.slicer_keys:
            sc.setEnabled(slicer)
        self.viewer.set_wheel_scrolls_slices(slicer)
        self.settings.setValue("labelling/shortcuts", profile)

    def escape(self) -> None:
        """Esc: cancel a grow preview; otherwise (3D Slicer set) leave the tool."""
        if self.cancel_preview():
            return
        if self.profile_combo.currentText() == "3D Slicer":
            self.set_tool("navigate")

    def pick_label_at(self, voxel: tuple[int, int, int]) -> None:
        """Ctrl+click: the label under the cursor becomes the active label."""
        if self.session is None:
            return
        value = int(self.session.labels[voxel])
        if value == 0 or value not in self.structures:
            self.tell("nothing to pick here (background or not a structure of the project)")
            return
        self.choose_label(value)
        self.tell(f"active label: {self.table[value].title}")

    def step_label(self, step: int) -> None:
        rows = self.label_list.count()
        self.label_list.setCurrentRow((self.label_list.currentRow() + step) % rows)

    def step_radius(self, step: int) -> None:
        self.radius_slider.setValue(self.radius_slider.value() + int(step))

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
        show = self.session is not None and self._tool in (
            "brush2d", "brush3d", "eraser", "threshold", "seed")
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
        extra = ""
        if self.editor.uncertainty is not None:
            extra = f"  uncertainty {float(self.editor.uncertainty[voxel]):.2f}"
        self.status_label.setText(f"voxel {tuple(voxel)}  value {value:.4g}  label {name}{extra}")

    # --- strokes --------------------------------------------------------------------------------
    def _stroke_start(self, plane: str, voxel: tuple[int, int, int]) -> None:
        if self.session is None or self.tool == "navigate":
            return
        self._active_plane = plane
        self.interp_plane.setCurrentText(plane)
        self._sync_settings()
        diff = self.session.begin_stroke(voxel, PLANES[plane][0])
        if self.tool == "seed":
            self._show_seeds(plane)
        elif self.tool == "fill":
            self._after_edit(diff)
        elif len(diff):
            self.viewer.views[plane].refresh_overlay(self._region(plane, diff))

    def _stroke_move(self, plane: str, voxel: tuple[int, int, int]) -> None:
        if self.session is None or not self.session.stroking:
            return
        diff = self.session.continue_stroke(voxel)
        if self.tool == "seed":
            if len(diff):
                self._show_seeds(plane)
        elif len(diff):  # only the touched box of this view's slice while painting
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
        seeding = self.tool == "seed"
        self._after_edit(self.session.end_stroke())
        if seeding:
            self._show_seeds()
            self.seeds_changed()

    def _sync_settings(self) -> None:
        s = self.session
        assert s is not None
        s.settings.tool = self.tool
        s.settings.label = self.active_label
        s.settings.radius = float(self.radius_slider.value())
        s.settings.seed_background = self.seed_background.isChecked()
        self._on_rule()
        self._on_threshold()

    def _after_edit(self, diff: LabelDiff, count: bool = True) -> None:
        """Redraw every view, log the edit in the case record, tell the other workspaces."""
        if not len(diff):
            return
        self.viewer.refresh_overlays()
        if count:
            self.editor.committed(diff)
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
        labels = case.labels.data if case.labels is not None else None
        try:
            self.editor.open_image(case.image, case.name, labels, case.source)
        except ValueError as exc:
            self.warn("Labels not used", str(exc))
            self.editor.open_image(case.image, case.name, None, case.source)
        self._start_session()

    def _on_state_labels(self, labels: Any) -> None:
        if self._own_emit or self.session is None or labels is None:
            return
        data = labels.data if isinstance(labels, Volume) else labels
        if data is self.session.labels:
            return
        try:
            diff = self.editor.take_labels(data, "labels from another workspace")
        except ValueError as exc:
            self.warn("Labels not used", str(exc))
            return
        self._after_edit(diff)

    def _start_session(self) -> None:
        session, record = self.session, self.record
        assert session is not None and record is not None
        self.cancel_preview()
        self.viewer.set_volume(session.image)
        self.viewer.set_labels(session.labels)
        self.viewer.set_extra(None)
        low, high = self.viewer.levels()
        for box, value in ((self.thr_low, low), (self.thr_high, high)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._sync_settings()
        self._on_radius(self.radius_slider.value())
        self._show_draft()
        self._show_heat()
        self._fill_review()
        self.metrics_table.setRowCount(0)
        self.metrics_mean.setText("")
        self._refresh_dirty()
        x, y, z = session.image.shape
        self.status_label.setText(f"{record.name}: {x}×{y}×{z}, {len(session.history)} edits")

    def _show_draft(self, *_: Any) -> None:
        proposal = self.session.proposal if self.session is not None else None
        self.viewer.set_draft(proposal if self.draft_box.isChecked() else None)

    def _show_heat(self, *_: Any) -> None:
        heat = self.editor.uncertainty if self.heat_box.isChecked() else None
        self.viewer.set_heat(heat)

    def save(self) -> bool:
        """Save the labels atomically (project case) or ask where (a case outside a project).
        Failures leave the labels in memory and say why."""
        if self.session is None:
            return False
        try:
            message = self.editor.save()
        except NeedsPath:
            path, _ = QFileDialog.getSaveFileName(self, "Save labels", "labels.nii.gz",
                                                  LABEL_FILE_FILTER)
            return self.save_labels_as(path) if path else False
        except (ValueError, OSError) as exc:
            self.warn("Not saved — your labels are still here", str(exc))
            return False
        self._refresh_dirty()
        self.refresh_cases()
        self._fill_review()
        self.tell(message)
        return True

    def save_labels_as(self, path: str | Path) -> bool:
        """NIfTI/NRRD/MHA, a 3D Slicer `.seg.nrrd` or a DICOM-SEG (`.dcm`, for a case opened
        from a DICOM series), by the suffix; names and colours travel with the last two."""
        if self.session is None:
            return False
        self.editor.source = self.state.case.source if self.state.case is not None else None
        try:
            message = self.editor.save_as(path)
        except (OSError, ValueError) as exc:
            self.warn("Not saved — your labels are still here", error_text(exc))
            return False
        self._refresh_dirty()
        self.tell(message)
        return True

    def save_if_dirty(self) -> None:
        if self.session is not None and self.session.dirty and self.case_name:
            self.save()

    def autosave_now(self) -> bool:
        """Write the unsaved labels of a project case to its autosave file (quietly)."""
        try:
            done = self.editor.autosave()
        except OSError as exc:
            self.tell(f"autosave failed: {exc}")
            return False
        if done:
            self.tell(f"autosaved {self.case_name} at {time.strftime('%H:%M:%S')}")
        return done

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
            diff = self.editor.load_labels(path)
        except (ValueError, OSError) as exc:
            self.warn("Labels not loaded — nothing changed", str(exc))
            return False
        self._after_edit(diff)
        return True

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
