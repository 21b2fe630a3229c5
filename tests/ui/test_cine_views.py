"""The Cine (k-t) panel: play/pause, k-t mask and x-f PSF views, reconstruction with progress,
Cancel and metrics, bad files, remembered settings, and its entry points in the designer and the
reconstruction workspace. Small cines (12 frames × 64²) keep it quick."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from headtwin_app.ui.cine_panel import KEY, SHORTCUT, CinePanel, open_cine_dialog
from headtwin_app.ui.cine_view import CinePlayer
from headtwin_app.ui.state import AppState

pytestmark = pytest.mark.gui

FRAMES, SIZE = 12, 64
HAS_LPS = importlib.util.find_spec("headtwin_app.core.recon.lps") is not None


@pytest.fixture
def panel(qtbot):  # type: ignore[no-untyped-def]
    state = AppState()
    p = CinePanel(state)
    qtbot.addWidget(p)
    p.frames.setValue(FRAMES)
    p.size.setValue(SIZE)
    p.resize(1200, 760)
    with qtbot.waitExposed(p):
        p.show()
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=20000)
    return p


@pytest.fixture
def loaded(qtbot, panel):  # type: ignore[no-untyped-def]
    """The panel with the phantom's cine, generated through its button (a job)."""
    with qtbot.waitSignal(panel.cine_shown, timeout=30000):
        qtbot.mouseClick(panel.phantom_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_busy() and not panel.state.jobs.is_busy,
                    timeout=20000)
    return panel


def test_phantom_cine_plays_and_pauses(qtbot, loaded) -> None:  # type: ignore[no-untyped-def]
    p = loaded
    assert p.seq is not None and p.seq.shape == (FRAMES, SIZE, SIZE)
    assert p.player.frames() == FRAMES and p.player.has_image(0)
    assert not p.player.has_image(1)  # nothing reconstructed yet
    assert "phantom" in p.cine_label.text()
    player = p.player
    player.fps.setValue(50)
    qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    assert player.is_playing() and player.play_button.text() == "Pause"
    start = player.frame()
    qtbot.waitUntil(lambda: player.frame() != start, timeout=3000)
    with qtbot.waitActive(p):
        p.activateWindow()
    player.glw.setFocus()
    qtbot.keyClick(player.glw, Qt.Key.Key_Space)
    assert not player.is_playing() and player.play_button.text() == "Play"
    stopped = player.frame()
    qtbot.wait(120)
    assert player.frame() == stopped
    qtbot.keyClick(player.glw, Qt.Key.Key_Right)
    assert player.frame() == (stopped + 1) % FRAMES
    qtbot.keyClick(player.glw, Qt.Key.Key_Left)
    qtbot.keyClick(player.glw, Qt.Key.Key_Left)
    assert player.frame() == (stopped - 1) % FRAMES
    qtbot.keyClick(player.glw, Qt.Key.Key_Space)  # Space plays again
    assert player.is_playing()
    player.pause()
    # the mask panel follows the player's frame
    assert p.mask_view.frame_item.image is not None
    assert f"frame {player.frame() + 1}" in p.mask_view.frame_plot.titleLabel.text


def test_player_shows_the_frame(qtbot) -> None:  # type: ignore[no-untyped-def]
    player = CinePlayer(("a", "b"))
    qtbot.addWidget(player)
    seq = np.zeros((5, 16, 16), np.float32)
    seq[np.arange(5), np.arange(5), 0] = 1.0  # a dot that moves one row per frame
    player.set_sequence(0, seq)
    player.set_frame(3)
    assert np.array_equal(player.views[0].item.image, seq[3])
    assert not player.has_image(1)
    with pytest.raises(ValueError, match="frames, ny, nx"):
        player.set_sequence(1, seq[0])


