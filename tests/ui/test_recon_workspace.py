"""The reconstruction workspace: worker progress, cancel, metrics table, training dialog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from headtwin_app.core.case import Case
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.data import recon_mask
from headtwin_app.core.recon.predict import save_checkpoint
from headtwin_app.core.volume import Volume
from headtwin_app.ui.recon import ReconWorkspace, TrainDialog
from headtwin_app.ui.state import AppState

pytestmark = pytest.mark.gui


def small_case(n: int = 48, z: int = 12) -> Case:
    g = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), np.linspace(-1, 1, z),
                    indexing="ij")
    r2 = g[0] ** 2 + g[1] ** 2
    img = (r2 < 0.7) * 60.0 + (r2 < 0.2) * 50 + ((g[0] - 0.3) ** 2 + g[1] ** 2 < 0.03) * 40
    return Case(image=Volume.from_spacing(img.astype(np.float32)), name="blob")


@pytest.fixture
def workspace(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    state = AppState()
    state.set_case(small_case())
    ws = ReconWorkspace(state)
    qtbot.addWidget(ws)
    ws.model_path.setText(str(save_checkpoint(CascadeNet(CascadeConfig(2, 3, 4)),
                                              tmp_path / "tiny.pt")))
    ws.device.setCurrentIndex(ws.device.findData("cpu"))
    ws.resize(1300, 800)
    with qtbot.waitExposed(ws):
        ws.show()
    return ws


def test_run_fills_metrics_table(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    assert ws.cascades.maximum() == 2  # read from the checkpoint's config
    ws.mask_source.setCurrentIndex(ws.mask_source.findData("own"))
    ws.family.setCurrentText("cartesian")  # where CS has a clear edge over zero-filled
    progress: list = []
    with qtbot.waitSignal(ws.result_shown, timeout=30000):
        ws.run()
        assert ws.is_busy()
        ws.state.jobs.worker.yielded.connect(progress.append)
    qtbot.waitUntil(lambda: not ws.is_busy(), timeout=5000)
    assert progress and {p[0] for p in progress} <= {"zf", "cs", "cascade"}
    for row in range(3):
        assert ws.table.item(row, 0) is not None
        assert float(ws.table.item(row, 0).text()) > 0
    m = ws.result.metrics
    assert m["cs"]["psnr"] > m["zf"]["psnr"]
    assert ws.panels["cascade"].item.image is not None


def test_uses_designer_mask(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    mask = recon_mask("cartesian", (48, 48), 3, 0)
    ws.state.set_mask({"mask": mask, "family": "cartesian", "accel": 3.0,
                       "accel_achieved": 3.0, "seed": 0, "dims": 2, "slice": 5})
    assert ws.slice.value() == 5 and "designer" in ws.mask_label.text()
    ws.use["cs"].setChecked(False)
    with qtbot.waitSignal(ws.result_shown, timeout=30000):
        ws.run()
    assert np.array_equal(ws.result.mask, mask)
    assert ws.table.item(1, 0) is None  # CS not run


def test_worker_emits_progress_and_stops_on_cancel(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.mask_source.setCurrentIndex(ws.mask_source.findData("own"))
    ws.family.setCurrentText("cartesian")  # where CS has a clear edge over zero-filled
    ws.scope.setCurrentIndex(ws.scope.findData("volume"))  # 12 slices
    ws.batch.setValue(1)
    seen: list = []
    ws.run()
    worker = ws.state.jobs.worker
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=20000)
    with qtbot.waitSignal(worker.finished, timeout=20000):
        ws.cancel()
    assert not ws.is_busy()
    assert ws.result is None  # nothing returned after the abort
    assert ws.progress.value() < ws.progress.maximum()
    assert ws.run_button.isEnabled()


def test_bad_model_shows_error(qtbot, workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    ws.model_path.setText(str(tmp_path / "missing.pt"))
    ws.run()
    assert not ws.is_busy() and "not found" in ws.error_label.text()


def test_training_dialog_live_curve_and_cancel(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    img = small_case(32, 1).image.data[:, :, 0]
    slices = np.empty(3, dtype=object)
    for i in range(3):
        slices[i] = img * (1 + i) / img.max()
    dlg = TrainDialog(out=str(tmp_path / "m.pt"), slices=slices)
    qtbot.addWidget(dlg)
    dlg.cascades.setValue(1)
    dlg.convs.setValue(2)
    dlg.width.setValue(4)
    dlg.steps.setValue(100000)
    with qtbot.waitExposed(dlg):
        dlg.show()
    dlg.start(patch=0, batch_size=2, include_phantom=False, val_every=3,
              families=["cartesian"], accel_min=3, accel_max=3, threads=1)
    qtbot.waitUntil(lambda: len(dlg.steps_seen) >= 4, timeout=20000)
    with qtbot.waitSignal(dlg._worker.finished, timeout=20000):
        dlg.cancel()
    assert dlg.val_steps and len(dlg.train_curve.getData()[0]) >= 4
    assert not (tmp_path / "m.pt").exists()  # cancelled: nothing saved
    # a short run to the end saves the checkpoint and its loss curve
    dlg.steps.setValue(4)
    with qtbot.waitSignal(dlg.trained, timeout=30000) as sig:
        dlg.start(patch=0, batch_size=2, include_phantom=False, val_every=2,
                  families=["cartesian"], accel_min=3, accel_max=3, threads=1)
    assert Path(sig.args[0]).exists() and (tmp_path / "m.loss.png").exists()


def test_training_dialog_recipe_controls(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    dlg = TrainDialog()
    qtbot.addWidget(dlg)
    with qtbot.waitExposed(dlg):
        dlg.show()
    cfg = dlg.config()
    assert (cfg.ssim_weight, cfg.zoom_out, cfg.bf16) == (1.0, 0.5, False)  # the shipped recipe
    dlg.ssim.lineEdit().selectAll()
    qtbot.keyClicks(dlg.ssim.lineEdit(), "0.3")
    qtbot.mouseClick(dlg.bf16, Qt.MouseButton.LeftButton)
    cfg = dlg.config()
    assert cfg.ssim_weight == 0.3 and cfg.bf16


def test_3d_mask_this_slice_runs_one_plane_and_fields_show_the_mask(qtbot, workspace) -> None:  # type: ignore[no-untyped-def]
    ws = workspace
    mask = recon_mask("random_line", (48, 12), 2, 0)  # (ky = Y, kz = Z)
    ws.state.set_mask({"mask": mask, "family": "random_line", "accel": 2.0,
                       "accel_achieved": 2.25, "seed": 7, "dims": 3, "slice": None})
    # the greyed fields show the mask that will be used, not this panel's own
    assert not ws.family.isEnabled()
    assert (ws.family.currentText(), ws.accel.value(), ws.seed.value()) == ("random_line",
                                                                            2.25, 7)
    assert ws.slice_title.text() == "plane (x)" and ws.slice.maximum() == 47
    assert "one sagittal plane" in ws.scope_note.text()
    ws.use["cs"].setChecked(False)
    ws.use["cascade"].setChecked(False)
    ws.slice.setValue(20)
    with qtbot.waitSignal(ws.result_shown, timeout=30000):
        qtbot.mouseClick(ws.run_button, Qt.MouseButton.LeftButton)
    assert ws.result.gt.shape == (1, 48, 12)  # 'this slice' is one plane, not all 48
    np.testing.assert_array_equal(ws.result.gt[0], ws.state.case.image.data[20])
    assert not ws.layer_panel.use_button.isEnabled()  # one plane cannot become the case image
    # back to this panel's mask: its own values return
    ws.mask_source.setCurrentIndex(ws.mask_source.findData("own"))
    assert ws.family.isEnabled()
    assert (ws.family.currentText(), ws.accel.value(), ws.seed.value()) == ("cartesian", 4.0, 0)
    assert ws.slice_title.text() == "slice" and ws.slice.maximum() == 11
