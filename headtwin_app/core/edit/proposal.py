"""Stage 2 review: take or refuse a model proposal structure by structure, and count what the
annotator changed relative to the proposal."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from headtwin_app.core.edit.diff import LabelDiff, apply_change, present_labels


def _same_grid(labels: np.ndarray, proposal: np.ndarray) -> None:
    if labels.shape != proposal.shape:
        raise ValueError(f"proposal shape {proposal.shape} does not match labels {labels.shape}")


def accept_structure(labels: np.ndarray, proposal: np.ndarray, value: int) -> LabelDiff:
    """Make structure `value` in `labels` exactly the proposal's (it paints over other labels;
    voxels of `value` outside the proposal become background). In place; the diff."""
    _same_grid(labels, proposal)
    prop = proposal.reshape(-1) == value
    cur = labels.reshape(-1) == value
    take = np.flatnonzero(prop & ~cur)
    drop = np.flatnonzero(cur & ~prop)
    idx = np.concatenate([take, drop])
    vals = np.concatenate([np.full(take.size, value), np.zeros(drop.size, dtype=np.int64)])
    return apply_change(labels, idx, vals)


def reject_structure(labels: np.ndarray, proposal: np.ndarray, value: int) -> LabelDiff:
    """Refuse the proposal for `value`: voxels of `value` that came from the proposal (labelled
    `value` in both) become background; what the annotator painted outside it stays."""
    _same_grid(labels, proposal)
    idx = np.flatnonzero((labels.reshape(-1) == value) & (proposal.reshape(-1) == value))
    return apply_change(labels, idx, 0)


def proposal_changes(proposal: np.ndarray, labels: np.ndarray,
                     ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """Per label id: voxels `added` (in labels, not in the proposal) and `removed` (in the proposal,
    not in the labels). `ids` defaults to every non-zero id in either map."""
    _same_grid(labels, proposal)
    if ids is None:
        ids = [int(v) for v in np.union1d(present_labels(proposal), present_labels(labels))
               if v != 0]
    # voxels where the maps differ are exactly the added (labels side) and removed (proposal side)
    p, q = proposal.reshape(-1), labels.reshape(-1)
    diff = np.flatnonzero(p != q)
    added = np.bincount(q[diff].astype(np.int64)) if diff.size else np.zeros(1, np.int64)
    removed = np.bincount(p[diff].astype(np.int64)) if diff.size else np.zeros(1, np.int64)
    out = {}
    for lab in ids:
        lab = int(lab)
        out[lab] = {"added": int(added[lab]) if 0 <= lab < added.size else 0,
                    "removed": int(removed[lab]) if 0 <= lab < removed.size else 0}
    return out


def manual_voxels(labels: np.ndarray, proposal: np.ndarray, value: int) -> int:
    """Voxels of `value` the annotator painted outside the proposal's `value` (what a plain
    accept would throw away)."""
    _same_grid(labels, proposal)
    return int(np.count_nonzero((labels.reshape(-1) == value) & (proposal.reshape(-1) != value)))


def merge_structure(labels: np.ndarray, proposal: np.ndarray, value: int) -> LabelDiff:
    """Accept the proposal's `value` and keep the annotator's own voxels of it: the union. In
    place; the diff."""
    _same_grid(labels, proposal)
    take = np.flatnonzero((proposal.reshape(-1) == value) & (labels.reshape(-1) != value))
    return apply_change(labels, take, value)
