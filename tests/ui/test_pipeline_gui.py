"""The GUI path of issue 14 in one window, by clicks: reconstruct every slice → use the
reconstruction as the case image → request a proposal of it → build the twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from headtwin_app.core.case import Case
from headtwin_app.core.recon.cascade import CascadeConfig, CascadeNet
from headtwin_app.core.recon.predict import save_checkpoint
from headtwin_app.core.seg import Progress
from headtwin_app.core.volume import Volume
from headtwin_app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui
SHAPE = (40, 44, 16)


def head() -> Volume:
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, s) for s in SHAPE], indexing="ij")
    r2 = i**2 + j**2 + 0.5 * k**2
    data = np.where(r2 < 0.8, 300.0, 0.0) + np.where(r2 < 0.4, 300.0, 0.0)
    return Volume.from_spacing(data.astype(np.float32), (1.5, 1.5, 3.0))


def threshold_labels(image: Volume) -> Volume:
    """A fast stand-in model (the GUI path is under test, not a network): the bright core
    becomes id 8, the shell id 1."""
    data = image.data
    top = float(data.max())
    lab = np.where(data > 0.65 * top, 8, np.where(data > 0.25 * top, 1, 0)).astype(np.int16)
    return image.with_data(lab)


def threshold_steps(image: Volume):  # type: ignore[no-untyped-def]
    yield Progress("segment", 0.5, "thresholds")
    return threshold_labels(image)


def core_brain(image: Volume):  # type: ignore[no-untyped-def]
    """A stand-in brain stage: the bright core is grey matter."""
    yield Progress("brain", 0.5, "thresholds")
    tissue = np.where(image.data > 0.65 * float(image.data.max()), 22, 0).astype(np.int16)
    return {"tissue": image.with_data(tissue)}


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    with qtbot.waitExposed(win):
        win.show()
    recon = win.workspaces["recon"]
    recon.model_path.setText(str(save_checkpoint(CascadeNet(CascadeConfig(2, 3, 4)),
                                                 tmp_path / "tiny.pt")))
    recon.device.setCurrentIndex(recon.device.findData("cpu"))
    win.workspaces["labelling"].set_predictor(threshold_labels, "thresholds")
    recon.layer_panel.segmenter = threshold_steps
    recon.layer_panel.brainer = core_brain
    win.set_case(Case(head(), name="blob"))
    yield win
    win.close()


def test_reconstruct_use_segment_and_build_twin(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                tmp_path: Path, monkeypatch) -> None:
    state, model = window.state, window.state.model
    original = state.case.image
    window.show_tab("recon")
    ws = window.workspaces["recon"]
    panel = ws.layer_panel
    ws.mask_source.setCurrentIndex(ws.mask_source.findData("own"))
    ws.scope.setCurrentIndex(ws.scope.findData("volume"))
    ws.use["cs"].setChecked(False)
    assert not panel.use_button.isEnabled() and "every slice" in panel.use_button.toolTip()

    texts: list[str] = []
    window.jobs.progress.connect(lambda text, _fraction: texts.append(text))
    with qtbot.waitSignal(ws.result_shown, timeout=60_000):
        click(qtbot, ws.run_button)
        assert window.progress.isVisible() and window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: not window.jobs.is_busy, timeout=5000)
    assert [lay.name for lay in model.layers("recon")] == ["zf recon", "cascade recon"]
    cascade = model.layer("cascade recon")
    assert cascade.volume.shape == original.shape
    assert cascade.meta["family"] == "cartesian" and cascade.meta["psnr"] > 0
    assert panel.current_name() == "cascade recon"
    assert ws.progress_label.text() == "done"
    assert "method 2/2 (cascade CNN): slice 16/16" in texts  # never a mixed count

    # Save layer as… (the file dialog answered by the test)
    from PySide6.QtWidgets import QFileDialog

    from headtwin_app.core.io import load_volume

    out = tmp_path / "cascade.nii.gz"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    click(qtbot, panel.save_button)
    np.testing.assert_allclose(load_volume(out).data, cascade.volume.data, rtol=1e-6)

    click(qtbot, panel.use_button)
    assert state.case.image is cascade.volume and state.case.name == "blob (cascade recon)"
    assert model.layer("image").volume is cascade.volume
    assert not np.array_equal(state.case.image.data, original.data)
    assert [lay.name for lay in model.layers("recon")] == ["zf recon", "cascade recon"]

    labelling = window.workspaces["labelling"]
    click(qtbot, panel.segment_button)
    assert window.tabs.currentWidget() is labelling
    qtbot.waitUntil(lambda: labelling.session is not None
                    and labelling.session.proposal is not None, timeout=20_000)
    assert labelling.session.image is cascade.volume

    window.show_tab("recon")
    twin = window.workspaces["twin"]
    with qtbot.waitSignal(twin.meshing_finished, timeout=60_000):
        click(qtbot, panel.twin_button)
    assert window.tabs.currentWidget() is twin
    assert state.case.labels is not None and model.layer("labels").volume is state.case.labels
    np.testing.assert_array_equal(state.case.labels.data,
                                  threshold_labels(cascade.volume).data)
    assert set(state.case.brain) == {"tissue"}
    assert model.layer("brain tissue").volume is state.case.brain["tissue"]
    assert [lay.name for lay in model.layers("recon")] == ["zf recon", "cascade recon"]
    assert {1, 8} <= set(twin.meshes)
