"""fastMRI-style HDF5: complex `kspace` (slices, ky, kx) or multi-coil (slices, coils, ky, kx),
optional `reconstruction_rss` magnitude target. Written with Fletcher-32 checksums, so damage
to a file this app wrote is caught when it is read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headtwin_app.core.io.checks import check_voxel_count
from headtwin_app.core.volume import Volume, VolumeError


def stack_to_volume_data(stack: np.ndarray) -> np.ndarray:
    """fastMRI (slices, ky, kx) magnitude → the app's (x, y, z), phase encode along y, anterior
    up: the loader's layout, also used for reconstructions of such k-space."""
    return np.ascontiguousarray(np.asarray(stack).transpose(2, 1, 0)[:, ::-1, :])


def load_fastmri(p: Path) -> Volume:
    import h5py

    from headtwin_app.core.fft import ifft2c

    with h5py.File(str(p), "r") as f:
        if "kspace" not in f or not isinstance(f["kspace"], h5py.Dataset):
            raise VolumeError(f"{p}: HDF5 file has no 'kspace' dataset (fastMRI layout expected)")
        ds = f["kspace"]
        if ds.dtype.kind != "c":
            raise VolumeError(f"{p}: 'kspace' is not complex (dtype {ds.dtype})")
        if ds.ndim not in (2, 3, 4) or 0 in ds.shape:
            raise VolumeError(f"{p}: 'kspace' has shape {ds.shape}; expected (slices, ky, kx) "
                              "or (slices, coils, ky, kx)")
        check_voxel_count(ds.shape, p)
        kspace = np.asarray(ds)
        target = None
        if "reconstruction_rss" in f and isinstance(f["reconstruction_rss"], h5py.Dataset):
            rss = f["reconstruction_rss"]
            if rss.dtype.kind in "iuf" and rss.size <= kspace.size:
                target = np.asarray(rss)
    if kspace.ndim == 2:
        kspace = kspace[np.newaxis]
    if not np.isfinite(kspace).all():
        raise VolumeError(f"{p}: 'kspace' contains NaN or infinite values")
    if kspace.ndim == 4:  # multi-coil: (slices, coils, ky, kx) → root-sum-of-squares image
        image = np.sqrt((np.abs(ifft2c(kspace)) ** 2).sum(axis=1))
    else:
        image = np.abs(ifft2c(kspace))
    mag = target if target is not None and target.shape == image.shape else image
    data = stack_to_volume_data(mag).astype(np.float32)
    vol = Volume.from_spacing(data)
    vol.meta["format"] = "fastmri-h5"
    vol.kspace = kspace
    return vol


def write_fastmri(vol: Volume, tmp: Path) -> None:
    import h5py

    from headtwin_app.core.fft import fft2c

    image = np.asarray(vol.data, dtype=np.float32)[:, ::-1, :].transpose(2, 1, 0)
    kspace = vol.kspace if vol.kspace is not None else fft2c(image.astype(np.complex64))
    with h5py.File(str(tmp), "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64), fletcher32=True)
        f.create_dataset("reconstruction_rss", data=np.ascontiguousarray(image), fletcher32=True)
