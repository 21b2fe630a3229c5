"""Segmentation agreement metrics (docs/design.md, "Metrics"): Dice per label, and the mean over
the labels present in the reference."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def dice_per_label(reference: np.ndarray, prediction: np.ndarray,
                   labels: Iterable[int] | None = None) -> dict[int, float]:
    """Dice 2|A∩B|/(|A|+|B|) per label id. `labels` defaults to every non-zero id in either map;
    a label absent from both gets NaN (undefined, left out of means)."""
    reference, prediction = np.asarray(reference), np.asarray(prediction)
    if reference.shape != prediction.shape:
        raise ValueError(f"label maps differ in shape: {reference.shape} vs {prediction.shape}")
    r = reference.reshape(-1).astype(np.int64)
    p = prediction.reshape(-1).astype(np.int64)
    if r.size and (r.min() < 0 or p.min() < 0):
        raise ValueError("label maps must not hold negative ids")
    m = int(max(r.max(initial=0), p.max(initial=0))) + 1
    ref_count = np.bincount(r, minlength=m)
    pred_count = np.bincount(p, minlength=m)
    both = np.bincount(r[r == p], minlength=m)
    if labels is None:
        labels = [i for i in range(1, m) if ref_count[i] or pred_count[i]]
    out: dict[int, float] = {}
    for lab in labels:
        lab = int(lab)
        if lab >= m:
            out[lab] = math.nan
            continue
        denom = int(ref_count[lab] + pred_count[lab])
        out[lab] = math.nan if denom == 0 else 2.0 * int(both[lab]) / denom
    return out


def mean_dice(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Mean Dice over the labels present in the reference (NaN when the reference is empty)."""
    present = [int(v) for v in np.unique(reference) if v != 0]
    if not present:
        return math.nan
    scores = dice_per_label(reference, prediction, present)
    return float(np.mean([scores[i] for i in present]))
