"""Island removal: drop small disconnected pieces of a structure (keep the largest component,
or remove components smaller than N voxels)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from headtwin_app.core.edit.diff import LabelDiff, apply_change


def remove_islands(labels: np.ndarray, value: int | None = None, min_size: int | None = None,
                   keep_largest: bool = False, connectivity: int = 1) -> LabelDiff:
    """Set to background, in place, the 3D connected components of `value` (every label when
    None) that are smaller than `min_size` voxels, or all but the largest with `keep_largest`.
    `connectivity` 1 = faces (6-connected), 2 = +edges (18), 3 = +corners (26). The diff."""
    if min_size is None and not keep_largest:
        raise ValueError("give min_size, keep_largest=True, or both")
    if min_size is not None and min_size < 1:
        raise ValueError(f"min_size must be ≥ 1, got {min_size}")
    if connectivity not in (1, 2, 3):
        raise ValueError(f"connectivity must be 1, 2 or 3, got {connectivity}")
    structure = ndimage.generate_binary_structure(3, connectivity)
    values = [int(value)] if value is not None else [int(v) for v in np.unique(labels) if v != 0]
    chunks = []
    for lab in values:
        comp, n = ndimage.label(labels == lab, structure)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())[1:]
        drop = np.zeros(n + 1, dtype=bool)
        if min_size is not None:
            drop[1:] |= sizes < min_size
        if keep_largest:
            largest = np.zeros(n, dtype=bool)
            largest[int(np.argmax(sizes))] = True
            drop[1:] |= ~largest
        if drop.any():
            chunks.append(np.flatnonzero(drop[comp]))
    if not chunks:
        return LabelDiff.empty()
    return apply_change(labels, np.concatenate(chunks), 0)
