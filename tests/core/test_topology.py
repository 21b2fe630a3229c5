"""Well-composed masks: no two voxels meeting only along an edge, nothing removed."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from headtwin_app.core.topology import _checkerboards, well_composed


def _has_checkerboard(mask: np.ndarray) -> bool:
    return any(part.any() for a, b in ((0, 1), (0, 2), (1, 2))
               for part in _checkerboards(mask, a, b))


def test_edge_contact_is_joined() -> None:
    mask = np.zeros((4, 4, 3), bool)
    mask[1, 1, 1] = mask[2, 2, 1] = True  # touch along one edge only
    fixed, added = well_composed(mask)
    assert added == 1 and not _has_checkerboard(fixed) and (fixed >= mask).all()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(bool, st.tuples(st.integers(2, 7), st.integers(2, 7), st.integers(2, 7))))
def test_any_mask_becomes_well_composed(mask: np.ndarray) -> None:
    fixed, added = well_composed(mask)
    assert (fixed >= mask).all() and int(fixed.sum()) == int(mask.sum()) + added
    assert not _has_checkerboard(fixed)
