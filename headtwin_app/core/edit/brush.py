"""Paint brush and eraser: a 2D disc in one plane or a 3D sphere, spacing aware, with overwrite
rules and optional threshold limits (paint only where the image intensity is in [lo, hi])."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from headtwin_app.core.edit.diff import LabelDiff, apply_change, flat_view
from headtwin_app.core.edit.rules import PAINT_OVER_ALL, OverwriteRule


@lru_cache(maxsize=64)
def _offsets(radius: float, spacing: tuple[float, float, float],
             axis: int | None) -> np.ndarray:
    sp = np.asarray(spacing, dtype=float)
    unit = sp.min()
    # how many voxels the brush reaches along each axis
    reach = [int(np.floor(radius * unit / s + 1e-9)) for s in sp]
    if axis is not None:
        reach[axis] = 0
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    off = np.stack([g.ravel() for g in grids], axis=1)
    dist2 = (((off * sp) / unit) ** 2).sum(axis=1)
    out = off[dist2 <= radius * radius + 1e-9]
    out.setflags(write=False)
    return out


def paint_offsets(radius: float, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                  axis: int | None = None) -> np.ndarray:
    """Voxel offsets (n, 3) of a brush: a sphere (`axis` None) or a disc in the plane normal to
    `axis`. `radius` is in voxels of the finest axis; a voxel belongs to the brush when its
    physical distance from the centre is ≤ radius × min(spacing). Radius 0 is one voxel."""
    if radius < 0:
        raise ValueError(f"brush radius must be ≥ 0, got {radius}")
    if axis is not None and axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1, 2 or None, got {axis}")
    return _offsets(float(radius), tuple(float(s) for s in spacing), axis)


def brush_indices(shape: tuple[int, ...], center: tuple[int, int, int], radius: float,
                  spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                  axis: int | None = None) -> np.ndarray:
    """Flat indices of the brush voxels at `center` that lie inside an array of `shape`."""
    if len(center) != 3 or len(shape) != 3:
        raise ValueError("the brush works on 3D label arrays with a 3D centre")
    pts = paint_offsets(radius, spacing, axis) + np.asarray(center, dtype=np.int64)
    inside = np.all((pts >= 0) & (pts < np.asarray(shape)), axis=1)
    pts = pts[inside]
    return np.ravel_multi_index(pts.T, shape)


def _limit(labels: np.ndarray, idx: np.ndarray, value: int, rule: OverwriteRule,
           image: np.ndarray | None, threshold: tuple[float, float] | None) -> np.ndarray:
    """The subset of flat `idx` that the rule and the threshold allow to become `value`."""
    flat = flat_view(labels)
    keep = rule.editable(flat[idx], value)
    if threshold is not None:
        if image is None:
            raise ValueError("threshold-limited paint needs the image")
        if image.shape != labels.shape:
            raise ValueError(f"image shape {image.shape} does not match labels {labels.shape}")
        lo, hi = threshold
        if lo > hi:
            raise ValueError(f"threshold low {lo} is above high {hi}")
        image = np.asarray(image)
        vals = (image.reshape(-1)[idx] if image.flags.c_contiguous
                else image[np.unravel_index(idx, image.shape)])
        keep &= (vals >= lo) & (vals <= hi)
    return idx[keep]


def paint(labels: np.ndarray, center: tuple[int, int, int], radius: float, value: int,
          spacing: tuple[float, float, float] = (1.0, 1.0, 1.0), axis: int | None = None,
          rule: OverwriteRule = PAINT_OVER_ALL, image: np.ndarray | None = None,
          threshold: tuple[float, float] | None = None) -> LabelDiff:
    """One brush dab of `value` at voxel `center`, in place. `axis` None paints a 3D sphere, else
    a 2D disc in the slice through `center` normal to `axis`. With `threshold` = (lo, hi) only
    voxels whose `image` intensity is in [lo, hi] change. Returns the diff."""
    idx = brush_indices(labels.shape, center, radius, spacing, axis)
    idx = _limit(labels, idx, int(value), rule, image, threshold)
    return apply_change(labels, idx, int(value))


def erase(labels: np.ndarray, center: tuple[int, int, int], radius: float,
          spacing: tuple[float, float, float] = (1.0, 1.0, 1.0), axis: int | None = None,
          only: int | None = None) -> LabelDiff:
    """Set the brush voxels to background, in place; with `only` erase just that label."""
    rule = OverwriteRule("label", only) if only else PAINT_OVER_ALL
    return paint(labels, center, radius, 0, spacing, axis, rule)


def line_voxels(start: tuple[int, int, int], stop: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """Voxels on the straight segment from `start` to `stop` (both included, no repeats), so a
    fast mouse drag leaves no gaps between dabs."""
    a, b = np.asarray(start, dtype=float), np.asarray(stop, dtype=float)
    n = int(np.abs(b - a).max())
    if n == 0:
        return [tuple(int(x) for x in start)]
    pts = np.rint(a + (b - a) * (np.arange(n + 1)[:, None] / n)).astype(int)
    return [tuple(int(x) for x in p) for p in pts]
