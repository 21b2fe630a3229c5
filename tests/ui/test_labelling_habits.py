"""The labelling faults a new user met, each driven with real clicks and keys under Xvfb, and the
annotator habits: shortcuts after a review click, Accept that merges, Import in a worker that
skips label maps, a named New, Ctrl+click pick, , and . labels, Shift+wheel brush, layouts,
the 3D Slicer shortcut set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QPushButton

from headtwin_app.core.io import save_volume
from headtwin_app.core.project import Project
from headtwin_app.ui.labelling import LabellingWorkspace
from tests.ui.test_labelling import (
    fake_labels,
    head,
    make_project,
    open_workspace,
    stroke,
    viewport_point,
)


@pytest.fixture
def ws(qtbot) -> LabellingWorkspace:  # type: ignore[no-untyped-def]
    return open_workspace(qtbot)


def press(qtbot, ws: LabellingWorkspace, key, mod=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    """A key press where the keyboard is now (the focus widget, else the window)."""
    target = QApplication.focusWidget() or ws.window()
    qtbot.keyClick(target, key, mod)


def open_with_proposal(qtbot, ws: LabellingWorkspace, tmp_path: Path) -> Project:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    assert ws.open_case("case0")
    if hasattr(ws, "with_uncertainty"):
        ws.with_uncertainty.setChecked(False)
    ws.set_predictor(fake_labels, "fake model")
    ws.request_proposal()
    qtbot.waitUntil(lambda: ws._proposal_worker is None, timeout=10_000)
    ws.side_tabs.setCurrentIndex(1)
    return proj


def review_button(ws: LabellingWorkspace, label: int, text: str) -> QPushButton:
    """The ✔ or ✘ button of `label`'s row in the review list."""
    table = ws.review_table
    title = ws.table[label].title
    for row in range(table.rowCount()):
        if table.item(row, 0).text() == title:
            for col in range(table.columnCount()):
                button = table.cellWidget(row, col)
                if isinstance(button, QPushButton) and button.text() == text:
                    return button
    raise AssertionError(f"label {label} not in the review list")


