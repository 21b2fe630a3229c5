"""Dice per label and the named report against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.metrics_seg import dice_per_label
from headtwin_app.core.seg.evaluate import dice_report


def _maps() -> tuple[np.ndarray, np.ndarray]:
    ref = np.zeros((4, 4, 1), np.int16)
    pred = np.zeros_like(ref)
    ref[0, :4] = 1          # 4 voxels of label 1
    pred[0, :2] = 1         # 2 of them found -> Dice 2*2/(4+2) = 2/3
    ref[2, :2] = 4          # 2 voxels of label 4
    pred[2, :2] = 4
    pred[3, :2] = 4         # 2 extra -> Dice 2*2/(2+4) = 2/3
    ref[1, 0] = 8           # 1 voxel of label 8, missed -> 0
    pred[3, 3] = 12         # label only in the prediction
    return ref, pred


def test_dice_per_label_hand_values() -> None:
    ref, pred = _maps()
    d = dice_per_label(ref, pred, [1, 4, 8])
    assert set(d) == {1, 4, 8}
    assert d[1] == pytest.approx(2 / 3) and d[4] == pytest.approx(2 / 3) and d[8] == 0.0
    assert dice_per_label(ref, pred, [12])[12] == 0.0


def test_dice_report_names_and_mean() -> None:
    ref, pred = _maps()
    r = dice_report(ref, pred)
    assert r["dice"] == {"skull": 0.6667, "temporalis": 0.6667, "eyeballs": 0.0}
    assert r["mean_dice"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3, abs=1e-4)
    assert r["extra_labels"] == {"spinal_cord": 1}
    assert r["labels_in_reference"] == [1, 4, 8]


def test_dice_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        dice_per_label(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="does not match"):
        dice_report(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
