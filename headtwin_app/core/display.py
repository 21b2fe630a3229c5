"""Display helpers that are pure numbers: default window/level of an image."""

from __future__ import annotations

import numpy as np


def auto_window(
    data: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5
) -> tuple[float, float]:
    """Intensity range (low, high) between two percentiles, sampled for speed on large volumes.

    Zero-valued background is ignored when it dominates so the head fills the grey range.
    """
    flat = np.asarray(data).ravel()
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 1_000_000]
    nonzero = flat[flat != 0]
    sample = nonzero if nonzero.size > 0.05 * flat.size else flat
    lo, hi = np.percentile(sample.astype(np.float64), [low_pct, high_pct])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)
