"""NIfTI-1/2 (.nii, .nii.gz) read with its integrity checked, and written atomically.

nibabel never reads a gzip stream's trailer, so a flipped bit in a `.nii.gz` loads as changed
voxels without a word. Here the whole file is inflated by zlib in gzip mode, which checks the
CRC-32 and length of every member; the header's shape is then checked against the bytes there
are before any voxel is read.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np

from headtwin_app.core.io.checks import MAX_VOXELS, check_affine, check_scalar_dtype
from headtwin_app.core.io.grid import source_meta
from headtwin_app.core.volume import Volume, VolumeError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 24  # inflate 16 MiB at a time


def gunzip_verified(raw: bytes, p: Path, limit: int | None = None) -> bytes:
    """Inflate every gzip member of `raw`, checking each member's CRC-32 and length; more than
    `limit` bytes (a "gzip bomb") are refused before they fill the memory."""
    parts: list[bytes] = []
    total = 0
    while raw:
        inflater = zlib.decompressobj(wbits=31)
        pending = raw
        try:
            while True:
                out = inflater.decompress(pending, CHUNK)
                pending = inflater.unconsumed_tail
                total += len(out)
                parts.append(out)
                if limit is not None and total > limit:
                    raise VolumeError(f"{p}: the compressed data inflate to more than the "
                                      f"{limit} bytes the header announces; the file is corrupt")
                if inflater.eof or (not out and not pending):
                    break
        except zlib.error as exc:
            what = ("its CRC-32/length check fails" if "check" in str(exc)
                    else f"the deflate stream is invalid: {exc}")
            raise VolumeError(f"{p}: the compressed data is damaged ({what}); the file is "
                              "corrupt") from None
        if not inflater.eof:
            raise VolumeError(f"{p}: the compressed data ends early; the file is truncated")
        raw = inflater.unused_data
        if raw and not raw.startswith(GZIP_MAGIC):
            if raw.strip(b"\0"):
                raise VolumeError(f"{p}: unexpected bytes after the compressed data; the file "
                                  "is corrupt")
            break
    return b"".join(parts)


def _announced_size(raw: bytes, p: Path) -> int | None:
    """Header + voxel bytes the NIfTI header at the start of the gzip stream announces (None
    when the start does not inflate to a header: the full check then says why)."""
    try:
        head = zlib.decompressobj(wbits=31).decompress(raw[:65536], 540)
        klass = _header_class(head, p)
        size = 348 if klass is nib.Nifti1Image else 540
        header = klass.header_class(head[:size])
        shape = header.get_data_shape()
        n = int(np.prod(shape, dtype=np.float64)) if shape else 0
        return int(header.get_data_offset()) + n * header.get_data_dtype().itemsize + 2**20
    except Exception:  # noqa: BLE001 - anything odd here is reported by the full read
        return None


def _header_class(raw: bytes, p: Path) -> type[nib.Nifti1Image]:
    size = (int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big"))
    if 348 in size:
        return nib.Nifti1Image
    if 540 in size:
        return cast(type[nib.Nifti1Image], nib.Nifti2Image)
    raise VolumeError(f"{p}: not a NIfTI file (its header does not start like one)")


def read_nifti_checked(p: Path) -> nib.Nifti1Image:
    """The NIfTI image in `p` with its bytes verified (gzip CRC/length, header against size)."""
    raw = p.read_bytes()
    if raw.startswith(GZIP_MAGIC):
        raw = gunzip_verified(raw, p, _announced_size(raw, p))
    klass = _header_class(raw, p)
    if len(raw) < 348:
        raise VolumeError(f"{p}: the file is truncated ({len(raw)} bytes, smaller than a NIfTI "
                          "header)")
    img = klass.from_bytes(raw)
    header = img.header
    shape = tuple(int(s) for s in header.get_data_shape())
    dtype = header.get_data_dtype()
    check_scalar_dtype(dtype, p)
    n_vox = int(np.prod(shape, dtype=np.float64)) if shape else 0
    if n_vox > MAX_VOXELS:
        raise VolumeError(f"{p}: the header announces {n_vox:.3g} voxels (shape {shape}), more "
                          f"than the {MAX_VOXELS:.3g} this app reads")
    need = int(header.get_data_offset()) + n_vox * dtype.itemsize
    if len(raw) < need:
        raise VolumeError(f"{p}: the file is truncated: the header announces {need} bytes, the "
                          f"file holds {len(raw)}")
    return img


def load_nifti(p: Path) -> Volume:
    img = read_nifti_checked(p)
    if len(img.shape) > 3 and any(s > 1 for s in img.shape[3:]):
        raise VolumeError(f"{p}: a 4D image (shape {img.shape}); only 2D or 3D images")
    check_affine(img.affine, p)
    meta = {"format": "nifti", **source_meta(img.affine)}
    img = nib.as_closest_canonical(img) if len(img.shape) >= 3 else img
    data = np.asanyarray(img.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim < 2:
        raise VolumeError(f"{p}: a {data.ndim}D array; expected a 2D or 3D image")
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    return Volume(np.ascontiguousarray(data), img.affine, meta)


def write_nifti(vol: Volume, tmp: Path) -> None:
    nib.save(nib.Nifti1Image(np.asarray(vol.data), vol.affine), str(tmp))
