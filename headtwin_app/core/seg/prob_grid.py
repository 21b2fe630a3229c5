"""A model's coarse class probabilities seen as a (C, X, Y, Z) array on the image grid, upsampled
only where it is indexed: Grow from seeds reads the prior in one small box, and a whole 1 mm head
of 13 float32 channels (~0.9 GB) is never built."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


class ProbabilityGrid:
    """`coarse` (C, x, y, z) probabilities on a grid covering the same extent as `shape`; indexing
    `[c, box...]` interpolates trilinearly with the half-voxel convention of the built-in model's
    upsampling (`torch` trilinear, align_corners=False)."""

    def __init__(self, coarse: np.ndarray, shape: Sequence[int]):
        if coarse.ndim != 4:
            raise ValueError(f"coarse probabilities must be (C, x, y, z), got {coarse.shape}")
        self.coarse = np.asarray(coarse, dtype=np.float32)
        self.shape = (int(coarse.shape[0]), *(int(s) for s in shape))
        self.ndim = 4

    def __getitem__(self, key: tuple) -> np.ndarray:
        channel, *box = key
        if not isinstance(channel, (int, np.integer)) or len(box) != 3:
            raise IndexError("index a ProbabilityGrid as [channel, slice, slice, slice]")
        axes = []
        for sl, n, m in zip(box, self.shape[1:], self.coarse.shape[1:], strict=True):
            start, stop, step = sl.indices(n)
            if step != 1:
                raise IndexError("ProbabilityGrid slices must have step 1")
            axes.append((np.arange(start, stop) + 0.5) * (m / n) - 0.5)
        coords = np.meshgrid(*axes, indexing="ij")
        return ndimage.map_coordinates(self.coarse[int(channel)], coords, order=1,
                                       mode="nearest").astype(np.float32)
