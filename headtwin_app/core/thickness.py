"""Wall thickness of a structure from its voxels, for print-readiness checks: twice the distance
from the medial axis to the surface, measured at every skeleton voxel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def wall_thickness(mask: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Minimum, 5th percentile and median wall thickness in mm of a binary mask.

    At a skeleton voxel the Euclidean distance transform is the distance to the nearest
    background voxel centre; the surface lies half a voxel nearer, so thickness =
    2 × distance − voxel size (a one-voxel wall measures one voxel)."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    mask = np.asarray(mask, dtype=bool)
    boxes = ndimage.find_objects(mask.astype(np.int8))
    if not boxes or boxes[0] is None:
        raise ValueError("the structure has no voxels")
    crop = np.pad(mask[boxes[0]], 1)
    edt = ndimage.distance_transform_edt(crop, sampling=tuple(float(s) for s in spacing))
    skeleton = skeletonize(crop)
    values = 2.0 * edt[skeleton if skeleton.any() else crop] - float(min(spacing))
    return {"min_mm": round(float(values.min()), 2),
            "p5_mm": round(float(np.percentile(values, 5)), 2),
            "median_mm": round(float(np.median(values)), 2)}
