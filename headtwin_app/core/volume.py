"""The one image type every part of the app passes around: a 3D array plus its affine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class VolumeError(ValueError):
    """Bad input: the message is one line that names the file and the problem."""


@dataclass
class Volume:
    """A 3D image in RAS+ voxel order.

    Axis 0 runs left→right, axis 1 posterior→anterior, axis 2 inferior→superior.

    Args:
        data: the voxel array, shape (X, Y, Z); a 2D image is stored with Z = 1.
        affine: 4×4 voxel-to-world (RAS, millimetres) matrix, as in NIfTI.
        meta: free-form metadata (source path, format, modality, ...).
        kspace: raw complex k-space when the file carried it (fastMRI HDF5), else None.
    """

    data: np.ndarray
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    meta: dict[str, Any] = field(default_factory=dict)
    kspace: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise VolumeError(f"affine must be 4x4, got {self.affine.shape}")
        if self.data.ndim == 2:
            self.data = self.data[:, :, np.newaxis]
        if self.data.ndim != 3:
            raise VolumeError(f"a Volume is 3D, got an array of shape {self.data.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in millimetres along each array axis."""
        sp = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return tuple(float(s) for s in sp)  # type: ignore[return-value]

    @property
    def is_2d(self) -> bool:
        return self.data.shape[2] == 1

    def with_data(self, data: np.ndarray, **meta: Any) -> Volume:
        """A new Volume on the same grid (same affine) holding other voxels, e.g. a label map."""
        if data.shape[:3] != self.data.shape:
            raise VolumeError(f"shape {data.shape} does not match the grid {self.data.shape}")
        return Volume(data, self.affine.copy(), {**self.meta, **meta})

    @staticmethod
    def from_spacing(data: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                     origin: tuple[float, float, float] | None = None) -> Volume:
        """A Volume with an axis-aligned affine; by default the grid is centred on the origin."""
        data = data if data.ndim == 3 else data[:, :, np.newaxis]
        sp = np.asarray(spacing, dtype=float)
        if origin is None:
            origin = tuple(-(np.asarray(data.shape) - 1) / 2.0 * sp)
        affine = np.diag([*sp, 1.0])
        affine[:3, 3] = origin
        return Volume(data, affine)
