"""Small synthetic label maps with known geometry for the render tests."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_maps import ball

from headtwin_app.core.volume import Volume


@pytest.fixture
def label_map() -> np.ndarray:
    """40×36×32 map: ball (1), shell around a core (4 around 22), box (5), rod (12), thin slab (9),
    and a box at the volume border (10)."""
    shape = (40, 36, 32)
    lab = np.zeros(shape, np.int16)
    lab[ball(shape, (10, 10, 10), 6)] = 1
    lab[ball(shape, (26, 20, 16), 9)] = 4
    lab[ball(shape, (26, 20, 16), 5)] = 22
    lab[3:12, 24:32, 20:28] = 5
    i, j, _ = np.ogrid[:40, :36, :32]
    lab[((i - 34) ** 2 + (j - 6) ** 2 < 5) & (np.arange(32) > 4)[None, None, :]
        & (np.arange(32) < 28)[None, None, :]] = 12
    lab[14:30, 30:33, 24:30] = 9
    lab[:4, :4, :4] = 10
    return lab


@pytest.fixture
def twin(label_map: np.ndarray) -> Volume:
    return Volume.from_spacing(label_map, (1.0, 1.2, 1.5))
