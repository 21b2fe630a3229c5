"""The main window in a real window under Xvfb: tabs, opening, errors, recent files, drops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from headtwin_app.core.case import Case
from headtwin_app.core.io import save_volume
from headtwin_app.core.volume import Volume
from headtwin_app.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


def synthetic_head(shape=(48, 56, 40)) -> Volume:
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    data = np.where(i**2 + j**2 + k**2 < 0.8, 600.0, 0.0) + 400 * np.exp(-(i**2 + 4 * j**2))
    data[: shape[0] // 3] *= 0.6  # left–right asymmetry
    return Volume.from_spacing(data.astype(np.float32), (1.0, 1.0, 1.5))


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1300, 850)
    with qtbot.waitExposed(win):
        win.show()
    return win


def test_five_workspace_tabs(window: MainWindow) -> None:
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["K-space designer", "Reconstruction", "Labelling", "3D twin",
                      "Cardiac twin"]


def test_case_in_three_views_non_blank(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.set_case(Case(synthetic_head(), name="synthetic"))
    qtbot.wait(50)
    for name, view in window.case_view.views.items():
        image = view.graphics.grab().toImage()
        pixels = np.array([image.pixelColor(x, y).lightness()
                           for x in range(0, image.width(), 7)
                           for y in range(0, image.height(), 7)])
        assert pixels.std() > 10, f"{name} view looks blank"
    shot = window.save_screenshot(tmp_path / "window.png")
    assert shot.stat().st_size > 10_000
    assert "synthetic" in window.windowTitle()


def test_open_file_in_worker_and_recent(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_volume(synthetic_head(), tmp_path / "head.nii.gz")
    window.open_path(path)
    qtbot.waitUntil(lambda: window.state.case is not None, timeout=20_000)
    assert window.state.case.image.shape == (48, 56, 40)
    qtbot.waitUntil(lambda: not window.jobs.is_busy, timeout=5000)
    assert window.recent_files()[0] == str(path.resolve())
    assert [a.text() for a in window.recent_menu.actions()] == [str(path.resolve())]


def test_bad_file_gives_dialog_not_crash(  # type: ignore[no-untyped-def]
        window: MainWindow, qtbot, tmp_path: Path, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    window.open_path(bad)
    qtbot.waitUntil(lambda: bool(shown), timeout=20_000)
    assert "broken.nii.gz" in shown[0] and "\n" not in shown[0]
    assert window.state.case is None
    qtbot.waitUntil(lambda: not window.jobs.is_busy, timeout=5000)
    assert window.recent_files() == []


def test_bitflipped_file_and_a_bug_follow_the_error_policy(  # type: ignore[no-untyped-def]
        window: MainWindow, qtbot, tmp_path: Path, monkeypatch) -> None:
    """A damaged .nii.gz (one flipped bit) is refused in one line naming it; a genuine bug
    shows one line naming the log that holds its traceback."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    monkeypatch.setenv("HEADTWIN_CACHE", str(tmp_path / "cache"))
    good = save_volume(synthetic_head(), tmp_path / "head.nii.gz").read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x04
    (tmp_path / "flipped.nii.gz").write_bytes(bytes(flipped))
    window.open_path(tmp_path / "flipped.nii.gz")
    qtbot.waitUntil(lambda: bool(shown), timeout=20_000)
    assert "flipped.nii.gz" in shown[0] and "\n" not in shown[0] and "corrupt" in shown[0]
    assert window.state.case is None
    qtbot.waitUntil(lambda: not window.jobs.is_busy, timeout=5000)

    def broken(path):  # type: ignore[no-untyped-def]
        return {}["no such key"]

    monkeypatch.setattr("headtwin_app.ui.main_window.load_case", broken)
    window.open_path(tmp_path / "head.nii.gz")
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=20_000)
    log = tmp_path / "cache" / "logs" / "errors.log"
    assert "internal error" in shown[1] and str(log) in shown[1] and "\n" not in shown[1]
    assert "KeyError" in log.read_text()


def test_drop_opens_file(window: MainWindow, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_volume(synthetic_head(), tmp_path / "dropped.mha")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.state.case is not None, timeout=20_000)
    assert window.state.case.name == "dropped"


def test_click_links_views(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.set_case(Case(synthetic_head(), name="synthetic"))
    qtbot.wait(50)
    viewer = window.case_view
    axial = viewer.views["axial"]
    before = list(viewer.position)
    # Click at one quarter of the image extent in the axial view: x and y must change.
    vb = axial.view
    target = vb.mapViewToScene(QPointF(48 * 0.25, 56 * 0.75))
    local = axial.graphics.mapFromScene(target)
    qtbot.mouseClick(axial.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(int(local.x()), int(local.y())))
    qtbot.waitUntil(lambda: viewer.position != before, timeout=3000)
    assert abs(viewer.position[0] - 12) <= 1 and abs(viewer.position[1] - 42) <= 1
    assert viewer.views["sagittal"].index == viewer.position[0]
    assert viewer.views["coronal"].index == viewer.position[1]


def test_window_level_and_keys(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.set_case(Case(synthetic_head(), name="synthetic"))
    viewer = window.case_view
    viewer.window.setValue(100.0)
    viewer.level.setValue(300.0)
    low, high = viewer.views["axial"].image_item.levels
    assert (low, high) == pytest.approx((250.0, 350.0))
    axial = viewer.views["axial"]
    start = axial.index
    axial.setFocus()
    qtbot.keyClick(axial, Qt.Key.Key_PageUp)
    assert axial.index == start + 1
    with qtbot.waitActive(window):
        window.activateWindow()
    from PySide6.QtWidgets import QApplication

    # Keys go to the focused widget, as for a real user; the window-wide shortcut switches tab.
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_3,
                   Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 2


def test_screenshot_command(tmp_path: Path) -> None:
    """`python main.py IMAGE --screenshot FILE --tab NAME` saves a non-blank PNG and exits 0."""
    path = save_volume(synthetic_head(), tmp_path / "head.nii.gz")
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), str(path), "--screenshot",
                           str(shot), "--tab", "labelling"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 800
    colours = {image.pixel(x, y) for x in range(0, image.width(), 13)
               for y in range(0, image.height(), 13)}
    assert len(colours) > 50
