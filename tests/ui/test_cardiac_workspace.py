"""The Cardiac twin workspace with real widgets (pytest-qt): a small synthetic subject generated
on the job runner, the cine stepped and played by keys, the velocity curves and peaks table,
interpolation, phase synthesis (a one-step model trained here), Cancel, and errors as one line.
Subjects are small (12 frames, one 64² slice) to keep the module under a minute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt

from headtwin_app.core.cardiac.velocity import DIRECTIONS
from headtwin_app.ui.cardiac import CardiacWorkspace, core_function
from headtwin_app.ui.state import AppState
from headtwin_app.ui.workspaces import build_workspace, find_spec

pytestmark = pytest.mark.gui

FRAMES, SIZE = 12, 64


def small(ws: CardiacWorkspace, seed: int = 3) -> None:
    ws.seed.setValue(seed)
    ws.snr.setValue(20.0)
    ws.frames.setValue(FRAMES)
    ws.slices.setValue(1)
    ws.size.setValue(SIZE)


@pytest.fixture
def workspace(qtbot):  # type: ignore[no-untyped-def]
    ws = CardiacWorkspace(AppState())
    qtbot.addWidget(ws)
    ws.resize(1400, 860)
    with qtbot.waitExposed(ws):
        ws.show()
    small(ws)
    return ws


def generate(qtbot, ws: CardiacWorkspace) -> None:  # type: ignore[no-untyped-def]
    """Click Generate and wait for the subject and its measured velocities."""
    with qtbot.waitSignals([ws.case_shown, ws.velocity_shown], timeout=30000):
        qtbot.mouseClick(ws.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)


@pytest.fixture
def generated(qtbot, workspace):  # type: ignore[no-untyped-def]
    generate(qtbot, workspace)
    return workspace


@pytest.fixture(scope="module")
def tiny_phase_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phase pix2pix trained for one step on one small subject: real format, fast."""
    from headtwin_app.core.cardiac.phantom import make_case
    from headtwin_app.core.cardiac.phase_net import PhaseConfig, train_phase
    from headtwin_app.core.cardiac.store import save_case

    root = tmp_path_factory.mktemp("cardiac_model")
    save_case(make_case(11, frames=8, slices=1, size=SIZE, snr=20), root / "case")
    cfg = PhaseConfig(base=4, depth=2, crop=32, pad_crop=48, batch=2, d_base=8)
    train_phase([root / "case"], root / "tiny.pt", 0.2, config=cfg, val_dirs=[root / "case"],
                max_steps=1)
    return root / "tiny.pt"


def test_generate_shows_cine_curves_and_table(generated) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    case = ws.case
    assert case.magnitude.shape == (SIZE, SIZE, 1, FRAMES)
    assert ws.frame.maximum() == FRAMES - 1 and ws.slice.maximum() == 0
    assert ws.panels["cine"].has_image() and ws.panels["phase"].has_image()
    assert any(c.isVisible() for c in ws.panels["cine"].curves)  # the LV mask outline
    assert "synthetic" in ws.synthetic_label.text().lower()
    assert "not a real heart" in ws.synthetic_label.text()
    # velocity plot: the analytic truth and the curves measured from the case's phase
    assert ws.curves.sources() == {"truth", "case"}
    for d in DIRECTIONS:
        truth = ws.curves.curve(d, "truth")
        assert truth is not None and len(truth) == FRAMES
        np.testing.assert_allclose(truth, case.info["truth"]["curves_mm_s"][d], rtol=1e-6)
        measured = ws.curves.curve(d, "case")
        assert measured is not None and np.corrcoef(truth, measured)[0, 1] > 0.9
    rows = list(ws.table_rows())
    assert [(d, s) for d, s, _ in rows] == [(d, s) for d in DIRECTIONS
                                            for s in ("truth", "case phase")]
    psv = float(rows[0][2][0])
    assert psv == pytest.approx(case.info["truth"]["peaks"]["radial"]["psv"], abs=0.05)


