"""Grow from seeds and Fill between slices in the labelling workspace, with real mouse strokes:
seeds per structure and background, Grow (G) → preview, more seeds → live re-grow, Enter
accepts, Esc cancels; fill between two drawn slices with a preview."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from headtwin_app.core.case import Case
from headtwin_app.core.metrics_seg import dice_per_label
from headtwin_app.core.volume import Volume
from headtwin_app.ui.labelling import LabellingWorkspace
from tests.ui.test_labelling import open_workspace, stroke


def ball() -> tuple[Volume, np.ndarray]:
    i, j, k = np.meshgrid(*[np.arange(n) for n in (40, 44, 24)], indexing="ij")
    truth = (i - 20) ** 2 + (j - 22) ** 2 + ((k - 12) * 1.5) ** 2 < 9**2
    data = np.where(truth, 800.0, 200.0) + np.random.default_rng(0).normal(0, 25, truth.shape)
    return Volume.from_spacing(data.astype(np.float32), (1.0, 1.0, 1.5)), truth


@pytest.fixture
def ws(qtbot) -> LabellingWorkspace:  # type: ignore[no-untyped-def]
    w = open_workspace(qtbot)
    img, truth = ball()
    w.state.set_case(Case(img, name="ball"))
    w.truth = truth  # type: ignore[attr-defined]
    qtbot.wait(20)
    return w


def press(qtbot, ws: LabellingWorkspace, key) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClick(QApplication.focusWidget() or ws.window(), key)


def test_seeds_grow_preview_regrow_accept(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    ws.viewer.views["axial"].set_index(12)
    ws.viewer.views["axial"].graphics.setFocus()
    press(qtbot, ws, Qt.Key.Key_S)
    assert ws.tool == "seed"
    ws.choose_label(8)
    ws.radius_slider.setValue(0)
    stroke(qtbot, ws, "axial", [(18, 22, 12), (23, 22, 12)])  # inside the ball
    assert (ws.session.seeds == 8).sum() >= 5 and not ws.session.labels.any()
    ws.seed_background.setChecked(True)
    stroke(qtbot, ws, "axial", [(3, 4, 12), (36, 4, 12), (36, 40, 12)])  # around it
    assert (ws.session.seeds == 255).sum() > 30
    assert ws.viewer.views["axial"].extra is ws.session.seeds  # the seeds are drawn
    press(qtbot, ws, Qt.Key.Key_G)
    preview = ws.editor.preview
    assert preview is not None and preview.counts[8] > 100
    assert ws.viewer.views["axial"].draft is not None and ws.accept_button.isEnabled()
    assert not ws.session.labels.any()  # only a preview
    stroke(qtbot, ws, "axial", [(3, 40, 12), (3, 4, 12)])  # more background: live re-grow
    assert ws.editor.preview is not preview
    press(qtbot, ws, Qt.Key.Key_Return)
    assert ws.editor.preview is None and ws.session.seeds is None
    dice = dice_per_label(ws.truth.astype(np.int16) * 8, ws.session.labels)[8]
    assert dice > 0.9 and ws.session.dirty
    ws.undo()
    assert not ws.session.labels.any()


def test_escape_cancels_the_preview(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    ws.set_tool("seed")
    ws.choose_label(8)
    ws.radius_slider.setValue(0)
    ws.viewer.views["axial"].set_index(12)
    stroke(qtbot, ws, "axial", [(18, 22, 12), (23, 22, 12)])
    ws.seed_background.setChecked(True)
    stroke(qtbot, ws, "axial", [(3, 4, 12), (36, 4, 12)])
    ws.grow_button.click()
    assert ws.editor.preview is not None
    ws.viewer.views["axial"].graphics.setFocus()
    press(qtbot, ws, Qt.Key.Key_Escape)
    assert ws.editor.preview is None and not ws.session.labels.any()
    assert ws.tool == "seed"  # Esc cancelled the preview, the tool stays


def test_fill_between_slices_preview_and_accept(qtbot, ws: LabellingWorkspace) -> None:  # type: ignore[no-untyped-def]
    ws.set_tool("brush2d")
    ws.choose_label(4)
    ws.radius_slider.setValue(3)
    for z in (6, 16):
        ws.viewer.views["axial"].set_index(z)
        stroke(qtbot, ws, "axial", [(20, 22, z), (21, 22, z)])
    painted = ws.session.labels.copy()
    ws.interp_plane.setCurrentText("axial")
    ws.fill_between_button.click()
    preview = ws.editor.preview
    assert preview is not None and preview.counts[4] > 9 * 20
    assert np.array_equal(ws.session.labels, painted)
    ws.accept_button.click()
    lab = ws.session.labels
    assert all((lab[:, :, z] == 4).any() for z in range(6, 17))
    assert not (lab[:, :, 17:] == 4).any() and not (lab[:, :, :6] == 4).any()


def test_coarse_preview_is_grown_at_full_resolution_in_a_worker(qtbot, ws: LabellingWorkspace  # type: ignore[no-untyped-def]
                                                                ) -> None:
    ws.set_tool("seed")
    ws.choose_label(8)
    ws.radius_slider.setValue(0)
    ws.viewer.views["axial"].set_index(12)
    stroke(qtbot, ws, "axial", [(18, 22, 12), (23, 22, 12)])
    ws.seed_background.setChecked(True)
    stroke(qtbot, ws, "axial", [(3, 4, 12), (36, 4, 12), (36, 40, 12), (3, 40, 12)])
    ws.editor._grower_for(False).preview_voxels = 2000  # a 'large' box: coarse preview
    ws.grow_button.click()
    assert ws.editor.preview.scale > 1 and ws.editor.needs_full_grow()
    ws.accept_button.click()
    qtbot.waitUntil(lambda: ws.editor.preview is None, timeout=20_000)
    assert ws._grow_worker is None and ws.session.seeds is None
    dice = dice_per_label(ws.truth.astype(np.int16) * 8, ws.session.labels)[8]
    assert dice > 0.9
