"""The twin-sweep view: parameters, a run on the job runner, the table/plot, CSV, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from headtwin_app.core.case import load_case
from headtwin_app.ui.state import AppState
from headtwin_app.ui.twin_sweep_view import TwinSweepDialog

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from headtwin_app.core.phantom import make_phantom, save_phantom

    d = tmp_path_factory.mktemp("sweepcase") / "case"
    save_phantom(make_phantom(33, spacing=4.0), d)
    return d


@pytest.fixture
def dialog(qtbot, case_dir: Path):  # type: ignore[no-untyped-def]
    state = AppState()
    state.set_case(load_case(case_dir))
    dlg = TwinSweepDialog(state)
    qtbot.addWidget(dlg)
    for name, box in dlg.families.items():
        box.setChecked(name == "cartesian")
    for name, box in dlg.methods.items():
        box.setChecked(name == "zf")
    dlg.brain.setChecked(False)
    with qtbot.waitExposed(dlg):
        dlg.show()
    return dlg


def test_run_fills_table_plot_and_saves_csv(qtbot, dialog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dlg = dialog
    dlg.accels.clear()
    qtbot.keyClicks(dlg.accels, "2, 8")
    qtbot.mouseClick(dlg.run_button, Qt.MouseButton.LeftButton)
    assert dlg.state.jobs.is_busy and not dlg.run_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    qtbot.waitUntil(lambda: not dlg.state.jobs.is_busy, timeout=5000)
    assert dlg.table.rowCount() == 2
    assert [dlg.table.item(i, 1).text() for i in range(2)] == ["2", "8"]
    assert 0.0 < float(dlg.table.item(0, 5).text()) <= 1.0
    assert "case's craniofacial" not in dlg.status.text()  # done message replaced progress
    assert "fully sampled twin mean Dice" in dlg.status.text()
    assert len(dlg.plot.getPlotItem().listDataItems()) == 1
    dlg.save_csv(str(tmp_path / "s.csv"))
    assert (tmp_path / "s.csv").read_text().count("\n") == 3


def test_bad_accelerations_are_a_message_not_a_run(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    dlg = dialog
    dlg.accels.setText("2, fast")
    qtbot.mouseClick(dlg.run_button, Qt.MouseButton.LeftButton)
    assert not dlg.state.jobs.is_busy
    assert "not a list of numbers" in dlg.status.text()


def test_cancel_stops_the_sweep(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    dlg = dialog
    dlg.accels.setText("2, 3, 4, 6, 8")
    qtbot.mouseClick(dlg.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.state.jobs.is_busy, timeout=120000)
    assert dlg.result is None and dlg.run_button.isEnabled()


def test_tools_menu_shortcut_opens_the_view(qtbot) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    with qtbot.waitActive(win):
        win.activateWindow()
    from PySide6.QtWidgets import QApplication

    qtbot.keyClick(QApplication.focusWidget() or win, Qt.Key.Key_T,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: getattr(win, "twin_sweep", None) is not None
                    and win.twin_sweep.isVisible(), timeout=3000)
    assert win.twin_sweep.windowTitle() == "What does this acceleration do to the twin?"
    assert win.twin_sweep.state is win.state  # the window's case and job runner
