"""The editing logic behind the labelling workspace (the "Logic" half of a Slicer-style module):
one case's label array, the active tool and its settings, strokes, undo/redo, proposal review.

The widget forwards mouse strokes and buttons here and redraws what the returned diffs touched;
everything numeric happens in this class and the tool functions it calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from headtwin_app.core.edit.brush import line_voxels, paint
from headtwin_app.core.edit.diff import LabelDiff, apply_change, present_labels
from headtwin_app.core.edit.fill import flood_fill_slice
from headtwin_app.core.edit.history import EditHistory, Step
from headtwin_app.core.edit.interpolate import interpolate_slices
from headtwin_app.core.edit.islands import remove_islands
from headtwin_app.core.edit.proposal import (
    accept_structure,
    manual_voxels,
    merge_structure,
    proposal_changes,
    reject_structure,
)
from headtwin_app.core.edit.rules import OverwriteRule
from headtwin_app.core.labels import LabelTable, default_label_table
from headtwin_app.core.metrics_seg import dice_per_label
from headtwin_app.core.volume import Volume

TOOLS = ("navigate", "brush2d", "brush3d", "eraser", "fill", "threshold", "seed")
STROKE_TOOLS = ("brush2d", "brush3d", "eraser", "threshold")
BACKGROUND_SEED = 255  # a seed of "not any structure" in the seed map (as `headtwin grow`)


@dataclass
class ToolSettings:
    """What the tool bar and side panel set: tool, active label, brush radius (voxels of the
    finest axis), overwrite rule, intensity range for threshold paint and fill."""

    tool: str = "navigate"
    label: int = 1
    radius: float = 3.0
    rule: OverwriteRule = field(default_factory=OverwriteRule)
    threshold: tuple[float, float] = (0.0, 1.0)
    fill_threshold: bool = False
    seed_background: bool = False  # the seed tool paints background seeds

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise ValueError(f"unknown tool '{self.tool}' (choose from {', '.join(TOOLS)})")


class LabellingSession:
    """One case being labelled: `labels` (int16, C-contiguous, edited in place), `history`,
    the model `proposal` and `reference` (if any), and the tool `settings`."""

    def __init__(self, image: Volume, labels: np.ndarray | None = None,
                 table: LabelTable | None = None, proposal: np.ndarray | None = None,
                 reference: np.ndarray | None = None, history_steps: int = 100):
        self.image = image
        self.table = table if table is not None else default_label_table()
        if labels is None:
            labels = np.zeros(image.shape, dtype=np.int16)
        if labels.shape != image.shape:
            raise ValueError(f"label map shape {labels.shape} does not match image {image.shape}")
        self.labels = np.ascontiguousarray(labels, dtype=np.int16)
        for extra, what in ((proposal, "proposal"), (reference, "reference")):
            if extra is not None and extra.shape != image.shape:
                raise ValueError(f"{what} shape {extra.shape} does not match image {image.shape}")
        self.proposal: np.ndarray | None = None
        self.set_proposal(proposal)
        self.reference = reference
        self.history = EditHistory(history_steps)
        self.settings = ToolSettings()
        self.dirty = False  # edited since the last save
        self.unsaved_since_autosave = False
        self._last: tuple[int, int, int] | None = None
        self._axis: int | None = None
        self.seeds: np.ndarray | None = None  # grow-from-seeds scribbles (0 none, 255 background)
        self._seeding = False

    @property
    def volume(self) -> Volume:
        """The labels as a Volume on the image grid (shares the array)."""
        return Volume(self.labels, self.image.affine.copy(), {"kind": "labels"})

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.image.spacing

    def _touched(self, diff: LabelDiff) -> None:
        if len(diff):
            self.dirty = True
            self.unsaved_since_autosave = True

    # --- strokes --------------------------------------------------------------------------------
    @property
    def stroking(self) -> bool:
        """A brush or seed stroke is under way (mouse down)."""
        return self.history.in_stroke or self._seeding

    def clear_seeds(self) -> None:
        self.seeds = None

    def _dab(self, voxel: tuple[int, int, int]) -> LabelDiff:
        s = self.settings
        axis = None if s.tool == "brush3d" else self._axis
        if s.tool == "seed":
            if self.seeds is None:
                self.seeds = np.zeros(self.labels.shape, np.int16)
            value = BACKGROUND_SEED if s.seed_background else s.label
            return paint(self.seeds, voxel, s.radius, value, self.spacing, axis,
                         OverwriteRule("all"))
        if s.tool == "eraser":
            only = s.rule.only if s.rule.mode == "label" else 0
            rule = OverwriteRule("label", only) if only else OverwriteRule("all")
            return paint(self.labels, voxel, s.radius, 0, self.spacing, axis, rule)
        if s.tool == "threshold":
            return paint(self.labels, voxel, s.radius, s.label, self.spacing, axis, s.rule,
                         self.image.data, s.threshold)
        return paint(self.labels, voxel, s.radius, s.label, self.spacing, axis, s.rule)

    def begin_stroke(self, voxel: tuple[int, int, int], axis: int) -> LabelDiff:
        """Mouse press at `voxel` in a view whose slices are normal to `axis`. Brush tools start
        a stroke (one undo step until `end_stroke`); fill fills at once. Returns what changed."""
        tool = self.settings.tool
        self._axis = axis
        self._last = tuple(int(v) for v in voxel)  # type: ignore[assignment]
        if tool == "fill":
            s = self.settings
            diff = flood_fill_slice(self.labels, voxel, axis, s.label, s.rule, self.image.data,
                                    s.threshold if s.fill_threshold else None)
            self.history.push(diff, "fill")
            self._touched(diff)
            return diff
        if tool == "seed":  # seeds are scribbles for Grow, not labels: no undo step
            self._seeding = True
            return self._dab(self._last)  # type: ignore[arg-type]
        if tool not in STROKE_TOOLS:
            return LabelDiff.empty()
        self.history.begin_stroke(tool)
        diff = self._dab(self._last)  # type: ignore[arg-type]
        self.history.push(diff)
        self._touched(diff)
        return diff

    def continue_stroke(self, voxel: tuple[int, int, int]) -> LabelDiff:
        """Mouse drag to `voxel`: dabs along the segment from the previous position."""
        if not (self.history.in_stroke or self._seeding) or self._last is None:
            return LabelDiff.empty()
        pts = line_voxels(self._last, voxel)[1:]
        self._last = tuple(int(v) for v in voxel)  # type: ignore[assignment]
        diffs = [self._dab(p) for p in pts]  # type: ignore[arg-type]
        diff = LabelDiff.merge(diffs)
        if self._seeding:
            return diff
        self.history.push(diff)
        self._touched(diff)
        return diff

    def end_stroke(self) -> LabelDiff:
        """Mouse release: the stroke becomes one undo step; returns its merged diff."""
        self._last = None
        if self._seeding:
            self._seeding = False
            return LabelDiff.empty()
        if not self.history.in_stroke:
            return LabelDiff.empty()
        return self.history.commit_stroke()

    # --- one-shot tools -------------------------------------------------------------------------
    def _record(self, diff: LabelDiff, what: str) -> LabelDiff:
        self.history.push(diff, what)
        self._touched(diff)
        return diff

    def interpolate(self, axis: int, label: int | None = None) -> LabelDiff:
        """Shape-based interpolation of `label` (default the active one) across every gap between
        annotated slices along `axis`, painting only where the overwrite rule allows."""
        label = self.settings.label if label is None else label
        rule = self.settings.rule if self.settings.rule.mode != "all" else OverwriteRule(
            "background")
        diff = interpolate_slices(self.labels, label, axis, spacing=self.spacing, rule=rule)
        return self._record(diff, "interpolate")

    def remove_islands(self, min_size: int | None = None, keep_largest: bool = False,
                       label: int | None = None) -> LabelDiff:
        label = self.settings.label if label is None else label
        diff = remove_islands(self.labels, label, min_size, keep_largest)
        return self._record(diff, "remove islands")

    def take_where(self, candidate: np.ndarray, where: np.ndarray, what: str) -> LabelDiff:
        """Copy `candidate` into the labels at the voxels of boolean `where` (a previewed grow or
        fill being accepted) as one undo step."""
        idx = np.flatnonzero(where.reshape(-1) & (candidate.reshape(-1)
                                                  != self.labels.reshape(-1)))
        diff = apply_change(self.labels, idx, candidate.reshape(-1)[idx].astype(np.int64))
        return self._record(diff, what)

    def replace_labels(self, data: np.ndarray, what: str = "load labels") -> LabelDiff:
        """Take a whole new label map as one undoable step."""
        if data.shape != self.labels.shape:
            raise ValueError(f"label map shape {data.shape} does not match image "
                             f"{self.labels.shape}")
        idx = np.flatnonzero(self.labels.reshape(-1) != data.reshape(-1))
        diff = apply_change(self.labels, idx, data.reshape(-1)[idx].astype(np.int64))
        return self._record(diff, what)

    # --- proposal review ------------------------------------------------------------------------
    def set_proposal(self, proposal: np.ndarray | None) -> None:
        if proposal is not None and proposal.shape != self.labels.shape:
            raise ValueError(f"proposal shape {proposal.shape} does not match image "
                             f"{self.labels.shape}")
        self.proposal = None if proposal is None else np.ascontiguousarray(proposal, np.int16)

    def proposal_structures(self) -> list[int]:
        """Label ids present in the proposal."""
        if self.proposal is None:
            return []
        return [int(v) for v in present_labels(self.proposal) if v != 0]

    def accept(self, label: int, merge: bool = False) -> LabelDiff:
        """Take the proposal's `label` (one undo step): as it is, or with `merge` joined to what
        the annotator painted of it outside the proposal."""
        if self.proposal is None:
            raise ValueError("there is no proposal to accept")
        take = merge_structure if merge else accept_structure
        what = "merge" if merge else "accept"
        return self._record(take(self.labels, self.proposal, label),
                            f"{what} {self.table.name_of(label)}")

    def manual_voxels(self, label: int) -> int:
        """Voxels of `label` painted outside the proposal (0 without a proposal)."""
        if self.proposal is None:
            return 0
        return manual_voxels(self.labels, self.proposal, label)

    def reject(self, label: int) -> LabelDiff:
        """Refuse the proposal's `label` (its voxels taken from the proposal are cleared)."""
        if self.proposal is None:
            raise ValueError("there is no proposal to reject")
        return self._record(reject_structure(self.labels, self.proposal, label),
                            f"reject {self.table.name_of(label)}")

    def changes(self) -> dict[int, dict[str, int]]:
        """Voxels added/removed per label vs the proposal ({} without a proposal)."""
        if self.proposal is None:
            return {}
        return proposal_changes(self.proposal, self.labels)

    def dice(self, against: str = "reference") -> tuple[dict[int, float], float]:
        """Dice per label of the current labels vs the `reference` or the `proposal`, and the
        mean over the labels present in that map (NaN when it is empty)."""
        if against not in ("reference", "proposal"):
            raise ValueError(f"compare with 'reference' or 'proposal', not '{against}'")
        other = self.reference if against == "reference" else self.proposal
        if other is None:
            raise ValueError(f"this case has no {against} to compare with")
        scores = dice_per_label(other, self.labels)
        present = [int(v) for v in present_labels(other) if v != 0]
        mean = float(np.mean([scores[i] for i in present])) if present else float("nan")
        return scores, mean

    # --- undo -----------------------------------------------------------------------------------
    def undo(self) -> Step | None:
        step = self.history.undo(self.labels)
        if step is not None:
            self._touched(step.diff)
        return step

    def redo(self) -> Step | None:
        step = self.history.redo(self.labels)
        if step is not None:
            self._touched(step.diff)
        return step
