"""The labelling workspace's Review tab (stage 2): request a model proposal in a worker, review it
structure by structure — most uncertain first — and accept, merge or reject. The logic is the
workspace's `CaseEditor`; this only builds widgets and wires them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.ui.swatch import swatch


class ReviewMixin:
    """Review tab of `LabellingWorkspace` (a mixin: it uses the workspace's editor, viewer,
    state and messages)."""

    editor: Any
    state: Any
    table: Any

    def _build_review_tab(self) -> QWidget:
        w = QWidget()
        col = QVBoxLayout(w)
        intro = QLabel("<b>Stage 2</b> — request a model proposal, then accept, edit or "
                       "reject it structure by structure (most uncertain first).")
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
        self.with_uncertainty = QCheckBox("With uncertainty (about 2× slower)")
        settings = QSettings()  # off by default: a plain proposal is what most reviews need
        self.with_uncertainty.setChecked(settings.value("labelling/uncertainty", "false")
                                         == "true")
        self.with_uncertainty.toggled.connect(
            lambda on: QSettings().setValue("labelling/uncertainty", "true" if on else "false"))
        self.with_uncertainty.setToolTip("The built-in model also predicts flipped copies of the "
                                         "image; where they disagree is shown as a heat map (U) "
                                         "and ranks the structures to review")
        col.addWidget(self.with_uncertainty)
        self.proposal_progress = QProgressBar()
        self.proposal_progress.setRange(0, 1)
        self.proposal_progress.setValue(0)
        col.addWidget(self.proposal_progress)
        self.model_label = QLabel("Model: chosen when a proposal is requested")
        self.model_label.setWordWrap(True)
        col.addWidget(self.model_label)
        self.plausibility_label = QLabel("")  # failed anatomy checks of the proposal
        self.plausibility_label.setWordWrap(True)
        self.plausibility_label.setStyleSheet("color: #b03000")
        self.plausibility_label.setVisible(False)
        col.addWidget(self.plausibility_label)
        self.review_table = QTableWidget(0, 7)
        self.review_table.setHorizontalHeaderLabels(["Structure", "Status", "Unc.", "+vox",
                                                     "−vox", "", ""])
        self.review_table.verticalHeader().hide()
        self.review_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.review_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.review_table.cellDoubleClicked.connect(self._choose_reviewed)
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

    # --- the model ------------------------------------------------------------------------------
    def set_predictor(self, predictor: Any, name: str = "custom model") -> None:
        """Use `predictor` (a backend, its `predict`, or a function image → labels) for
        proposals and auto-labelling; None: the built-in model again."""
        self.editor.set_model(predictor, name)
        self.model_label.setText(f"Model: {name}" if predictor is not None else "Model: none")

    @property
    def predictor(self) -> Any:
        backend = self.editor.backend
        return getattr(backend, "_predict", backend)

    @property
    def predictor_name(self) -> str:
        return str(self.editor.model_name)

    def _model(self) -> Any:
        try:
            model = self.editor.model()
        except ValueError as exc:
            self.warn("No model", str(exc))  # type: ignore[attr-defined]
            return None
        self.model_label.setText(f"Model: {self.editor.model_name}")
        return model

    # --- proposals ------------------------------------------------------------------------------
    def request_proposal(self) -> None:
        if self.editor.session is None or self._proposal_worker is not None:
            return
        if self._model() is None:
            return
        # on the window's job runner: its failures are shown by the window (status + dialog)
        if not self.state.jobs.start("proposal", self.editor.iter_proposal,
                                     uncertainty=self.with_uncertainty.isChecked(),
                                     on_result=self._proposal_arrived,
                                     on_progress=self._proposal_step,
                                     on_error=self.tell,  # type: ignore[attr-defined]
                                     on_finished=self._proposal_finished):
            return
        self._proposal_worker = self.state.jobs.worker
        self.proposal_button.setEnabled(False)
        self.proposal_cancel.setEnabled(True)
        self.proposal_progress.setRange(0, 0)
        self.tell(f"requesting a proposal from {self.editor.model_name}…")  # type: ignore

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
            self.tell("proposal cancelled")  # type: ignore[attr-defined]

    def _proposal_finished(self) -> None:
        self._proposal_worker = None
        self.proposal_button.setEnabled(True)
        self.proposal_cancel.setEnabled(False)
        self.proposal_progress.setRange(0, 1)
        self.proposal_progress.setValue(1)
        self.proposal_progress.setFormat("%p%")

    def _proposal_arrived(self, result: Any) -> None:
        if self.editor.session is None or result is None:
            return
        try:
            structures = self.editor.take_proposal(result)
        except (ValueError, OSError) as exc:
            self.warn("Proposal not used", str(exc))  # type: ignore[attr-defined]
            return
        heat = self.editor.uncertainty
        self.draft_box.setChecked(True)  # type: ignore[attr-defined]
        self._show_draft()  # type: ignore[attr-defined]
        self._show_heat()  # type: ignore[attr-defined]
        self._fill_review()
        self.refresh_cases()  # type: ignore[attr-defined]
        self.side_tabs.setCurrentIndex(1)  # type: ignore[attr-defined]
        unc = " with uncertainty (U shows it)" if heat is not None else ""
        report = self.editor.plausibility
        odd = (f" — it looks implausible ({len(report.failed)} of {len(report.flags)} anatomy "
               f"checks failed): check it before trusting it"
               if report is not None and report.out_of_distribution else "")
        self.tell(f"proposal with {len(structures)} structures{unc}: review it in the "  # type: ignore[attr-defined]
                  f"Review tab{odd}")

    # --- review ---------------------------------------------------------------------------------
    def _show_plausibility(self) -> None:
        """The proposal's failed anatomy checks (volumes, eyes, symmetry, order) as a warning."""
        report = self.editor.plausibility
        text = report.warning() if report is not None else ""
        self.plausibility_label.setText(text)
        self.plausibility_label.setToolTip("Anatomical plausibility of the proposal: adult "
                                           "volumes, two eyes, left/right symmetry, "
                                           "superior-inferior order, the brain level")
        self.plausibility_label.setVisible(bool(text))

    def _fill_review(self) -> None:
        table = self.review_table
        if table.isAncestorOf(self.window().focusWidget()):  # type: ignore[attr-defined]
            self._refocus()  # type: ignore[attr-defined]  # its buttons are about to go
        table.setRowCount(0)
        self._show_plausibility()
        # counting changes scans the volume: only while the Review tab is shown
        rows = self.editor.review_rows(count_changes=self.side_tabs.currentIndex() == 1)  # type: ignore[attr-defined]
        for r in rows:
            row = table.rowCount()
            table.insertRow(row)
            item = QTableWidgetItem(r.title)
            item.setToolTip(f"{r.title}: double-click to make it the active label")
            item.setIcon(swatch(self.table[r.label].rgb))
            item.setData(Qt.ItemDataRole.UserRole, r.label)
            table.setItem(row, 0, item)
            table.setItem(row, 1, QTableWidgetItem(r.status))
            table.setItem(row, 2, QTableWidgetItem("·" if r.uncertainty is None
                                                   else f"{r.uncertainty:.2f}"))
            table.setItem(row, 3, QTableWidgetItem("·" if r.added is None else str(r.added)))
            table.setItem(row, 4, QTableWidgetItem("·" if r.removed is None else str(r.removed)))
            for col, (text, tip, slot) in enumerate(
                    (("✔", "Accept the proposal for this structure", self.accept_structure),
                     ("✘", "Reject the proposal for this structure", self.reject_structure)), 5):
                button = QPushButton(text)
                button.setToolTip(tip)
                button.setFixedWidth(28)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the views
                button.clicked.connect(lambda _=False, i=r.label, f=slot: f(i))
                table.setCellWidget(row, col, button)
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _choose_reviewed(self, row: int, _col: int) -> None:
        """Double-click a structure: make it the active label."""
        item = self.review_table.item(row, 0)
        if item is not None:
            self.choose_label(int(item.data(Qt.ItemDataRole.UserRole)))  # type: ignore[attr-defined]

    def ask_accept_mode(self, label_id: int, manual: int) -> str | None:
        """The annotator painted `manual` voxels of the structure outside the proposal: merge
        them with it, replace them by it, or cancel (None)."""
        box = QMessageBox(self)  # type: ignore[arg-type]
        box.setWindowTitle("Accept the proposal?")
        box.setText(f"You painted {manual} voxels of {self.table[label_id].title} outside the "
                    "proposal.")
        box.setInformativeText("Merge keeps them and adds the proposal; Replace takes the "
                               "proposal as it is.")
        merge = box.addButton("Merge", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(merge)
        box.exec()
        clicked = box.clickedButton()
        return "merge" if clicked is merge else "replace" if clicked is replace else None

    def accept_structure(self, label_id: int) -> None:
        manual = self.editor.manual_voxels(label_id)
        mode = "replace" if not manual else self.ask_accept_mode(label_id, manual)
        if mode is not None:
            self._review(label_id, "accepted", merge=mode == "merge")

    def reject_structure(self, label_id: int) -> None:
        self._review(label_id, "rejected")

    def accept_all(self) -> None:
        for lab_id in self.editor.pending():
            self.accept_structure(lab_id)
        self._fill_review()

    def _review(self, label_id: int, state: str, merge: bool = False) -> None:
        try:
            diff = self.editor.review(label_id, state, merge)
        except ValueError as exc:
            self.tell(str(exc))  # type: ignore[attr-defined]
            return
        self._after_edit(diff, count=False)  # type: ignore[attr-defined]
        self._refresh_dirty()  # type: ignore[attr-defined]
        self._fill_review()
        self.refresh_cases()  # type: ignore[attr-defined]
