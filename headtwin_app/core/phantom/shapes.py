"""Procedural shape primitives on the canonical (MNI-aligned, 1 mm) grid.

Shapes are signed distance functions (negative inside) evaluated only inside their bounding
box, so painting dozens of structures into a 13-million-voxel grid stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Canonical grid in MNI millimetres: x -100..100, y -130..125, z -195..100 (vertex to C7).
CANON_ORIGIN = (-100, -130, -195)
CANON_SHAPE = (201, 256, 296)

Vec = Sequence[float] | np.ndarray


def upsample2(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear ×2 upsampling of a grid sampled at even indices, cropped/padded to `shape`."""
    out = a
    for ax, n in enumerate(shape):
        m = out.shape[ax]
        up_shape = list(out.shape)
        up_shape[ax] = 2 * m - 1
        up = np.empty(up_shape, dtype=out.dtype)
        even = [slice(None)] * out.ndim
        even[ax] = slice(0, None, 2)
        up[tuple(even)] = out
        odd = [slice(None)] * out.ndim
        odd[ax] = slice(1, None, 2)
        lo = [slice(None)] * out.ndim
        lo[ax] = slice(0, m - 1)
        hi = [slice(None)] * out.ndim
        hi[ax] = slice(1, m)
        up[tuple(odd)] = 0.5 * (out[tuple(lo)] + out[tuple(hi)])
        if up.shape[ax] < n:  # pad by repeating the edge
            pad = [(0, 0)] * out.ndim
            pad[ax] = (0, n - up.shape[ax])
            up = np.pad(up, pad, mode="edge")
        crop = [slice(None)] * out.ndim
        crop[ax] = slice(0, n)
        out = up[tuple(crop)]
    return np.ascontiguousarray(out)


def rotation(ax_deg: float = 0.0, ay_deg: float = 0.0, az_deg: float = 0.0) -> np.ndarray:
    """Rotation matrix R = Rz @ Ry @ Rx (degrees about the x, y, z axes)."""
    a, b, c = np.radians([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class Region:
    """A bounding box of the canonical grid: its slices and broadcastable mm coordinates."""

    slices: tuple[slice, slice, slice]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.x.shape[0], self.y.shape[1], self.z.shape[2])

    def local(self, centre: Vec, rot: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates relative to `centre`, in the frame whose axes are the columns of `rot`."""
        dx, dy, dz = self.x - centre[0], self.y - centre[1], self.z - centre[2]
        if rot is None:
            return dx, dy, dz
        r = np.asarray(rot, dtype=np.float32)
        return (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
                r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
                r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz)


class Canvas:
    """The canonical head being built: a label map, a tissue-code map (0 = not yet painted; codes
    in `tissues.CODE`) and a signal fraction per voxel (1 = the tissue's full signal; less where
    a voxel mixes the tissue with signal-free bone, or for texture)."""

    def __init__(self) -> None:
        self.origin = np.asarray(CANON_ORIGIN, dtype=np.float32)
        self.shape = CANON_SHAPE
        self.label = np.zeros(CANON_SHAPE, dtype=np.uint8)
        self.tissue = np.zeros(CANON_SHAPE, dtype=np.uint8)
        self.fraction = np.ones(CANON_SHAPE, dtype=np.float32)

    def region(self, lo: Vec, hi: Vec) -> Region | None:
        """The part of the grid inside the box [lo, hi] (mm); None if it misses the grid."""
        sl, coords = [], []
        for ax in range(3):
            i0 = max(0, int(np.floor(lo[ax] - self.origin[ax])))
            i1 = min(self.shape[ax], int(np.ceil(hi[ax] - self.origin[ax])) + 1)
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
            c = (np.arange(i0, i1, dtype=np.float32) + self.origin[ax])
            shp = [1, 1, 1]
            shp[ax] = -1
            coords.append(c.reshape(shp))
        return Region((sl[0], sl[1], sl[2]), coords[0], coords[1], coords[2])

    def around(self, centre: Vec, half: Vec | float) -> Region | None:
        h = np.broadcast_to(np.asarray(half, dtype=float), (3,))
        c = np.asarray(centre, dtype=float)
        return self.region(c - h, c + h)

    def paint(self, reg: Region | None, mask: np.ndarray, label: int | None,
              tissue: int | np.ndarray, fraction: float | np.ndarray = 1.0) -> None:
        """Set label (None = keep), tissue code and signal fraction where `mask` is true."""
        if reg is None:
            return
        mask = np.broadcast_to(mask, reg.shape)
        if label is not None:
            self.label[reg.slices][mask] = label
        for arr, value in ((self.tissue, tissue), (self.fraction, fraction)):
            if np.ndim(value) == 0:
                arr[reg.slices][mask] = value
            else:
                arr[reg.slices][mask] = np.broadcast_to(value, reg.shape)[mask]


def ellipsoid_sd(reg: Region, centre: Vec, radii: Vec, rot: np.ndarray | None = None
                 ) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid; exact for spheres."""
    u, v, w = reg.local(centre, rot)
    k = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (w / radii[2]) ** 2)
    return ((k - 1.0) * min(radii)).astype(np.float32)


def capsule_sd(reg: Region, a: Vec, b: Vec, radius: float) -> np.ndarray:
    """Signed distance to the segment a–b thickened by `radius`."""
    ab = np.asarray(b, dtype=np.float32) - np.asarray(a, dtype=np.float32)
    dx, dy, dz = reg.local(a)
    t = np.clip((dx * ab[0] + dy * ab[1] + dz * ab[2]) / float(ab @ ab), 0.0, 1.0)
    d = np.sqrt((dx - t * ab[0]) ** 2 + (dy - t * ab[1]) ** 2 + (dz - t * ab[2]) ** 2)
    return (d - radius).astype(np.float32)


def box_sd(reg: Region, centre: Vec, half: Vec, rot: np.ndarray | None = None,
           rounding: float = 0.0) -> np.ndarray:
    """Signed distance to a (rounded) box with half-extents `half` in the frame `rot`."""
    u, v, w = reg.local(centre, rot)
    qx = np.abs(u) - (half[0] - rounding)
    qy = np.abs(v) - (half[1] - rounding)
    qz = np.abs(w) - (half[2] - rounding)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
    inside = np.minimum(np.maximum(qx, np.maximum(qy, qz)), 0)
    return (outside + inside - rounding).astype(np.float32)


def polyline_bounds(points: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, dtype=float)
    return pts.min(axis=0) - margin, pts.max(axis=0) + margin


def tube_sd(reg: Region, points: np.ndarray, radius: float | Sequence[float] | np.ndarray
            ) -> np.ndarray:
    """Signed distance to a chain of capsules through `points` (radius per point or one)."""
    pts = np.asarray(points, dtype=float)
    rad = np.broadcast_to(np.asarray(radius, dtype=float), (len(pts),))
    sd = np.full(reg.shape, np.inf, dtype=np.float32)
    for i in range(len(pts) - 1):
        sd = np.minimum(sd, capsule_sd(reg, pts[i], pts[i + 1], 0.5 * (rad[i] + rad[i + 1])))
    return sd
