"""The designer's Contrast combo: the sample head as PD, T1, T2 or FLAIR, driven with real keys
and mouse clicks (pytest-qt). The sample is made at 4 mm into a throwaway cache to stay fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from headtwin_app.core.case import Case, load_case
from headtwin_app.core.phantom.sequences import CONTRASTS
from headtwin_app.core.volume import Volume
from headtwin_app.ui.designer import (
    CONTRAST_KEY,
    CONTRAST_ORDER,
    DesignerWorkspace,
    accel_to_slider,
    remembered_contrast,
)
from headtwin_app.ui.state import AppState

pytestmark = pytest.mark.gui


@pytest.fixture
def sample_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from headtwin_app.core.phantom import storage

    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path))
    monkeypatch.setattr(storage, "SAMPLE_SPACING", 4.0)
    return tmp_path


@pytest.fixture
def workspace(qtbot, sample_cache):  # type: ignore[no-untyped-def]
    from headtwin_app.core.phantom import sample_case_dir

    state = AppState()
    state.set_case(load_case(sample_case_dir()))
    ws = DesignerWorkspace(state)
    qtbot.addWidget(ws)
    ws.resize(1300, 800)
    ws.show()
    qtbot.waitExposed(ws)
    qtbot.waitUntil(lambda: ws.frame is not None and ws.is_idle(), timeout=20000)
    return ws


def wait_idle(qtbot, ws) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(ws.is_idle, timeout=120000)  # a first T1 head is generated (4 mm: ~5 s)
    qtbot.wait(10)


def test_contrast_order_covers_the_presets() -> None:
    assert sorted(CONTRAST_ORDER) == sorted(CONTRASTS)


def test_t1_by_keyboard_keeps_mask_slice_labels_and_is_remembered(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    assert ws.sample_box.isVisible() and ws.contrast.currentData() == "pd"
    assert [ws.contrast.itemText(i) for i in range(4)] == ["PD", "T1", "T2", "FLAIR"]
    assert ws.contrast.itemData(1, Qt.ItemDataRole.ToolTipRole) == \
        "T1: spin echo TR 500 / TE 10 ms"
    assert ws.contrast.toolTip() == "PD: spin echo TR 6000 / TE 30 ms"
    ws.family.setCurrentText("equispaced")
    ws.r_slider.setValue(accel_to_slider(3.0))
    ws.slice.setValue(ws.slice.value() + 2)
    wait_idle(qtbot, ws)
    # a hand-painted mask must survive the switch too
    ws._stroke_start()
    ws._paint_at(2.0, 2.0)
    wait_idle(qtbot, ws)
    painted = ws.painted.copy()
    image0 = ws.panels["image"].item.image.copy()
    metrics0 = ws.metrics_label.text()
    labels0 = ws.state.case.labels
    slice0, params0 = ws.slice.value(), ws.params()
    steps: list[str] = []
    ws.state.jobs.progress.connect(lambda text, _f: steps.append(text))

    ws.contrast.setFocus()
    qtbot.keyClick(ws.contrast, Qt.Key.Key_Down)  # PD -> T1
    assert not ws.is_idle() and ws.contrast_progress.isVisible()
    wait_idle(qtbot, ws)

    assert ws.state.case.source.name == "sample-t1"
    assert ws.sample_contrast() == "t1" and ws.contrast.currentData() == "t1"
    assert ws.contrast.isEnabled() and not ws.contrast_progress.isVisible()
    assert ws.contrast.toolTip() == "T1: spin echo TR 500 / TE 10 ms"
    assert any("generating the T1 sample head" in s for s in steps)
    image1 = ws.panels["image"].item.image
    assert image1.shape == image0.shape and not np.allclose(image1, image0)
    assert ws.state.case.labels is labels0  # the same anatomy: the label map stays
    assert ws.slice.value() == slice0 and ws.params() == params0
    np.testing.assert_array_equal(ws.painted, painted)
    assert ws.frame.extra["painted"]
    assert ws.metrics_label.text() != metrics0 and "PSNR" in ws.metrics_label.text()
    assert QSettings().value(CONTRAST_KEY) == "t1" and remembered_contrast() == "t1"


def test_flair_by_mouse_then_back_to_pd(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    image0 = ws.panels["image"].item.image.copy()
    qtbot.mouseClick(ws.contrast, Qt.MouseButton.LeftButton)
    view = ws.contrast.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    qtbot.wait(300)  # a popup ignores a release that comes right after it opened
    row = view.visualRect(view.model().index(CONTRAST_ORDER.index("flair"), 0))
    vp = view.viewport()
    at = QPoint(vp.width() // 2, row.center().y())
    # hover first, as a hand does: the popup picks the item under the pointer on release
    QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseMove, QPointF(at),
                                           vp.mapToGlobal(QPointF(at)), Qt.MouseButton.NoButton,
                                           Qt.MouseButton.NoButton,
                                           Qt.KeyboardModifier.NoModifier))
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=at)
    assert not view.isVisible()
    wait_idle(qtbot, ws)
    assert ws.sample_contrast() == "flair" and remembered_contrast() == "flair"
    assert not np.allclose(ws.panels["image"].item.image, image0)
    ws.contrast.setCurrentIndex(0)
    wait_idle(qtbot, ws)
    assert ws.sample_contrast() == "pd" and remembered_contrast() == "pd"
    np.testing.assert_allclose(ws.panels["image"].item.image, image0)


def test_busy_runner_leaves_the_head_and_the_combo_as_they_were(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    assert ws.state.jobs.start("something long", lambda: qtbot.wait(0) or 1)
    ws.contrast.setCurrentIndex(CONTRAST_ORDER.index("t2"))
    assert ws.contrast.currentData() == "pd" and ws.sample_contrast() == "pd"
    assert "not loaded" in ws.error_label.text()
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=10000)
    assert remembered_contrast() == "pd"


def test_combo_hidden_for_other_images(qtbot, sample_cache) -> None:  # type: ignore[no-untyped-def]
    state = AppState()
    img = np.random.default_rng(0).random((32, 32, 8)).astype(np.float32)
    state.set_case(Case(image=Volume.from_spacing(img, (1.0, 1.0, 1.0)), name="noise"))
    ws = DesignerWorkspace(state)
    qtbot.addWidget(ws)
    ws.show()
    qtbot.waitExposed(ws)
    assert not ws.sample_box.isVisible() and ws.sample_contrast() is None


def test_open_sample_uses_the_remembered_contrast(qtbot, sample_cache) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.ui.main_window import MainWindow

    QSettings().setValue(CONTRAST_KEY, "t2")
    win = MainWindow()
    qtbot.addWidget(win)
    win.open_sample()
    qtbot.waitUntil(lambda: win.state.case is not None and not win.jobs.is_busy, timeout=120000)
    assert win.state.case.source == sample_cache / "sample-t2"
    ws = win.workspaces["designer"]
    assert ws.contrast.currentData() == "t2"
