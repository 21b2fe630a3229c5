"""Shape-based interpolation of one structure between annotated slices (Raya & Udupa 1990):
the in-plane signed distance maps of two annotated slices are blended linearly, and the zero
level set of the blend is the structure on every slice in between."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from headtwin_app.core.edit.diff import LabelDiff, apply_change
from headtwin_app.core.edit.rules import OverwriteRule

_ONLY_BACKGROUND = OverwriteRule("background")


def annotated_slices(labels: np.ndarray, value: int, axis: int) -> list[int]:
    """Indices along `axis` of the slices that contain `value`."""
    other = tuple(a for a in range(3) if a != axis)
    return [int(i) for i in np.nonzero((labels == value).any(axis=other))[0]]


def signed_distance(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """In-plane signed distance in mm: negative inside, positive outside (never zero)."""
    if not mask.any():
        raise ValueError("cannot take the distance map of an empty slice")
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    return outside - inside


def interpolate_slices(labels: np.ndarray, value: int, axis: int, start: int | None = None,
                       stop: int | None = None, spacing: tuple[float, float, float] = (1, 1, 1),
                       rule: OverwriteRule = _ONLY_BACKGROUND) -> LabelDiff:
    """Fill `value` on the slices strictly between annotated slices along `axis`, in place.

    With `start` and `stop` only that gap is filled (both slices must hold `value`); otherwise
    every gap between consecutive annotated slices. Voxels are only added (where `rule` allows;
    by default only over background). Returns the diff."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    have = annotated_slices(labels, value, axis)
    if start is not None or stop is not None:
        if start is None or stop is None:
            raise ValueError("give both start and stop slices, or neither")
        start, stop = sorted((int(start), int(stop)))
        missing = [s for s in (start, stop) if s not in have]
        if missing:
            raise ValueError(f"slice {missing[0]} along axis {axis} holds no label {value}")
        pairs = [(start, stop)]
    else:
        if len(have) < 2:
            raise ValueError(f"label {value} needs at least two annotated slices along axis {axis}")
        pairs = [(a, b) for a, b in zip(have[:-1], have[1:], strict=True) if b - a > 1]
    plane = [a for a in range(3) if a != axis]
    sampling = (float(spacing[plane[0]]), float(spacing[plane[1]]))
    chunks = []
    for a, b in pairs:
        d0 = signed_distance(np.take(labels, a, axis=axis) == value, sampling)
        d1 = signed_distance(np.take(labels, b, axis=axis) == value, sampling)
        for k in range(a + 1, b):
            t = (k - a) / (b - a)
            inside = (1 - t) * d0 + t * d1 < 0
            cur = np.take(labels, k, axis=axis)
            inside &= rule.editable(cur, value) & (cur != value)
            u, v = np.nonzero(inside)
            coords: list[np.ndarray] = [np.empty(0)] * 3
            coords[axis] = np.full(u.shape, k)
            coords[plane[0]], coords[plane[1]] = u, v
            chunks.append(np.ravel_multi_index(tuple(coords), labels.shape))  # type: ignore[arg-type]
    if not chunks:
        return LabelDiff.empty()
    return apply_change(labels, np.concatenate(chunks), int(value))
