"""The main window: five workspace tabs, the case in three views, menus, recent files, drops."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QWidget,
)

from headtwin_app.core.case import Case, load_case
from headtwin_app.core.io import OPEN_FILTER
from headtwin_app.ui.errors import error_text
from headtwin_app.ui.ortho_view import OrthoViewer
from headtwin_app.ui.placeholder import PlaceholderWorkspace
from headtwin_app.ui.state import AppState
from headtwin_app.ui.workspaces import WORKSPACES, build_workspace, find_spec

MAX_RECENT = 10
SHORTCUTS_HELP = """<h3>Keyboard shortcuts</h3><table>
<tr><td>Ctrl+O</td><td>Open image or DICOM file</td></tr>
<tr><td>Ctrl+Shift+O</td><td>Open DICOM or case folder</td></tr>
<tr><td>Ctrl+Shift+S</td><td>Open the built-in sample head</td></tr>
<tr><td>Ctrl+1 … Ctrl+5</td><td>Switch workspace</td></tr>
<tr><td>Ctrl+D</td><td>Show/hide the case views</td></tr>
<tr><td>PgUp / PgDn</td><td>Next / previous slice in the focused view</td></tr>
<tr><td>Ctrl+Shift+T</td><td>What does this acceleration do to the twin? (twin sweep)</td></tr>
<tr><td>Ctrl+Shift+K</td><td>Cine (k-t) masks and reconstruction</td></tr>
<tr><td>Ctrl+Shift+E</td><td>All-in-one enhancement, DICOM in and out (reconstruction)</td></tr>
<tr><td>F12</td><td>Save a screenshot of the window</td></tr>
<tr><td>Ctrl+Q</td><td>Quit</td></tr></table>"""


PRELOAD_AFTER_MS = 2000


class MainWindow(QMainWindow):
    """One window for students, annotators and surgeons: designer, recon, labelling, 3D twin."""

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                                 "HeadTwin", "HeadTwin Studio")
        self.state = AppState()
        self.jobs = self.state.jobs  # the one runner for every long job of this window
        self.setWindowTitle("HeadTwin Studio")
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.workspaces: dict[str, QWidget] = {}
        for spec in WORKSPACES:
            widget = build_workspace(spec, self.state)
            self.workspaces[spec.key] = widget
            self.tabs.addTab(widget, spec.title)
        self.setCentralWidget(self.tabs)

        self.case_view = OrthoViewer(layout="column")
        self.dock = QDockWidget("Case", self)
        self.dock.setObjectName("case-dock")
        self.dock.setWidget(self.case_view)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.state.case_changed.connect(self._show_case)
        self.state.labels_changed.connect(self.case_view.set_labels)
        self.state.status.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.state.show_workspace.connect(self.show_tab)
        self.case_view.cursor.connect(self._show_cursor)

        self.case_label = QLabel("No case open")
        self.cursor_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("job-cancel")
        self.cancel_button.setToolTip("stop the running job at its next step")
        self.cancel_button.clicked.connect(self.jobs.cancel)
        self.cancel_button.hide()
        bar = self.statusBar()
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.case_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_job_progress)
        self.jobs.failed.connect(self._on_job_failed)
        self.jobs.refused.connect(lambda msg: self.statusBar().showMessage(msg, 4000))

        self._build_menus()
        self._restore()
        # heavy imports of later jobs, paid while the window is idle (see _preload)
        QTimer.singleShot(PRELOAD_AFTER_MS, self._preload)
        self.tabs.currentChanged.connect(self._on_tab)
        self._on_tab(self.tabs.currentIndex())

    # --- menus ----------------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:  # type: ignore[no-untyped-def]
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image…", self.open_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &folder (DICOM series or case)…", self.open_folder_dialog,
                     "Ctrl+Shift+O")
        self._action(file_menu, "Open &sample head", self.open_sample, "Ctrl+Shift+S")
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._action(file_menu, "Save &screenshot…", self.screenshot_dialog, "F12")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = self.menuBar().addMenu("&View")
        for n, spec in enumerate(WORKSPACES, 1):
            self._action(view_menu, spec.title,
                         lambda _=False, i=n - 1: self.tabs.setCurrentIndex(i),
                         f"Ctrl+{n}")
        toggle = self.dock.toggleViewAction()
        toggle.setShortcut(QKeySequence("Ctrl+D"))
        toggle.triggered.connect(lambda checked: self.settings.setValue("case_dock", checked))
        view_menu.addSeparator()
        view_menu.addAction(toggle)

        tools_menu = self.menuBar().addMenu("&Tools")
        self._action(tools_menu, "What does this &acceleration do to the twin?…",
                     self.open_twin_sweep, "Ctrl+Shift+T")

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1")
        self._action(help_menu, "&About HeadTwin Studio", self.show_about)
        self._fill_recent()

    def _preload(self) -> None:
        """Import the CS solver's and the labelling tools' libraries in a background thread once
        no job runs, so the first compressed-sensing job or Grow does not stall the event loop
        with a seconds-long import."""
        if self.jobs.is_busy:
            QTimer.singleShot(PRELOAD_AFTER_MS, self._preload)
            return
        import threading

        from headtwin_app.core.edit.case_editor import preload_tools
        from headtwin_app.core.recon.cs import preload

        def run() -> None:
            try:
                preload()
                preload_tools()
            except Exception as exc:  # noqa: BLE001 - the CS job will say it clearly later
                from headtwin_app.core.errors import log_warning

                log_warning(f"preload: {exc}")

        threading.Thread(target=run, name="preload", daemon=True).start()

    def open_twin_sweep(self) -> None:
        """The twin-sweep study on the open case, in its own window (one per main window)."""
        from headtwin_app.ui.twin_sweep_view import TwinSweepDialog

        if getattr(self, "twin_sweep", None) is None:
            self.twin_sweep = TwinSweepDialog(self.state, self)
        self.twin_sweep.show()
        self.twin_sweep.raise_()

    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", SHORTCUTS_HELP)

    def show_about(self) -> None:
        QMessageBox.about(self, "About HeadTwin Studio",
                          "<b>HeadTwin Studio</b><br>From undersampled head MRI k-space to a 3D "
                          "head digital twin: k-space design, reconstruction, labelling, 3D twin.")

    # --- opening --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(self.settings.value("last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        start = str(self.settings.value("last_dir", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self, "Open DICOM series or case folder", start)
        if path:
            self.open_path(path)

    def open_sample(self) -> None:
        """The built-in sample head, in the contrast last chosen in the designer."""
        from headtwin_app.ui.designer import load_sample_case, remembered_contrast

        contrast = remembered_contrast()
        what = "the sample head" + ("" if contrast == "pd" else f" ({contrast.upper()})")
        self._loading = what
        self.jobs.start(f"loading {what}", load_sample_case, contrast,
                        on_result=lambda case: self._loaded(case, None))

    def open_path(self, path: str | Path) -> None:
        """Load `path` in a worker thread; errors appear as a dialog, never as a crash."""
        p = Path(path)
        self.settings.setValue("last_dir", str(p.parent if p.is_file() else p))
        self._run_load(lambda: load_case(p), p.name, remember=p)

    def _run_load(self, loader, what: str, remember: Path | None) -> None:  # type: ignore[no-untyped-def]
        self._loading = what
        self.jobs.start(f"loading {what}", loader,
                        on_result=lambda case: self._loaded(case, remember))

    def _loaded(self, case: Case, remember: Path | None) -> None:
        self.set_case(case)
        if remember is not None:
            self._add_recent(remember)

    # --- the job runner ------------------------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
        else:
            self.statusBar().clearMessage()

    def _on_job_progress(self, text: str, fraction: float) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(1000 * min(fraction, 1.0))))
        self.progress.setFormat(f"{100 * max(fraction, 0):.0f} %")
        self.statusBar().showMessage(text)

    def _on_job_failed(self, name: str, message: str) -> None:
        """Every job's error, shown one way: the status line and a dialog."""
        if name.startswith("loading "):
            self.statusBar().showMessage(f"Could not open {name[len('loading '):]}", 8000)
            QMessageBox.critical(self, "Cannot open image", message)
            return
        self.statusBar().showMessage(f"{name} failed: {message}", 8000)
        QMessageBox.warning(self, f"{name[:1].upper()}{name[1:]} failed", message)

    def set_case(self, case: Case) -> None:
        """Make `case` the open case in every workspace."""
        self.state.set_case(case)
        self.statusBar().showMessage(f"Opened {case.name}", 5000)

    def _show_case(self, case: Case) -> None:
        self.case_view.set_volume(case.image)
        self.case_view.set_labels(case.labels)
        sx, sy, sz = case.image.spacing
        x, y, z = case.image.shape
        self.case_label.setText(f"{case.name}  {x}×{y}×{z}  {sx:.2g}×{sy:.2g}×{sz:.2g} mm")
        self.setWindowTitle(f"HeadTwin Studio — {case.name}")

    def _show_cursor(self, voxel, value) -> None:  # type: ignore[no-untyped-def]
        self.cursor_label.setText("" if voxel is None else f"voxel {voxel}  value {value:.4g}")

    # --- recent files and drops ---------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        entry = str(Path(path).resolve())
        items = [entry] + [r for r in self.recent_files() if r != entry]
        self.settings.setValue("recent_files", items[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            self._action(self.recent_menu, f, lambda _=False, p=f: self.open_path(p))
        self.recent_menu.setEnabled(bool(files))

    def dragEnterEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])
            event.acceptProposedAction()

    # --- tabs, screenshots, settings ----------------------------------------------------------
    def _on_tab(self, index: int) -> None:
        """Workspaces that show the case in their own three views hide the case dock."""
        widget = self.tabs.widget(index)
        spec = next((s for s in WORKSPACES if self.workspaces.get(s.key) is widget), None)
        own = isinstance(widget, PlaceholderWorkspace) or bool(spec and spec.own_views)
        self.dock.setVisible(not own and self.settings.value("case_dock", True, type=bool))

    def show_tab(self, key: str) -> None:
        spec = find_spec(key)
        self.tabs.setCurrentWidget(self.workspaces[spec.key])

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "headtwin.png",
                                              "PNG (*.png)")
        if path:
            try:
                self.save_screenshot(path)
            except (OSError, ValueError) as exc:
                QMessageBox.warning(self, "Screenshot not saved", error_text(exc))

    def save_screenshot(self, path: str | Path) -> Path:
        from headtwin_app.core.atomic import atomic_write
        from headtwin_app.core.errors import OutputError
        from headtwin_app.ui.screenshot import grab_window

        image = grab_window(self)
        suffix = Path(path).suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg"):
            raise OutputError(f"{path}: screenshots are .png or .jpg files")

        def write(tmp: Path) -> None:
            if not image.save(str(tmp), suffix.lstrip(".").upper().replace("JPG", "JPEG")):
                raise OutputError(f"{path}: could not write the picture")

        return atomic_write(path, write)

    def _restore(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 920)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.dock], [340], Qt.Orientation.Horizontal)
        self.tabs.setCurrentIndex(int(self.settings.value("tab", 0)))

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        for widget in self.workspaces.values():
            close_vtk = getattr(widget, "close_vtk", None)
            if close_vtk is not None:
                close_vtk()
        super().closeEvent(event)