def test_family_and_r_update_mask_and_psf(qtbot, loaded) -> None:  # type: ignore[no-untyped-def]
    p = loaded
    view = p.mask_view
    assert view.has_images() and view.mask is not None
    assert view.mask.shape == (FRAMES, SIZE, SIZE)
    assert view.psf is not None and view.psf.shape == (FRAMES, SIZE)
    first = (view.mask.copy(), view.psf.copy(), view.sidelobe)
    assert "sidelobe" in view.info.text() and "R achieved" in view.info.text()

    with qtbot.waitSignal(p.mask_shown, timeout=10000):
        p.family.setFocus()
        i = p.family.findData("kt_lattice")
        while p.family.currentIndex() != i:  # the keyboard, as a user would
            qtbot.keyClick(p.family, Qt.Key.Key_Down if p.family.currentIndex() < i
                           else Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=10000)
    assert p.preview["family"] == "kt_lattice"
    assert not np.array_equal(view.mask, first[0])
    assert not np.allclose(view.psf, first[1])
    lattice_r4 = view.mask.copy()
    # a lattice at R 4: the ky × t image shows 1 line in 4 per frame, sheared frame to frame
    kt = np.asarray(view.kt_item.image)
    assert kt.shape == (SIZE, FRAMES)
    assert np.isclose(kt.mean(), 0.25, atol=0.02)

    with qtbot.waitSignal(p.mask_shown, timeout=10000):
        p.accel.selectAll()
        qtbot.keyClicks(p.accel, "8")
        qtbot.keyClick(p.accel, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=10000)
    assert p.accel.value() == 8.0
    assert view.mask.sum() < lattice_r4.sum()
    assert abs(p.preview["achieved"] - 8.0) < 0.5
    assert f"{p.preview['achieved']:.2f}" in view.info.text()
    assert f"{p.preview['sidelobe']:.3f}" in view.info.text()


def test_reconstruct_zero_filled_fills_metrics(qtbot, loaded) -> None:  # type: ignore[no-untyped-def]
    p = loaded
    p.method.setCurrentIndex(p.method.findData("zf"))
    with qtbot.waitSignal(p.result_shown, timeout=60000):
        qtbot.mouseClick(p.run_button, Qt.MouseButton.LeftButton)
        assert p.state.jobs.is_busy and p.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not p.state.jobs.is_busy, timeout=10000)
    m = p.result["metrics"]["zf"]
    assert {"psnr", "ssim", "hfen"} <= set(m)
    assert 5 < m["psnr"] < 80
    text = p.metrics_label.text()
    assert f"{m['psnr']:.2f}" in text and "HFEN" in text
    assert p.player.has_image(1) and p.player.has_image(2)
    assert p.progress.value() == p.progress.maximum()
    assert "done" in p.progress_label.text()
    assert not p.cancel_button.isEnabled()
    assert p.error_label.text() == ""


@pytest.mark.skipif(not HAS_LPS, reason="core.recon.lps (L+S) is not installed")
def test_reconstruct_lps_beats_zero_filled(qtbot, loaded) -> None:  # type: ignore[no-untyped-def]
    p = loaded
    p.method.setCurrentIndex(p.method.findData("lps"))
    seen: list = []
    p.state.jobs.progress.connect(lambda text, frac: seen.append(frac))
    with qtbot.waitSignal(p.result_shown, timeout=240000):
        qtbot.mouseClick(p.run_button, Qt.MouseButton.LeftButton)
    metrics = p.result["metrics"]
    assert metrics["lps"]["psnr"] > metrics["zf"]["psnr"]
    assert any(0 < f < 1 for f in seen)  # progress between start and end
    assert "vs zero-filled" in p.metrics_label.text()


def _cancellable_method(p: CinePanel) -> str | None:
    """A method that yields more than once: L+S, else the 2D cascade when its model ships."""
    if HAS_LPS:
        return "lps"
    from headtwin_app.core.recon.predict import DEFAULT_MODEL

    return "cascade2d" if Path(DEFAULT_MODEL).is_file() else None


def test_cancel_stops_a_run(qtbot, loaded) -> None:  # type: ignore[no-untyped-def]
    p = loaded
    method = _cancellable_method(p)
    if method is None:
        pytest.skip("no multi-step cine method installed (L+S or the 2D cascade model)")
    p.method.setCurrentIndex(p.method.findData(method))
    fractions: list[float] = []
    p.state.jobs.progress.connect(lambda _t, f: fractions.append(f))
    qtbot.mouseClick(p.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(f > 0 for f in fractions), timeout=60000)
    with qtbot.waitSignal(p.state.jobs.cancelled, timeout=60000):
        qtbot.mouseClick(p.cancel_button, Qt.MouseButton.LeftButton)
    assert p.result is None and not p.player.has_image(2)
    assert "cancelled" in p.progress_label.text()
    assert p.run_button.isEnabled() and not p.cancel_button.isEnabled()