def test_shortcuts_still_work_after_clicking_review_buttons(qtbot, ws: LabellingWorkspace,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    proj = open_with_proposal(qtbot, ws, tmp_path)
    ws.viewer.views["axial"].graphics.setFocus()
    qtbot.mouseClick(review_button(ws, 8, "✔"), Qt.MouseButton.LeftButton)  # ✔ eyeballs
    qtbot.wait(50)
    assert ws.session.dirty and ws.record.review["eyeballs"] == "accepted"
    press(qtbot, ws, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not ws.session.dirty, timeout=3000)
    assert proj.record("case0").review["eyeballs"] == "accepted"
    press(qtbot, ws, Qt.Key.Key_B)
    assert ws.tool == "brush2d"
    press(qtbot, ws, Qt.Key.Key_3)
    assert ws.active_label == ws.structures.ids()[2]


def test_accept_asks_and_merges_manual_strokes(qtbot, ws: LabellingWorkspace,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    open_with_proposal(qtbot, ws, tmp_path)
    ws.set_tool("brush2d")
    ws.choose_label(5)
    ws.radius_slider.setValue(0)
    ws.viewer.views["axial"].set_index(12)
    stroke(qtbot, ws, "axial", [(30, 2, 12), (33, 2, 12)])  # masseter outside the proposal
    assert (ws.session.labels[30:34, 2, 12] == 5).all()

    def choose(text: str) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "painted 4 voxels" in box.text()
        next(b for b in box.buttons() if b.text() == text).click()

    QTimer.singleShot(200, lambda: choose("Merge"))
    qtbot.mouseClick(review_button(ws, 5, "✔"), Qt.MouseButton.LeftButton)
    lab = ws.session.labels
    assert (lab == 5).sum() == 8 * 10 * 8 + 4 and (lab[30:34, 2, 12] == 5).all()
    assert ws.record.review["masseter"] == "edited"
    ws.undo()
    QTimer.singleShot(200, lambda: choose("Replace"))
    qtbot.mouseClick(review_button(ws, 5, "✔"), Qt.MouseButton.LeftButton)
    assert (ws.session.labels == 5).sum() == 8 * 10 * 8


def test_import_runs_in_a_worker_and_skips_label_maps(qtbot, ws: LabellingWorkspace,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    sample = tmp_path / "sample"  # like the built-in sample: image + four label maps
    img = head()
    save_volume(img, sample / "image.nii.gz")
    for stem in ("labels", "brain_tissue", "brain_regions", "brain_hemispheres"):
        save_volume(fake_labels(img), sample / f"{stem}.nii.gz")
    ws.create_project(tmp_path / "proj")
    ws.import_folder(sample)
    qtbot.waitUntil(lambda: getattr(ws, "_import_worker", None) is None, timeout=10_000)
    assert ws.project.case_names() == ["sample"] and ws.case_table.rowCount() == 1
    assert not ws.import_progress.isVisible()
    loose = tmp_path / "loose"
    save_volume(head(3).with_data(np.random.default_rng(0).random(img.shape).astype(
        np.float32)), loose / "t1.nii.gz")
    save_volume(fake_labels(img), loose / "t1_seg.nii.gz")
    assert ws.import_folder(loose)
    assert ws.import_progress.isVisible()  # the worker runs; the window stays live
    qtbot.waitUntil(lambda: ws._import_worker is None, timeout=10_000)
    assert ws.project.case_names() == ["sample", "t1"]
    assert "skipped 1: t1_seg" in ws.status_label.text()


def test_new_creates_a_named_project(qtbot, ws: LabellingWorkspace, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Orbit study", True))
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getExistingDirectory",
                        lambda *a, **k: str(tmp_path))
    ws.new_project_dialog()
    assert ws.project is not None and ws.project.name == "Orbit study"
    assert ws.project.root == tmp_path / "Orbit study"
    assert Project.open(tmp_path / "Orbit study").name == "Orbit study"


def test_ctrl_click_picks_and_comma_dot_step_labels(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    z = ws.viewer.views["axial"].index
    ws.session.labels[18:24, 18:24, z] = 8
    ws.viewer.refresh_overlays()
    ws.choose_label(1)
    ws.set_tool("brush2d")
    port = ws.viewer.views["axial"].graphics.viewport()
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     viewport_point(ws, "axial", (20, 20, z)))
    assert ws.active_label == 8
    assert (ws.session.labels == 8).sum() == 36  # a pick, not a dab
    ws.viewer.views["axial"].graphics.setFocus()
    row = ws.label_list.currentRow()
    press(qtbot, ws, Qt.Key.Key_Period)
    assert ws.label_list.currentRow() == row + 1
    press(qtbot, ws, Qt.Key.Key_Comma)
    press(qtbot, ws, Qt.Key.Key_Comma)
    assert ws.label_list.currentRow() == row - 1


def wheel(qtbot, ws: LabellingWorkspace, plane: str, up: bool,  # type: ignore[no-untyped-def]
          mods=Qt.KeyboardModifier.NoModifier) -> None:
    port = ws.viewer.views[plane].graphics.viewport()
    pos = QPointF(viewport_point(ws, plane, (20, 20, 12)))
    event = QWheelEvent(pos, QPointF(port.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 if up else -120), Qt.MouseButton.NoButton, mods,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(port, event)
    qtbot.wait(10)


def test_shift_wheel_brush_layouts_and_slicer_set(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    ws.set_tool("brush2d")
    ws.radius_slider.setValue(3)
    wheel(qtbot, ws, "axial", True, Qt.KeyboardModifier.ShiftModifier)
    wheel(qtbot, ws, "axial", True, Qt.KeyboardModifier.ShiftModifier)
    assert ws.radius_slider.value() == 5
    wheel(qtbot, ws, "axial", False, Qt.KeyboardModifier.ShiftModifier)
    assert ws.radius_slider.value() == 4
    # layouts: one view (the one under the mouse), 2×2, back to 1×3
    axial, coronal = ws.viewer.views["axial"], ws.viewer.views["coronal"]
    narrow = coronal.width()  # 1×3
    ws._set_active_plane("coronal")
    axial.graphics.setFocus()
    press(qtbot, ws, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    qtbot.wait(20)
    assert coronal.isVisible() and not axial.isVisible()
    assert coronal.width() > 2 * narrow
    press(qtbot, ws, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    qtbot.wait(20)
    assert all(v.isVisible() for v in ws.viewer.views.values())
    assert axial.geometry().top() == coronal.geometry().top()
    assert ws.viewer.views["sagittal"].geometry().top() > axial.geometry().bottom()
    assert ws.settings.value("labelling/layout") == "grid"
    ws.set_layout("row")
    # the 3D Slicer set: the wheel walks slices, Esc leaves the tool, arrows walk slices
    ws.profile_combo.setCurrentText("3D Slicer")
    index = axial.index
    wheel(qtbot, ws, "axial", True)
    assert axial.index == index + 1
    axial.graphics.setFocus()
    ws._set_active_plane("axial")
    press(qtbot, ws, Qt.Key.Key_Right)
    assert axial.index == index + 2
    press(qtbot, ws, Qt.Key.Key_Escape)
    assert ws.tool == "navigate"
    ws.profile_combo.setCurrentText("HeadTwin")
    wheel(qtbot, ws, "axial", True)
    assert axial.index == index + 2  # the wheel zooms again
