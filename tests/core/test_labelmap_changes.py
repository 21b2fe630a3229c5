"""Which structures a labels edit touches (the twin re-meshes only those)."""

from __future__ import annotations

import numpy as np
import pytest

from headtwin_app.core.labelmap import changed_labels


def test_changed_and_touching_labels_only() -> None:
    old = np.zeros((10, 10, 10), np.int16)
    old[1:3, 1:3, 1:3] = 4
    old[3:5, 1:3, 1:3] = 5  # touches 4
    old[7:9, 7:9, 7:9] = 6  # far away
    new = old.copy()
    assert changed_labels(old, new) == []
    new[1, 1, 1] = 0
    assert changed_labels(old, new) == [4]
    new[4, 2, 2] = 4  # 4 grows into 5
    assert changed_labels(old, new) == [4, 5]
    new[7:9, 7:9, 7:9] = 0  # 6 erased
    assert changed_labels(old, new) == [4, 5, 6]
    with pytest.raises(ValueError, match="one grid"):
        changed_labels(old, new[:5])
