"""The labelling workspace's Grow box: scribble seeds per structure and background, Grow from seeds
with a live preview (re-grown after every new scribble), Fill between slices with a preview, then
Accept (Enter) or Cancel (Esc). The computing is `CaseEditor.grow` / `fill_between`."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QPushButton

from headtwin_app.core.edit.session import BACKGROUND_SEED
from headtwin_app.core.labels import lut_rgba
from headtwin_app.ui.slice_view import PLANES


class GrowMixin:
    """Grow-from-seeds and fill-between-slices controls of `LabellingWorkspace`."""

    editor: Any
    viewer: Any
    table: Any

    _grow_worker: Any = None

    def _build_grow_box(self) -> QGroupBox:
        box = QGroupBox("Grow from seeds / fill between slices")
        grid = QGridLayout(box)
        self.seed_button = QPushButton("Seeds (S)")
        self.seed_button.setToolTip("Scribble inside each structure with its label; tick "
                                    "'Background' and scribble around it")
        self.seed_button.clicked.connect(lambda: self.set_tool("seed"))  # type: ignore
        self.seed_background = QCheckBox("Background")
        self.seed_background.setToolTip("Seeds of 'none of these structures' (drawn white)")
        self.seed_background.toggled.connect(lambda _on: self._sync_settings()  # type: ignore
                                             if self.editor.session else None)
        self.use_prior = QCheckBox("Use the model")
        self.use_prior.setToolTip("With a proposal, the model's confident voxels join the "
                                  "seeds (its class probabilities as a data term)")
        self.grow_button = QPushButton("Grow (G)")
        self.grow_button.setToolTip("Grow every seeded structure in a box around the seeds; "
                                    "new scribbles re-grow the preview")
        self.grow_button.clicked.connect(self.grow)
        self.fill_between_button = QPushButton("Fill between")
        self.fill_between_button.setToolTip("Fill the active label between the slices where it "
                                            "is drawn (morphological contour interpolation)")
        self.fill_between_button.clicked.connect(self.fill_between)
        self.accept_button = QPushButton("Accept (Enter)")
        self.accept_button.clicked.connect(self.accept_preview)
        self.cancel_button = QPushButton("Cancel (Esc)")
        self.cancel_button.clicked.connect(self.cancel_preview)
        clear = QPushButton("Clear seeds")
        clear.clicked.connect(self.clear_seeds)
        for n, w in enumerate((self.seed_button, self.seed_background, self.use_prior,
                               self.grow_button, self.fill_between_button, clear,
                               self.accept_button, self.cancel_button)):
            grid.addWidget(w, n // 2, n % 2)
        self._set_preview_buttons(False)
        return box

    def _set_preview_buttons(self, on: bool) -> None:
        self.accept_button.setEnabled(on)
        self.cancel_button.setEnabled(on)

    # --- seeds ----------------------------------------------------------------------------------
    def _seed_lut(self) -> np.ndarray:
        lut = np.zeros((256, 4), np.uint8)
        base = lut_rgba(self.table, 1.0)
        lut[: min(len(base), 255)] = base[:255]
        lut[BACKGROUND_SEED] = (255, 255, 255, 255)
        return lut

    def _show_seeds(self, plane: str | None = None) -> None:
        s = self.editor.session
        seeds = None if s is None else s.seeds
        if plane is not None and seeds is not None:  # while scribbling: this view only
            self.viewer.views[plane].set_extra(seeds, self._seed_lut())
            return
        self.viewer.set_extra(seeds, self._seed_lut())

    def clear_seeds(self) -> None:
        if self.editor.session is not None:
            self.editor.session.clear_seeds()
        self._show_seeds()

    def seeds_changed(self) -> None:
        """A seed stroke ended: re-grow a grow preview at once (live preview)."""
        preview = self.editor.preview
        if preview is not None and preview.what == "grow":
            self.grow()

    # --- grow, fill, accept ---------------------------------------------------------------------
    def grow(self) -> None:
        if self.editor.session is None:
            return
        try:
            preview = self.editor.grow(use_prior=self.use_prior.isChecked())
        except ValueError as exc:
            self.tell(str(exc))  # type: ignore[attr-defined]
            return
        self._show_preview()
        counts = ", ".join(f"{self.table[i].title} {n}" for i, n in preview.counts.items())
        self.tell(f"grow preview in {preview.seconds * 1000:.0f} ms: {counts} voxels — Enter "  # type: ignore[attr-defined]
                  "accepts, Esc cancels, more seeds re-grow")

    def fill_between(self) -> None:
        if self.editor.session is None:
            return
        self._sync_settings()  # type: ignore[attr-defined]
        label = self.active_label  # type: ignore[attr-defined]
        axis = PLANES[self.interp_plane.currentText()][0]  # type: ignore[attr-defined]
        try:
            preview = self.editor.fill_between(label, axis)
        except ValueError as exc:
            self.warn("Cannot fill between slices", str(exc))  # type: ignore[attr-defined]
            return
        self._show_preview()
        self.tell(f"fill-between preview: {preview.counts.get(label, 0)} new voxels of "  # type: ignore[attr-defined]
                  f"{self.table[label].title} — Enter accepts, Esc cancels")

    def _show_preview(self) -> None:
        preview = self.editor.preview
        if preview is None:
            self._show_draft()  # type: ignore[attr-defined]  # the proposal's outlines again
            self._set_preview_buttons(False)
            return
        self.viewer.set_draft(np.where(preview.where, preview.labels, 0).astype(np.int16))
        self._set_preview_buttons(True)

    def accept_preview(self) -> None:
        """Enter: take the preview. A coarse grow preview is first grown at full resolution in
        a worker (seconds for a large box), then taken."""
        if self.editor.preview is None or self._grow_worker is not None:
            return
        if self.editor.needs_full_grow():
            if self.state.jobs.start("grow at full resolution",  # type: ignore[attr-defined]
                                     self.editor.iter_full_grow,
                                     on_error=self.tell,  # type: ignore[attr-defined]
                                     on_finished=self._full_grow_done):
                self._grow_worker = self.state.jobs.worker  # type: ignore[attr-defined]
                self._set_preview_buttons(False)
            return
        self._take_preview()

    def _full_grow_done(self) -> None:
        self._grow_worker = None
        if self.editor.preview is not None and not self.editor.needs_full_grow():
            self._take_preview()
        else:
            self._show_preview()

    def _take_preview(self) -> None:
        what = self.editor.preview.what
        diff = self.editor.accept_preview()
        self._show_preview()
        self._after_edit(diff)  # type: ignore[attr-defined]
        if what == "grow":
            self.clear_seeds()
        self.tell(f"{what}: {len(diff)} voxels taken")  # type: ignore[attr-defined]

    def cancel_preview(self) -> bool:
        """Drop a shown preview (True) — nothing changes in the labels."""
        if (getattr(self, "editor", None) is None or self.editor.preview is None
                or self._grow_worker is not None):
            return False
        self.editor.cancel_preview()
        self._show_preview()
        self.tell("preview cancelled")  # type: ignore[attr-defined]
        return True
