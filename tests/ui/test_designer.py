"""The k-space designer workspace with real key presses and mouse strokes (pytest-qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from headtwin_app.core.case import Case
from headtwin_app.core.volume import Volume
from headtwin_app.ui.designer import DesignerWorkspace, accel_to_slider, slider_to_accel
from headtwin_app.ui.state import AppState

pytestmark = pytest.mark.gui


def small_case() -> Case:
    shape = (48, 56, 16)
    g = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = g[0] ** 2 + g[1] ** 2 + 0.5 * g[2] ** 2
    rng = np.random.default_rng(0)
    img = (r2 < 0.7) * 60.0 + (r2 < 0.25) * 50 + ((g[0] - 0.2) ** 2 + g[1] ** 2 < 0.02) * 40
    img = (img + rng.random(shape) * 4).astype(np.float32)
    return Case(image=Volume.from_spacing(img, (1.0, 1.0, 2.0)), name="blob")


@pytest.fixture
def workspace(qtbot):  # type: ignore[no-untyped-def]
    state = AppState()
    state.set_case(small_case())
    ws = DesignerWorkspace(state)
    qtbot.addWidget(ws)
    ws.resize(1300, 800)
    ws.show()
    qtbot.waitExposed(ws)
    qtbot.waitUntil(lambda: ws.frame is not None and ws.is_idle(), timeout=10000)
    return ws


def wait_idle(qtbot, ws) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(ws.is_idle, timeout=20000)
    qtbot.wait(10)


def test_slider_keys_change_mask_and_metrics(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    assert ws.state.mask is not None and ws.state.mask["dims"] == 2
    ws.family.setCurrentText("radial")  # reaches every R on this small plane
    wait_idle(qtbot, ws)
    mask0 = ws.frame.mask.copy()
    text0 = ws.metrics_label.text()
    r0 = slider_to_accel(ws.r_slider.value())
    ws.r_slider.setFocus()
    qtbot.keyClick(ws.r_slider, Qt.Key.Key_PageUp)  # +4 steps = +1.0
    qtbot.keyClick(ws.r_slider, Qt.Key.Key_Right)  # +0.25
    wait_idle(qtbot, ws)
    assert slider_to_accel(ws.r_slider.value()) == pytest.approx(r0 + 1.25)
    assert ws.frame.params.accel == pytest.approx(r0 + 1.25)
    assert not np.array_equal(ws.frame.mask, mask0)
    assert ws.frame.mask.sum() < mask0.sum()
    assert ws.metrics_label.text() != text0 and "PSNR" in ws.metrics_label.text()
    assert f"{r0 + 1.25:.2f}" in ws.accel_label.text()
    assert ws.state.mask["accel"] == pytest.approx(r0 + 1.25)
    assert "TR = 500 ms" in ws.model_label.text()


def test_a_burst_of_keys_is_coalesced(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.family.setCurrentText("radial")
    ws.r_slider.setValue(accel_to_slider(2.0))
    wait_idle(qtbot, ws)
    frames: list = []
    ws.frame_shown.connect(frames.append)
    for _ in range(8):  # eight value changes queued before the event loop runs again
        qtbot.keyClick(ws.r_slider, Qt.Key.Key_Right, delay=-1)
    wait_idle(qtbot, ws)
    assert frames[-1].params.accel == pytest.approx(4.0)
    assert len(frames) < 9


def test_family_combo_and_unreachable_r(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.family.setCurrentText("upper_half")
    ws.r_slider.setValue(accel_to_slider(4.0))
    wait_idle(qtbot, ws)
    assert "random_line" in ws.accel_label.text()  # combined beyond its cap
    ws.family.setCurrentText("random_line")
    ws.r_slider.setValue(accel_to_slider(10.5))  # 56 lines / 10.5: not within 2 %
    wait_idle(qtbot, ws)
    assert "cannot be reached" in ws.error_label.text()


def _viewport_point(ws, row: float, col: float) -> QPoint:  # type: ignore[no-untyped-def]
    scene = ws.mask_item.mapToScene(QPointF(col + 0.5, row + 0.5))
    return ws.glw.mapFromScene(scene)


def _send_move(widget, pos: QPoint) -> None:  # type: ignore[no-untyped-def]
    ev = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                     Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_brush_paints_and_erases_on_the_mask_panel(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.family.setCurrentText("kmax")
    ws.r_slider.setValue(accel_to_slider(8.0))
    wait_idle(qtbot, ws)
    before = ws.frame.mask.copy()
    ny, nx = before.shape
    assert not before[4, 4:nx - 4].any()
    qtbot.mouseClick(ws.brush, Qt.MouseButton.LeftButton, pos=QPoint(5, ws.brush.height() // 2))
    assert ws.brush.isChecked()
    vp = ws.glw.viewport()
    start, end = _viewport_point(ws, 4, 4), _viewport_point(ws, 4, nx - 5)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    for t in np.linspace(0, 1, 12):
        qtbot.wait(20)  # pyqtgraph drops mouse moves closer than its rate limit
        _send_move(vp, QPoint(int(start.x() + t * (end.x() - start.x())), start.y()))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end)
    wait_idle(qtbot, ws)
    assert ws.frame.extra["painted"] and ws.state.mask["painted"]
    painted = ws.frame.mask
    assert painted[3:6, 5:nx - 5].all()  # a gap-free stroke (radius 2) along row 4
    assert painted.sum() > before.sum()
    assert ws.frame.result.accel_achieved < 8.0
    # erase with a click at the centre
    ws.brush_mode.setCurrentText("erase")
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_viewport_point(ws, ny // 2, nx // 2))
    wait_idle(qtbot, ws)
    assert not ws.frame.mask[ny // 2, nx // 2]
    ws.undo_stroke()
    wait_idle(qtbot, ws)
    assert ws.frame.mask[ny // 2, nx // 2]
    ws.reset_painting()
    wait_idle(qtbot, ws)
    np.testing.assert_array_equal(ws.frame.mask, before)


def answer_painted_question(qtbot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Click `text` in the Keep painted / Discard box once it is up (it runs modally)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        button = next(b for b in box.buttons() if b.text() == text)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(20, click)


def test_painted_mask_is_kept_or_discarded_as_asked(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    wait_idle(qtbot, ws)
    qtbot.mouseClick(ws.brush, Qt.MouseButton.LeftButton, pos=QPoint(5, ws.brush.height() // 2))
    ny, nx = ws.frame.mask.shape
    vp = ws.glw.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_viewport_point(ws, ny // 2 + 9, 6))
    wait_idle(qtbot, ws)
    painted = ws.painted.copy()
    assert ws.state.mask["painted"]
    ws.slice.setValue(ws.slice.value() + 1)  # another slice: the painting fits it, no question
    wait_idle(qtbot, ws)
    assert ws.painted is not None
    answer_painted_question(qtbot, "Keep painted")
    ws.r_slider.setFocus()
    qtbot.keyClick(ws.r_slider, Qt.Key.Key_Right)
    wait_idle(qtbot, ws)
    np.testing.assert_array_equal(ws.frame.mask, painted)  # kept, not silently replaced
    qtbot.keyClick(ws.r_slider, Qt.Key.Key_Right)  # asked once per painting
    wait_idle(qtbot, ws)
    assert ws.state.mask["painted"]
    ws.reset_painting()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_viewport_point(ws, ny // 2 + 9, 6))
    wait_idle(qtbot, ws)
    answer_painted_question(qtbot, "Discard")
    qtbot.keyClick(ws.r_slider, Qt.Key.Key_Left)
    wait_idle(qtbot, ws)
    assert ws.painted is None and not ws.state.mask["painted"]


def test_3d_mode_runs_on_a_worker(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.dims.setCurrentIndex(1)
    qtbot.waitUntil(lambda: ws.frame.params.dims == 3 and ws.is_idle(), timeout=20000)
    assert ws.frame.mask.shape == (56, 16)  # (ky = Y, kz = Z)
    assert ws.state.mask["plane"] == "ky,kz"
    assert "TR = 8 ms" in ws.model_label.text()
    ws.noise.setValue(0.05)
    qtbot.waitUntil(lambda: ws.frame.params.noise == 0.05 and ws.is_idle(), timeout=20000)


def test_sweep_view_and_exports(qtbot, workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    sv = ws.sweep_view
    ws.tabs.setCurrentIndex(1)
    sv.accels.setText("2,4,8")
    qtbot.mouseClick(sv.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not sv.is_running(), timeout=60000)
    assert len(sv.rows) == 30
    assert sv.table.rowCount() == 10
    assert sv.table.item(0, 0).text() == "random_line"
    assert "paper" in sv.table.item(0, 1).toolTip()
    assert len(sv.psnr_plot.listDataItems()) == 10
    assert sv.export_plot(str(tmp_path / "sweep.png")).stat().st_size > 1000
    assert sv.export_csv(str(tmp_path / "sweep.csv")).exists()
    assert ws.export_mask(str(tmp_path / "mask.nii.gz")).exists()
    assert ws.export_mask(str(tmp_path / "mask.png")).exists()
    paths = ws.export_images(str(tmp_path / "images"))
    for key in ("mask", "zero_filled", "difference", "designer_png", "difference_png"):
        assert Path(paths[key]).exists(), key


def test_no_case_then_case(qtbot) -> None:  # type: ignore[no-untyped-def]
    state = AppState()
    ws = DesignerWorkspace(state)
    qtbot.addWidget(ws)
    assert not ws.r_slider.isEnabled() and ws.frame is None
    state.set_case(small_case())
    qtbot.waitUntil(lambda: ws.frame is not None and ws.is_idle(), timeout=10000)
    assert ws.r_slider.isEnabled()
