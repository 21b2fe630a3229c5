"""The 3D twin workspace in a real window under Xvfb: meshing worker, tree toggles, tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QStyle, QStyleOptionViewItem

from headtwin_app.core.case import Case
from headtwin_app.core.volume import Volume
from headtwin_app.ui.state import AppState
from headtwin_app.ui.twin import ExportDialog, TwinWorkspace

pytestmark = pytest.mark.gui


def small_case() -> Case:
    shape = (40, 44, 36)
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    lab = np.zeros(shape, np.int16)
    head = (i - 20) ** 2 + (j - 22) ** 2 + (k - 18) ** 2
    lab[(head < 16**2) & (head >= 13**2)] = 1  # skull shell
    lab[((i - 12) ** 2 + (j - 36) ** 2 + (k - 18) ** 2) < 9] = 8  # eyeballs
    lab[((i - 28) ** 2 + (j - 36) ** 2 + (k - 18) ** 2) < 9] = 8
    lab[((i - 20) ** 2 + (j - 22) ** 2 < 6) & (k < 5)] = 12  # spinal cord
    brain = np.where(head < 11**2, 22, 0).astype(np.int16)
    brain[head < 7**2] = 23
    image = Volume.from_spacing((lab > 0).astype(np.float32) * 100 + 20, (1.0, 1.0, 1.2))
    return Case(image=image, labels=image.with_data(lab), brain={"tissue": image.with_data(brain)})


@pytest.fixture
def workspace(qtbot):  # type: ignore[no-untyped-def]
    state = AppState()
    ws = TwinWorkspace(state)
    qtbot.addWidget(ws)
    ws.resize(1100, 700)
    with qtbot.waitExposed(ws):
        ws.show()
    with qtbot.waitSignal(ws.meshing_finished, timeout=60_000):
        state.set_case(small_case())
    yield ws
    ws.close_vtk()


def test_meshes_arrive_in_tree_and_scene(workspace: TwinWorkspace) -> None:
    assert sorted(workspace.meshes) == [1, 8, 12, 22, 23]
    assert workspace.scene.label_ids() == [1, 8, 12, 22, 23]
    groups = [workspace.tree.topLevelItem(i).text(0)
              for i in range(workspace.tree.topLevelItemCount())]
    assert groups == ["craniofacial", "CNS", "brain"]
    assert not workspace.is_busy()


def test_tree_checkbox_toggles_actor_visibility(workspace: TwinWorkspace, qtbot) -> None:  # type: ignore
    item = workspace.item_for(1)
    assert item is not None and workspace.scene.actor(1).GetVisibility() == 1
    # a real mouse click on the checkbox of the "skull" row
    tree = workspace.tree
    tree.scrollToItem(item)
    option = QStyleOptionViewItem()
    option.rect = tree.visualItemRect(item)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    box = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option,
                                      tree)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert item.checkState(0) == Qt.CheckState.Unchecked
    assert workspace.scene.actor(1).GetVisibility() == 0
    item.setCheckState(0, Qt.CheckState.Checked)
    assert workspace.scene.actor(1).GetVisibility() == 1
    # the group checkbox hides every structure of the group
    group = item.parent()
    group.setCheckState(0, Qt.CheckState.Unchecked)
    assert workspace.scene.actor(8).GetVisibility() == 0


def test_brain_layer_switch_filters_scene_and_tree(workspace: TwinWorkspace) -> None:
    assert workspace.scene.is_visible(22) and not workspace.item_for(22).isHidden()
    workspace.brain_layer.setCurrentText("regions")
    assert not workspace.scene.is_visible(22) and workspace.item_for(22).isHidden()
    assert workspace.scene.is_visible(1)
    workspace.set_brain_layer("tissue")
    assert workspace.scene.is_visible(22) and not workspace.item_for(22).isHidden()


def test_presets_sync_the_tree(workspace: TwinWorkspace) -> None:
    workspace.apply_preset("bone")
    assert workspace.scene.visible_ids() == [1]
    assert workspace.item_for(8).checkState(0) == Qt.CheckState.Unchecked
    workspace.apply_preset("all")
    assert workspace.item_for(8).checkState(0) == Qt.CheckState.Checked


def test_tools(workspace: TwinWorkspace, tmp_path: Path) -> None:
    workspace.clip.setChecked(True)
    assert workspace.scene.clip_plane is not None
    workspace.clip.setChecked(False)
    workspace.show_slices(True)
    assert workspace.scene.slices_visible()
    workspace.set_ruler_mode(True)
    workspace.add_ruler_point((0.0, 0.0, 0.0))
    assert workspace.add_ruler_point((3.0, 4.0, 0.0)) == pytest.approx(5.0)
    assert "5.0 mm" in workspace.ruler_label.text()
    workspace.set_view("lateral")
    shot = workspace.save_screenshot(tmp_path / "twin.png")
    assert shot.stat().st_size > 2000
    files = workspace.export(tmp_path / "out", "stl")
    assert len(files) == 5


def test_export_dialog_writes_glb_in_metres_and_remembers(workspace: TwinWorkspace, qtbot,  # type: ignore
                                                          tmp_path: Path) -> None:
    import json

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ExportDialog)
        dialog.format.setCurrentText("GLB")
        dialog.space.setCurrentIndex(1)  # RAS
        dialog.reduce.setValue(0.5)
        dialog.single.setChecked(True)
        dialog.folder.setText(str(tmp_path / "exp"))
        save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)

    QTimer.singleShot(300, fill)
    workspace._export_dialog()
    glb = tmp_path / "exp" / "twin.glb"
    assert glb.exists() and glb.read_bytes()[:4] == b"glTF"
    side = json.loads((tmp_path / "exp" / "headtwin_export.json").read_text())
    assert side["units"] == "m" and side["options"]["export_decimate"] == 0.5
    again = ExportDialog("elsewhere")
    assert again.format.currentText() == "GLB" and again.space.currentData() == "RAS"
    assert again.folder.text() == str(tmp_path / "exp") and again.single.isChecked()


def test_opacity_slider(workspace: TwinWorkspace) -> None:
    slider = workspace.tree.itemWidget(workspace.item_for(1), 2)
    slider.setValue(40)
    assert workspace.scene.actor(1).GetProperty().GetOpacity() == pytest.approx(0.4)


def test_coarse_meshes_while_the_camera_moves(workspace: TwinWorkspace) -> None:
    workspace._style.InvokeEvent("StartInteractionEvent")
    assert workspace.scene.lod_active
    workspace._style.InvokeEvent("EndInteractionEvent")
    assert not workspace.scene.lod_active


def test_ruler_by_clicking_on_surfaces(workspace: TwinWorkspace, qtbot) -> None:  # type: ignore
    workspace.set_view("anterior")
    workspace.ruler.setChecked(True)
    view = workspace.vtk_widget
    centre = view.rect().center()
    for dx in (-40, 40):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=centre.__class__(centre.x() + dx,
                                                                              centre.y()))
    assert workspace.scene.ruler_mm is not None and workspace.scene.ruler_mm > 1.0
    assert "mm" in workspace.ruler_label.text()


def test_export_for_printing_is_watertight(workspace: TwinWorkspace, tmp_path: Path) -> None:
    import trimesh

    files = workspace.export(tmp_path / "print", "stl", printable=True)
    assert files and all(trimesh.load(str(f)).is_watertight for f in files)


def test_print_check_button_shows_the_table(workspace: TwinWorkspace, qtbot) -> None:  # type: ignore[no-untyped-def]
    workspace.printer.setValue(0.5)
    with qtbot.waitSignal(workspace.print_checked, timeout=60_000):
        qtbot.mouseClick(workspace.print_button, Qt.MouseButton.LeftButton)
    rows = workspace.print_rows
    assert rows and all(r["nonmanifold_edges"] == 0 and r["boundary_edges"] == 0 for r in rows)
    dialog = workspace.print_dialog
    assert dialog.table.rowCount() == len(rows) and "printer 0.5 mm" in dialog.windowTitle()
    assert "printable" in workspace.message.text()
    dialog.close()


def test_labels_change_remeshes_changed_structures_when_shown(  # type: ignore[no-untyped-def]
        workspace: TwinWorkspace, qtbot) -> None:
    from headtwin_app.core.labelmap import changed_labels

    state = workspace.state
    before = dict(workspace.meshes)
    old = state.case.labels.data.copy()
    new = old.copy()
    new[12:15, 36:39, 24:27] = 8  # grow one eyeball upwards
    changed = changed_labels(old, new)
    assert 8 in changed and 22 not in changed
    workspace.hide()  # hidden: nothing is meshed, the update waits
    labels = state.case.labels.with_data(new)
    state.set_labels(labels)
    assert not workspace.is_busy() and workspace.meshes == before
    with qtbot.waitSignal(workspace.meshing_finished, timeout=60_000):
        workspace.show()
    meshed = workspace._extractors["labels"].volume.data
    assert meshed is not labels.data  # a copy: labelling edits its array in place
    expected = new.copy()
    labels.data[:] = 0
    assert (meshed == expected).all()
    assert sorted(workspace.meshes) == sorted(before)
    for lid, mesh in workspace.meshes.items():
        assert (mesh is before[lid]) == (lid not in changed), lid
    assert workspace.meshes[8].voxel_count == int((expected == 8).sum())
