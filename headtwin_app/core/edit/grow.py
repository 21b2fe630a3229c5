"""Grow from seeds (3D Slicer's "Grow from seeds"): scribbles of one or more structures and of
background grow into a 3D segmentation of a box around them, with itk-growcut's FastGrowCut.

Seeds are an integer map on the image grid: 0 no seed, a label id 1-254 a seed of that
structure, `BACKGROUND_SEED` (255) background. Only the box around the seeds (their bounding box
plus `margin_mm`, clipped to the image) is computed; outside it the result is 0.

FastGrowCut costs about 1.6 µs a voxel for a first grow of a 128³ box (a Fibonacci heap over every
voxel) but re-grows from added seeds only in about 0.1 s (numbers in docs/benchmarks/grow.md),
so a `Grower` keeps state between calls: `preview` grows on a grid coarse enough for at most
`PREVIEW_VOXELS` voxels until a full-resolution `grow` exists, then updates that one; `grow`
(the result to accept) grows at full resolution, incrementally when seeds were only added.
The optional `Prior` adds the model's confident voxels as seeds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from headtwin_app.core.edit.growcut import GrowCut

BACKGROUND_SEED = 255
MAX_STRUCTURE_ID = 254
PREVIEW_VOXELS = 300_000  # a box above this is previewed on a coarser grid (about 0.2 s a grow)
Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Prior:
    """The model's class probabilities as extra seeds: channel c of `probabilities` (C, X, Y, Z,
    on the image grid) is label `label_ids[c]` (0 = background). `probabilities` is an array or
    anything indexed like one, e.g. `seg.prob_grid.ProbabilityGrid` (read only in the box)."""

    probabilities: Any
    label_ids: tuple[int, ...]
    threshold: float = 0.95
    erosion_voxels: int = 2

    def __post_init__(self) -> None:
        p = self.probabilities
        if p.ndim != 4 or p.shape[0] != len(self.label_ids):
            raise ValueError(f"prior probabilities of shape {p.shape} need one channel per label "
                             f"id ({len(self.label_ids)} ids): (C, X, Y, Z)")
        if len(set(self.label_ids)) != len(self.label_ids) or not all(
                0 <= int(i) <= MAX_STRUCTURE_ID for i in self.label_ids):
            raise ValueError(f"prior label ids {list(self.label_ids)} must be distinct, 0-254")
        if not 0.5 < self.threshold <= 1.0:
            raise ValueError(f"prior threshold {self.threshold} must be in (0.5, 1]")
        if self.erosion_voxels < 0:
            raise ValueError("prior erosion must be >= 0 voxels")


@dataclass
class GrowResult:
    """Labels of the box (int16, 0 = background), the box in the image, and what it took."""

    labels: np.ndarray
    box: Box
    seconds: float
    scale: int = 1  # 1 full resolution; 2 grown on a grid twice as coarse (a preview)
    incremental: bool = False  # re-grown from the new seeds only
    voxels: dict[int, int] = field(default_factory=dict)  # structure id -> voxels

    def __post_init__(self) -> None:
        if not self.voxels:
            counts = np.bincount(self.labels.ravel().astype(np.int64))
            self.voxels = {int(i): int(counts[i]) for i in np.flatnonzero(counts) if i > 0}

    def full(self, shape: Sequence[int]) -> np.ndarray:
        """The whole-image label map (int16): the box's labels inside the box, 0 outside."""
        out = np.zeros(tuple(shape), np.int16)
        out[self.box] = self.labels
        return out


