"""Sparse label diffs: what one edit changed, small enough to keep 50+ of them for undo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INDEX_DTYPE = np.int32
VALUE_DTYPE = np.int16
_MAX_INDEX = np.iinfo(INDEX_DTYPE).max


@dataclass(frozen=True)
class LabelDiff:
    """The voxels one edit changed: flat indices into the label array and the values before and
    after. Indices are unique and every entry really changes (old != new)."""

    indices: np.ndarray  # int32, flat (C order) indices
    old: np.ndarray  # int16
    new: np.ndarray  # int16

    @staticmethod
    def empty() -> LabelDiff:
        return LabelDiff(np.empty(0, INDEX_DTYPE), np.empty(0, VALUE_DTYPE),
                         np.empty(0, VALUE_DTYPE))

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.old.nbytes + self.new.nbytes)

    def inverse(self) -> LabelDiff:
        return LabelDiff(self.indices, self.new, self.old)

    def apply(self, labels: np.ndarray) -> None:
        """Write `new` at `indices` (redo)."""
        flat_view(labels)[self.indices] = self.new

    def revert(self, labels: np.ndarray) -> None:
        """Write `old` at `indices` (undo)."""
        flat_view(labels)[self.indices] = self.old

    def added_removed(self) -> dict[int, tuple[int, int]]:
        """Per label id: (voxels that became this label, voxels that stopped being it)."""
        out: dict[int, tuple[int, int]] = {}
        for lab in np.union1d(np.unique(self.old), np.unique(self.new)):
            lab = int(lab)
            if lab == 0:
                continue
            out[lab] = (int(np.count_nonzero(self.new == lab)),
                        int(np.count_nonzero(self.old == lab)))
        return out

    def labels_touched(self) -> set[int]:
        return {int(v) for v in np.union1d(self.old, self.new) if v != 0}

    @staticmethod
    def merge(diffs: list[LabelDiff]) -> LabelDiff:
        """One diff equivalent to applying `diffs` in order (first old value, last new value per
        voxel; voxels that end where they started are dropped)."""
        diffs = [d for d in diffs if len(d)]
        if not diffs:
            return LabelDiff.empty()
        if len(diffs) == 1:
            return diffs[0]
        idx = np.concatenate([d.indices for d in diffs])
        old = np.concatenate([d.old for d in diffs])
        new = np.concatenate([d.new for d in diffs])
        uniq, first = np.unique(idx, return_index=True)
        _, last_rev = np.unique(idx[::-1], return_index=True)
        last = idx.size - 1 - last_rev
        o, n = old[first], new[last]
        keep = o != n
        return LabelDiff(uniq[keep].astype(INDEX_DTYPE), o[keep], n[keep])


def flat_view(labels: np.ndarray) -> np.ndarray:
    """A flat view of `labels` that writes through; a ValueError if that is impossible."""
    if not labels.flags.c_contiguous:
        raise ValueError("label arrays must be C-contiguous to be edited in place")
    if labels.size > _MAX_INDEX:
        raise ValueError(f"label array of {labels.size} voxels is too large for int32 indices")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"label arrays must hold integers, got {labels.dtype}")
    return labels.reshape(-1)


def apply_change(labels: np.ndarray, indices: np.ndarray, value: int | np.ndarray) -> LabelDiff:
    """Set flat `indices` of `labels` to `value` in place; return the diff of what changed."""
    flat = flat_view(labels)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    values = np.broadcast_to(np.asarray(value), indices.shape)
    if indices.size and values.size and (values.min() < np.iinfo(VALUE_DTYPE).min
                                         or values.max() > np.iinfo(VALUE_DTYPE).max):
        raise ValueError("label values must fit in int16")
    old = flat[indices]
    changed = old != values
    if not changed.any():
        return LabelDiff.empty()
    indices, old, values = indices[changed], old[changed], values[changed]
    indices, first = np.unique(indices, return_index=True)
    old, values = old[first], values[first]
    flat[indices] = values
    return LabelDiff(indices.astype(INDEX_DTYPE), old.astype(VALUE_DTYPE),
                     np.asarray(values, dtype=VALUE_DTYPE))


def present_labels(data: np.ndarray) -> np.ndarray:
    """The distinct values of an integer-valued label array, sorted (a histogram when the value
    range is small, much faster than np.unique's sort on a whole volume; any memory order)."""
    data = np.asarray(data)
    if data.size == 0:
        return np.empty(0, np.int64)
    lo, hi = int(data.min()), int(data.max())
    if data.dtype.kind in "iub" and hi - lo < 65536:
        flat = data.ravel(order="K")  # no copy, whatever the memory order
        if lo >= 0 and hi < 256 and data.dtype.itemsize == 2 and flat.flags.c_contiguous \
                and data.dtype.byteorder in ("=", "<") and np.little_endian:
            flat = flat.view(np.uint8)[::2]  # the low bytes hold the values: a smaller histogram
        if lo >= 0:
            return np.flatnonzero(np.bincount(flat, minlength=hi + 1))
        return np.flatnonzero(np.bincount(flat.astype(np.int32) - lo)) + lo
    return np.unique(data).astype(np.int64)


def c_order(data: np.ndarray, dtype: np.dtype | type | None = None, tile: int = 32) -> np.ndarray:
    """A C-contiguous copy of a 3D array (no copy when it already is one, with `dtype`). NIfTI
    volumes arrive in Fortran order; copying them tile by tile keeps both sides in cache and is
    about three times faster than `np.ascontiguousarray` on a 256³ volume."""
    data = np.asarray(data)
    dtype = np.dtype(dtype) if dtype is not None else data.dtype
    if data.flags.c_contiguous and data.dtype == dtype:
        return data
    if data.ndim != 3 or not data.flags.f_contiguous:
        return np.ascontiguousarray(data, dtype=dtype)
    out = np.empty(data.shape, dtype=dtype)
    nx, _ny, nz = data.shape
    for i in range(0, nx, tile):
        for k in range(0, nz, tile):
            out[i:i + tile, :, k:k + tile] = data[i:i + tile, :, k:k + tile]
    return out
