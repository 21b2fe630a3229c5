"""Class-probability files (a segmentation model's soft output) read onto an image's RAS grid,
for Grow from seeds' prior.

Two layouts: `.npy` holds (C, X, Y, Z) in the image file's own array order (as a model run on
that file's array writes it); `.nii`/`.nii.gz` holds a 4D image (X, Y, Z, C) whose affine is the
image's. Either way the result is float32 (C, X, Y, Z) on the image's RAS grid.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from headtwin_app.core.io.grid import SOURCE_AFFINE
from headtwin_app.core.labelmap import GRID_TOLERANCE
from headtwin_app.core.volume import Volume, VolumeError

LAYOUTS = ".npy (C, X, Y, Z) in the image file's array order, or .nii/.nii.gz 4D (X, Y, Z, C)"


def _from_npy(p: Path, image: Volume) -> np.ndarray:
    data = np.load(str(p), allow_pickle=False, mmap_mode="r")
    if data.ndim != 4 or data.dtype.kind not in "fiu":
        raise VolumeError(f"{p}: a {data.ndim}D {data.dtype} array; class probabilities are "
                          "4D numbers (C, X, Y, Z)")
    ornt = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)
    if SOURCE_AFFINE in image.meta:
        ornt = nib.orientations.io_orientation(np.asarray(image.meta[SOURCE_AFFINE]))
    ras = [nib.orientations.apply_orientation(np.asarray(c, np.float32), ornt) for c in data]
    if ras[0].shape != image.shape:
        want = nib.orientations.apply_orientation(np.zeros(image.shape, np.uint8),
                                                  nib.orientations.ornt_transform(
                                                      [[0, 1], [1, 1], [2, 1]], ornt)).shape
        raise VolumeError(f"{p}: probabilities of shape {data.shape} are not on the image's grid "
                          f"(expected (C, {', '.join(map(str, want))}) in its file's order)")
    return np.ascontiguousarray(np.stack(ras))


def _from_nifti(p: Path, image: Volume) -> np.ndarray:
    from headtwin_app.core.io.nifti import read_nifti_checked

    img = read_nifti_checked(p)
    if len(img.shape) != 4:
        raise VolumeError(f"{p}: a {len(img.shape)}D image; class probabilities are a 4D NIfTI "
                          "(X, Y, Z, C)")
    img = nib.as_closest_canonical(img)
    data = np.asarray(img.dataobj, dtype=np.float32)
    diff = float(np.abs(img.affine - image.affine).max())
    if data.shape[:3] != image.shape or not diff <= GRID_TOLERANCE:
        raise VolumeError(f"{p}: probabilities of shape {data.shape[:3]} (affine off by up to "
                          f"{diff:.3g}) are not on the image's grid {image.shape}")
    return np.ascontiguousarray(np.moveaxis(data, 3, 0))


def load_probabilities(path: str | os.PathLike[str], image: Volume) -> np.ndarray:
    """float32 (C, X, Y, Z) class probabilities on `image`'s RAS grid, or a VolumeError naming
    the file: unknown layout, not on the image's grid, values outside [0, 1]."""
    p = Path(path)
    if not p.is_file():
        raise VolumeError(f"{p}: no such file")
    name = p.name.lower()
    if name.endswith(".npy"):
        prob = _from_npy(p, image)
    elif name.endswith((".nii", ".nii.gz")):
        prob = _from_nifti(p, image)
    else:
        raise VolumeError(f"{p}: probabilities must be {LAYOUTS}")
    if prob.size and not (np.isfinite(prob).all() and prob.min() >= -1e-3
                          and prob.max() <= 1 + 1e-3):
        raise VolumeError(f"{p}: not probabilities (values outside [0, 1] or not finite)")
    return prob
