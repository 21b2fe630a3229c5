""""What does this acceleration do to the twin?": the twin-sweep study on the open case.

Collects families, R values and methods, runs `core.twin_sweep.iter_twin_sweep` (the same rows
as `headtwin twin-sweep`) on the window's job runner, and shows the rows as a table and the
twin's mean Dice against R per method. The reference is the case's label map (with its brain
layers fused, as the twin is) or, for a case without labels, the fully sampled image's twin.
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from headtwin_app.ui.errors import error_text
from headtwin_app.ui.state import AppState

FAMILIES = ("cartesian", "radial", "random_line", "spiral", "random_points", "equispaced")
METHODS = ("zf", "cs", "cascade")
COLUMNS = ("family", "R", "method", "PSNR", "SSIM", "Dice", "HD95 mm", "ASSD mm", "Dice vs full")
PENS = {"zf": (200, 80, 80), "cs": (80, 160, 80), "cascade": (70, 120, 220)}
TITLE = "What does this acceleration do to the twin?"


def _number(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


class TwinSweepDialog(QDialog):
    """Parameters, Run/Cancel, a result table and a Dice-vs-R plot."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.state = state
        self.result: dict[str, Any] | None = None
        self.families = {f: QCheckBox(f) for f in FAMILIES}
        for f in ("cartesian", "radial", "random_line"):
            self.families[f].setChecked(True)
        self.methods = {m: QCheckBox(m) for m in METHODS}
        for box in self.methods.values():
            box.setChecked(True)
        self.accels = QLineEdit("2, 4, 8")
        self.accels.setObjectName("sweep-accels")
        self.brain = QCheckBox("fuse atlas brain layers into the twin (slower)")
        self.brain.setChecked(True)
        self.coarse = QCheckBox("coarse 2 mm segmentation only (about 6× faster)")
        self.coarse.setChecked(True)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("sweep-run")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.state.jobs.cancel)
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save CSV…")
        self.save_button.clicked.connect(self.save_dialog)
        self.save_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "acceleration R")
        self.plot.setLabel("left", "twin mean Dice")
        self.plot.setLogMode(x=True, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # Dice is 0-1, never "x0.001"
        self.plot.setYRange(0.0, 1.0)
        self.plot.addLegend(offset=(10, -10))  # lower left: empty, curves start high at low R
        self._build()
        self.state.jobs.busy_changed.connect(self._on_busy)
        self.state.jobs.progress.connect(self._on_progress)
        self.resize(980, 640)

    def _build(self) -> None:
        fams = QHBoxLayout()
        for box in self.families.values():
            fams.addWidget(box)
        meths = QHBoxLayout()
        for box in self.methods.values():
            meths.addWidget(box)
        form = QFormLayout()
        form.addRow("mask families", fams)
        form.addRow("accelerations R", self.accels)
        form.addRow("methods", meths)
        form.addRow("", self.brain)
        form.addRow("", self.coarse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setSizes([560, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

    def chosen(self) -> tuple[list[str], list[float], list[str]]:
        """The families, R values and methods asked for (ValueError with a clear message)."""
        families = [f for f, b in self.families.items() if b.isChecked()]
        methods = [m for m, b in self.methods.items() if b.isChecked()]
        try:
            accels = [float(t) for t in self.accels.text().replace(";", ",").split(",")
                      if t.strip()]
        except ValueError:
            raise ValueError(f"accelerations: '{self.accels.text()}' is not a list of "
                             "numbers such as 2, 4, 8") from None
        if not families or not methods or not accels:
            raise ValueError("choose at least one family, one R and one method")
        if any(not 1.0 <= a <= 64.0 for a in accels):
            raise ValueError("each R must be between 1 and 64")
        return families, accels, methods

    def run(self) -> None:
        from headtwin_app.core.pipeline import PipelineConfig
        from headtwin_app.core.twin_sweep import iter_twin_sweep

        case = self.state.case
        if case is None:
            self.status.setText("open a case first (File ▸ Open, or the sample head)")
            return
        try:
            families, accels, methods = self.chosen()
        except ValueError as exc:
            self.status.setText(error_text(exc))
            return
        from headtwin_app.core.twin_score import case_reference

        reference, what = case_reference(case)
        rows = len(families) * len(accels) * len(methods)
        self.status.setText(f"{rows} rows + the fully sampled twin; reference: {what}")
        cfg = PipelineConfig(brain=self.brain.isChecked(), refine=not self.coarse.isChecked())
        self.state.jobs.start("twin sweep", iter_twin_sweep, case.image, reference, families,
                              accels, methods, cfg, on_result=self.show_result,
                              on_error=lambda msg: self.status.setText(f"error: {msg}"))

    def _on_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _on_progress(self, text: str, fraction: float) -> None:
        if self.isVisible():
            done = f" ({100 * fraction:.0f} %)" if fraction >= 0 else ""
            self.status.setText(f"{text}{done}")

    def show_result(self, result: dict[str, Any]) -> None:
        """Fill the table and the plot from a twin-sweep result."""
        self.result = result
        rows = result["rows"]
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            t, f = r["vs_truth"] or {}, r["vs_full"] or {}
            cells = (r["family"], f"{r['accel']:g}", r["method"], _number(r["psnr"], 2),
                     _number(r["ssim"], 3), _number(t.get("mean_dice"), 3),
                     _number(t.get("mean_hd95_mm"), 2), _number(t.get("mean_assd_mm"), 2),
                     _number(f.get("mean_dice"), 3))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r.get("error"):
                    item.setToolTip(r["error"])
                self.table.setItem(i, j, item)
        self.plot.clear()
        rows = [r for r in rows if not r.get("error")]
        for fam in dict.fromkeys(r["family"] for r in rows):
            for m in dict.fromkeys(r["method"] for r in rows):
                pts = sorted((r["accel"], r["vs_truth"]["mean_dice"]) for r in rows
                             if r["family"] == fam and r["method"] == m)
                style = {"cartesian": Qt.PenStyle.SolidLine, "radial": Qt.PenStyle.DashLine}
                pen = pg.mkPen(PENS.get(m, (90, 90, 90)), width=2,
                               style=style.get(fam, Qt.PenStyle.DotLine))
                self.plot.plot([p[0] for p in pts], [p[1] for p in pts], pen=pen, symbol="o",
                               symbolSize=6, symbolBrush=PENS.get(m), name=f"{fam} · {m}")
        full = result["full"]["mean_dice"]
        dashed = pg.mkPen("k", style=Qt.PenStyle.DashLine)
        self.plot.addItem(pg.InfiniteLine(full, angle=0, pen=dashed))
        self.status.setText(f"done: fully sampled twin mean Dice {_number(full, 3)} "
                            f"(reference: {result.get('reference', 'truth')})")
        self.save_button.setEnabled(True)

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the sweep as CSV", "twin_sweep.csv",
                                              "CSV (*.csv)")
        if path:
            self.save_csv(path)

    def save_csv(self, path: str) -> None:
        from headtwin_app.core.twin_sweep_report import write_csv

        if self.result is None:
            return
        try:
            write_csv(self.result["rows"], path)
            self.status.setText(f"saved {path}")
        except Exception as exc:  # noqa: BLE001 - the one-line error policy
            self.status.setText(f"error: {error_text(exc)}")
