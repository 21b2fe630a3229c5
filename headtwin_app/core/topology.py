"""Binary masks whose boundary is a 2-manifold: voxels added until no two voxels of the mask meet
only along an edge.

A surface built around voxels (surface nets, marching cubes) has a non-manifold edge wherever the
four voxels around a grid edge form a checkerboard — two of the mask on one diagonal, two of the
background on the other: four faces then share that edge. Filling one background voxel of every
such square removes the configuration (Latecki's "well-composed" images, critical configuration
C1); filling can create new ones nearby, so it repeats until none is left. Corner-only contacts
(C2) give non-manifold vertices but no non-manifold edge, and are left alone.
"""

from __future__ import annotations

import numpy as np

MAX_ROUNDS = 20


def _checkerboards(mask: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """For the 2×2 squares spanned by axes a and b: where the mask holds exactly one diagonal.
    Returns (diag, anti): boolean arrays over the squares' first corners."""
    def part(da: int, db: int) -> np.ndarray:
        index = [slice(None)] * 3
        index[a] = slice(da, mask.shape[a] - 1 + da)
        index[b] = slice(db, mask.shape[b] - 1 + db)
        return mask[tuple(index)]

    m00, m11, m01, m10 = part(0, 0), part(1, 1), part(0, 1), part(1, 0)
    return m00 & m11 & ~m01 & ~m10, m01 & m10 & ~m00 & ~m11


def well_composed(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """A copy of `mask` with voxels added until it holds no edge-only contact (see module);
    returns (mask, voxels added)."""
    out = np.asarray(mask, dtype=bool).copy()
    added = 0
    for _ in range(MAX_ROUNDS):
        changed = 0
        for a, b in ((0, 1), (0, 2), (1, 2)):
            diag, anti = _checkerboards(out, a, b)
            for found, (da, db) in ((diag, (0, 1)), (anti, (0, 0))):
                if not found.any():
                    continue
                # fill the square's background corner (da, db): the two mask voxels are then
                # joined through a face
                idx = list(np.nonzero(found))
                idx[a] = idx[a] + da
                idx[b] = idx[b] + db
                target = tuple(idx)
                new = ~out[target]
                out[target] = True
                changed += int(new.sum())
        added += changed
        if not changed:
            return out, added
    return out, added
