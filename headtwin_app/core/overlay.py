"""Label overlays for slice views: a label slice → RGBA through a colour lookup table, filled or
as outlines (ITK-SNAP's "outline mode"). Pure numpy, shared by every view that shows labels."""

from __future__ import annotations

import numpy as np


def outline_mask(sl: np.ndarray) -> np.ndarray:
    """True on labelled pixels that touch a pixel of another value (4-neighbours) or the edge."""
    sl = np.asarray(sl)
    edge = np.zeros(sl.shape, dtype=bool)
    d0 = sl[1:, :] != sl[:-1, :]
    d1 = sl[:, 1:] != sl[:, :-1]
    edge[1:, :] |= d0
    edge[:-1, :] |= d0
    edge[:, 1:] |= d1
    edge[:, :-1] |= d1
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    return edge & (sl != 0)


def label_rgba(sl: np.ndarray, lut: np.ndarray, outline: bool = False,
               out: np.ndarray | None = None) -> np.ndarray:
    """RGBA (h, w, 4) uint8 of a label slice coloured by `lut` (N×4 uint8; ids beyond it are
    transparent). With `outline` only boundary pixels are drawn, opaque where the label is
    visible. `out` is an optional preallocated buffer of the right shape."""
    sl = np.asarray(sl)
    n = len(lut)
    if sl.dtype.kind == "u" or (sl.size and sl.min() >= 0):
        idx = sl if (sl.size == 0 or sl.max() < n) else np.where(sl < n, sl, 0)
    else:
        idx = np.where((sl >= 0) & (sl < n), sl, 0)
    if outline:
        lut = lut.copy()
        lut[:, 3] = np.where(lut[:, 3] > 0, 255, 0)
        idx = np.where(outline_mask(sl), idx, 0)
    if out is None:
        return lut[idx]
    np.take(lut, idx, axis=0, out=out)
    return out
