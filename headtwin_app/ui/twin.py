"""The 3D twin workspace: the head twin in a VTK view beside a tree of structures.

Meshing runs in a worker thread (`render.mesh.SurfaceExtractor` makes the vtkPolyData there); the
GUI thread turns each finished mesh into an actor as it arrives. Everything the panel does is a
call on `render.scene.TwinScene`; this module only wires widgets to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import vtkCellPicker

from headtwin_app.core.case import Case
from headtwin_app.core.labelmap import changed_labels
from headtwin_app.core.labels import GROUPS
from headtwin_app.core.volume import Volume
from headtwin_app.render.export import FORMATS, export_meshes
from headtwin_app.render.mesh import (
    MeshOptions,
    StructureMesh,
    SurfaceExtractor,
    extract_printable,
    label_counts,
)
from headtwin_app.render.offscreen import capture, save_picture
from headtwin_app.render.print_check import iter_print_check
from headtwin_app.render.scene import BRAIN_LAYERS, SLICE_AXES, TwinScene, make_lod
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.state import AppState

ID_ROLE = Qt.ItemDataRole.UserRole
CLIP_AXES = (("x", "left → right"), ("y", "posterior → anterior"), ("z", "inferior → superior"))


class _VTKView(QVTKRenderWindowInteractor):
    """The VTK widget, able to let go of its render window for good (`release`).

    A VTK X window that outlives the X server (Xvfb stopped at the end of a test session)
    reconnects when it is destroyed at interpreter exit and the process dies with an X I/O error;
    releasing it while the display is there avoids that. After `release` the widget draws nothing.
    """

    def release(self) -> None:
        if self._RenderWindow is None:
            return
        self._RenderWindow.Finalize()
        self._Iren = None
        self._RenderWindow = None

    def Finalize(self) -> None:  # noqa: N802  (VTK's name)
        if self._RenderWindow is not None:
            self._RenderWindow.Finalize()

    def TimerEvent(self) -> None:  # noqa: N802
        if self._Iren is not None:
            self._Iren.TimerEvent()

    def paintEvent(self, ev) -> None:  # type: ignore[no-untyped-def]
        if self._Iren is not None:
            super().paintEvent(ev)

    def resizeEvent(self, ev) -> None:  # type: ignore[no-untyped-def]
        if self._RenderWindow is not None:
            super().resizeEvent(ev)


def _mesh_job(sources: list[tuple[SurfaceExtractor, list[int] | None]]):  # type: ignore[no-untyped-def]
    """Worker body: mesh each source's structures (None: all); yields (fraction done, mesh or
    None, coarse copy or None)."""
    for n, (extractor, ids) in enumerate(sources):
        for done, total, mesh in extractor.iter_extract(ids):
            lod = make_lod(mesh.polydata) if mesh is not None else None
            yield (n + done / total) / len(sources), mesh, lod


class ExportDialog(QDialog):
    """Format, coordinate space, decimation, one file or one per structure, visible or all
    structures, output folder; the choices are remembered for the next export."""

    def __init__(self, folder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export meshes")
        settings = QSettings()
        self.format = QComboBox()
        self.format.addItems([f.upper() for f in FORMATS])
        self.format.setCurrentText(str(settings.value("export/format", "STL")))
        self.space = QComboBox()
        self.space.addItem("LPS (3D Slicer, ITK, DICOM)", "LPS")
        self.space.addItem("RAS (NIfTI world)", "RAS")
        self.space.setCurrentIndex(0 if settings.value("export/space", "LPS") == "LPS" else 1)
        self.space.setToolTip("STL/OBJ/PLY/3MF coordinates; written into the file. glTF/GLB "
                              "always use glTF's frame (metres, +Y superior).")
        self.reduce = QDoubleSpinBox()
        self.reduce.setRange(0.0, 0.95)
        self.reduce.setSingleStep(0.1)
        self.reduce.setValue(float(settings.value("export/decimate", 0.0)))
        self.reduce.setToolTip("Fraction of triangles removed before writing (0 = none)")
        self.single = QCheckBox("One scene file (twin.<format>)")
        self.single.setChecked(settings.value("export/single", "false") in (True, "true"))
        self.printable = QCheckBox("For 3D printing: each structure a closed 2-manifold")
        self.printable.setToolTip("Meshes every structure on its own (no edge-only voxel "
                                  "contacts), so each is watertight; slower")
        self.printable.setChecked(settings.value("export/printable", "false") in (True, "true"))
        self.visible_only = QCheckBox("Visible structures only")
        self.visible_only.setChecked(True)
        self.folder = QLineEdit(str(settings.value("export/folder", folder)))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Coordinates", self.space)
        form.addRow("Decimate", self.reduce)
        form.addRow("", self.single)
        form.addRow("", self.printable)
        form.addRow("", self.visible_only)
        form.addRow("Folder", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def remember(self) -> None:
        settings = QSettings()
        settings.setValue("export/format", self.format.currentText())
        settings.setValue("export/space", self.space.currentData())
        settings.setValue("export/decimate", self.reduce.value())
        settings.setValue("export/single", self.single.isChecked())
        settings.setValue("export/printable", self.printable.isChecked())
        settings.setValue("export/folder", self.folder.text())


class PrintCheckDialog(QDialog):
    """The print check as a table: one row per structure, problems spelled out."""

    COLUMNS = ("structure", "watertight", "non-manifold edges", "volume vs voxels",
               "thinnest wall", "verdict")

    def __init__(self, rows: list[dict], resolution: float, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Print check (printer {resolution:g} mm)")
        self.table = QTableWidget(len(rows), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for r, row in enumerate(rows):
            cells = (row["name"].replace("_", " "), "yes" if row["watertight"] else "no",
                     str(row["nonmanifold_edges"]), f"{row['volume_error_pct']:+.2f} %",
                     f"{row['wall_thickness']['min_mm']:g} mm",
                     "printable" if row["printable"] else "; ".join(row["problems"]))
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(760, 420)


class TwinWorkspace(QWidget):
    """Scene view + structure tree + controls for the open case's head twin."""

    meshing_finished = Signal()
    print_checked = Signal(list)  # the print check's rows, when it is done

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.scene = TwinScene()
        self.meshes: dict[int, StructureMesh] = {}
        self._extractors: dict[str, SurfaceExtractor] = {}  # source key → extractor (cache)
        self._labels_copy: np.ndarray | None = None  # what the labels meshes were made from
        self._pending: str | None = None  # "case" or "labels": to do when the tab is shown
        self._full_load = True
        self._worker = None
        self._print_worker = None
        self._generation = 0
        self._syncing = False
        self._ruler_points: list[tuple[float, float, float]] = []
        self._ruler_mode = False
        self._closed = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(400)
        self._render_timer.timeout.connect(self._render)
        self._build_ui()
        state.case_changed.connect(self._on_case)
        state.labels_changed.connect(self._on_labels)
        if state.case is not None:
            self._on_case(state.case)

    # ----- layout -----
    def _build_ui(self) -> None:
        self.vtk_widget = _VTKView(self)
        window = self.vtk_widget.GetRenderWindow()
        window.SetNumberOfLayers(self.scene.layers)
        window.SetAlphaBitPlanes(1)
        window.SetMultiSamples(0)
        for renderer in self.scene.renderers():
            window.AddRenderer(renderer)
        self.interactor = window.GetInteractor()
        self._style = vtkInteractorStyleTrackballCamera()
        self._style.AddObserver("LeftButtonPressEvent", self._on_left_press)
        # coarse meshes while the camera moves keep software-GL rotation interactive
        self._style.AddObserver("StartInteractionEvent", lambda *_: self.scene.set_lod(True))
        self._style.AddObserver("EndInteractionEvent", self._end_interaction)
        self.interactor.SetInteractorStyle(self._style)
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Structure", "Colour", "Opacity"])
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(2, 90)
        header.setStretchLastSection(False)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_item_double_clicked)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.message = QLabel("Open a case with labels (e.g. the phantom) to see its twin.")
        self.message.setWordWrap(True)

        self.brain_layer = QComboBox()
        self.brain_layer.addItems(list(BRAIN_LAYERS))
        self.brain_layer.currentTextChanged.connect(self.set_brain_layer)
        presets = QHBoxLayout()
        for name, title in (("bone", "Bone"), ("muscles", "Muscles"), ("brain", "Brain"),
                            ("all", "All")):
            button = QPushButton(title)
            button.clicked.connect(lambda _=False, n=name: self.apply_preset(n))
            presets.addWidget(button)
        self.smooth = QSpinBox()
        self.smooth.setRange(0, 100)
        self.smooth.setValue(MeshOptions().smooth_iterations)
        self.smooth.setToolTip("windowed-sinc smoothing iterations (0: blocky voxel surface)")
        rebuild = QPushButton("Re-mesh")
        rebuild.clicked.connect(lambda: self.rebuild(force=True))

        structures = QGroupBox("Structures")
        sl = QGridLayout(structures)
        sl.addWidget(QLabel("Preset"), 0, 0)
        sl.addLayout(presets, 0, 1, 1, 3)
        sl.addWidget(QLabel("Brain as"), 1, 0)
        sl.addWidget(self.brain_layer, 1, 1)
        sl.addWidget(QLabel("Smoothing"), 1, 2)
        sl.addWidget(self.smooth, 1, 3)
        sl.addWidget(self.tree, 2, 0, 1, 4)
        sl.addWidget(rebuild, 3, 3)

        tools = QGroupBox("View")
        tl = QGridLayout(tools)
        views = QHBoxLayout()
        for name in ("anterior", "lateral", "superior"):
            button = QPushButton(name.capitalize())
            button.clicked.connect(lambda _=False, n=name: self.set_view(n))
            views.addWidget(button)
        reset = QPushButton("Reset")
        reset.clicked.connect(lambda: self.set_view("anterior"))
        views.addWidget(reset)
        tl.addLayout(views, 0, 0, 1, 3)

        self.clip = QCheckBox("Clip")
        self.clip_axis = QComboBox()
        for key, title in CLIP_AXES:
            self.clip_axis.addItem(f"{key}: {title}", key)
        self.clip_pos = QSlider(Qt.Orientation.Horizontal)
        self.clip_pos.setRange(0, 100)
        self.clip_pos.setValue(50)
        for signal in (self.clip.toggled, self.clip_axis.currentIndexChanged,
                       self.clip_pos.valueChanged):
            signal.connect(self._apply_clip)
        tl.addWidget(self.clip, 1, 0)
        tl.addWidget(self.clip_axis, 1, 1)
        tl.addWidget(self.clip_pos, 1, 2)

        self.slices = QCheckBox("Slice planes")
        self.slices.toggled.connect(self.show_slices)
        tl.addWidget(self.slices, 2, 0, 1, 3)
        self.slice_sliders: dict[str, QSlider] = {}
        for row, axis in enumerate(SLICE_AXES, start=3):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setToolTip(f"{axis} slice")
            slider.setEnabled(False)
            slider.valueChanged.connect(lambda v, a=axis: self._move_slice(a, v))
            self.slice_sliders[axis] = slider
            tl.addWidget(QLabel(f"   {axis}"), row, 0)
            tl.addWidget(slider, row, 1, 1, 2)

        self.ruler = QCheckBox("Ruler")
        self.ruler.setToolTip("click two points on the surfaces to measure their distance")
        self.ruler.toggled.connect(self.set_ruler_mode)
        self.ruler_label = QLabel("")
        tl.addWidget(self.ruler, 6, 0)
        tl.addWidget(self.ruler_label, 6, 1, 1, 2)

        shot = QPushButton("Screenshot…")
        shot.clicked.connect(self._screenshot_dialog)
        export = QPushButton("Export meshes…")
        export.clicked.connect(self._export_dialog)
        tl.addWidget(shot, 7, 0, 1, 2)
        tl.addWidget(export, 7, 2)
        self.print_button = QPushButton("Print check")
        self.print_button.setToolTip("For each visible structure: closed 2-manifold mesh, volume "
                                     "against the voxels, thinnest wall against the printer")
        self.print_button.clicked.connect(self.run_print_check)
        self.printer = QDoubleSpinBox()
        self.printer.setRange(0.05, 5.0)
        self.printer.setSingleStep(0.1)
        self.printer.setSuffix(" mm")
        self.printer.setValue(float(QSettings().value("print/resolution", 0.4)))
        self.printer.setToolTip("Smallest wall the printer makes")
        tl.addWidget(self.print_button, 8, 0, 1, 2)
        tl.addWidget(self.printer, 8, 2)
        self.print_rows: list[dict] = []

        panel = QWidget()
        pl = QVBoxLayout(panel)
        pl.setContentsMargins(4, 4, 4, 4)
        pl.addWidget(self.message)
        pl.addWidget(self.progress)
        pl.addWidget(structures, 1)
        pl.addWidget(tools)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(panel)
        splitter.addWidget(self.vtk_widget)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 900])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.vtk_widget.Initialize()

    # ----- case → meshes -----
    def _sources(self, case: Case | None) -> list[Volume]:
        return [vol for _key, vol in self._keyed_sources(case)]

    def _keyed_sources(self, case: Case | None) -> list[tuple[str, Volume]]:
        """The label maps to mesh; the case labels as the copy taken when they last changed
        (labelling edits the shared array in place while a worker meshes)."""
        if case is None:
            return []
        vols = []
        if case.labels is not None:
            if self._labels_copy is None or self._labels_copy.shape != case.labels.shape:
                self._labels_copy = case.labels.data.copy()
            vols.append(("labels", case.labels.with_data(self._labels_copy)))
        vols += [(f"brain {layer}", case.brain[layer]) for layer in BRAIN_LAYERS
                 if layer in case.brain]
        return vols

    # ----- only the work asked for: while shown, only the structures that changed -----
    def _on_case(self, case: Case | None) -> None:
        self._pending = "case"
        self._refresh()

    def _on_labels(self, _labels: object) -> None:
        if self._pending != "case":
            self._pending = "labels"
        self._refresh()

    def _refresh(self) -> None:
        """Do the pending update now if the twin is on screen, else when it is shown."""
        if self._pending is None or self._closed:
            return
        if not self.isVisible():
            self._cancel_worker()
            self.message.setText("The case changed: the twin is meshed again when shown.")
            return
        pending, self._pending = self._pending, None
        if pending == "case":
            self._load_case(self.state.case)
        else:
            self._update_labels()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._refresh()

    def _update_labels(self) -> None:
        """Re-mesh only the structures whose voxels (or neighbours) changed, from a copy."""
        case = self.state.case
        old_ex = self._extractors.get("labels")
        old = self._labels_copy
        if case is None or case.labels is None or old_ex is None or old is None \
                or old.shape != case.labels.shape or (self._worker is not None
                                                      and self._full_load):
            self._load_case(case)
            return
        new = case.labels.data.copy()
        changed = changed_labels(old, new)
        if not changed and all(old_ex.cached(i) for i in old_ex.label_ids):
            return
        self._cancel_worker()
        self._labels_copy = new
        ex = SurfaceExtractor(case.labels.with_data(new), old_ex.options)
        ex.adopt(old_ex, [i for i in old_ex.label_ids if i not in changed])
        self._extractors["labels"] = ex
        for lid in changed:
            if lid not in ex.counts:
                self._remove_structure(lid)
        todo = [i for i in ex.label_ids if ex.cached(i) is None]
        if todo:
            self._start_meshing([(ex, todo)], full=False)
        else:
            self._render()

    def _remove_structure(self, label_id: int) -> None:
        self.scene.remove(label_id)
        self.meshes.pop(label_id, None)
        item = self.item_for(label_id)
        if item is not None and item.parent() is not None:
            group = item.parent()
            group.removeChild(item)
            if group.childCount() == 0:
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(group))

    def _load_case(self, case: Case | None) -> None:
        self._extractors = {}
        self._labels_copy = None
        self.scene.clear()
        self.scene.clear_ruler()
        self.meshes = {}
        self.tree.clear()
        self.scene.set_image(case.image if case is not None and not case.image.is_2d else None)
        for axis, slider in self.slice_sliders.items():
            enabled = self.scene.has_image
            slider.setEnabled(enabled)
            if enabled and case is not None:
                k = SLICE_AXES.index(axis)
                slider.blockSignals(True)
                slider.setRange(0, case.image.shape[k] - 1)
                slider.setValue(case.image.shape[k] // 2)
                slider.blockSignals(False)
        self.show_slices(self.slices.isChecked())
        self.rebuild()

    def rebuild(self, force: bool = False) -> None:
        """Mesh the case's label maps in a worker; actors appear as meshes arrive."""
        self._cancel_worker()
        vols = self._keyed_sources(self.state.case)
        if not vols:
            self.message.setText("No label map in this case yet: segment it, or open the "
                                 "phantom sample (File ▸ Open sample).")
            self.message.show()
            self._render()
            return
        options = MeshOptions(smooth_iterations=self.smooth.value())
        extractors: list[tuple[SurfaceExtractor, list[int] | None]] = []
        for key, vol in vols:
            ex = self._extractors.get(key)
            if ex is None or force:
                try:
                    ex = SurfaceExtractor(vol, options)
                except ValueError as exc:
                    self.message.setText(f"Cannot mesh the labels: {exc}")
                    return
                self._extractors[key] = ex
            ex.set_options(options)
            extractors.append((ex, None))
        self._start_meshing(extractors, full=True)

    def _start_meshing(self, extractors: list[tuple[SurfaceExtractor, list[int] | None]],
                       full: bool) -> None:
        self._full_load = full
        n = sum(len(ids) for _ex, ids in extractors if ids is not None)
        self.message.setText("Meshing…" if full else f"Meshing {n} changed structure(s)…")
        self.progress.setValue(0)
        self.progress.show()
        self._generation += 1
        generation = self._generation
        worker = create_worker(_mesh_job, extractors, _ignore_errors=True)
        worker.yielded.connect(lambda item: self._on_mesh(generation, *item))
        worker.errored.connect(lambda exc: self._on_mesh_error(generation, exc))
        worker.finished.connect(lambda: self._on_mesh_finished(generation))
        self._worker = worker
        worker.start()

    def _cancel_worker(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
        self._generation += 1

    def _on_mesh(self, generation: int, fraction: float, mesh: StructureMesh | None,
                 lod=None) -> None:  # type: ignore[no-untyped-def]
        if generation != self._generation:
            return
        self.progress.setValue(int(round(100 * fraction)))
        if mesh is None:
            return
        first = not self.meshes
        self.meshes[mesh.label_id] = mesh
        self.scene.add_mesh(mesh.label_id, mesh, lod)
        self._add_tree_item(mesh.label_id)
        if first:
            self.scene.reset_camera()
        if not self._render_timer.isActive():  # software GL: at most a few frames per second
            self._render_timer.start()

    def _on_mesh_error(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.message.setText(f"Meshing failed: {exc}")

    def _on_mesh_finished(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._worker = None
        self.progress.hide()
        n = len(self.meshes)
        tri = sum(m.triangles for m in self.meshes.values())
        self.message.setText(f"{n} structures, {tri:,} triangles. Drag to rotate, "
                             "right-drag or wheel to zoom, middle-drag to pan.")
        if self._full_load:
            self.scene.reset_camera()
        self._render()
        self.meshing_finished.emit()

    def is_busy(self) -> bool:
        return self._worker is not None

    # ----- tree -----
    def _group_item(self, group: str) -> QTreeWidgetItem:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, ID_ROLE) == group:
                return item
        item = QTreeWidgetItem([group])
        item.setData(0, ID_ROLE, group)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable
                      | Qt.ItemFlag.ItemIsAutoTristate)
        item.setCheckState(0, Qt.CheckState.Checked)
        order = [g for g in GROUPS if g == group or self._has_group(g)]
        self.tree.insertTopLevelItem(order.index(group), item)
        item.setExpanded(group != "brain")
        return item

    def _has_group(self, group: str) -> bool:
        return any(self.tree.topLevelItem(i).data(0, ID_ROLE) == group
                   for i in range(self.tree.topLevelItemCount()))

    def item_for(self, label_id: int) -> QTreeWidgetItem | None:
        """The tree row of a structure."""
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(0, ID_ROLE) == label_id:
                    return group.child(j)
        return None

    def _add_tree_item(self, label_id: int) -> None:
        if self.item_for(label_id) is not None:
            return
        lab = self.scene.label(label_id)
        self._syncing = True
        try:
            parent = self._group_item(lab.group)
            item = QTreeWidgetItem([lab.title, ""])
            item.setData(0, ID_ROLE, label_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if self.scene.is_wanted(label_id)
                               else Qt.CheckState.Unchecked)
            item.setBackground(1, QBrush(QColor(*self.scene.colour(label_id))))
            item.setToolTip(1, "double-click to change the colour")
            mesh = self.meshes.get(label_id)
            if mesh is not None:
                item.setToolTip(0, f"id {label_id}: {mesh.triangles:,} triangles, "
                                   f"{mesh.voxel_volume_ml:.2f} ml of voxels")
            ids = [parent.child(j).data(0, ID_ROLE) for j in range(parent.childCount())]
            parent.insertChild(sum(1 for i in ids if i < label_id), item)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(int(round(100 * self.scene.opacity(label_id))))
            slider.valueChanged.connect(lambda v, lid=label_id: self.set_opacity(lid, v / 100))
            self.tree.setItemWidget(item, 2, slider)
            self._filter_item(label_id)
        finally:
            self._syncing = False

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._syncing or column != 0:
            return
        label_id = item.data(0, ID_ROLE)
        if isinstance(label_id, int):
            self.scene.set_visible(label_id, item.checkState(0) == Qt.CheckState.Checked)
            self._render()

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        label_id = item.data(0, ID_ROLE)
        if column != 1 or not isinstance(label_id, int):
            return
        colour = QColorDialog.getColor(QColor(*self.scene.colour(label_id)), self,
                                       f"Colour of {item.text(0)}")
        if colour.isValid():
            self.set_colour(label_id, (colour.red(), colour.green(), colour.blue()))

    def _sync_checks(self) -> None:
        """Tree checkboxes follow the scene's visibility (after presets)."""
        self._syncing = True
        try:
            for lid in self.scene.label_ids():
                item = self.item_for(lid)
                if item is not None:
                    item.setCheckState(0, Qt.CheckState.Checked if self.scene.is_wanted(lid)
                                       else Qt.CheckState.Unchecked)
        finally:
            self._syncing = False

    # ----- actions (also used by tests and scripts) -----
    def set_visible(self, label_id: int, visible: bool) -> None:
        item = self.item_for(label_id)
        if item is not None:
            item.setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
        else:
            self.scene.set_visible(label_id, visible)
            self._render()

    def set_opacity(self, label_id: int, opacity: float) -> None:
        self.scene.set_opacity(label_id, opacity)
        self._render()

    def set_colour(self, label_id: int, rgb: tuple[int, int, int]) -> None:
        self.scene.set_colour(label_id, rgb)
        item = self.item_for(label_id)
        if item is not None:
            item.setBackground(1, QBrush(QColor(*rgb)))
        self._render()

    def apply_preset(self, name: str) -> None:
        self.scene.apply_preset(name)
        self._sync_checks()
        self._render()

    def set_brain_layer(self, layer: str) -> None:
        """Show the brain as tissue, regions or hemispheres (the tree lists that layer only)."""
        self.scene.set_brain_layer(layer)
        if self.brain_layer.currentText() != layer:
            self.brain_layer.setCurrentText(layer)
        for lid in self.scene.label_ids():
            self._filter_item(lid)
        self._render()

    def _filter_item(self, label_id: int) -> None:
        item = self.item_for(label_id)
        layer = self.scene.layer_of(label_id)
        if item is not None:
            item.setHidden(layer in BRAIN_LAYERS and layer != self.scene.brain_layer)

    def set_view(self, name: str) -> None:
        self.scene.set_view(name)
        self._render()

    def _apply_clip(self, *_: object) -> None:
        if self.clip.isChecked():
            self.scene.clip_axis(self.clip_axis.currentData(), self.clip_pos.value() / 100)
        else:
            self.scene.set_clip_plane(None)
        self._render()

    def show_slices(self, visible: bool) -> None:
        if self.slices.isChecked() != visible:
            self.slices.setChecked(visible)
            return
        self.scene.show_slices(visible)
        self._render()

    def _move_slice(self, axis: str, index: int) -> None:
        if self.scene.has_image:
            self.scene.set_slice(axis, index)
            self._render()

    def set_ruler_mode(self, on: bool) -> None:
        self._ruler_mode = bool(on)
        self._ruler_points = []
        if self.ruler.isChecked() != on:
            self.ruler.setChecked(on)
        if not on:
            self.scene.clear_ruler()
            self.ruler_label.setText("")
        else:
            self.ruler_label.setText("click the first point")
        self._render()

    def _on_left_press(self, style, _event) -> None:  # type: ignore[no-untyped-def]
        if not self._ruler_mode:
            style.OnLeftButtonDown()
            return
        x, y = self.interactor.GetEventPosition()
        if self._picker.Pick(x, y, 0, self.scene.renderer) and self._picker.GetActor():
            self.add_ruler_point(self._picker.GetPickPosition())

    def _end_interaction(self, *_: object) -> None:
        self.scene.set_lod(False)
        self._render()

    def add_ruler_point(self, point: tuple[float, float, float]) -> float | None:
        """Add a measuring point; the second one draws the ruler and returns its length (mm)."""
        if len(self._ruler_points) >= 2:
            self._ruler_points = []
            self.scene.clear_ruler()
        self._ruler_points.append(tuple(point))  # type: ignore[arg-type]
        length = None
        if len(self._ruler_points) == 2:
            length = self.scene.set_ruler(*self._ruler_points)
            self.ruler_label.setText(f"distance: {length:.1f} mm")
        else:
            self.ruler_label.setText("click the second point")
        self._render()
        return length

    # ----- output -----
    def _render(self) -> None:
        if not self._closed and self.vtk_widget.isVisible():
            self.vtk_widget.GetRenderWindow().Render()

    def save_screenshot(self, path: str | Path) -> Path:
        """The 3D view as a PNG."""
        return save_picture(capture(self.vtk_widget.GetRenderWindow()), path)

    def _screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save 3D view", "twin.png", "PNG (*.png)")
        if path:
            try:
                self.state.status.emit(f"Saved {self.save_screenshot(path)}")
            except (OSError, ValueError) as exc:
                self.message.setText(f"Screenshot not saved: {error_text(exc)}")

    def export(self, folder: str | Path, fmt: str = "stl", single_file: bool = False,
               visible_only: bool = True, space: str = "LPS", reduce: float = 0.0,
               printable: bool = False) -> list[Path]:
        """Write the (visible) structures' meshes to `folder` (core of the export dialog);
        `printable` re-meshes each structure as a closed 2-manifold first."""
        ids = self.scene.visible_ids() if visible_only else sorted(self.meshes)
        meshes = {i: self.meshes[i] for i in ids if i in self.meshes}
        if printable:
            options = MeshOptions(smooth_iterations=self.smooth.value())
            for vol in self._sources(self.state.case):
                present = set(label_counts(vol.data))
                wanted = [i for i in meshes if i in present]
                if wanted:
                    meshes.update(extract_printable(vol, options, wanted))
        return export_meshes(meshes, folder, fmt,
                             single_file, self.scene.table, space=space,
                             source=self.state.case.labels if self.state.case else None,
                             options={"smooth_iterations": self.smooth.value()}, reduce=reduce)

    def run_print_check(self) -> None:
        """The print check of the visible structures in a worker (progress; Cancel stops it
        between structures); the table appears when it is done."""
        if self.state.case is None or self._print_worker is not None:
            return
        ids = self.scene.visible_ids()
        QSettings().setValue("print/resolution", self.printer.value())
        options = MeshOptions(smooth_iterations=self.smooth.value())
        worker = create_worker(iter_print_check, self._sources(self.state.case), ids,
                               self.printer.value(), options, self.scene.table,
                               _ignore_errors=True)
        worker.yielded.connect(lambda p: self.progress.setValue(
            int(100 * p[0] / max(p[1], 1))))
        worker.returned.connect(self._show_print_check)
        worker.errored.connect(lambda exc: self.message.setText(
            f"Print check failed: {error_text(exc)}"))
        worker.finished.connect(self._print_done)
        self._print_worker = worker
        self.print_button.setEnabled(False)
        self.message.setText("print check: meshing each structure for printing…")
        worker.start()

    def _print_done(self) -> None:
        self._print_worker = None
        self.print_button.setEnabled(True)

    def _show_print_check(self, rows: list[dict]) -> None:
        self.print_rows = rows
        bad = [r["name"] for r in rows if not r["printable"]]
        self.message.setText(f"print check: {len(rows) - len(bad)} of {len(rows)} printable"
                             + (f"; not: {', '.join(bad)}" if bad else ""))
        self.print_dialog = PrintCheckDialog(rows, self.printer.value(), self)
        self.print_dialog.show()
        self.print_checked.emit(rows)

    def _export_dialog(self) -> None:
        dialog = ExportDialog(str(Path.home() / "headtwin_meshes"), self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        dialog.remember()
        try:
            paths = self.export(dialog.folder.text(), dialog.format.currentText().lower(),
                                dialog.single.isChecked(), dialog.visible_only.isChecked(),
                                dialog.space.currentData(), dialog.reduce.value(),
                                dialog.printable.isChecked())
        except (OSError, ValueError) as exc:
            self.message.setText(f"Export failed: {error_text(exc)}")
            return
        self.state.status.emit(f"Exported {len(paths)} file(s) to {dialog.folder.text()}")

    def close_vtk(self) -> None:
        """Stop meshing and release the OpenGL window (finalised and destroyed here); the main
        window calls this before the QApplication goes. The 3D view is blank afterwards."""
        if self._closed:
            return
        self._closed = True
        self._cancel_worker()
        if self._print_worker is not None:
            self._print_worker.quit()
        self._render_timer.stop()
        window = self.vtk_widget.GetRenderWindow()
        for renderer in self.scene.renderers():
            window.RemoveRenderer(renderer)
        del window
        self.interactor.SetInteractorStyle(None)
        self.interactor = None  # type: ignore[assignment]
        self._style = None  # type: ignore[assignment]
        self.vtk_widget.release()
