"""Label maps as every command takes them: whole-number ids from the label table, on a stated
voxel grid. One loader and one grid check instead of a copy per command."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from headtwin_app.core.edit.diff import present_labels
from headtwin_app.core.errors import UserError
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.volume import Volume

GRID_TOLERANCE = 1e-3
"""Two affines are one grid when no entry differs by more than this (mm for the translation,
mm per voxel for the axes)."""


def _shown(ids: Iterable[int], limit: int = 8) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:limit])) + (" …" if len(ids) > limit else "")


def label_array(data: np.ndarray, source: str, table: LabelTable | None = None,
                layers: Iterable[str] | None = None, allow_unknown: bool = False,
                allowed_extra: Iterable[int] = ()) -> np.ndarray:
    """`data` as a C-ordered int16/int32 label array, or a `UserError` naming `source`: values
    that are not whole numbers, negative ids, or ids that are not in the label table (or not in
    its `layers`) unless `allow_unknown`."""
    data = np.asarray(data)
    if data.dtype.kind == "f":
        if not np.isfinite(data).all():
            raise UserError(f"{source}: not a label map (it holds NaN or infinite values)")
        frac = data != np.round(data)
        if frac.any():
            example = float(data[frac].flat[0])
            raise UserError(f"{source}: not a label map (voxel values such as {example:g} are "
                            "not whole numbers)")
        if data.size and (data.max() > 2**31 - 1 or data.min() < -(2**31)):
            raise UserError(f"{source}: not a label map (values beyond the integer range)")
        data = data.astype(np.int32)
    elif data.dtype.kind == "b":
        data = data.astype(np.uint8)
    elif data.dtype.kind not in "iu":
        raise UserError(f"{source}: not a label map (voxels of type {data.dtype})")
    present = [int(v) for v in present_labels(data)]
    negative = [v for v in present if v < 0]
    if negative:
        raise UserError(f"{source}: not a label map (negative ids {_shown(negative)})")
    table = table if table is not None else default_label_table()
    known = {lab.id for lab in table if layers is None or lab.layer in set(layers)}
    known |= set(int(i) for i in allowed_extra)
    unknown = [v for v in present if v and v not in known]
    if unknown and not allow_unknown:
        where = "the label table" if layers is None else f"the {'/'.join(layers)} labels"
        raise UserError(f"{source}: label ids {_shown(unknown)} are not in {where} "
                        "(--allow-unknown-labels accepts them)")
    top = max(present, default=0)
    dtype = np.int16 if top < 2**15 else np.int32
    return np.ascontiguousarray(data, dtype=dtype)


def as_label_map(vol: Volume, source: str, **kwargs: object) -> Volume:
    """`vol` with its voxels checked and converted by `label_array`."""
    return vol.with_data(label_array(vol.data, source, **kwargs))  # type: ignore[arg-type]


def load_label_map(path: str | os.PathLike[str], allow_unknown: bool = False,
                   layers: Iterable[str] | None = None) -> Volume:
    """Read a label map file — any image format, a Slicer `.seg.nrrd` or a DICOM-SEG (their
    segments matched to our ids by name) — and check it with `label_array`."""
    from headtwin_app.core.io import load_volume
    from headtwin_app.core.segfile import read_segmentation

    vol = read_segmentation(path) if Path(path).is_file() else None
    vol = vol if vol is not None else load_volume(path)
    return as_label_map(vol, str(path), allow_unknown=allow_unknown, layers=layers)


def check_same_grid(ref: Volume, other: Volume, ref_name: str, other_name: str,
                    tolerance: float = GRID_TOLERANCE) -> None:
    """UserError unless `other` has `ref`'s shape and an affine within `tolerance`."""
    if other.shape != ref.shape:
        raise UserError(f"{other_name}: shape {other.shape} differs from {ref_name} "
                        f"{ref.shape}; both must be on one voxel grid")
    diff = float(np.abs(np.asarray(other.affine) - np.asarray(ref.affine)).max())
    if not diff <= tolerance:
        raise UserError(f"{other_name}: its affine differs from {ref_name}'s by up to {diff:.3g} "
                        f"(tolerance {tolerance:g}); both must be on one voxel grid (resample "
                        "one onto the other first)")


def changed_labels(old: np.ndarray, new: np.ndarray) -> list[int]:
    """Non-zero ids whose surface may differ between two label maps on one grid: those with a
    changed voxel, and those touching one (6-neighbourhood), whose boundary moved with it."""
    from scipy.ndimage import binary_dilation

    if old.shape != new.shape:
        raise ValueError(f"label maps of shapes {old.shape} and {new.shape} are not on one grid")
    diff = old != new
    if not diff.any():
        return []
    box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in np.nonzero(diff))
    near = binary_dilation(diff[box])
    ids = np.union1d(np.unique(old[box][near]), np.unique(new[box][near]))
    return [int(i) for i in ids if i != 0]