def seed_box(seeds: np.ndarray, spacing: Sequence[float], margin_mm: float) -> Box:
    """Bounding box of all seeds (background ones too) plus `margin_mm`, clipped to the image;
    at least 3 voxels along each axis where the image has them."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(seeds.any(axis=other))
        if hit.size == 0:
            raise ValueError("no seeds: scribble a structure and the background first")
        pad = math.ceil(max(margin_mm, 0.0) / float(spacing[axis]) - 1e-9)
        n = seeds.shape[axis]
        lo, hi = max(int(hit[0]) - pad, 0), min(int(hit[-1]) + 1 + pad, n)
        while hi - lo < min(3, n):
            lo, hi = max(lo - 1, 0), min(hi + 1, n)
        box.append(slice(lo, hi))
    return (box[0], box[1], box[2])


def check_seeds(seeds: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """`seeds` as uint8, or a ValueError: wrong shape, not whole numbers, values beyond 0-255."""
    seeds = np.asarray(seeds)
    if seeds.shape != tuple(shape):
        raise ValueError(f"seeds of shape {seeds.shape} are not on the image grid {tuple(shape)}")
    if seeds.dtype.kind not in "biu":
        raise ValueError(f"seeds must be whole-number label ids, got {seeds.dtype}")
    if seeds.dtype != np.uint8 and seeds.size and (seeds.min() < 0 or seeds.max() > 255):
        raise ValueError(f"seed values must be 0-{MAX_STRUCTURE_ID} (structures) or "
                         f"{BACKGROUND_SEED} (background), got {seeds.min()}..{seeds.max()}")
    return seeds.astype(np.uint8, copy=False)


def prior_seeds(prior: Prior, box: Box, seeded_ids: Sequence[int]) -> np.ndarray:
    """Seeds from the prior inside `box` (uint8, box-shaped): a voxel whose probability for one
    channel is ≥ `threshold` and stays so after `erosion_voxels` of erosion becomes a seed of
    that channel's id when the user seeded that id, else a background seed (255) — background
    and every structure the user did not seed are "not what is being grown"."""
    out = np.zeros(tuple(s.stop - s.start for s in box), np.uint8)
    wanted = {int(i) for i in seeded_ids}
    for channel, lid in enumerate(prior.label_ids):
        sure = np.asarray(prior.probabilities[(channel, *box)]) >= prior.threshold
        if prior.erosion_voxels and sure.any():
            sure = ndimage.binary_erosion(sure, iterations=prior.erosion_voxels, border_value=1)
        out[sure] = int(lid) if int(lid) in wanted and lid != 0 else BACKGROUND_SEED
    return out


def _coarse_image(image: np.ndarray, scale: int) -> np.ndarray:
    """Block mean over scale³ voxels (the box padded at its far ends by repetition)."""
    pad = [(0, -n % scale) for n in image.shape]
    a = np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image
    x, y, z = (n // scale for n in a.shape)
    return a.reshape(x, scale, y, scale, z, scale).mean(axis=(1, 3, 5), dtype=np.float32)


def _coarse_seeds(seeds: np.ndarray, scale: int) -> np.ndarray:
    """A coarse voxel is seeded with the first seed met among its scale³ fine voxels."""
    shape = tuple(-(-n // scale) for n in seeds.shape)
    out = np.zeros(shape, np.uint8)
    for ox in range(scale):
        for oy in range(scale):
            for oz in range(scale):
                sub = seeds[ox::scale, oy::scale, oz::scale]
                view = out[:sub.shape[0], :sub.shape[1], :sub.shape[2]]
                np.copyto(view, sub, where=(view == 0) & (sub != 0))
    return out


def _upsample(labels: np.ndarray, scale: int, shape: Sequence[int]) -> np.ndarray:
    out = labels
    for axis in range(3):
        out = np.repeat(out, scale, axis=axis)
    return np.ascontiguousarray(out[: shape[0], : shape[1], : shape[2]])


def refine_band(image: np.ndarray, spacing: Sequence[float], coarse: np.ndarray,
                seeds: np.ndarray, width: int) -> np.ndarray:
    """Full-resolution labels from an upsampled coarse result: voxels within `width` of a label
    change are grown again from the user's seeds and the coarse labels just outside that band;
    the rest keep the coarse label."""
    size = 2 * width + 1
    band = ndimage.maximum_filter(coarse, size) != ndimage.minimum_filter(coarse, size)
    if not band.any():
        return coarse
    near = ndimage.binary_dilation(band, np.ones((3, 3, 3), bool))
    fixed = np.where(band, seeds, coarse)
    grown = GrowCut(image, spacing, mask=~near).run(fixed)
    return np.where(near, grown, coarse)


class Grower:
    """Grow from seeds on one image, keeping the box and the growcut state between calls so a
    re-grow after more scribbles is quick. `preview` while scribbling, `grow` to accept.

    The box only grows: new seeds inside the current box keep it, so a re-grow is incremental.
    `smoothing_mm` is the σ of a Gaussian applied to the box before growing (0: as it is)."""

    def __init__(self, image: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                 margin_mm: float = 10.0, prior: Prior | None = None,
                 smoothing_mm: float = 0.0, preview_voxels: int = PREVIEW_VOXELS) -> None:
        if image.ndim != 3:
            raise ValueError(f"grow needs a 3D image, got shape {image.shape}")
        if prior is not None and prior.probabilities.shape[1:] != image.shape:
            raise ValueError(f"prior probabilities {prior.probabilities.shape[1:]} are not on "
                             f"the image grid {image.shape}")
        self.image = image
        self.spacing = tuple(float(s) for s in spacing)
        self.margin_mm = float(margin_mm)
        self.prior = prior
        self.smoothing_mm = float(smoothing_mm)
        self.preview_voxels = int(preview_voxels)
        self.reset()

    def reset(self) -> None:
        """Forget the box and the growcut state (the next call starts over)."""
        self._box: Box | None = None
        self._box_image: np.ndarray | None = None
        self._levels: dict[int, GrowCut] = {}  # scale -> growcut on that grid
        self._last: dict[int, tuple[bytes, np.ndarray, bool]] = {}  # scale -> seeds, labels
        self._prior_seeds: dict[tuple[int, ...], np.ndarray] = {}  # seeded ids -> prior seeds

    @property
    def box(self) -> Box | None:
        return self._box

    def preview_scale(self, box: Box) -> int:
        """1, or how much coarser the preview grid is so it has at most `preview_voxels`."""
        n = math.prod(s.stop - s.start for s in box)
        return max(1, math.ceil((n / self.preview_voxels) ** (1 / 3) - 1e-9))

    def _use_box(self, seeds: np.ndarray) -> Box:
        want = seed_box(seeds, self.spacing, self.margin_mm)
        cur = self._box
        if cur is None or not all(c.start <= w.start and w.stop <= c.stop
                                  for c, w in zip(cur, want, strict=True)):
            if cur is not None:  # grow the box to hold both
                want = tuple(slice(min(c.start, w.start), max(c.stop, w.stop))  # type: ignore[assignment]
                             for c, w in zip(cur, want, strict=True))
            self.reset()
            self._box = want
            box_image = np.asarray(self.image[want], dtype=np.float32)
            if self.smoothing_mm > 0:
                sigma = [self.smoothing_mm / s for s in self.spacing]
                box_image = ndimage.gaussian_filter(box_image, sigma, mode="nearest")
            self._box_image = np.ascontiguousarray(box_image)
        assert self._box is not None
        return self._box

    def _box_seeds(self, seeds: np.ndarray, box: Box) -> np.ndarray:
        user = seeds[box]
        out = user.copy()
        if self.prior is not None:
            ids = tuple(int(i) for i in np.unique(user) if 0 < i < BACKGROUND_SEED)
            if ids not in self._prior_seeds:  # read and eroded once per box and structure set
                self._prior_seeds[ids] = prior_seeds(self.prior, box, ids)
            np.copyto(out, self._prior_seeds[ids], where=user == 0)
        kinds = np.unique(out)
        if (kinds[kinds > 0] < BACKGROUND_SEED).sum() == 0:
            raise ValueError("no structure seeds: scribble inside the structure to grow")
        if kinds[kinds > 0].size < 2:
            raise ValueError("seeds of one kind only: scribble the background (255) or a second "
                             "structure too, so there is something to grow against")
        return out

    def _run(self, seeds: np.ndarray, scale: int) -> GrowResult:
        """Grow on the grid `scale` times coarser than the image (1: the image's own)."""
        t0 = time.perf_counter()
        seeds = check_seeds(seeds, self.image.shape)
        box = self._use_box(seeds)
        fine = self._box_seeds(seeds, box)
        level_seeds = _coarse_seeds(fine, scale) if scale > 1 else fine
        if scale not in self._levels:
            assert self._box_image is not None
            image = _coarse_image(self._box_image, scale) if scale > 1 else self._box_image
            self._levels[scale] = GrowCut(image, [s * scale for s in self.spacing])
        key = level_seeds.tobytes()
        last = self._last.get(scale)
        if last is not None and last[0] == key:
            _, labels, incremental = last  # the same seeds as last time
        else:
            labels = self._levels[scale].run(level_seeds)
            incremental = self._levels[scale].incremental
            self._last[scale] = (key, labels, incremental)
        if scale > 1:
            labels = _upsample(labels, scale, fine.shape)
        return GrowResult(_as_labels(labels, fine), box, time.perf_counter() - t0, scale,
                          incremental)

    def preview(self, seeds: np.ndarray) -> GrowResult:
        """Quick labels for the current seeds. After a full-resolution `grow` in this box, when
        seeds were only added: a full-resolution incremental re-grow (about 0.1 s for 128³).
        Otherwise on a grid coarse enough for `preview_voxels` (the labels repeated back to full
        resolution), itself re-grown from the new seeds only when seeds were only added."""
        seeds = check_seeds(seeds, self.image.shape)
        box = self._use_box(seeds)
        full = self._levels.get(1)
        if full is not None and full.can_update(self._box_seeds(seeds, box)):
            return self._run(seeds, 1)
        return self._run(seeds, self.preview_scale(box))

    def grow(self, seeds: np.ndarray) -> GrowResult:
        """Full-resolution labels for the current seeds (the result to accept); a later call
        with seeds only added re-grows from the new ones."""
        return self._run(seeds, 1)

    def grow_from_preview(self, seeds: np.ndarray) -> GrowResult:
        """Faster, approximate full resolution: the coarse preview grown again only in a band
        of ±scale voxels around its boundaries (`refine_band`). Parts of thin structures that
        the coarse grid lost stay lost (see docs/benchmarks/grow.md)."""
        t0 = time.perf_counter()
        quick = self.preview(seeds)
        if quick.scale == 1:
            return quick
        fine = self._box_seeds(check_seeds(seeds, self.image.shape), quick.box)
        coarse = np.where(quick.labels == 0, BACKGROUND_SEED, quick.labels).astype(np.uint8)
        assert self._box_image is not None
        labels = refine_band(self._box_image, self.spacing, coarse, fine, quick.scale)
        return GrowResult(_as_labels(labels, fine), quick.box, time.perf_counter() - t0, 1,
                          quick.incremental)


def _as_labels(grown: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """int16 labels: seeds keep their value, background (255) becomes 0."""
    out = np.where(seeds != 0, seeds, grown).astype(np.int16)
    out[out == BACKGROUND_SEED] = 0
    return out


def grow_from_seeds(image: np.ndarray, seeds: np.ndarray,
                    spacing: Sequence[float] = (1.0, 1.0, 1.0), margin_mm: float = 10.0,
                    prior: Prior | None = None, smoothing_mm: float = 0.0) -> GrowResult:
    """One full-resolution grow (no state kept): `Grower(...).grow(seeds)`."""
    return Grower(image, spacing, margin_mm, prior, smoothing_mm).grow(seeds)
