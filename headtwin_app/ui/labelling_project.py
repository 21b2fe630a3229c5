"""The labelling workspace's Project tab: new (named) / open / import (in a worker, with progress)
/ export, the case queue (by name or by model uncertainty), stage-3 auto-labelling, retraining
and the edit-effort plot. The logic is the workspace's `CaseEditor`; this wires widgets to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.core.case import Case
from headtwin_app.core.project import AutoLabelProgress, ImportStep


class ProjectMixin:
    """Project tab of `LabellingWorkspace` (a mixin over the workspace's editor and state)."""

    editor: Any
    state: Any

    def _build_project_tab(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        row = QHBoxLayout()
        for text, slot, tip in (
                ("New…", self.new_project_dialog, "Create a named project"),
                ("Open…", self.open_project_dialog, "Open a project folder"),
                ("Import…", self.import_dialog, "Add the images of a folder as cases (label "
                                                "maps are skipped)"),
                ("Export…", self.export_dialog, "Write the labelled cases as an nnU-Net raw "
                                                "dataset")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
        col.addLayout(row)
        self.project_label = QLabel("No project open")
        self.project_label.setWordWrap(True)
        col.addWidget(self.project_label)
        self.import_progress = QProgressBar()
        self.import_progress.setVisible(False)
        col.addWidget(self.import_progress)
        row = QHBoxLayout()
        row.addWidget(QLabel("Queue by"))
        self.queue_sort = QComboBox()
        self.queue_sort.addItem("name", "name")
        self.queue_sort.addItem("model uncertainty (most first)", "uncertainty")
        self.queue_sort.setToolTip("Active learning: label next the case the model is least "
                                   "sure of (scored by proposals made with uncertainty)")
        self.queue_sort.currentIndexChanged.connect(lambda _i: self.refresh_cases())
        row.addWidget(self.queue_sort, 1)
        col.addLayout(row)
        self.case_table = QTableWidget(0, 5)
        self.case_table.setHorizontalHeaderLabels(["Case", "Stage", "Review", "Labels", "Unc."])
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
        load.clicked.connect(self.load_labels_dialog)  # type: ignore[attr-defined]
        row.addWidget(load)
        save = QPushButton("Save (Ctrl+S)")
        save.clicked.connect(self.save)  # type: ignore[attr-defined]
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
        row = QHBoxLayout()
        self.retrain_button = QPushButton("Retrain on accepted cases")
        self.retrain_button.clicked.connect(self.retrain)
        effort = QPushButton("Edit effort…")
        effort.setToolTip("Voxels changed and minutes per case for each retrain round")
        effort.clicked.connect(self.show_effort)
        row.addWidget(self.retrain_button)
        row.addWidget(effort)
        acol.addLayout(row)
        col.addWidget(auto)
        return w

    # --- projects -------------------------------------------------------------------------------
    def new_project_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "New labelling project",  # type: ignore[arg-type]
                                        "Project name:", text="Head twins")
        if not ok or not name.strip():
            return
        folder = QFileDialog.getExistingDirectory(
            self, f"Where to create the folder '{name.strip()}'")  # type: ignore[arg-type]
        if folder:
            self.create_project(Path(folder) / name.strip(), name.strip())

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a labelling project")  # type: ignore[arg-type]
        if folder:
            self.open_project(folder)

    def create_project(self, folder: str | Path, name: str | None = None) -> None:
        self.autosave_now()  # type: ignore[attr-defined]
        try:
            project = self.editor.create_project(folder, name)
        except (ValueError, OSError) as exc:
            self.warn("Cannot create the project", str(exc))  # type: ignore[attr-defined]
            return
        self._project_opened(project)

    def open_project(self, folder: str | Path) -> None:
        self.autosave_now()  # type: ignore[attr-defined]
        try:
            project = self.editor.open_project(folder)
        except (ValueError, OSError) as exc:
            self.warn("Cannot open the project", str(exc))  # type: ignore[attr-defined]
            return
        self._project_opened(project)

    def _project_opened(self, project: Any) -> None:
        if getattr(self.editor.backend, "name", "") == "builtin":
            self.editor.backend = None  # the project's retrained model is found on first need
        self.refresh_cases()
        self._refresh_dirty()  # type: ignore[attr-defined]
        self.tell(f"project {project.name}: {len(project.case_names())} cases")  # type: ignore

    def refresh_cases(self) -> None:
        self.case_table.setRowCount(0)
        if self.editor.project is None:
            return
        for r in self.editor.case_rows(self.queue_sort.currentData()):
            row = self.case_table.rowCount()
            self.case_table.insertRow(row)
            unc = "" if r.uncertainty is None else f"{r.uncertainty:.2f}"
            for col, text in enumerate((r.name, r.stage, r.review, "yes" if r.labelled else "",
                                        unc)):
                self.case_table.setItem(row, col, QTableWidgetItem(text))
            if r.name == self.editor.case_name:
                self.case_table.selectRow(row)

    def open_case(self, name: str) -> bool:
        """Open a project case (autosaving the current one first). On a bad label file the
        current case stays open and a message says what is wrong."""
        if self.editor.project is None:
            return False
        try:
            messages = self.editor.open_case(name)
        except (ValueError, OSError) as exc:
            self.warn("Cannot open the case", str(exc))  # type: ignore[attr-defined]
            return False
        self._start_session()  # type: ignore[attr-defined]
        self._own_emit = True
        try:
            session = self.editor.session
            self.state.set_case(Case(session.image, name, session.volume,
                                     source=self.editor.project.case_dir(name)))
        finally:
            self._own_emit = False
        self.refresh_cases()
        self.tell(" · ".join(messages))  # type: ignore[attr-defined]
        return True

    # --- import / export ------------------------------------------------------------------------
    def import_dialog(self) -> None:
        if self.editor.project is None:
            self.warn("No project", "open or create a project before importing images")  # type: ignore[attr-defined]
            return
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images")  # type: ignore[arg-type]
        if folder:
            self.import_folder(folder)

    def import_folder(self, folder: str | Path) -> bool:
        """Import in a worker: a progress bar, Cancel in the status bar, label maps skipped."""
        if self.editor.project is None or self._import_worker is not None:
            return False
        self._imported: list[ImportStep] = []
        try:
            steps = self.editor.iter_import(folder)
        except ValueError as exc:
            self.warn("Import failed", str(exc))  # type: ignore[attr-defined]
            return False

        def job() -> Any:
            yield from steps

        if not self.state.jobs.start("import", job, on_progress=self._import_step,
                                     on_error=self.tell,  # type: ignore[attr-defined]
                                     on_finished=self._import_finished):
            return False
        self._import_worker = self.state.jobs.worker
        self.import_progress.setRange(0, 0)
        self.import_progress.setVisible(True)
        return True

    def _import_step(self, step: ImportStep) -> tuple[str, float]:
        self._imported.append(step)
        self.import_progress.setRange(0, max(1, step.total))
        self.import_progress.setValue(step.done)
        extra = f" ({step.message})" if step.message else ""
        text = f"import {step.done}/{step.total}: {step.case} {step.status}{extra}"
        self.tell(text)  # type: ignore[attr-defined]
        return text, step.fraction

    def _import_finished(self) -> None:
        self._import_worker = None
        self.import_progress.setVisible(False)
        self.refresh_cases()
        added = [s.case for s in self._imported if s.status == "added"]
        skipped = [f"{s.case} ({s.message})" for s in self._imported if s.status != "added"]
        text = f"imported {len(added)} case(s)"
        if skipped:
            text += f"; skipped {len(skipped)}: " + ", ".join(skipped[:6])
        self.tell(text)  # type: ignore[attr-defined]

    def export_dialog(self) -> None:
        if self.editor.project is None:
            self.warn("No project", "open a project to export it")  # type: ignore[attr-defined]
            return
        folder = QFileDialog.getExistingDirectory(self, "nnU-Net raw folder (nnUNet_raw)")  # type: ignore[arg-type]
        if not folder:
            return
        number, ok = QInputDialog.getInt(self, "nnU-Net dataset", "Dataset id", 1, 1, 999)  # type: ignore[arg-type]
        if ok:
            self.export_nnunet(folder, number)

    def export_nnunet(self, folder: str | Path, dataset_id: int = 1) -> Path | None:
        if self.editor.project is None:
            return None
        self.save_if_dirty()  # type: ignore[attr-defined]
        try:
            out = self.editor.project.export_nnunet(folder, dataset_id)
        except (ValueError, OSError) as exc:
            self.warn("Export failed", str(exc))  # type: ignore[attr-defined]
            return None
        self.tell(f"exported nnU-Net dataset {out}")  # type: ignore[attr-defined]
        return Path(out)

    # --- stage 3 and retraining -----------------------------------------------------------------
    def auto_label_all(self) -> None:
        if self.editor.project is None:
            self.warn("No project", "auto-labelling runs over a project's cases: open one "  # type: ignore[attr-defined]
                      "first")
            return
        if self._auto_worker is not None or self._model() is None:  # type: ignore[attr-defined]
            return
        self.save_if_dirty()  # type: ignore[attr-defined]
        self._auto_labelled: list[str] = []
        steps = self.editor.iter_auto_label()

        def job() -> Any:
            yield from steps

        # on the window's job runner: progress and Cancel in the status bar too, errors shown once
        if not self.state.jobs.start("auto-labelling", job, on_progress=self._auto_progress,
                                     on_error=self.tell,  # type: ignore[attr-defined]
                                     on_finished=self._auto_finished):
            return
        self.state.jobs.cancelled.connect(self._auto_cancelled)
        self._auto_worker = self.state.jobs.worker
        self.auto_button.setEnabled(False)
        self.auto_cancel.setEnabled(True)
        self.auto_progress.setRange(0, max(1, len(self.editor.project.case_names())))
        self.auto_progress.setValue(0)

    def cancel_auto(self) -> None:
        if self._auto_worker is not None:
            self.state.jobs.cancel()

    def _auto_cancelled(self, name: str) -> None:
        if name == "auto-labelling":
            self.tell("auto-labelling cancelled; run it again to resume")  # type: ignore

    def _auto_progress(self, step: AutoLabelProgress) -> tuple[str, float]:
        self.auto_progress.setRange(0, max(1, step.total))
        self.auto_progress.setValue(step.done)
        if step.status == "report":
            self.last_report = step.report
            self.report_label.setText("QC report: " + " · ".join(str(p) for p in step.report))
            self.tell(step.message)  # type: ignore[attr-defined]
            return step.message, 1.0
        if step.status == "labelled":
            self._auto_labelled.append(step.case)
        extra = f": {step.message}" if step.message else ""
        text = f"auto-label {step.done}/{step.total} {step.case} {step.status}{extra}"
        self.tell(text)  # type: ignore[attr-defined]
        return text, step.fraction

    def _auto_finished(self) -> None:
        self._auto_worker = None
        try:
            self.state.jobs.cancelled.disconnect(self._auto_cancelled)
        except (RuntimeError, TypeError):
            pass
        self.auto_button.setEnabled(True)
        self.auto_cancel.setEnabled(False)
        name = self.editor.case_name
        if name in self._auto_labelled and not self.editor.dirty:
            self.open_case(name)  # show the new labels of the open case
        self.refresh_cases()

    def retrain(self) -> None:
        if self.editor.project is None:
            self.warn("No project", "retraining uses a project's accepted cases: open one "  # type: ignore[attr-defined]
                      "first")
            return
        if self._train_worker is not None:
            return
        self.save_if_dirty()  # type: ignore[attr-defined]
        custom = self.retrainer  # type: ignore[attr-defined]
        if custom is not None:
            started = self.state.jobs.start(
                "retraining", custom, self.editor.project, on_progress=self._retrain_step,
                on_result=self._trained, on_error=self.tell,  # type: ignore[attr-defined]
                on_finished=self._train_finished)
        else:
            started = self.state.jobs.start(
                "retraining", self.editor.iter_retrain, on_progress=self._retrain_step,
                on_result=lambda _b: self._retrained(), on_error=self.tell,  # type: ignore
                on_finished=self._train_finished)
        if started:
            self._train_worker = self.state.jobs.worker
            self.retrain_button.setEnabled(False)

    def _retrain_step(self, p: Any) -> tuple[str, float]:
        text = f"retraining: {getattr(p, 'message', p)}"
        self.tell(text)  # type: ignore[attr-defined]
        return text, float(getattr(p, "fraction", -1.0))

    def _trained(self, result: Any) -> None:
        """A custom retrainer returns the new model (a backend or a function)."""
        if result is not None:
            self.set_predictor(result, "retrained model")  # type: ignore[attr-defined]
        self._retrained()

    def _retrained(self) -> None:
        self.model_label.setText(f"Model: {self.editor.model_name}")  # type: ignore
        self.tell("retraining finished: the next proposal uses the new model")  # type: ignore

    def _train_finished(self) -> None:
        self._train_worker = None
        self.retrain_button.setEnabled(True)

    def show_effort(self) -> Path | None:
        """Plot the edit effort per retrain round (also `headtwin project effort`)."""
        from headtwin_app.core.edit_effort import edit_effort, write_effort_plot

        project = self.editor.project
        if project is None:
            self.warn("No project", "the edit effort is measured over a project's cases")  # type: ignore
            return None
        rows = edit_effort(project)
        png = write_effort_plot(rows, project.root / "reports" / "edit_effort.png")
        dialog = QDialog(self)  # type: ignore[arg-type]
        dialog.setWindowTitle("Edit effort per retrain round")
        lay = QVBoxLayout(dialog)
        picture = QLabel()
        picture.setPixmap(QPixmap(str(png)))
        lay.addWidget(picture)
        text = ("No reviewed proposals yet: accept or edit a proposal and save, then retrain."
                if not rows else " · ".join(
                    f"round {r.round}: {r.cases} case(s), {r.voxels_per_case:.0f} voxels, "
                    f"{r.minutes_per_case:.1f} min" for r in rows))
        note = QLabel(text + f"<br><small>{png}</small>")
        note.setWordWrap(True)
        lay.addWidget(note)
        self.effort_dialog = dialog
        dialog.show()
        return png