def test_keys_step_and_play_the_cine(qtbot, generated) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    with qtbot.waitActive(ws):
        ws.activateWindow()
    ws.images.setFocus()
    frames: list[int] = []
    ws.frame_changed.connect(frames.append)
    qtbot.keyClick(ws.images, Qt.Key.Key_Right)
    assert ws.frame.value() == 1 and "frame 1 of 12" in ws.frame_label.text()
    assert ws.panels["cine"].title.endswith("frame 1")
    assert ws.curves.cursors["radial"].value() == 1
    qtbot.keyClick(ws.images, Qt.Key.Key_Left)
    qtbot.keyClick(ws.images, Qt.Key.Key_Left)  # wraps to the last frame
    assert ws.frame.value() == FRAMES - 1
    qtbot.keyClick(ws.images, Qt.Key.Key_Period)
    assert ws.frame.value() == 0
    qtbot.keyClick(ws.images, Qt.Key.Key_End)
    assert ws.frame.value() == FRAMES - 1
    ws.fps.setValue(50)
    qtbot.keyClick(ws.images, Qt.Key.Key_Space)
    assert ws.is_playing() and ws.play_button.text() == "Pause"
    n = len(frames)
    qtbot.waitUntil(lambda: len(frames) >= n + 4, timeout=3000)
    qtbot.keyClick(ws.images, Qt.Key.Key_Space)
    assert not ws.is_playing() and ws.play_button.text() == "Play"
    stopped = ws.frame.value()
    qtbot.wait(100)
    assert ws.frame.value() == stopped