def test_bad_files_give_a_message(qtbot, panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import nibabel as nib

    p = panel
    junk = tmp_path / "junk.nii.gz"
    junk.write_text("not a NIfTI file")
    with qtbot.waitSignal(p.state.jobs.failed, timeout=20000):
        assert p.open_path(junk)
    qtbot.waitUntil(lambda: not p.state.jobs.is_busy, timeout=5000)
    first = p.error_label.text()
    assert "junk.nii.gz" in first and "Traceback" not in first and "\n" not in first
    assert p.seq is None and not p.run_button.isEnabled()

    flat = tmp_path / "one_slice.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((32, 32), np.float32), np.eye(4)), flat)
    with qtbot.waitSignal(p.state.jobs.failed, timeout=20000):
        p.open_path(flat)
    qtbot.waitUntil(lambda: not p.state.jobs.is_busy, timeout=5000)
    assert "one_slice" in p.error_label.text() and p.error_label.text() != first
    assert p.seq is None

    # an array that is no cine, handed over directly
    assert not p.set_cine(np.ones((1, 32, 32)), "still")
    assert "2 frames" in p.error_label.text()


def test_open_a_nifti_cine_and_remember_the_folder(qtbot, panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from headtwin_app.core.recon.cine_data import save_cine

    seq = np.random.default_rng(0).random((8, 40, 48)).astype(np.float32)
    path = save_cine(tmp_path / "mine.nii.gz", seq, frame_ms=40.0)
    with qtbot.waitSignal(panel.cine_shown, timeout=20000):
        panel.open_path(path)
    assert panel.seq.shape == (8, 40, 48)
    assert np.allclose(panel.seq, seq, atol=1e-5)
    assert "mine.nii.gz" in panel.cine_label.text()
    assert QSettings().value(KEY + "last_dir") == str(tmp_path)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=10000)
    assert panel.mask_view.mask.shape == (8, 40, 48)  # the mask follows the cine's shape


def test_settings_are_remembered(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    panel.family.setCurrentIndex(panel.family.findData("kt_random"))
    panel.accel.setValue(6.0)
    panel.mask_seed.setValue(7)
    panel.method.setCurrentIndex(panel.method.findData("zf"))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=10000)
    again = CinePanel(AppState())
    qtbot.addWidget(again)
    assert again.family.currentData() == "kt_random"
    assert again.accel.value() == 6.0 and again.mask_seed.value() == 7
    assert again.method.currentData() == "zf"
    assert again.size.value() == SIZE and again.frames.value() == FRAMES
    qtbot.waitUntil(lambda: not again.is_busy(), timeout=10000)


def test_entry_points_in_designer_and_recon(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QKeySequence, QShortcut

    from headtwin_app.ui.designer import DesignerWorkspace
    from headtwin_app.ui.recon import ReconWorkspace

    state = AppState()
    designer = DesignerWorkspace(state)
    recon = ReconWorkspace(state)
    for ws in (designer, recon):
        qtbot.addWidget(ws)
        ws.show()
        assert ws.cine_button.isEnabled()  # no case needed: the panel has its own cine
        keys = [sc.key() for sc in ws.findChildren(QShortcut)]
        assert QKeySequence(SHORTCUT) in keys
    qtbot.mouseClick(designer.cine_button, Qt.MouseButton.LeftButton)
    dlg = designer._cine_dialog
    qtbot.addWidget(dlg)
    assert dlg.isVisible() and isinstance(dlg.panel, CinePanel)
    assert dlg.panel.state is state
    dlg.close()
    qtbot.mouseClick(recon.cine_button, Qt.MouseButton.LeftButton)
    assert recon._cine_dialog is dlg and dlg.isVisible()  # one dialog per window
    assert open_cine_dialog(state, recon) is dlg
    qtbot.waitUntil(lambda: not dlg.panel.is_busy(), timeout=10000)
    dlg.close()


def test_open_one_slice_of_a_multi_slice_cine(qtbot, panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The slice box picks a slice of an x, y, s, t cine (the cardiac phantom's layout); a slice
    that does not exist is a one-line message."""
    import nibabel as nib

    data = np.stack([np.full((40, 32, 6), k + 1, np.float32) for k in range(3)], axis=2)
    data += np.random.default_rng(0).random(data.shape).astype(np.float32)
    path = tmp_path / "stack.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    panel.slice_box.setFocus()
    qtbot.keyClick(panel.slice_box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(panel.slice_box, "2")
    assert panel.slice_box.value() == 2
    with qtbot.waitSignal(panel.cine_shown, timeout=20000):
        panel.open_path(path)
    assert panel.seq.shape == (6, 32, 40)
    assert np.allclose(panel.seq, data[:, :, 2].transpose(2, 1, 0))
    assert "slice 2" in panel.cine_label.text()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=10000)
    panel.slice_box.setValue(3)
    with qtbot.waitSignal(panel.state.jobs.failed, timeout=20000):
        panel.open_path(path)
    qtbot.waitUntil(lambda: not panel.state.jobs.is_busy, timeout=5000)
    assert "0–2" in panel.error_label.text() and "Traceback" not in panel.error_label.text()
