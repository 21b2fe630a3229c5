"""Fill between slices (3D Slicer's "Fill between slices"): structures drawn on a few slices
become 3D by morphological contour interpolation (Albu et al. 2008; Zukić et al., the
itk-morphologicalcontourinterpolation package's `MorphologicalContourInterpolator`).

Unlike `interpolate.interpolate_slices` (one label, one gap, a blend of distance maps) it
interpolates every label along every axis at once, matches regions that split or merge between
slices, and works on slices drawn in different orientations. The result is a proposal — a new
array — for the GUI to show and the annotator to accept; only background voxels are filled.
"""

from __future__ import annotations

import numpy as np

from headtwin_app.core.edit.diff import present_labels

MAX_ID = np.iinfo(np.int16).max


def slice_gaps(labels: np.ndarray, label: int, axis: int) -> list[tuple[int, int]]:
    """(first, last) pairs of consecutive slices along `axis` that hold `label` with empty
    slices between them: the gaps interpolation would fill."""
    other = tuple(a for a in range(3) if a != axis)
    have = np.flatnonzero((labels == label).any(axis=other))
    return [(int(a), int(b)) for a, b in zip(have[:-1], have[1:], strict=True) if b - a > 1]


def fill_between_slices(labels: np.ndarray, label: int | None = None,
                        axis: int | None = None) -> np.ndarray:
    """The label map (X, Y, Z) with the slices between annotated slices filled: a new int16
    array, `labels` unchanged. `label` None interpolates every label; `axis` None lets the
    filter find each label's slice orientation(s). Voxels that already hold a label keep it.

    Raises ValueError when there is nothing to interpolate (no label present on two slices with
    empty slices between them along the axes considered)."""
    import itk

    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"fill between slices needs a 3D label map, got shape {labels.shape}")
    if labels.dtype.kind not in "biu":
        raise ValueError(f"labels must be whole-number ids, got {labels.dtype}")
    if axis is not None and axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1, 2 or None, got {axis}")
    ids = [int(i) for i in present_labels(labels) if i != 0]
    if ids and (ids[0] < 0 or ids[-1] > MAX_ID):
        raise ValueError(f"label ids must be 0-{MAX_ID}, got {ids[0]}..{ids[-1]}")
    if label is not None:
        if not 0 < label <= MAX_ID:
            raise ValueError(f"label must be 1-{MAX_ID}, got {label}")
        if label not in ids:
            raise ValueError(f"label {label} is not in the label map: nothing to interpolate")
        ids = [int(label)]
    axes = (0, 1, 2) if axis is None else (axis,)
    if not any(slice_gaps(labels, i, a) for i in ids for a in axes):
        where = "along any axis" if axis is None else f"along axis {axis}"
        what = ("no label is on two slices" if label is None
                else f"label {label} is not on two slices")
        raise ValueError(f"nothing to interpolate: {what} with empty slices between them "
                         f"{where} (annotate at least two slices)")
    data = np.ascontiguousarray(labels, dtype=np.int16)
    box = _bounding_box(data != 0 if label is None else data == label)
    part = np.ascontiguousarray(data[box])  # interpolation stays within the drawn extent
    image = itk.image_view_from_array(part)  # ITK sees (x, y, z) = our (Z, Y, X)
    filt = itk.MorphologicalContourInterpolator[type(image)].New()
    filt.SetInput(image)
    filt.SetLabel(0 if label is None else int(label))  # 0: every label
    filt.SetAxis(-1 if axis is None else 2 - axis)  # -1: every axis
    filt.Update()
    filled = itk.array_from_image(filt.GetOutput())
    out = data.copy()
    out[box] = np.where(part != 0, part, filled)
    return out


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice]:
    """The bounding box of `mask`, one voxel wider on every side where the array allows."""
    box = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(max(int(hit[0]) - 1, 0), min(int(hit[-1]) + 2, mask.shape[axis])))
    return (box[0], box[1], box[2])
