"""The head's outer form and its covering: the body outline is everything painted so far
(skull, muscles, neck, face bones) grown by the scalp thickness, united with face, nose, ear and
neck shapes and smoothed; unpainted voxels inside it become skin, subcutaneous fat or deep
soft tissue by their depth under the skin."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from headtwin_app.core.phantom.shapes import CANON_SHAPE, Canvas, rotation, upsample2
from headtwin_app.core.phantom.subject import Subject
from headtwin_app.core.phantom.tissues import CODE as T

STEP = 2.0  # the outline is made on a 2 mm grid (even canonical indices)


def _coarse_coords(cv: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    axes = []
    for ax in range(3):
        c = np.arange(0, cv.shape[ax], 2, dtype=np.float32) + cv.origin[ax]
        shp = [1, 1, 1]
        shp[ax] = -1
        axes.append(c.reshape(shp))
    return axes[0], axes[1], axes[2]


def _ellipsoid(x, y, z, c, r, rot=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    dx, dy, dz = x - c[0], y - c[1], z - c[2]
    if rot is not None:
        r_ = np.asarray(rot, dtype=np.float32)
        dx, dy, dz = (r_[0, 0] * dx + r_[1, 0] * dy + r_[2, 0] * dz,
                      r_[0, 1] * dx + r_[1, 1] * dy + r_[2, 1] * dz,
                      r_[0, 2] * dx + r_[1, 2] * dy + r_[2, 2] * dz)
    return (dx / r[0]) ** 2 + (dy / r[1]) ** 2 + (dz / r[2]) ** 2 < 1.0


def face_shapes(cv: Canvas, a: Subject) -> np.ndarray:
    """Boolean 2 mm mask of the face, nose, lips, chin, ears and neck."""
    x, y, z = _coarse_coords(cv)
    n = a.neck
    m = _ellipsoid(x, y, z, (0, 38, -64), (68, 56, 30))
    m |= _ellipsoid(x, y, z, (0, 32, -104), (58, 54, 40))
    m |= _ellipsoid(x, y, z, (0, 68, -134), (30, 22, 22))
    m |= _ellipsoid(x, y, z, (0, 83, -97), (27, 13, 14))
    m |= _ellipsoid(x, y, z, (0, 93, -58), (11, 19, 22), rotation(-28, 0, 0))
    m |= _ellipsoid(x, y, z, (0, 82, -32), (9, 8, 12))
    for s in (-1, 1):
        m |= _ellipsoid(x, y, z, (72 * s, -22, -44), (6, 13, 25), rotation(-10, 0, 0))
    neck = (((x / (52 * n)) ** 2 + ((y + 20) / (56 * n)) ** 2) < 1.0) & (z < -70)
    return m | neck


def fill_body(cv: Canvas, a: Subject, rng: np.random.Generator) -> None:
    """Paint air, skin, fat and deep soft tissue into every voxel not painted yet."""
    core = cv.tissue[::2, ::2, ::2] > 0
    grown = ndimage.distance_transform_edt(~core) * STEP <= a.scalp
    body2 = grown | face_shapes(cv, a)
    body2 = ndimage.gaussian_filter(body2.astype(np.float32), 1.5) > 0.5
    body2 = ndimage.binary_fill_holes(body2)
    depth2 = (ndimage.distance_transform_edt(body2) * STEP - 1.0).astype(np.float32)
    depth = upsample2(depth2, CANON_SHAPE)
    todo = cv.tissue == 0
    fat_t = 2.0 + 6.0 * a.fat
    w2 = ndimage.gaussian_filter(rng.standard_normal(depth2.shape).astype(np.float32), 3.0)
    w = upsample2(w2 / max(float(w2.std()), 1e-6), CANON_SHAPE)  # unit std, ~10 mm blobs
    d = depth + 1.5 * w
    tissue = np.where(d < 1.8, T["skin"], np.where(d < 1.8 + fat_t, T["fat"], T["soft"]))
    tissue = np.where(depth > 0, tissue, T["air"]).astype(np.uint8)
    cv.tissue[todo] = tissue[todo]
    # deep soft tissue varies by ±10 % in ~10 mm blobs (its mix of fat, fascia and muscle)
    soft = todo & (cv.tissue == T["soft"])
    cv.fraction[soft] = np.clip(1.0 + 0.1 * w[soft], 0.5, 1.5)
