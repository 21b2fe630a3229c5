"""Checks every loaded image passes: a scalar voxel type, a usable affine, finite voxels, a
size this app can hold. Each failure is a one-line `VolumeError` naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headtwin_app.core.volume import Volume, VolumeError

MAX_VOXELS = 2**30  # 4 GiB of float32; a header announcing more is refused before reading


def check_scalar_dtype(dtype: np.dtype, p: Path) -> None:
    """Grey-level voxels only: booleans, integers, floats (complex is turned into magnitude
    by the callers that accept it)."""
    if dtype.kind in "biufc":
        return
    what = "RGB colour or a structured record" if dtype.kind == "V" else f"type {dtype}"
    raise VolumeError(f"{p}: voxels of {what}; expected a scalar (grey-level) image")


def check_voxel_count(shape: tuple[int, ...], p: Path) -> None:
    n = float(np.prod([float(s) for s in shape])) if shape else 0.0
    if n > MAX_VOXELS:
        raise VolumeError(f"{p}: {n:.3g} voxels (shape {tuple(shape)}), more than the "
                          f"{MAX_VOXELS:.3g} this app reads")


def check_affine(affine: np.ndarray, p: Path) -> None:
    """Finite, invertible, with positive voxel sizes."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise VolumeError(f"{p}: the voxel-to-world matrix (affine) holds NaN or infinite "
                          "values")
    spacing = np.sqrt((a[:3, :3] ** 2).sum(axis=0))
    if not (spacing > 0).all():
        raise VolumeError(f"{p}: a voxel size is zero (spacing {tuple(np.round(spacing, 6))})")
    det = abs(float(np.linalg.det(a[:3, :3] / spacing)))
    if det < 1e-6:
        raise VolumeError(f"{p}: the voxel axes are degenerate (the affine is not invertible)")


def validate(vol: Volume, p: Path) -> None:
    """What every loaded Volume must be: non-empty, scalar, real, finite, with a good affine."""
    data = vol.data
    if data.size == 0 or 0 in data.shape:
        raise VolumeError(f"{p}: the image is empty (shape {data.shape})")
    check_scalar_dtype(data.dtype, p)
    if np.iscomplexobj(data):
        raise VolumeError(f"{p}: complex voxels; expected a magnitude image")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise VolumeError(f"{p}: the image contains NaN or infinite values")
    check_affine(vol.affine, p)