def test_settings_remembered(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.seed.setValue(42)
    ws.k.setValue(5)
    ws.method.setCurrentIndex(ws.method.findData("hs"))
    ws.scheme.setCurrentIndex(ws.scheme.findData("vanilla"))
    ws.direction.setCurrentIndex(2)
    qtbot.mouseClick(ws.mask_box, Qt.MouseButton.LeftButton,
                     pos=QPoint(8, ws.mask_box.height() // 2))  # on the box itself
    assert not ws.mask_box.isChecked()
    again = CardiacWorkspace(AppState())
    qtbot.addWidget(again)
    assert again.seed.value() == 42 and again.k.value() == 5
    assert again.frames.value() == FRAMES and again.size.value() == SIZE
    assert again.method.currentData() == "hs" and again.scheme.currentData() == "vanilla"
    assert again.direction.currentIndex() == 2 and not again.mask_box.isChecked()
    assert QSettings().value("cardiac/seed") is not None


def test_cancel_generation_keeps_no_case(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    qtbot.mouseClick(ws.generate_button, Qt.MouseButton.LeftButton)
    assert ws.is_busy() and ws.cancel_button.isEnabled()
    assert not ws.generate_button.isEnabled() and not ws.synth_button.isEnabled()
    qtbot.mouseClick(ws.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=30000)
    assert ws.case is None and "cancelled" in ws.progress_label.text()
    assert ws.generate_button.isEnabled() and not ws.cancel_button.isEnabled()


def test_errors_show_as_one_line(qtbot, workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.open_path(tmp_path)  # an empty folder: not a case
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=10000)
    assert ws.case is None
    text = ws.error_label.text()
    assert text and "\n" not in text and "Traceback" not in text
    # a second job while one runs is refused with a message, not started
    qtbot.mouseClick(ws.generate_button, Qt.MouseButton.LeftButton)
    assert not ws.open_path(tmp_path)
    assert "busy" in ws.error_label.text()
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=30000)


def test_save_and_open_the_case(qtbot, generated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    shown = ws.case
    ws.save_to(tmp_path / "case")
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=20000)
    assert (tmp_path / "case" / "case.json").is_file(), ws.error_label.text()
    with qtbot.waitSignal(ws.case_shown, timeout=20000):
        ws.open_path(tmp_path / "case")
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=20000)
    assert ws.case is not shown and ws.case_name == "case"
    np.testing.assert_allclose(ws.case.magnitude, shown.magnitude)
    assert "synthetic" in ws.synthetic_label.text().lower()


def test_synthesise_phase_and_its_curves(qtbot, generated, tiny_phase_model) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    assert ws.synth_button.isEnabled(), ws.synth_button.toolTip()
    ws.synth_model.setText(str(tiny_phase_model))
    seen: list = []
    with qtbot.waitSignal(ws.velocity_shown, timeout=30000,
                          check_params_cb=lambda source: source == "synth"):
        qtbot.mouseClick(ws.synth_button, Qt.MouseButton.LeftButton)
        ws.state.jobs.worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert seen  # progress came through the job runner
    assert ws.synth["phase"].shape == (SIZE, SIZE, 1, FRAMES, 3)
    assert ws.panels["synth"].has_image() and ws.panels["synth_err"].has_image()
    ws.direction.setCurrentIndex(2)
    assert "through-plane" in ws.panels["synth"].title
    assert ws.curves.sources() == {"truth", "case", "synth"}
    assert len(ws.curves.curve("radial", "synth")) == FRAMES
    assert "synthesised" in [s for _d, s, _c in ws.table_rows()]
    # Table I metrics and the curves' agreement, from the core
    assert "PSNR" in ws.synth_metrics.text() and "r vs true phase" in ws.synth_metrics.text()
    assert set(ws.synth["metrics"]) >= {"psnr", "ssim", "msew1", "msew2"}


def test_cancel_synthesis(qtbot, generated, tiny_phase_model) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    ws.synth_model.setText(str(tiny_phase_model))
    ws.synthesize()
    worker = ws.state.jobs.worker
    worker.yielded.connect(lambda _item: ws.cancel())  # at its first progress report
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=30000)
    assert ws.synth is None and not ws.panels["synth"].has_image()
    assert "cancelled" in ws.progress_label.text()


def test_missing_model_is_a_message(qtbot, generated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    ws.synth_model.setText(str(tmp_path / "missing.pt"))
    assert not ws.synthesize()
    assert "not found" in ws.error_label.text() and not ws.state.jobs.is_busy


def test_interpolation(qtbot, generated) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    if core_function("interp", generator=True) is None:
        # the core has not landed: a click says so, and the button is disabled with a tooltip
        qtbot.mouseClick(ws.interp_button, Qt.MouseButton.LeftButton)
        assert "interp" in ws.error_label.text() and not ws.state.jobs.is_busy
        assert not ws.interp_button.isEnabled()
        assert "not installed" in ws.interp_button.toolTip()
        pytest.xfail("core.cardiac.interp.interpolate_case has not landed yet")
    ws.k.setValue(3)
    ws.method.setCurrentIndex(ws.method.findData("linear"))
    with qtbot.waitSignal(ws.interpolation_shown, timeout=30000):
        qtbot.mouseClick(ws.interp_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert ws.interp["magnitude"].shape == ws.case.magnitude.shape
    assert ws.kept_frames() == [0, 4, 8]
    assert ws.frame.tickInterval() == 4
    assert "Dice myo" in ws.interp_metrics.text() and "PSNR" in ws.interp_metrics.text()
    ws.frame.setValue(4)
    assert "kept" in ws.frame_label.text() and "kept" in ws.panels["interp"].title
    ws.frame.setValue(5)
    assert "predicted" in ws.frame_label.text()
    assert ws.panels["interp"].has_image() and ws.panels["interp_err"].has_image()


def test_is_the_fifth_tab(qtbot) -> None:  # type: ignore[no-untyped-def]
    spec = find_spec("cardiac")
    assert spec.title == "Cardiac twin" and spec.own_views
    widget = build_workspace(spec, AppState())
    qtbot.addWidget(widget)
    assert isinstance(widget, CardiacWorkspace)


def test_synthesise_from_the_interpolated_cine(qtbot, generated, tiny_phase_model) -> None:  # type: ignore[no-untyped-def]
    ws = generated
    ws.method.setCurrentIndex(ws.method.findData("linear"))
    ws.k.setValue(2)
    with qtbot.waitSignal(ws.interpolation_shown, timeout=30000):
        ws.interpolate()
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    ws.synth_model.setText(str(tiny_phase_model))
    ws.from_interp.setChecked(True)
    with qtbot.waitSignal(ws.velocity_shown, timeout=30000,
                          check_params_cb=lambda source: source == "synth"):
        qtbot.mouseClick(ws.synth_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert "K = 2" in ws.synth["scheme"] and ws.synth["lv_mask"] is ws.interp["lv_mask"]
    assert "K = 2" in ws.panels["synth"].title


def test_open_the_users_npz(qtbot, workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A user's own cine (.npz through core.cardiac.loaders): no truth, curves measured only;
    without an LV mask it opens and says why there are no curves."""
    from headtwin_app.core.cardiac.phantom import make_case

    ws = workspace
    src = make_case(4, frames=8, slices=1, size=48, snr=0)
    np.savez(tmp_path / "mine.npz", magnitude=src.magnitude, phase=src.phase,
             lv_mask=src.lv_mask, venc=np.array(src.info["venc_mm_s"]))
    with qtbot.waitSignals([ws.case_shown, ws.velocity_shown], timeout=30000):
        ws.open_path(tmp_path / "mine.npz")
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert ws.case.magnitude.shape == (48, 48, 1, 8)
    assert "your data" in ws.synthetic_label.text()
    assert ws.curves.sources() == {"case"}
    assert {s for _d, s, _c in ws.table_rows()} == {"case phase"}
    np.savez(tmp_path / "nomask.npz", magnitude=src.magnitude, velocity=src.velocity)
    with qtbot.waitSignal(ws.case_shown, timeout=30000):
        ws.open_path(tmp_path / "nomask.npz")
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert ws.case.lv_mask is None and not ws.curves.sources()
    assert "no LV mask" in ws.progress_label.text() and not ws.error_label.text()
    ws.frame.setValue(3)  # the cine plays without a mask
    assert ws.panels["cine"].has_image()


def test_runtime_error_in_a_job_ends_it(qtbot, generated, tiny_phase_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint whose weights do not fit raises torch's RuntimeError inside the generator
    job: shown as one line, and the runner is free again (superqt would hang on it)."""
    import torch

    ckpt = torch.load(tiny_phase_model, map_location="cpu", weights_only=True)
    ckpt["state_dict"].pop(next(iter(ckpt["state_dict"])))
    torch.save(ckpt, tmp_path / "broken.pt")
    ws = generated
    ws.synth_model.setText(str(tmp_path / "broken.pt"))
    qtbot.mouseClick(ws.synth_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=20000)
    assert "state_dict" in ws.error_label.text() and "\n" not in ws.error_label.text()
    assert ws.synth is None and ws.synth_button.isEnabled()


def test_interpolation_with_the_network(qtbot, generated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Method R2U-Net with a checkpoint chosen in the model field (an untrained small net in
    the real format: this drives the GUI path, not the network's quality)."""
    from headtwin_app.core.cardiac.interp_net import InterpConfig, make_net, save_interp

    cfg = InterpConfig(base=4, depth=2)
    model = save_interp(make_net(cfg), cfg, tmp_path / "tiny_interp.pt")
    ws = generated
    ws.method.setCurrentIndex(ws.method.findData("net"))
    ws.interp_model.setText(str(model))
    ws.k.setValue(5)
    progress: list = []
    with qtbot.waitSignal(ws.interpolation_shown, timeout=30000):
        qtbot.mouseClick(ws.interp_button, Qt.MouseButton.LeftButton)
        ws.state.jobs.worker.yielded.connect(progress.append)
    qtbot.waitUntil(lambda: not ws.state.jobs.is_busy, timeout=5000)
    assert progress and ws.interp["method"] == "net"
    assert ws.interp["metrics"]["model"] == str(model)
    assert ws.kept_frames() == [0, 6] and ws.frame.tickInterval() == 6
    assert "R2U-Net, K = 5" in ws.panels["interp"].title
