"""Segmentation overlap metrics: Dice per label and the mean over labels present in the reference.

Convention (design brief): Dice = 2|A∩B| / (|A|+|B|) per label id over the whole volume; the mean
is taken over the labels present in the reference. A label only the prediction has is reported as
an extra (it scores 0 against an empty reference) but does not enter the mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from headtwin_app.core.labels import LabelTable, default_label_table


def _check_pair(reference: np.ndarray, prediction: np.ndarray) -> None:
    if reference.shape != prediction.shape:
        raise ValueError(f"reference shape {tuple(reference.shape)} does not match prediction "
                         f"shape {tuple(prediction.shape)}")


def dice_per_label(reference: np.ndarray, prediction: np.ndarray,
                   labels: Iterable[int] | None = None) -> dict[int, float]:
    """Dice of each label id (default: every nonzero id in the reference).

    Args:
        reference: integer label map (the truth).
        prediction: integer label map on the same grid.
        labels: ids to score; a label absent from both maps scores 1.0 (nothing to miss).
    Returns:
        {label id: Dice in [0, 1]}.
    """
    _check_pair(reference, prediction)
    ref = np.asarray(reference).astype(np.int64, copy=False).ravel()
    pred = np.asarray(prediction).astype(np.int64, copy=False).ravel()
    ids = sorted(int(i) for i in (np.unique(ref[ref > 0]) if labels is None else labels))
    if not ids:
        return {}
    n = max(max(ids), int(ref.max(initial=0)), int(pred.max(initial=0))) + 1
    if min(int(ref.min(initial=0)), int(pred.min(initial=0))) < 0:
        raise ValueError("label maps must not hold negative ids")
    ref_count = np.bincount(ref, minlength=n)
    pred_count = np.bincount(pred, minlength=n)
    both = np.bincount(ref[ref == pred], minlength=n)
    out = {}
    for i in ids:
        denom = ref_count[i] + pred_count[i]
        out[i] = 1.0 if denom == 0 else float(2.0 * both[i] / denom)
    return out


def dice_report(reference: np.ndarray, prediction: np.ndarray,
                table: LabelTable | None = None) -> dict[str, Any]:
    """Dice per label name for the labels in the reference, their mean, and prediction-only labels.

    Returns:
        {"dice": {name: Dice}, "mean_dice": float (nan when the reference is empty),
         "labels_in_reference": [ids], "extra_labels": {name: voxels} (in prediction only),
         "convention": str}
    """
    table = table or default_label_table()
    _check_pair(reference, prediction)
    ref_ids = sorted(int(i) for i in np.unique(reference) if i > 0)
    pred_ids = sorted(int(i) for i in np.unique(prediction) if i > 0)
    per_id = dice_per_label(reference, prediction, ref_ids)
    extra = {table.name_of(i): int((prediction == i).sum()) for i in pred_ids if i not in per_id}
    mean = float(np.mean(list(per_id.values()))) if per_id else float("nan")
    return {
        "dice": {table.name_of(i): round(d, 4) for i, d in per_id.items()},
        "mean_dice": round(mean, 4) if per_id else mean,
        "labels_in_reference": ref_ids,
        "extra_labels": extra,
        "convention": "Dice per label over the whole volume; mean over labels in the reference",
    }
