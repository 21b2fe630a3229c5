"""Synthetic label-map helpers shared by the render tests (imported by conftest and tests)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def ball(shape: tuple[int, int, int], centre: tuple[float, float, float], radius: float
         ) -> np.ndarray:
    """Boolean ball of `radius` voxels around `centre` (voxel indices)."""
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2 < radius**2


def oblique_flipped_affine() -> np.ndarray:
    """Rotation × anisotropic scaling with one flipped axis (negative determinant) + offset."""
    a = np.eye(4)
    a[:3, :3] = Rotation.from_euler("xyz", [20, -30, 45], degrees=True).as_matrix() @ np.diag(
        [0.9, -1.1, 1.3])
    a[:3, 3] = [12.0, -30.0, 7.5]
    return a


