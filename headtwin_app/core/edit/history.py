"""Undo/redo of label edits as a bounded stack of sparse diffs; a mouse stroke is one step."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from headtwin_app.core.edit.diff import LabelDiff


@dataclass(frozen=True)
class Step:
    """One undoable edit: its diff and a short description ("brush 2D", "fill", ...)."""

    diff: LabelDiff
    what: str = "edit"


class EditHistory:
    """Undo and redo stacks of `Step`s, at most `max_steps` deep (oldest dropped first).

    Dabs recorded between `begin_stroke()` and `commit_stroke()` become one step, so one
    Ctrl+Z undoes a whole mouse drag. Any new step clears the redo stack.
    """

    def __init__(self, max_steps: int = 100):
        if max_steps < 1:
            raise ValueError(f"max_steps must be ≥ 1, got {max_steps}")
        self.max_steps = max_steps
        self._undo: deque[Step] = deque(maxlen=max_steps)
        self._redo: deque[Step] = deque(maxlen=max_steps)
        self._stroke: list[LabelDiff] | None = None
        self._stroke_what = "stroke"

    # --- recording ------------------------------------------------------------------------------
    def begin_stroke(self, what: str = "stroke") -> None:
        """Start grouping: the diffs pushed until `commit_stroke` form one step."""
        if self._stroke is not None:
            self.commit_stroke()
        self._stroke = []
        self._stroke_what = what

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    def push(self, diff: LabelDiff, what: str = "edit") -> None:
        """Record an edit already applied to the labels (empty diffs are ignored)."""
        if self._stroke is not None:
            if len(diff):
                self._stroke.append(diff)
            return
        if len(diff):
            self._undo.append(Step(diff, what))
            self._redo.clear()

    def commit_stroke(self) -> LabelDiff:
        """End the stroke; its dabs become one step. Returns the merged diff (maybe empty)."""
        if self._stroke is None:
            return LabelDiff.empty()
        merged = LabelDiff.merge(self._stroke)
        self._stroke = None
        self.push(merged, self._stroke_what)
        return merged

    def cancel_stroke(self, labels: np.ndarray) -> None:
        """Undo the dabs of the open stroke (newest first) and forget it."""
        if self._stroke is None:
            return
        for diff in reversed(self._stroke):
            diff.revert(labels)
        self._stroke = None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._stroke = None

    # --- undo / redo ----------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self, labels: np.ndarray) -> Step | None:
        """Revert the newest step on `labels`; the step (None when there is nothing to undo)."""
        if self._stroke is not None:
            self.commit_stroke()
        if not self._undo:
            return None
        step = self._undo.pop()
        step.diff.revert(labels)
        self._redo.append(step)
        return step

    def redo(self, labels: np.ndarray) -> Step | None:
        """Re-apply the newest undone step; the step (None when there is nothing to redo)."""
        if not self._redo:
            return None
        step = self._redo.pop()
        step.diff.apply(labels)
        self._undo.append(step)
        return step

    def __len__(self) -> int:
        return len(self._undo)

    @property
    def nbytes(self) -> int:
        """Memory held by the stored diffs (undo + redo + open stroke)."""
        total = sum(s.diff.nbytes for s in self._undo) + sum(s.diff.nbytes for s in self._redo)
        if self._stroke:
            total += sum(d.nbytes for d in self._stroke)
        return total
