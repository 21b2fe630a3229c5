"""The labelling workspace under Xvfb: real mouse strokes on the views, undo/redo, shortcuts,
project save/autosave, a proposal round trip, stage-3 auto-labelling, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from headtwin_app.core.case import Case
from headtwin_app.core.io import save_volume
from headtwin_app.core.project import AUTOSAVE, LABELS, Project
from headtwin_app.core.volume import Volume
from headtwin_app.ui.labelling import LabellingWorkspace
from headtwin_app.ui.slice_view import PLANES
from headtwin_app.ui.state import AppState

SHAPE = (40, 44, 24)


def head(seed: int = 0) -> Volume:
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, s) for s in SHAPE], indexing="ij")
    data = np.where(i**2 + j**2 + k**2 < 0.8, 600.0, 50.0) + seed
    return Volume.from_spacing(data.astype(np.float32), (1.0, 1.0, 1.5))


def fake_labels(image: Volume) -> Volume:
    lab = np.zeros(image.shape, np.int16)
    lab[8:16, 10:20, 8:16] = 5  # masseter
    lab[24:30, 24:34, 10:14] = 8  # eyeballs
    return image.with_data(lab)


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []
    for kind in ("warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda parent, title, text, *a, **k: shown.append(text))
    return shown


@pytest.fixture
def ws(qtbot, messages) -> LabellingWorkspace:  # type: ignore[no-untyped-def]
    return open_workspace(qtbot)


def open_workspace(qtbot) -> LabellingWorkspace:  # type: ignore[no-untyped-def]
    """A shown, active labelling workspace with a synthetic head open."""
    state = AppState()
    w = LabellingWorkspace(state)
    qtbot.addWidget(w)
    w.resize(1400, 800)
    with qtbot.waitExposed(w):
        w.show()
    with qtbot.waitActive(w):
        w.activateWindow()
    state.set_case(Case(head(), name="synthetic"))
    qtbot.wait(20)
    return w


def viewport_point(w: LabellingWorkspace, plane: str, voxel: tuple[int, int, int]) -> QPoint:
    """Where voxel's centre is drawn in `plane`'s viewport (widget pixels)."""
    view = w.viewer.views[plane]
    _axis, h, v = PLANES[plane]
    sx, sy = view._scale
    scene = view.view.mapViewToScene(QPointF((voxel[h] + 0.5) * sx, (voxel[v] + 0.5) * sy))
    local = view.graphics.mapFromScene(scene)
    return QPoint(local.x(), local.y())


def stroke(qtbot, w: LabellingWorkspace, plane: str, voxels: list[tuple[int, int, int]]) -> None:  # type: ignore[no-untyped-def]
    port = w.viewer.views[plane].graphics.viewport()
    left = Qt.MouseButton.LeftButton
    qtbot.mousePress(port, left, pos=viewport_point(w, plane, voxels[0]))
    for vox in voxels[1:]:
        qtbot.mouseMove(port, pos=viewport_point(w, plane, vox))
    qtbot.mouseRelease(port, left, pos=viewport_point(w, plane, voxels[-1]))


def key(qtbot, w: LabellingWorkspace, k, mod=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    w.viewer.views["axial"].graphics.setFocus()
    qtbot.keyClick(QApplication.focusWidget() or w, k, mod)


def test_brush_stroke_undo_redo_exact(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    z = ws.viewer.views["axial"].index
    before = ws.session.labels.copy()
    key(qtbot, ws, Qt.Key.Key_B)
    key(qtbot, ws, Qt.Key.Key_5)
    assert ws.tool == "brush2d" and ws.active_label == 5
    ws.radius_slider.setValue(1)
    axial = ws.viewer.views["axial"]
    # (a move to where the cursor already is makes no event: come from elsewhere)
    qtbot.mouseMove(axial.graphics.viewport(), pos=viewport_point(ws, "axial", (14, 24, z)))
    qtbot.wait(30)
    qtbot.mouseMove(axial.graphics.viewport(), pos=viewport_point(ws, "axial", (10, 20, z)))
    qtbot.waitUntil(lambda: axial.brush_item.rect().center().x() == pytest.approx(10.5),
                    timeout=2000)
    assert axial.brush_item.isVisible()  # the brush outline follows the cursor
    rect = axial.brush_item.rect()
    assert rect.center().x() == pytest.approx(10.5) and rect.width() == pytest.approx(3.0)
    stroke(qtbot, ws, "axial", [(10, 20, z), (14, 20, z), (18, 21, z), (22, 22, z)])
    lab = ws.session.labels
    assert (lab[10:23, :, z] == 5).any(axis=1).all()  # a continuous band along x
    assert (lab[:, :, z] == 5).sum() >= 13 * 3
    assert (lab[:, :, :z] == 0).all() and (lab[:, :, z + 1:] == 0).all()  # 2D brush: one slice
    assert len(ws.session.history) == 1 and ws.record.edit_count == 1
    after = lab.copy()
    key(qtbot, ws, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(ws.session.labels, before)
    key(qtbot, ws, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(ws.session.labels, after)
    key(qtbot, ws, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    key(qtbot, ws, Qt.Key.Key_Z, ctrl_shift)
    np.testing.assert_array_equal(ws.session.labels, after)
    # the overlay of the painted slice shows the label colour
    rgba = ws.viewer.views["axial"].overlay_item.image
    assert rgba[16, 20, 3] > 0 and tuple(rgba[16, 20, :3]) == (220, 80, 80)


def test_brush_3d_eraser_and_fill_in_other_views(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    y = ws.viewer.views["coronal"].index
    ws.set_tool("brush3d")
    ws.choose_label(8)
    ws.radius_slider.setValue(2)
    stroke(qtbot, ws, "coronal", [(20, y, 12)])
    lab = ws.session.labels
    assert lab[20, y, 12] == 8 and lab[20, y + 2, 12] == 8 and lab[20, y + 3, 12] == 0
    ws.set_tool("eraser")
    ws.radius_slider.setValue(0)
    stroke(qtbot, ws, "coronal", [(20, y, 12)])
    assert lab[20, y, 12] == 0 and lab[21, y, 12] == 8
    # fill: a closed ring on a sagittal slice, then fill inside it
    x = ws.viewer.views["sagittal"].index
    lab[x, 5:15, 5] = lab[x, 5:15, 14] = lab[x, 5, 5:15] = lab[x, 14, 5:15] = 3
    ws.set_tool("fill")
    ws.choose_label(3)
    stroke(qtbot, ws, "sagittal", [(x, 9, 9)])
    assert (lab[x, 5:15, 5:15] == 3).all() and lab[x, 4, 9] == 0
    assert ws.session.history.can_undo


def test_threshold_paint_and_overwrite_rule(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    z = ws.viewer.views["axial"].index
    ws.set_tool("threshold")
    ws.choose_label(9)
    ws.radius_slider.setValue(6)
    ws.thr_low.setValue(500)
    ws.thr_high.setValue(700)
    stroke(qtbot, ws, "axial", [(3, 22, z)])  # the brush crosses the head's edge
    image, lab = ws.session.image.data, ws.session.labels
    assert (lab == 9).any() and (image[lab == 9] >= 500).all()
    lab[5, 22, z] = 1  # skull under the brush
    ws.set_tool("brush2d")
    ws.set_rule("background")
    ws.choose_label(4)
    stroke(qtbot, ws, "axial", [(5, 22, z)])
    assert lab[5, 22, z] == 1 and lab[5, 23, z] == 9 and lab[6, 21, z] == 9
    ws.set_rule("label", 9)
    stroke(qtbot, ws, "axial", [(5, 22, z)])
    assert lab[5, 22, z] == 1 and lab[5, 23, z] == 4


def test_shortcuts_and_help(qtbot, ws: LabellingWorkspace, messages: list[str]) -> None:  # type: ignore[no-untyped-def]
    for k, tool in ((Qt.Key.Key_E, "eraser"), (Qt.Key.Key_F, "fill"), (Qt.Key.Key_T, "threshold"),
                    (Qt.Key.Key_N, "navigate"), (Qt.Key.Key_B, "brush2d")):
        key(qtbot, ws, k)
        assert ws.tool == tool
    key(qtbot, ws, Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)
    assert ws.tool == "brush3d"
    key(qtbot, ws, Qt.Key.Key_3)
    assert ws.active_label == 3
    r = ws.radius_slider.value()
    key(qtbot, ws, Qt.Key.Key_BracketRight)
    key(qtbot, ws, Qt.Key.Key_BracketRight)
    key(qtbot, ws, Qt.Key.Key_BracketLeft)
    assert ws.radius_slider.value() == r + 1
    key(qtbot, ws, Qt.Key.Key_O)
    assert ws.outline_box.isChecked() and ws.viewer.views["axial"].outline
    key(qtbot, ws, Qt.Key.Key_O)
    assert not ws.viewer.views["axial"].outline
    ws._active_plane = "axial"
    z = ws.viewer.views["axial"].index
    key(qtbot, ws, Qt.Key.Key_PageUp)
    assert ws.viewer.views["axial"].index == z + 1
    key(qtbot, ws, Qt.Key.Key_PageDown)
    key(qtbot, ws, Qt.Key.Key_PageDown)
    assert ws.viewer.views["axial"].index == z - 1
    key(qtbot, ws, Qt.Key.Key_V)
    assert ws.viewer.visible_labels == set()
    key(qtbot, ws, Qt.Key.Key_V)
    key(qtbot, ws, Qt.Key.Key_H)
    assert messages and "Ctrl+Z" in messages[-1] and "Page Up" in messages[-1]
    # typing digits in a number box edits the box, it does not pick labels
    ws.island_min.setFocus()
    ws.island_min.selectAll()
    qtbot.keyClicks(ws.island_min, "77")
    assert ws.island_min.value() == 77 and ws.active_label == 3


def test_visibility_outline_and_interpolate_islands(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    lab = ws.session.labels
    lab[10:20, 10:20, 4] = 6
    lab[12:18, 12:18, 10] = 6
    lab[35, 40, 20] = 6  # a stray voxel
    ws.choose_label(6)
    ws.interp_plane.setCurrentText("axial")
    key(qtbot, ws, Qt.Key.Key_I)
    assert all((lab[:, :, k] == 6).any() for k in range(4, 11))
    ws.island_min.setValue(5)
    key(qtbot, ws, Qt.Key.Key_L)
    assert lab[35, 40, 20] == 0
    ws.session.set_proposal(lab.copy())
    ws._show_draft()
    ws.label_list.item(5).setCheckState(Qt.CheckState.Unchecked)  # hide medial pterygoid (6)
    assert 6 not in ws.viewer.visible_labels
    assert ws.viewer.views["axial"].draft_lut[6, 3] == 0  # its proposal outline hides too
    ws.viewer.views["axial"].set_index(4)
    assert ws.viewer.views["axial"].overlay_item.image[..., 3].max() == 0


def make_project(tmp_path: Path) -> Project:
    src = tmp_path / "incoming"
    src.mkdir()
    for n in range(2):
        case = src / f"case{n}"
        case.mkdir()
        img = head(n)
        save_volume(img, case / "image.nii.gz")
        save_volume(fake_labels(img), case / "labels.nii.gz")  # becomes the reference
    proj = Project.create(tmp_path / "proj")
    proj.import_folder(src)
    return proj


def test_project_save_autosave_and_switch(qtbot, ws: LabellingWorkspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    assert ws.case_table.rowCount() == 2
    table = ws.case_table
    rect = table.visualItemRect(table.item(0, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: ws.case_name == "case0", timeout=5000)
    assert ws.state.case.name == "case0"
    ws.set_tool("brush2d")
    ws.choose_label(1)
    z = ws.viewer.views["axial"].index
    stroke(qtbot, ws, "axial", [(20, 20, z), (24, 20, z)])
    edited = ws.session.labels.copy()
    assert ws.autosave_now() and (proj.case_dir("case0") / AUTOSAVE).exists()
    assert ws.open_case("case1")  # switching autosaves; reopening restores the autosave
    assert ws.open_case("case0")
    np.testing.assert_array_equal(ws.session.labels, edited)
    assert "autosave" in ws.status_label.text() or ws.session.dirty
    key(qtbot, ws, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert (proj.case_dir("case0") / LABELS).exists()
    assert not (proj.case_dir("case0") / AUTOSAVE).exists()
    reopened = proj.open_case("case0")
    np.testing.assert_array_equal(reopened.labels.data, edited)
    assert reopened.record.edit_count == 1 and reopened.record.seconds_spent > 0
    # metrics vs the reference
    ws.metrics_against.setCurrentText("reference")
    scores = ws.compute_metrics()
    assert scores[5] == 0.0 and scores[1] == 0.0 and "Mean Dice" in ws.metrics_mean.text()


def test_proposal_round_trip_records_changes(qtbot, ws: LabellingWorkspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    ws.open_case("case0")
    ws.set_predictor(fake_labels, "fake model")
    ws.request_proposal()
    qtbot.waitUntil(lambda: ws._proposal_worker is None, timeout=10_000)
    assert ws.session.proposal is not None and ws.record.stage == "semi"
    assert ws.review_table.rowCount() == 2
    assert ws.viewer.views["axial"].draft is ws.session.proposal
    # two boxes are no head: the failed anatomy checks are shown with the proposal
    assert not ws.plausibility_label.isHidden()
    assert "implausible" in ws.plausibility_label.text()
    assert "eyeball" in ws.plausibility_label.text()
    # the verdict in the status line is short, and a long one cannot widen the window
    assert "implausible" in ws.status_label.text() and len(ws.status_label.text()) < 200
    before = ws.minimumSizeHint().width()
    ws.tell("x" * 3000)
    assert ws.minimumSizeHint().width() <= before + 10
    ws.accept_structure(5)
    ws.reject_structure(8)
    lab = ws.session.labels
    assert (lab == 5).sum() == 8 * 10 * 8 and not (lab == 8).any()
    # edit the accepted structure: erase a bit of it with a real stroke
    ws.set_tool("eraser")
    ws.radius_slider.setValue(0)
    ws.viewer.views["axial"].set_index(10)
    stroke(qtbot, ws, "axial", [(10, 12, 10), (12, 12, 10)])
    assert ws.record.review == {"masseter": "edited", "eyeballs": "rejected"}
    assert ws.save()
    rec = proj.record("case0")
    assert rec.changes["masseter"] == {"added": 0, "removed": 3}
    assert rec.changes["eyeballs"] == {"added": 0, "removed": 6 * 10 * 4}
    assert rec.proposal_source == "fake model" and rec.review["masseter"] == "edited"
    assert (proj.case_dir("case0") / "proposal.nii.gz").exists()
    ws.metrics_against.setCurrentText("proposal")
    scores = ws.compute_metrics()
    assert scores[8] == 0.0 and 0.98 < scores[5] < 1.0


def test_proposal_cancel_and_no_model(qtbot, ws: LabellingWorkspace, messages: list[str],  # type: ignore[no-untyped-def]
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import headtwin_app.core.edit.case_editor as case_editor

    monkeypatch.setattr(case_editor, "default_backend", lambda _p: (None, "no backend here"))
    ws.request_proposal()
    assert "no backend here" in messages[-1]
    ws.retrain()
    assert "open one first" in messages[-1]  # retraining needs a project
    import threading

    gate = threading.Event()

    def slow(img: Volume) -> Volume:
        gate.wait(5)
        return fake_labels(img)

    ws.set_predictor(slow, "slow")
    ws.request_proposal()
    ws.cancel_proposal()
    gate.set()
    qtbot.waitUntil(lambda: ws._proposal_worker is None, timeout=10_000)
    assert ws.session.proposal is None


class SteppedModel:
    """A backend whose predict has a generator form (as the built-in model's fine stage): one
    progress step every 50 ms for `steps` steps, then the labels."""

    def __init__(self, steps: int):
        self.steps, self.done = steps, 0

    def predict(self, img: Volume) -> Volume:
        return fake_labels(img)

    def iter_predict(self, img: Volume):  # type: ignore[no-untyped-def]
        import time

        from headtwin_app.core.seg import Progress

        for k in range(self.steps):
            time.sleep(0.05)
            self.done = k + 1
            yield Progress("refine", (k + 1) / self.steps, f"tile {k + 1}/{self.steps}")
        yield self.predict(img)


def test_stepwise_proposal_shows_progress_and_cancels_between_steps(  # type: ignore[no-untyped-def]
        qtbot, ws: LabellingWorkspace, tmp_path: Path) -> None:
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    ws.open_case("case0")
    model = SteppedModel(10)
    ws.set_predictor(model.predict, "stepped")
    ws.request_proposal()
    qtbot.waitUntil(lambda: ws._proposal_worker is None, timeout=10_000)
    assert ws.session.proposal is not None and model.done == 10
    # a long prediction: Cancel stops it after the step in progress, not at its end
    slow = SteppedModel(400)  # 20 s if it ran through
    ws.set_predictor(slow.predict, "slow stepped")
    ws.session.proposal = None
    ws.request_proposal()
    qtbot.waitUntil(lambda: ws.proposal_progress.value() > 0, timeout=10_000)
    assert "tile" in ws.proposal_progress.format()
    ws.proposal_cancel.click()
    qtbot.waitUntil(lambda: ws._proposal_worker is None, timeout=5_000)
    assert slow.done < 100 and ws.session.proposal is None
    assert ws.proposal_button.isEnabled() and ws.proposal_progress.format() == "%p%"


def test_stage3_auto_label_writes_report(qtbot, ws: LabellingWorkspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    ws.open_case("case1")
    assert not ws.session.labels.any()
    ws.set_predictor(fake_labels, "fake model")
    ws.auto_label_all()
    qtbot.waitUntil(lambda: ws._auto_worker is None, timeout=20_000)
    assert ws.last_report and all(p.exists() for p in ws.last_report)
    assert "qc_report.csv" in ws.report_label.text()
    assert proj.has_labels("case0") and proj.record("case1").stage == "auto"
    assert ws.case_table.item(0, 1).text() == "auto"
    assert (ws.session.labels == 5).any()  # the open case shows its new labels


def test_bad_labels_message_and_nothing_lost(qtbot, ws: LabellingWorkspace, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             messages: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lab = ws.session.labels
    lab[5:9, 5:9, 5:9] = 2
    keep = lab.copy()
    wrong = save_volume(Volume(np.zeros((5, 5, 5), np.int16)), tmp_path / "wrong.nii.gz")
    assert not ws.load_labels_file(wrong)
    assert "does not match the image" in messages[-1] and "\n" not in messages[-1]
    alien = np.zeros(SHAPE, np.int16)
    alien[0, 0, 0] = 250
    alien_file = save_volume(head().with_data(alien), tmp_path / "alien.nii.gz")
    assert not ws.load_labels_file(alien_file)
    assert "250" in messages[-1] and "not in the label table" in messages[-1]
    np.testing.assert_array_equal(ws.session.labels, keep)
    # a project case with a broken label file: message, the open case stays
    proj = make_project(tmp_path)
    (proj.case_dir("case1") / LABELS).write_bytes(alien_file.read_bytes())
    ws.open_project(proj.root)
    assert ws.open_case("case0")
    ws.session.labels[1, 1, 1] = 3
    mine = ws.session.labels.copy()
    assert not ws.open_case("case1")
    assert "not in the label table" in messages[-1] and ws.case_name == "case0"
    np.testing.assert_array_equal(ws.session.labels, mine)
    # a read-only project folder: the save fails with a message, labels stay in memory

    def denied(img, filename):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", str(filename))

    monkeypatch.setattr("nibabel.save", denied)
    assert not ws.save()
    assert "read-only" in messages[-1]
    np.testing.assert_array_equal(ws.session.labels, mine)


def test_retrain_hook_runs_in_worker_and_installs_model(qtbot, ws: LabellingWorkspace,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    seen: list[str] = []

    def retrain(project: Project):  # type: ignore[no-untyped-def]
        seen.append(project.name)
        yield "epoch 1/1"
        return fake_labels

    ws.retrainer = retrain
    ws.retrain()
    qtbot.waitUntil(lambda: ws._train_worker is None, timeout=10_000)
    assert seen == ["proj"] and ws.predictor is fake_labels
    assert ws.predictor_name == "retrained model"


@pytest.mark.parametrize("outline", [False, True])
def test_partial_overlay_update_matches_full_redraw(qtbot, ws: LabellingWorkspace,  # type: ignore[no-untyped-def]
                                                   outline: bool) -> None:
    from headtwin_app.core.overlay import label_rgba
    from headtwin_app.ui.slice_view import take_slice

    view = ws.viewer.views["axial"]
    z = view.index
    ws.session.labels[5:30, 5:30, z] = 2
    ws.outline_box.setChecked(outline)
    ws.viewer.refresh_overlays()
    ws.set_tool("brush2d")
    ws.choose_label(7)
    ws.radius_slider.setValue(2)
    port = view.graphics.viewport()
    left = Qt.MouseButton.LeftButton
    qtbot.mousePress(port, left, pos=viewport_point(ws, "axial", (20, 20, z)))
    for vox in [(28, 22, z), (33, 30, z), (6, 6, z)]:  # mouse still down: partial redraws only
        qtbot.mouseMove(port, pos=viewport_point(ws, "axial", vox))
    expected = label_rgba(take_slice(ws.session.labels, "axial", z), view.overlay_lut, outline)
    assert ws.session.history.in_stroke and (ws.session.labels[:, :, z] == 7).sum() > 40
    np.testing.assert_array_equal(view.overlay_item.image, expected)
    qtbot.mouseRelease(port, left, pos=viewport_point(ws, "axial", (6, 6, z)))


def test_stage3_cancel_then_resume(qtbot, ws: LabellingWorkspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading

    proj = make_project(tmp_path)
    ws.open_project(proj.root)
    first_done = threading.Event()
    calls: list[str] = []

    def slow(img: Volume) -> Volume:
        calls.append("x")
        first_done.set()
        return fake_labels(img)

    ws.set_predictor(slow, "slow model")
    ws.auto_label_all()
    assert first_done.wait(10)
    ws.cancel_auto()
    qtbot.waitUntil(lambda: ws._auto_worker is None, timeout=10_000)
    assert ws.auto_button.isEnabled() and not ws.auto_cancel.isEnabled()
    done_before = [n for n in proj.case_names() if proj.has_labels(n)]
    assert 1 <= len(done_before) <= 2
    ws.auto_label_all()  # resumes: only what is left is predicted
    qtbot.waitUntil(lambda: ws._auto_worker is None, timeout=10_000)
    assert all(proj.has_labels(n) for n in proj.case_names()) and len(calls) == 2
    assert ws.last_report


def test_labels_saved_for_slicer_and_loaded_back(ws: LabellingWorkspace, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 ) -> None:
    """Save as .seg.nrrd (names and colours for 3D Slicer), load it back: the same labels."""
    import nrrd

    ws.open_project(make_project(tmp_path).root)
    assert ws.open_case("case0")
    ws.session.labels[2:5, 2:5, 2:5] = 8
    mine = ws.session.labels.copy()
    assert ws.save_labels_as(tmp_path / "out.seg.nrrd")
    _, header = nrrd.read(str(tmp_path / "out.seg.nrrd"))
    names = {v for k, v in header.items() if k.endswith("_Name")}
    assert "eyeballs" in names
    ws.session.labels[:] = 0
    assert ws.load_labels_file(tmp_path / "out.seg.nrrd")
    np.testing.assert_array_equal(ws.session.labels, mine)
    assert not ws.save_labels_as(tmp_path / "out.dcm")  # not a DICOM case: a clear message
