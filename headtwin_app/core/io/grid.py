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


_IDENTITY = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)


def ras_order(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An array stored on `affine` (3D, or 4D with classes last) in RAS+ order and its affine,
    exactly as `nib.as_closest_canonical` gives them; flips and transposes only (a view)."""
    affine = np.asarray(affine, dtype=np.float64)
    ornt = nib.orientations.io_orientation(affine)
    if np.array_equal(ornt, _IDENTITY):
        return data, affine
    ras = nib.orientations.apply_orientation(data, ornt)
    return ras, affine @ nib.orientations.inv_ornt_aff(ornt, data.shape[:3])


def ras_shape(shape: tuple[int, ...], affine: np.ndarray) -> tuple[int, int, int]:
    """The shape `ras_order` gives an array of `shape` stored on `affine`."""
    ornt = nib.orientations.io_orientation(np.asarray(affine, dtype=np.float64))
    out = [0, 0, 0]
    for axis, (to, _) in enumerate(ornt):
        out[int(to)] = int(shape[axis])
    return out[0], out[1], out[2]


def source_order(data: np.ndarray, source_affine: np.ndarray) -> np.ndarray:
    """An array in RAS+ order back in the array order of a file stored on `source_affine`
    (the inverse of `ras_order`; flips and transposes only, a view)."""
    back = nib.orientations.ornt_transform(
        _IDENTITY, nib.orientations.io_orientation(np.asarray(source_affine, dtype=np.float64)))
    if np.array_equal(back, _IDENTITY):
        return data
    return nib.orientations.apply_orientation(data, back)


def to_source_grid(vol: Volume, source: Volume) -> Volume:
    """`vol` (on `source`'s RAS grid) in the array order and affine of the file `source` was
    loaded from; unchanged when that file was already RAS or the grid is unknown."""
    if SOURCE_AFFINE not in source.meta or source.is_2d:
        return vol
    src = np.asarray(source.meta[SOURCE_AFFINE], dtype=np.float64)
    if vol.shape != source.shape or not np.allclose(vol.affine, source.affine):
        raise ValueError(f"a volume of shape {vol.shape} is not on the image's grid "
                         f"{source.shape}; cannot write it in the input's grid")
    data = np.asarray(vol.data)
    back = source_order(data, src)
    if back is data:
        return vol
    return Volume(np.ascontiguousarray(back), src, dict(vol.meta), vol.kspace)
