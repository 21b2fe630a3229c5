"""Flood fill within one slice: the connected region of the seed's label value (optionally also
limited to an intensity range) becomes the active label."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from headtwin_app.core.edit.diff import LabelDiff, apply_change
from headtwin_app.core.edit.rules import PAINT_OVER_ALL, OverwriteRule


def flood_fill_slice(labels: np.ndarray, seed: tuple[int, int, int], axis: int, value: int,
                     rule: OverwriteRule = PAINT_OVER_ALL, image: np.ndarray | None = None,
                     threshold: tuple[float, float] | None = None,
                     connectivity: int = 1) -> LabelDiff:
    """Fill, in the slice through `seed` normal to `axis`, the region connected to `seed` whose
    voxels hold the seed's current label (and, with `threshold`, an intensity in [lo, hi]).
    `connectivity` 1 joins edge neighbours (4-connected), 2 also diagonals. In place; the diff."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 or 2, got {connectivity}")
    if not all(0 <= s < n for s, n in zip(seed, labels.shape, strict=True)):
        raise ValueError(f"seed {seed} lies outside the label array {labels.shape}")
    sl = np.take(labels, seed[axis], axis=axis)
    plane_axes = [a for a in range(3) if a != axis]
    seed2 = (seed[plane_axes[0]], seed[plane_axes[1]])
    start = sl[seed2]
    region = sl == start
    if threshold is not None:
        if image is None or image.shape != labels.shape:
            raise ValueError("threshold-limited fill needs the image on the label grid")
        lo, hi = threshold
        im = np.take(image, seed[axis], axis=axis)
        region &= (im >= lo) & (im <= hi)
    if not region[seed2] or not rule.editable(np.asarray([start]), int(value))[0]:
        return LabelDiff.empty()
    comp, _ = ndimage.label(region, ndimage.generate_binary_structure(2, connectivity))
    a, b = np.nonzero(comp == comp[seed2])
    coords: list[np.ndarray] = [np.empty(0)] * 3
    coords[axis] = np.full(a.shape, seed[axis])
    coords[plane_axes[0]], coords[plane_axes[1]] = a, b
    idx = np.ravel_multi_index(tuple(coords), labels.shape)  # type: ignore[arg-type]
    return apply_change(labels, idx, int(value))
