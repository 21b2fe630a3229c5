"""Dice reports by label name for the CLI, benchmarks and model cards.

Built on `core.metrics_seg` (Dice per label id; mean over the labels present in the reference).
A label only the prediction has is listed as an extra (voxel count) and does not enter the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.metrics_seg import dice_per_label

CONVENTION = "Dice per label over the whole volume; mean over the labels present in the reference"


def dice_report(reference: np.ndarray, prediction: np.ndarray,
                table: LabelTable | None = None) -> dict[str, Any]:
    """Dice per label name for the labels in the reference, their mean and prediction-only labels.

    Returns:
        {"dice": {name: Dice}, "mean_dice": float (NaN for an empty reference),
         "labels_in_reference": [ids], "extra_labels": {name: voxels}, "convention": str}
    """
    table = table or default_label_table()
    reference, prediction = np.asarray(reference), np.asarray(prediction)
    if reference.shape != prediction.shape:
        raise ValueError(f"reference shape {reference.shape} does not match prediction shape "
                         f"{prediction.shape}")
    ref_ids = sorted(int(i) for i in np.unique(reference) if i > 0)
    pred_ids = sorted(int(i) for i in np.unique(prediction) if i > 0)
    per_id = dice_per_label(reference, prediction, ref_ids) if ref_ids else {}
    extra = {table.name_of(i): int((prediction == i).sum()) for i in pred_ids if i not in per_id}
    mean = float(np.mean(list(per_id.values()))) if per_id else float("nan")
    return {
        "dice": {table.name_of(i): round(float(d), 4) for i, d in per_id.items()},
        "mean_dice": round(mean, 4) if per_id else mean,
        "labels_in_reference": ref_ids,
        "extra_labels": extra,
        "convention": CONVENTION,
    }
