"""The scene rendered offscreen (no Qt, no X): non-blank, views differ, controls take effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headtwin_app.core.volume import Volume
from headtwin_app.render.mesh import extract_surfaces
from headtwin_app.render.offscreen import (
    new_render_window,
    render_to_array,
    save_picture,
    window_class_name,
)
from headtwin_app.render.scene import TwinScene

SIZE = (240, 240)


@pytest.fixture
def scene(twin: Volume) -> TwinScene:
    s = TwinScene()
    s.add_meshes(extract_surfaces(twin))
    s.set_view("anterior")
    return s


def render(scene: TwinScene) -> np.ndarray:
    return render_to_array(scene.renderers(), SIZE).astype(np.int16)


def background_only(scene: TwinScene) -> np.ndarray:
    empty = TwinScene()
    empty.renderer.GetActiveCamera().DeepCopy(scene.renderer.GetActiveCamera())
    return render(empty)


def test_headless_window_is_egl(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW"):
        monkeypatch.delenv(var, raising=False)
    assert window_class_name() == "vtkEGLRenderWindow"
    window = new_render_window((32, 32))
    assert window.GetClassName() == "vtkEGLRenderWindow"
    assert window.GetOffScreenRendering()
    window.Finalize()


def test_render_is_not_blank(scene: TwinScene, tmp_path: Path) -> None:
    img = render(scene)
    assert img.shape == (SIZE[1], SIZE[0], 3)
    changed = np.abs(img - background_only(scene)).sum(axis=2) > 30
    assert changed.mean() > 0.05  # the structures cover a good part of the view
    save_picture(img.astype(np.uint8), tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_views_differ(scene: TwinScene) -> None:
    images = {}
    for view in ("anterior", "lateral", "superior"):
        scene.set_view(view)
        images[view] = render(scene)
    for a, b in (("anterior", "lateral"), ("anterior", "superior"), ("lateral", "superior")):
        assert np.abs(images[a] - images[b]).mean() > 2.0, (a, b)


def test_visibility_colour_and_presets(scene: TwinScene) -> None:
    base = render(scene)
    scene.set_visible(4, False)
    assert not scene.is_visible(4) and scene.actor(4).GetVisibility() == 0
    hidden = render(scene)
    assert np.abs(base - hidden).mean() > 1.0
    scene.set_colour(1, (255, 0, 0))
    assert scene.colour(1) == (255, 0, 0)
    scene.apply_preset("bone")
    assert scene.visible_ids() == [1, 10]  # skull, cervical vertebrae
    scene.apply_preset("all")
    assert 4 in scene.visible_ids()
    with pytest.raises(ValueError):
        scene.apply_preset("nothing")


def test_brain_layer_switch(scene: TwinScene) -> None:
    assert scene.is_visible(22)  # grey matter: tissue layer
    scene.set_brain_layer("regions")
    assert not scene.is_visible(22) and scene.is_visible(1)
    scene.set_brain_layer("tissue")
    assert scene.is_visible(22)


def test_clip_plane_changes_the_render(scene: TwinScene) -> None:
    base = render(scene)
    scene.clip_axis("x", 0.5)
    assert scene.clip_plane is not None
    assert scene.actor(1).GetMapper().GetNumberOfClippingPlanes() == 1
    clipped = render(scene)
    assert np.abs(base - clipped).mean() > 1.0
    scene.set_clip_plane(None)
    assert scene.actor(1).GetMapper().GetNumberOfClippingPlanes() == 0


def test_slices_and_ruler(scene: TwinScene, twin: Volume) -> None:
    image = twin.with_data((twin.data > 0).astype(np.float32) * 100 + 10)
    scene.set_image(image)
    scene.show_slices(True)
    assert scene.slices_visible()
    scene.set_slice("axial", 3)
    with_slices = render(scene)
    scene.show_slices(False)
    assert np.abs(with_slices - render(scene)).mean() > 1.0
    assert scene.set_ruler((0, 0, 0), (30, 40, 0)) == pytest.approx(50.0)
    assert scene.ruler_mm == pytest.approx(50.0)
    scene.clear_ruler()
    assert scene.ruler_mm is None


def test_coarse_copies_while_moving(twin: Volume) -> None:
    from headtwin_app.render.scene import make_lod

    scene = TwinScene()
    big = extract_surfaces(Volume.from_spacing(np.pad(np.ones((60, 60, 60), np.uint8), 2)))[1]
    small = extract_surfaces(twin, label_ids=[5])[5]
    lod = make_lod(big.polydata, cell_mm=4.0)
    assert make_lod(small.polydata) is None
    assert lod is not None and 0 < lod.GetNumberOfCells() < big.triangles / 4
    scene.add_mesh(1, big, lod)
    scene.add_mesh(5, small)
    scene.set_lod(True)
    assert scene.actor(1).GetMapper().GetInput() is lod
    assert scene.actor(5).GetMapper().GetInput() is small.polydata
    scene.set_clip_plane((0, 0, 0), (1, 0, 0))
    assert scene.actor(1).GetMapper().GetNumberOfClippingPlanes() == 1
    scene.set_lod(False)
    assert scene.actor(1).GetMapper().GetInput() is big.polydata
    assert scene.actor(1).GetMapper().GetNumberOfClippingPlanes() == 1


def test_ruler_is_drawn_over_the_surfaces(scene: TwinScene) -> None:
    """A ruler through the inside of a structure still shows (it lives in the overlay layer)."""
    before = render(scene)
    b = scene.bounds()
    centre = [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2]
    scene.set_ruler((b[0] + 5, centre[1], centre[2]), (b[1] - 5, centre[1], centre[2]))
    after = render(scene)
    yellow = (after[..., 0] > 200) & (after[..., 1] > 180) & (after[..., 2] < 120)
    assert yellow.sum() > 20 and np.abs(after - before).sum(axis=2).astype(bool).sum() > 20
