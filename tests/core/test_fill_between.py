"""Fill between slices: ITK's morphological contour interpolation on (X, Y, Z) label maps."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.edit.fill_between import fill_between_slices, slice_gaps


def _disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius**2


def _two_discs(axis: int = 2) -> np.ndarray:
    """Discs of label 3 on slices 10 and 20 along `axis` of a 40×36×30 map (non-cubic so an
    axis mix-up shows)."""
    labels = np.zeros((40, 36, 30), np.int16)
    plane = [n for a, n in enumerate(labels.shape) if a != axis]
    for k, r in ((10, 8.0), (20, 6.0)):
        index: list[object] = [slice(None)] * 3
        index[axis] = k
        labels[tuple(index)][_disc((plane[0], plane[1]), (plane[0] / 2, plane[1] / 2), r)] = 3
    return labels


def _per_slice(labels: np.ndarray, axis: int, value: int = 3) -> np.ndarray:
    other = tuple(a for a in range(3) if a != axis)
    return (labels == value).sum(axis=other)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("given_axis", [True, False])
def test_two_discs_fill_the_slices_between_not_beyond(axis: int, given_axis: bool) -> None:
    labels = _two_discs(axis)
    before = labels.copy()
    out = fill_between_slices(labels, 3, axis if given_axis else None)
    np.testing.assert_array_equal(labels, before)  # a proposal: the input is not changed
    assert out.dtype == np.int16 and out.shape == labels.shape
    counts = _per_slice(out, axis)
    assert (counts[11:20] > 0).all()  # every slice in between is filled
    assert counts[:10].sum() == 0 and counts[21:].sum() == 0  # nothing beyond the discs
    # the area shrinks from the big disc to the small one
    assert counts[10] >= counts[13] >= counts[17] >= counts[20] > 0
    np.testing.assert_array_equal(out[labels != 0], labels[labels != 0])


def test_all_labels_by_default_and_others_never_overwritten() -> None:
    labels = _two_discs(2)
    labels[18:22, 16:20, 15] = 7  # another structure in the way, on one slice only
    labels[2:6, 2:6, 4] = 5  # label 5 on slices 4 and 8
    labels[2:6, 2:6, 8] = 5
    out = fill_between_slices(labels)
    assert (out[18:22, 16:20, 15] == 7).all()  # label 7 kept where label 3 is interpolated
    assert (out[2:6, 2:6, 5:8] == 5).any()
    assert (_per_slice(out, 2)[11:20] > 0).all()


def test_nothing_to_interpolate_is_a_clear_error() -> None:
    labels = np.zeros((20, 20, 20), np.int16)
    labels[5:10, 5:10, 7] = 2  # one slice only
    with pytest.raises(ValueError, match="nothing to interpolate"):
        fill_between_slices(labels, 2, axis=2)
    with pytest.raises(ValueError, match="nothing to interpolate"):
        fill_between_slices(np.zeros((8, 8, 8), np.int16))
    with pytest.raises(ValueError, match="not in the label map"):
        fill_between_slices(labels, 4)
    labels[5:10, 5:10, 8] = 2  # adjacent slices: no gap
    with pytest.raises(ValueError, match="annotate at least two slices"):
        fill_between_slices(labels, 2)
    with pytest.raises(ValueError, match="axis"):
        fill_between_slices(labels, 2, axis=3)


def test_slice_gaps() -> None:
    labels = _two_discs(1)
    assert slice_gaps(labels, 3, 1) == [(10, 20)]
    assert slice_gaps(labels, 3, 0) == []
