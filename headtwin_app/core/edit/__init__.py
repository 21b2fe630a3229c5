"""Label-map editing tools for the labelling workspace: pure numpy/scipy, no Qt.

Every tool edits a C-contiguous integer label array in place and returns a sparse `LabelDiff`
(flat int32 indices, int16 old and new values) that `EditHistory` keeps for undo/redo.
"""

from headtwin_app.core.edit.brush import erase, line_voxels, paint, paint_offsets
from headtwin_app.core.edit.diff import LabelDiff, apply_change
from headtwin_app.core.edit.fill import flood_fill_slice
from headtwin_app.core.edit.history import EditHistory
from headtwin_app.core.edit.interpolate import annotated_slices, interpolate_slices
from headtwin_app.core.edit.islands import remove_islands
from headtwin_app.core.edit.proposal import accept_structure, proposal_changes, reject_structure
from headtwin_app.core.edit.rules import OverwriteRule

__all__ = [
    "EditHistory", "LabelDiff", "OverwriteRule", "accept_structure", "annotated_slices",
    "apply_change", "erase", "flood_fill_slice", "interpolate_slices", "line_voxels", "paint",
    "paint_offsets",
    "proposal_changes", "reject_structure", "remove_islands",
]
