"""A robot annotator for Grow from seeds: a few short scribbles inside a structure and a
background ring around it, made from the phantom's truth the way a person would place them.

Inside: for each connected component (of at least `MIN_COMPONENT` voxels), `SLICES` axial
slices at the 25/50/75 % points of its interior's extent; on each, for each of its (up to three
largest) cross-sections, a short line through the section's deepest interior voxel (the in-plane
point furthest from the edge) along the section's long axis, kept to voxels at least `INSET_MM`
inside the structure. At most
`MAX_SEEDS` structure seed voxels in all. Background: the voxels `RING_MM` outside the
structure (a shell one voxel thick; `ring="slices"` keeps only the shell on the scribbled
slices, the way a person rings the structure on the slices they scribble).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

MAX_SEEDS = 30
SLICES = 3
MIN_COMPONENT = 200
MIN_SECTION = 10  # pixels of a slice's interior cross-section worth a scribble
INSET_MM = 2.0
RING_MM = (5.0, 6.0)
BACKGROUND_SEED = 255


def _line(interior: np.ndarray, depth: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Up to `budget` pixels of a straight line through the deepest interior pixel of a 2D
    slice, along the principal axis of the interior pixels."""
    ys, xs = np.nonzero(interior)
    if ys.size == 0 or budget <= 0:
        return []
    centre = np.unravel_index(int(np.argmax(np.where(interior, depth, -1))), interior.shape)
    if ys.size > 2:
        cov = np.cov(np.stack([ys, xs]).astype(float))
        direction = np.linalg.eigh(cov)[1][:, -1]
    else:
        direction = np.array([1.0, 0.0])
    points: list[tuple[int, int]] = []
    for k in sorted(range(-budget, budget + 1), key=abs):
        p = (int(round(centre[0] + k * direction[0])), int(round(centre[1] + k * direction[1])))
        inside = 0 <= p[0] < interior.shape[0] and 0 <= p[1] < interior.shape[1]
        if inside and interior[p] and p not in points:
            points.append(p)
        if len(points) >= budget:
            break
    return points


def robot_seeds(truth: np.ndarray, label: int, spacing: Sequence[float],
                ring: str = "shell", ring_mm: tuple[float, float] = RING_MM) -> np.ndarray:
    """uint8 seeds for structure `label` of the label map `truth`: `label` inside, 255 ring."""
    mask = truth == label
    seeds = np.zeros(truth.shape, np.uint8)
    depth = ndimage.distance_transform_edt(mask, sampling=spacing)
    comps, n = ndimage.label(mask)
    sizes = np.bincount(comps.ravel())
    keep = [c for c in range(1, n + 1) if sizes[c] >= MIN_COMPONENT]
    if not keep:
        raise ValueError(f"label {label}: no component of at least {MIN_COMPONENT} voxels")
    per_scribble = MAX_SEEDS // (len(keep) * SLICES)
    slices_used: set[int] = set()
    for c in keep:
        comp = comps == c
        inset = INSET_MM
        interior = comp & (depth >= inset)
        while interior.sum() < 20 and inset > 0.5:  # thin parts: take what interior there is
            inset /= 2
            interior = comp & (depth >= inset)
        zs = np.flatnonzero(interior.any(axis=(0, 1)))
        for q in (0.25, 0.5, 0.75)[:SLICES]:
            z = int(zs[int(round(q * (zs.size - 1)))])
            # one scribble on each cross-section the slice shows (e.g. both rami of a mandible)
            parts, m = ndimage.label(interior[:, :, z])
            sizes2d = np.bincount(parts.ravel())[1:]
            shown = [i + 1 for i in np.argsort(sizes2d)[::-1] if sizes2d[i] >= MIN_SECTION][:3]
            shown = shown or [1 + int(np.argmax(sizes2d))]
            for part in shown:
                budget = max(per_scribble // len(shown), 2)
                for p in _line(parts == part, depth[:, :, z], budget):
                    seeds[p[0], p[1], z] = label
            slices_used.add(z)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
    shell = (outside > ring_mm[0]) & (outside <= ring_mm[1])
    if ring == "slices":
        on = np.zeros(truth.shape[2], bool)
        on[sorted(slices_used)] = True
        shell &= on[None, None, :]
    elif ring != "shell":
        raise ValueError(f"ring must be 'shell' or 'slices', got {ring!r}")
    seeds[shell] = BACKGROUND_SEED
    return seeds


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total
