"""NumPy `.npy` arrays: never unpickled, shape and type checked from the header first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headtwin_app.core.io.checks import check_scalar_dtype, check_voxel_count
from headtwin_app.core.volume import Volume, VolumeError


def load_npy(p: Path) -> Volume:
    # A memory map reads only the header; a short file fails here, before any copy.
    mapped = np.load(str(p), allow_pickle=False, mmap_mode="r")
    check_scalar_dtype(mapped.dtype, p)
    check_voxel_count(mapped.shape, p)
    data = np.array(mapped)
    if np.iscomplexobj(data):
        data = np.abs(data)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim > 3:
        raise VolumeError(f"{p}: a {data.ndim}D array (shape {data.shape}); only 2D or 3D images")
    if data.ndim < 2:
        raise VolumeError(f"{p}: a {data.ndim}D array; expected a 2D or 3D image")
    return Volume.from_spacing(data if data.ndim == 3 else data[:, :, None])


def write_npy(vol: Volume, tmp: Path) -> None:
    np.save(str(tmp), vol.data)
