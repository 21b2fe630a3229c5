"""The input file's voxel grid: volumes are worked on in RAS+ order, outputs go back to the
file's own array order and affine (a label map must match its image voxel for voxel in ITK-SNAP,
Slicer and PACS viewers).

Loading reorients with nibabel's `as_closest_canonical` (axis permutations and flips only, never
resampling), so the way back is exact: the inverse permutation/flip and the file's affine.
"""

from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

from headtwin_app.core.volume import Volume

SOURCE_AFFINE = "source_affine"


def source_meta(affine: np.ndarray) -> dict[str, Any]:
    """What a loader records about the file's grid before reorienting to RAS."""
    return {SOURCE_AFFINE: np.asarray(affine, dtype=np.float64).tolist()}


def to_source_grid(vol: Volume, source: Volume) -> Volume:
    """`vol` (on `source`'s RAS grid) in the array order and affine of the file `source` was
    loaded from; unchanged when that file was already RAS or the grid is unknown."""
    if SOURCE_AFFINE not in source.meta or source.is_2d:
        return vol
    src = np.asarray(source.meta[SOURCE_AFFINE], dtype=np.float64)
    if vol.shape != source.shape or not np.allclose(vol.affine, source.affine):
        raise ValueError(f"a volume of shape {vol.shape} is not on the image's grid "
                         f"{source.shape}; cannot write it in the input's grid")
    back = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"),
                                           nib.orientations.io_orientation(src))
    if np.array_equal(back, [[0, 1], [1, 1], [2, 1]]):
        return vol
    data = nib.orientations.apply_orientation(np.asarray(vol.data), back)
    return Volume(np.ascontiguousarray(data), src, dict(vol.meta), vol.kspace)
