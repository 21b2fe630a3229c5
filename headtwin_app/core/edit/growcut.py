"""One `itk.FastGrowCut` filter (the itk-growcut package, 3D Slicer's "Grow from seeds") on a
fixed image box, kept so that a later run with more seeds only re-grows from the new ones.

FastGrowCut is a shortest-path (Dijkstra) labelling: every voxel takes the label of the seed it
reaches most cheaply, a path costing the sum of |intensity steps| over its 26-neighbour steps.
Numpy arrays here are (X, Y, Z); they are handed to ITK without a copy, so ITK sees them as
(z, y, x) = our (Z, Y, X) and gets the spacing reversed to match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_PAD = 1  # FastGrowCut never grows out of a box-border voxel: pad so seeds there still grow


def _itk_image(array: np.ndarray, spacing: Sequence[float]) -> Any:
    import itk

    image = itk.image_view_from_array(array)
    image.SetSpacing([float(s) for s in spacing[::-1]])
    return image


class GrowCut:
    """FastGrowCut on one image box; `run(seeds)` labels every voxel with a seed's value.

    Seeds are uint8 (0 = none). When every seed of the previous run is still there with the same
    value, the filter's distance map is reused and only the new seeds grow (incremental update);
    otherwise it starts over. `mask` (True = left out: never labelled, 0 in the result, and
    not crossed) keeps the work to the voxels that are not masked."""

    def __init__(self, image: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                 mask: np.ndarray | None = None) -> None:
        import itk

        if image.ndim != 3 or min(image.shape) < 1:
            raise ValueError(f"growcut needs a 3D image box, got shape {image.shape}")
        if mask is not None and mask.shape != image.shape:
            raise ValueError(f"mask {mask.shape} does not match the growcut box {image.shape}")
        self.shape = image.shape
        self._image = np.pad(np.asarray(image, dtype=np.float32), _PAD, mode="edge")
        self._seeds = np.zeros(self._image.shape, np.uint8)
        self._image_itk = _itk_image(self._image, spacing)
        self._seeds_itk = _itk_image(self._seeds, spacing)
        self._filter = itk.FastGrowCut[type(self._image_itk), type(self._seeds_itk)].New()
        self._filter.SetInput(self._image_itk)
        self._filter.SetSeedImage(self._seeds_itk)
        if mask is not None:
            self._mask = np.pad(np.asarray(mask, dtype=np.uint8), _PAD)
            self._filter.SetMaskImage(_itk_image(self._mask, spacing))
        self._last: np.ndarray | None = None
        self.incremental = False  # whether the last run reused the previous distance map

    def can_update(self, seeds: np.ndarray) -> bool:
        """Whether `run(seeds)` would re-grow from new seeds only: every seed of the last run is
        still there with its value."""
        old = self._last
        return old is not None and bool(np.array_equal(seeds[old != 0], old[old != 0]))

    def run(self, seeds: np.ndarray) -> np.ndarray:
        """uint8 labels of the box (a copy): each voxel the value of the seed it is closest to."""
        import itk

        if seeds.shape != self.shape:
            raise ValueError(f"seeds {seeds.shape} do not match the growcut box {self.shape}")
        seeds = np.asarray(seeds, dtype=np.uint8)
        self.incremental = self.can_update(seeds)
        if not self.incremental:
            self._filter.Reset()
        inner = (slice(_PAD, -_PAD),) * 3
        self._seeds[inner] = seeds
        self._seeds_itk.Modified()
        self._filter.Update()
        self._last = seeds.copy()
        return np.array(itk.array_view_from_image(self._filter.GetOutput())[inner])
