"""HD95 / ASSD in millimetres and the twin scores built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from headtwin_app.core.surface_metrics import surface_metrics
from headtwin_app.core.twin_score import score_maps, twin_scores
from headtwin_app.core.volume import Volume


def _cube(shape: tuple[int, int, int], lo: int, hi: int, label: int = 1) -> np.ndarray:
    a = np.zeros(shape, np.int16)
    a[lo:hi, 4:12, 4:12] = label
    return a


def test_identical_maps_have_zero_distance() -> None:
    a = _cube((20, 16, 16), 4, 12)
    m = surface_metrics(a, a, (1.0, 1.0, 1.0))
    assert m == {1: {"hd95_mm": 0.0, "assd_mm": 0.0}}


def test_shift_along_an_anisotropic_axis_is_measured_in_mm() -> None:
    # the cube moves 2 voxels along axis 0, whose voxels are 3 mm: the far faces are 6 mm apart
    a, b = _cube((24, 16, 16), 4, 12), _cube((24, 16, 16), 6, 14)
    m = surface_metrics(a, b, (3.0, 1.0, 1.0))[1]
    assert m["hd95_mm"] == pytest.approx(6.0)
    assert 0.0 < m["assd_mm"] < 6.0
    iso = surface_metrics(a, b, (1.0, 1.0, 1.0))[1]
    assert iso["hd95_mm"] == pytest.approx(2.0)


def test_missing_structure_is_nan_not_zero() -> None:
    a = _cube((20, 16, 16), 4, 12)
    m = surface_metrics(a, np.zeros_like(a), (1.0, 1.0, 1.0))[1]
    assert math.isnan(m["hd95_mm"]) and math.isnan(m["assd_mm"])


def test_score_maps_names_structures_and_means() -> None:
    ref = _cube((20, 16, 16), 2, 8, 1) + _cube((20, 16, 16), 10, 16, 8)
    pred = ref.copy()
    pred[pred == 8] = 0  # eyeballs missed entirely
    grid = Volume.from_spacing(ref, (2.0, 2.0, 2.0))
    s = score_maps(grid, grid.with_data(pred))
    assert s["dice"] == {"skull": 1.0, "eyeballs": 0.0}
    assert s["mean_dice"] == 0.5
    assert s["hd95_mm"]["skull"] == 0.0 and math.isnan(s["hd95_mm"]["eyeballs"])
    assert s["mean_hd95_mm"] == 0.0  # distances average over the structures found


def test_twin_scores_compare_the_map_the_reference_describes() -> None:
    cf = _cube((20, 16, 16), 2, 8, 1)
    twin = cf.copy()
    twin[12:16, 4:12, 4:12] = 22
    grid = Volume.from_spacing(cf)
    craniofacial_only = twin_scores(grid.with_data(cf), grid.with_data(twin), grid.with_data(cf))
    assert craniofacial_only["compared"].startswith("craniofacial")
    fused = twin_scores(grid.with_data(twin), grid.with_data(twin), grid.with_data(cf))
    assert fused["compared"] == "fused twin"
    assert fused["dice"] == {"skull": 1.0, "gray_matter": 1.0}


def test_scores_refuse_another_grid() -> None:
    a = Volume.from_spacing(_cube((20, 16, 16), 2, 8), (1.0, 1.0, 1.0))
    b = Volume.from_spacing(_cube((20, 16, 16), 2, 8), (2.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="grid|spacing|affine"):
        score_maps(a, b)


def test_distances_equal_a_distance_transform_of_the_box() -> None:
    """The k-d tree search gives exactly what scipy's exact EDT over the box gives."""
    from scipy import ndimage

    from headtwin_app.core.surface_metrics import _box, _surface, surface_distances

    rng = np.random.default_rng(0)
    a = ndimage.gaussian_filter(rng.random((30, 26, 22)), 2.0) > 0.5  # irregular blobs
    assert 100 < a.sum() < a.size - 100
    b = np.roll(a, (2, -1, 1), axis=(0, 1, 2))
    spacing = (1.95, 1.2, 2.5)
    box = _box(a, b)
    sa, sb = _surface(a[box]), _surface(b[box])
    edt_ab = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    edt_ba = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    d_ab, d_ba = surface_distances(a, b, spacing)
    np.testing.assert_allclose(np.sort(d_ab), np.sort(edt_ab))
    np.testing.assert_allclose(np.sort(d_ba), np.sort(edt_ba))
